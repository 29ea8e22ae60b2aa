"""The conversation that every record shape reads into and writes from, and what the shapes share.

Every input item becomes a :class:`Conversation` (an optional system prompt and one or more
user/assistant exchanges); every output row is built from one. Each record shape (Alpaca,
ShareGPT, OpenAI messages, prompt/completion: :mod:`mosaicit.io.shapes`) reads its items with the
helpers here (a text field, a message list, the order of roles). Texts are kept exactly as read:
nothing is stripped here (the records that get mosaicked are stripped when they are made).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any

from mosaicit.errors import InputError
from mosaicit.io.chats import ASSISTANT, ROLE_NAMES, SYSTEM, TOOL_ROLES, USER, EmptyConversation
from mosaicit.io.schema import decode_mosaic
from mosaicit.types.options import option


def _key(name: str, default: str | None, help: str) -> Any:
    """A column's option, ``--NAME-key`` (a ``read`` option)."""
    return option(default, flags=(f"--{name}-key",), help=help + ".", block="read", metavar="KEY")


@dataclass(frozen=True)
class Columns:
    """Which keys hold what, like LLaMA-Factory's ``columns`` and ``tags``.

    ``messages``, ``role`` and ``content`` are found from the data when left as None
    (``conversations`` or ``messages``; ``from``/``value`` or ``role``/``content``).
    """

    instruction: str = _key("instruction", "instruction", "Alpaca: the instruction column")
    input: str = _key("input", "input", "Alpaca: the input (context) column")
    output: str = _key("output", "output", "Alpaca: the output column")
    system: str = _key("system", "system", "the system prompt column")
    history: str = _key("history", "history", "Alpaca: the history column ([instruction, output] pairs)")
    messages: str | None = _key(
        "messages", None, "ShareGPT/messages: the message-list column [default: conversations or messages]"
    )
    role: str | None = _key(
        "role", None, "ShareGPT/messages: the role key of a message [default: from or role]"
    )
    content: str | None = _key(
        "content", None, "ShareGPT/messages: the text key of a message [default: value or content]"
    )
    prompt: str = _key("prompt", "prompt", "prompt/completion: the prompt column")
    completion: str = _key("completion", "completion", "prompt/completion: the completion column")
    id: str = _key("id", "id", "the id column, kept in the output")


@dataclass(frozen=True)
class Conversation:
    """One input item, normalised: a system prompt and user/assistant exchanges, in order.

    ``input`` is the Alpaca context of the last exchange, kept apart so an Alpaca row is
    written back as it was read; other shapes append it to the last user text.
    ``meta`` holds the kept keys (``id``, ``count``, ``mosaic``) found on the row.
    """

    index: int
    turns: tuple[tuple[str, str], ...]
    system: str = ""
    input: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def multi_turn(self) -> bool:
        """True when the conversation has more than one exchange."""
        return len(self.turns) > 1

    def user_text(self, turn: int) -> str:
        """The user text of exchange ``turn``, with the Alpaca context on the last one."""
        text = self.turns[turn][0]
        if turn == len(self.turns) - 1 and self.input:
            return f"{text}\n{self.input}"
        return text

    def messages(self) -> list[dict[str, str]]:
        """The conversation as ``[{role, content}]`` with normalised role names."""
        out = [{"role": SYSTEM, "content": self.system}] if self.system else []
        for i, (_, answer) in enumerate(self.turns):
            out += [{"role": USER, "content": self.user_text(i)}, {"role": ASSISTANT, "content": answer}]
        return out


# ----------------------------------------------------------------------------- reading


#: The keys where a message list is looked for, unless ``--messages-key`` names one.
MESSAGE_LIST_KEYS = ("conversations", "messages")


def message_list(item: Mapping[str, Any], cols: Columns) -> tuple[str, list[Any]] | None:
    """``(key, messages)`` of the item's message list, if it has one."""
    keys = [cols.messages] if cols.messages else MESSAGE_LIST_KEYS
    for key in keys:
        value = item.get(key)
        if isinstance(value, list):
            return key, value
    return None


def describe(item: Any) -> str:
    """A short description of an item's keys for an error message."""
    if isinstance(item, Mapping):
        keys = ", ".join(sorted(map(str, item))[:8])
        return f"an object with keys {{{keys}}}" if keys else "an empty object"
    return f"a {type(item).__name__}"


def text(value: Any, what: str, path: str, index: int, required: bool = True) -> str:
    """A field's text: ``""`` for a missing optional one; an InputError naming ``what`` for a
    missing required one or a value that is not a string."""
    if value is None:
        if required:
            raise InputError(path, f"missing {what}", index)
        return ""
    if not isinstance(value, str):
        raise InputError(path, f"{what} must be a string, got {type(value).__name__}", index)
    return value


