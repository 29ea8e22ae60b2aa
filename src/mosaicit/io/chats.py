"""Conversations as found in the wild: role names, the repairs of a message list, continuation turns.

Real ShareGPT and messages dumps hold conversations that start with a model turn (the
user's first message was lost), end with an unanswered user turn, repeat a role, or are
empty. Unless ``--strict-conversations`` is given, a message list (after its leading system
message) is repaired like this, in order, and each repair is counted by kind:

- ``leading_model_turns_dropped``: model turns before the first user turn are dropped;
- ``same_role_merged``: consecutive turns of the same role are merged into one, their texts
  joined with a blank line (:data:`MERGE_JOINER`);
- ``trailing_user_turn_dropped``: a last user turn with no answer is dropped.

A conversation left with no exchange is rejected (reason ``empty_conversation``), never an
error. Role names are mapped case-insensitively (:data:`ROLE_NAMES`); a name other than the
shape's own (``human``/``gpt`` for ShareGPT, ``user``/``assistant`` for messages) is counted
as ``role_aliases``.
"""

from __future__ import annotations

import re
from collections import Counter

from mosaicit.errors import InputError

USER, ASSISTANT, SYSTEM = "user", "assistant", "system"
#: Role names seen in the wild, lower-cased, and the role each stands for.
ROLE_NAMES: dict[str, str] = {
    **dict.fromkeys(("human", "user", "prompter", "question"), USER),
    **dict.fromkeys(
        ("gpt", "assistant", "bot", "chatgpt", "bing", "bard", "model", "ai", "gpt4", "gpt-4", "answer"),
        ASSISTANT,
    ),
    "system": SYSTEM,
}
#: Roles of tool-use conversations, which this tool does not mosaic or convert.
TOOL_ROLES = ("function_call", "observation", "tool", "function", "ipython")
MERGE_JOINER = "\n\n"
REPAIRS = ("role_aliases", "leading_model_turns_dropped", "same_role_merged", "trailing_user_turn_dropped")

#: User turns that only ask the model to go on (compared lower-cased, without surrounding
#: whitespace and final punctuation). Such a turn has no instruction of its own.
CONTINUATIONS = frozenset(
    {
        "continue",
        "continue please",
        "please continue",
        "continue writing",
        "continue.",
        "go on",
        "please go on",
        "keep going",
        "keep writing",
        "more",
        "next",
        "finish",
        "finish it",
        "carry on",
        "resume",
        "and?",
        "continue from where you left off",
        "continue from where you stopped",
        "continue where you left off",
    }
)
_TRAILING = re.compile(r"[\s.!?,:;]+$")


class EmptyConversation(InputError):
    """A conversation with no user/assistant exchange (a record to reject, not a run to stop)."""


def is_continuation(text: str) -> bool:
    """True when a user turn only asks to go on (``continue``, ``go on``...: :data:`CONTINUATIONS`)."""
    short = _TRAILING.sub("", text.strip().lower())
    return short in CONTINUATIONS or f"{short}." in CONTINUATIONS


def repair_turns(messages: list[tuple[str, str]], repairs: Counter[str]) -> list[tuple[str, str]]:
    """The message list with the repairs above made (a leading system message kept as it is);
    each repair made is counted once per conversation in ``repairs``."""
    head = messages[:1] if messages and messages[0][0] == SYSTEM else []
    body = messages[len(head) :]
    start = next((i for i, (role, _) in enumerate(body) if role != ASSISTANT), len(body))
    if start:
        repairs["leading_model_turns_dropped"] += 1
        body = body[start:]
    merged: list[tuple[str, str]] = []
    for role, text in body:
        if merged and merged[-1][0] == role and role != SYSTEM:
            merged[-1] = (role, merged[-1][1] + MERGE_JOINER + text)
        else:
            merged.append((role, text))
    if len(merged) < len(body):
        repairs["same_role_merged"] += 1
    if merged and merged[-1][0] == USER:
        repairs["trailing_user_turn_dropped"] += 1
        merged.pop()
    return head + merged
