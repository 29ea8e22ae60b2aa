"""Dataset shapes: detect Alpaca, ShareGPT, OpenAI messages and prompt/completion, normalise, write back.

Every input item becomes a :class:`Conversation` (an optional system prompt and one or more
user/assistant exchanges); every output row is built from one. Texts are kept exactly as read:
nothing is stripped here (the records that get mosaicked are stripped when they are made).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.chats import (
    ASSISTANT,
    OWN_NAMES,
    ROLE_NAMES,
    SYSTEM,
    TOOL_ROLES,
    USER,
    EmptyConversation,
    repair_turns,
)
from mosaicit.io.schema import conform, decode_mosaic

SHAPES = ("alpaca", "sharegpt", "messages", "prompt-completion")
INPUT_SHAPES = ("auto", *SHAPES)


@dataclass(frozen=True)
class Columns:
    """Which keys hold what, like LLaMA-Factory's ``columns`` and ``tags``.

    ``messages``, ``role`` and ``content`` are found from the data when left as None
    (``conversations`` or ``messages``; ``from``/``value`` or ``role``/``content``).
    """

    instruction: str = "instruction"
    input: str = "input"
    output: str = "output"
    system: str = "system"
    history: str = "history"
    messages: str | None = None
    role: str | None = None
    content: str | None = None
    prompt: str = "prompt"
    completion: str = "completion"
    id: str = "id"


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


# ----------------------------------------------------------------------------- detection


def _message_list(item: Mapping[str, Any], cols: Columns) -> tuple[str, list[Any]] | None:
    keys = [cols.messages] if cols.messages else ["conversations", "messages"]
    for key in keys:
        value = item.get(key)
        if isinstance(value, list):
            return key, value
    return None


def detect(item: Any, cols: Columns) -> str | None:
    """The shape of one item, or None when it is in no known shape."""
    if not isinstance(item, Mapping):
        return None
    found = _message_list(item, cols)
    if found is not None:
        first = next((m for m in found[1] if isinstance(m, Mapping)), {})
        if cols.role:
            return "messages" if cols.role == "role" else "sharegpt"
        return "sharegpt" if "from" in first else "messages"
    if cols.prompt in item and cols.completion in item:
        return "prompt-completion"
    if cols.instruction in item or cols.output in item:  # a missing half is reported as such
        return "alpaca"
    if cols.prompt in item or cols.completion in item:
        return "prompt-completion"
    return None


def describe(item: Any) -> str:
    """A short description of an item's keys for an error message."""
    if isinstance(item, Mapping):
        keys = ", ".join(sorted(map(str, item))[:8])
        return f"an object with keys {{{keys}}}" if keys else "an empty object"
    return f"a {type(item).__name__}"


def no_shape_message(item: Any) -> str:
    """The error text for an item in no known shape."""
    return (
        f"no known dataset shape in {describe(item)}: expected Alpaca (instruction/output), "
        "ShareGPT (conversations of from/value), OpenAI messages (role/content) or prompt/completion; "
        "use --input-format and the --*-key options to say which keys hold what"
    )


# ----------------------------------------------------------------------------- normalising


def _text(value: Any, what: str, path: str, index: int, required: bool = True) -> str:
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