def role_of(name: Any, path: str, index: int, position: int) -> str:
    """The normalised role of a message's role name."""
    if not isinstance(name, str):
        raise InputError(path, f"message {position}: role must be a string, got {type(name).__name__}", index)
    role = ROLE_NAMES.get(name.strip().lower())
    if role is None:
        if name.strip().lower() in TOOL_ROLES:
            raise InputError(path, f"message {position}: tool-use role {name!r} is not supported", index)
        known = ", ".join(sorted(ROLE_NAMES))
        raise InputError(path, f"message {position}: unknown role {name!r} (known: {known})", index)
    return role


def pair_turns(
    messages: list[tuple[str, str]], path: str, index: int, system: str = ""
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Check role order (optional system, then user/assistant alternating) and pair the turns."""
    if messages and messages[0][0] == SYSTEM:
        if system:
            raise InputError(path, "two system prompts (a system column and a system message)", index)
        system = messages[0][1]
        messages = messages[1:]
    if not messages:
        raise EmptyConversation(path, "empty conversation: no user/assistant exchange", index)
    expected = (USER, ASSISTANT)
    for position, (role, _) in enumerate(messages):
        want = expected[position % 2]
        if role != want:
            where = "a system message after the first message" if role == SYSTEM else f"a {role} message"
            raise InputError(
                path, f"roles out of order: message {position + 1} is {where}, expected {want}", index
            )
    if len(messages) % 2:
        raise InputError(path, "roles out of order: the conversation ends with a user message", index)
    turns = tuple((messages[i][1], messages[i + 1][1]) for i in range(0, len(messages), 2))
    return system, turns


@dataclass(frozen=True)
class MessageKeys:
    """How a message list names things: its ``role`` and ``content`` keys (unless ``--role-key``
    and ``--content-key`` say), and its ``own`` role names (any other is an alias, a repair)."""

    role: str
    content: str
    own: frozenset[str]


def message_texts(
    raw: list[Any],
    cols: Columns,
    keys: MessageKeys,
    path: str,
    index: int,
    repairs: Counter[str] | None = None,
) -> list[tuple[str, str]]:
    """``(role, content)`` of each message of a message list; role aliases counted in ``repairs``."""
    role_key = cols.role or keys.role
    content_key = cols.content or keys.content
    aliased = False
    out = []
    for position, message in enumerate(raw, 1):
        if not isinstance(message, Mapping):
            raise InputError(path, f"message {position}: expected an object, got {describe(message)}", index)
        if role_key not in message:
            raise InputError(path, f"message {position}: no {role_key!r} key ({describe(message)})", index)
        role = role_of(message[role_key], path, index, position)
        aliased = aliased or message[role_key].strip().lower() not in keys.own
        content = text(message.get(content_key), f"message {position} {content_key!r}", path, index)
        out.append((role, content))
    if aliased and repairs is not None:
        repairs["role_aliases"] += 1
    return out


def _json_value(value: Any, name: str, path: str, index: int) -> Any:
    """``value`` as it can be written to JSON (a JSON file's values always can): a Parquet
    column's date or time as is (written as ISO text), pandas' nanosecond timestamp as the same;
    a NaN, or a value with no JSON form (a decimal, bytes, a duration), is one error naming it."""
    if value is None or isinstance(value, str | int):  # (bool is an int)
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise InputError(
            path, f"field {name!r}: {value} has no JSON form (JSON has no NaN or Infinity)", index
        )
    if isinstance(value, datetime) and type(value) is not datetime:  # pandas' Timestamp
        return (
            value.isoformat()
            if getattr(value, "nanosecond", 0)
            else datetime.fromisoformat(value.isoformat())
        )
    if isinstance(value, date | time):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v, name, path, index) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, name, path, index) for k, v in value.items()}
    raise InputError(
        path,
        f"field {name!r}: a {type(value).__name__} ({str(value)[:40]}) has no JSON form; "
        "cast its column to text or a number",
        index,
    )


def kept(item: Mapping[str, Any], cols: Columns, path: str, index: int) -> dict[str, Any]:
    """The kept keys of an item (``id``, ``count``, ``mosaic``), for :attr:`Conversation.meta`;
    a value with no JSON form is one error naming the item."""
    meta = {}
    if item.get(cols.id) is not None:
        meta["id"] = _json_value(item[cols.id], cols.id, path, index)
    if item.get("count") is not None:
        meta["count"] = _json_value(item["count"], "count", path, index)
    mosaic = decode_mosaic(item.get("mosaic"))  # written as JSON text
    if mosaic is not None:
        meta["mosaic"] = mosaic
    return meta


def with_meta(conv: Conversation, **meta: Any) -> Conversation:
    """A copy of ``conv`` with ``meta`` entries added."""
    return replace(conv, meta={**conv.meta, **meta})