def _pairs(
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


def _message_texts(
    raw: list[Any], cols: Columns, shape: str, path: str, index: int, repairs: Counter[str] | None = None
) -> list[tuple[str, str]]:
    role_key = cols.role or ("from" if shape == "sharegpt" else "role")
    content_key = cols.content or ("value" if shape == "sharegpt" else "content")
    own = OWN_NAMES.get(shape, OWN_NAMES["messages"])
    aliased = False
    out = []
    for position, message in enumerate(raw, 1):
        if not isinstance(message, Mapping):
            raise InputError(path, f"message {position}: expected an object, got {describe(message)}", index)
        if role_key not in message:
            raise InputError(path, f"message {position}: no {role_key!r} key ({describe(message)})", index)
        role = role_of(message[role_key], path, index, position)
        aliased = aliased or message[role_key].strip().lower() not in own
        content = _text(message.get(content_key), f"message {position} {content_key!r}", path, index)
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


def _kept(item: Mapping[str, Any], cols: Columns, path: str, index: int) -> dict[str, Any]:
    meta = {}
    if item.get(cols.id) is not None:
        meta["id"] = _json_value(item[cols.id], cols.id, path, index)
    if item.get("count") is not None:
        meta["count"] = _json_value(item["count"], "count", path, index)
    mosaic = decode_mosaic(item.get("mosaic"))  # written as JSON text
    if mosaic is not None:
        meta["mosaic"] = mosaic
    return meta


def _alpaca(item: Mapping[str, Any], cols: Columns, path: str, index: int) -> Conversation:
    instruction = _text(item.get(cols.instruction), f"field {cols.instruction!r}", path, index)
    output = _text(item.get(cols.output), f"field {cols.output!r}", path, index)
    context = _text(item.get(cols.input), f"field {cols.input!r}", path, index, required=False)
    system = _text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
    history = item.get(cols.history) or []
    if not isinstance(history, list):
        raise InputError(path, f"field {cols.history!r} must be a list of [instruction, output] pairs", index)
    turns = []
    for position, pair in enumerate(history, 1):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise InputError(
                path, f"{cols.history!r} item {position} is not an [instruction, output] pair", index
            )
        turns.append((pair[0], pair[1]))
    turns.append((instruction, output))
    return Conversation(index, tuple(turns), system, context, _kept(item, cols, path, index))


def _chat(
    item: Mapping[str, Any], cols: Columns, shape: str, path: str, index: int, repairs: Counter[str] | None
) -> Conversation:
    found = _message_list(item, cols)
    if found is None:
        key = cols.messages or "conversations"
        raise InputError(path, f"missing list field {key!r}", index)
    system = _text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
    found_repairs: Counter[str] | None = Counter() if repairs is not None else None
    messages = _message_texts(found[1], cols, shape, path, index, found_repairs)
    if found_repairs is not None:
        messages = repair_turns(messages, found_repairs)
    system, turns = _pairs(messages, path, index, system)
    if repairs is not None and found_repairs:
        repairs.update(found_repairs)  # counted only for conversations that are kept
    return Conversation(index, turns, system, "", _kept(item, cols, path, index))


def _side(value: Any, what: str, role: str, cols: Columns, path: str, index: int) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(role, value)]
    if isinstance(value, list):
        return _message_texts(value, cols, "messages", path, index)
    raise InputError(path, f"field {what!r} must be a string or a list of messages", index)


def _prompt_completion(item: Mapping[str, Any], cols: Columns, path: str, index: int) -> Conversation:
    prompt = _side(item.get(cols.prompt), cols.prompt, USER, cols, path, index)
    completion = _side(item.get(cols.completion), cols.completion, ASSISTANT, cols, path, index)
    system = _text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
    system, turns = _pairs(prompt + completion, path, index, system)
    return Conversation(index, turns, system, "", _kept(item, cols, path, index))


def normalise(
    item: Any, shape: str, cols: Columns, path: str, index: int, repairs: Counter[str] | None = None
) -> Conversation:
    """Read one item of a known ``shape`` into a :class:`Conversation`; raise InputError if malformed.

    With a ``repairs`` counter, ShareGPT and messages lists are repaired first and each repair
    is counted there (:mod:`mosaicit.io.chats`); without one, they must be well formed."""
    if not isinstance(item, Mapping):
        raise InputError(path, f"expected an object, got {describe(item)}", index)
    if shape == "alpaca":
        return _alpaca(item, cols, path, index)
    if shape in ("sharegpt", "messages"):
        return _chat(item, cols, shape, path, index, repairs)
    if shape == "prompt-completion":
        return _prompt_completion(item, cols, path, index)
    raise MosaicitError(f"unknown input format {shape!r} (one of {', '.join(INPUT_SHAPES)})")


# ----------------------------------------------------------------------------- writing


def to_row(conv: Conversation, shape: str, with_meta: bool = True) -> dict[str, Any]:
    """The output row of one conversation in ``shape``, with every column of the shape
    (:func:`mosaicit.io.schema.conform`); ``mosaic`` follows unless ``with_meta`` is off."""
    meta = dict(conv.meta)
    row: dict[str, Any] = {"id": meta.get("id"), "system": conv.system}
    if shape == "alpaca":
        *history, (instruction, output) = conv.turns
        row.update(instruction=instruction, input=conv.input, output=output, count=meta.get("count"))
        if history:
            row["history"] = [list(pair) for pair in history]
    elif shape == "sharegpt":
        row["conversations"] = [
            {"from": "human" if m["role"] == USER else "gpt", "value": m["content"]}
            for m in conv.messages()
            if m["role"] != SYSTEM
        ]
    elif shape == "messages":
        row["messages"] = conv.messages()
    elif shape == "prompt-completion":
        messages = conv.messages()
        row["prompt"], row["completion"] = messages[:-1], messages[-1:]
    else:
        raise MosaicitError(f"unknown output format {shape!r} (one of {', '.join(SHAPES)})")
    row["mosaic"] = meta.get("mosaic")
    return conform(row, shape, with_meta)


def with_meta(conv: Conversation, **meta: Any) -> Conversation:
    """A copy of ``conv`` with ``meta`` entries added."""
    return replace(conv, meta={**conv.meta, **meta})
