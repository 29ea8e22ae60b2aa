"""Record shapes: Alpaca, ShareGPT, OpenAI messages, prompt/completion, each one :class:`RecordShape`
(how to detect it, read an item into a :class:`~mosaicit.io.formats.Conversation`, write a row,
its columns and its LLaMA-Factory ``dataset_info.json`` entry), registered here and found by name.

:func:`detect`, :func:`normalise` and :func:`to_row` ask the registry, and so do the options
(``--input-format``, ``--output-format``), the Parquet schema (:func:`columns`) and the
dataset_info.json entry (:mod:`mosaicit.io.dataset_info`). So a new record shape is one
:class:`RecordShape` and one :func:`register` call (docs/architecture.md). Any shape is written in
any file type (:mod:`mosaicit.io.filetypes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mosaicit.errors import InputError, MosaicitError, listed
from mosaicit.io.chats import ASSISTANT, SYSTEM, USER, repair_turns
from mosaicit.io.formats import (
    Columns,
    Conversation,
    MessageKeys,
    describe,
    kept,
    message_list,
    message_texts,
    pair_turns,
    text,
)
from mosaicit.io.schema import META, conform

#: ``detect(item, cols)``: how strongly an item (a mapping) looks like the shape; 0: not at all.
Detect = Callable[[Mapping[str, Any], Columns], int]
#: ``normalise(item, cols, path, index, repairs)``: the item (a mapping) as a conversation, or an
#: :class:`~mosaicit.errors.InputError` naming the file, the record and what is wrong; repairs made
#: are counted in ``repairs`` (when given; none may be made without it).
Normalise = Callable[[Mapping[str, Any], Columns, str, int, Counter[str] | None], Conversation]


@dataclass(frozen=True)
class RecordShape:
    """One record shape.

    ``name`` is what ``--input-format``/``--output-format`` call it; ``title`` describes it in the
    error for an item in no known shape. ``detect`` scores an item: the highest score of all shapes
    wins, ties going to the shape registered first; mosaicit's score a message list 4 (ShareGPT,
    messages), both prompt and completion 3, Alpaca's instruction or output 2, one of prompt and
    completion 1. ``row(conv)`` gives the row's own columns; ``id``, ``system`` and ``mosaic`` are
    added and the row is cut to ``columns`` (in that order, ``mosaic`` after them:
    :func:`mosaicit.io.schema.conform`). ``dataset_info(present)``: the LLaMA-Factory entry but its
    ``file_name``, given which optional columns (``system``, ``history``) hold a value in some row;
    None when LLaMA-Factory has no formatting for the shape. ``multi_turn_column``: a multi-turn
    conversation's row holds a column that a single exchange's lacks (Alpaca's ``history``), so
    that passed-through rows lead with one (:mod:`mosaicit.run.passthrough`)."""

    name: str
    title: str
    detect: Detect
    normalise: Normalise
    row: Callable[[Conversation], dict[str, Any]]
    columns: tuple[str, ...]
    dataset_info: Callable[[set[str]], dict[str, Any]] | None = None
    multi_turn_column: bool = False


#: The registered record shapes, by name, in the order they were registered.
SHAPES: dict[str, RecordShape] = {}
#: What ``--input-format`` takes besides a shape's name: detect the shape from the first item.
AUTO = "auto"


def register(shape: RecordShape) -> RecordShape:
    """Add ``shape`` to :data:`SHAPES`; returns it. Its name must be new."""
    if shape.name in SHAPES or shape.name == AUTO:
        raise MosaicitError(f"record shape {shape.name!r}: the name is taken already")
    SHAPES[shape.name] = shape
    return shape


def shape_names() -> tuple[str, ...]:
    """The names of the record shapes (what ``--output-format`` takes)."""
    return tuple(SHAPES)


def llama_factory_names() -> tuple[str, ...]:
    """The names of the shapes that LLaMA-Factory reads (those with a ``dataset_info`` entry)."""
    return tuple(name for name, shape in SHAPES.items() if shape.dataset_info is not None)


def input_formats() -> tuple[str, ...]:
    """What ``--input-format`` takes: ``auto`` and every shape's name."""
    return (AUTO, *SHAPES)


def shape_of(name: str, role: str = "output") -> RecordShape:
    """The shape named ``name``; an error naming the choices for another name."""
    if name not in SHAPES:
        choices = input_formats() if role == "input" else shape_names()
        raise MosaicitError(f"unknown {role} format {name!r} (one of {', '.join(choices)})")
    return SHAPES[name]


def columns(name: str, with_meta: bool = True) -> tuple[str, ...]:
    """The columns of a row of the shape ``name``, in order."""
    return shape_of(name).columns + ((META,) if with_meta else ())


def detect(item: Any, cols: Columns) -> str | None:
    """The shape of one item, or None when it is in no known shape."""
    if not isinstance(item, Mapping):
        return None
    best, score = None, 0
    for shape in SHAPES.values():
        found = shape.detect(item, cols)
        if found > score:
            best, score = shape.name, found
    return best


def no_shape_message(item: Any) -> str:
    """The error text for an item in no known shape."""
    expected = listed(shape.title for shape in SHAPES.values())
    return (
        f"no known dataset shape in {describe(item)}: expected {expected}; "
        "use --input-format and the --*-key options to say which keys hold what"
    )


def normalise(
    item: Any, shape: str, cols: Columns, path: str, index: int, repairs: Counter[str] | None = None
) -> Conversation:
    """Read one item of a known ``shape`` into a :class:`Conversation`; raise InputError if malformed.

    With a ``repairs`` counter, ShareGPT and messages lists are repaired first and each repair
    is counted there (:mod:`mosaicit.io.chats`); without one, they must be well formed."""
    if not isinstance(item, Mapping):
        raise InputError(path, f"expected an object, got {describe(item)}", index)
    return shape_of(shape, "input").normalise(item, cols, path, index, repairs)


def to_row(conv: Conversation, shape: str, with_meta: bool = True) -> dict[str, Any]:
    """The output row of one conversation in ``shape``, with every column of the shape
    (:func:`mosaicit.io.schema.conform`); ``mosaic`` follows unless ``with_meta`` is off."""
    row: dict[str, Any] = {"id": conv.meta.get("id"), "system": conv.system}
    row.update(shape_of(shape).row(conv))
    row[META] = conv.meta.get("mosaic")
    return conform(row, columns(shape, with_meta))


# ----------------------------------------------------------------------------- Alpaca


def _alpaca_detect(item: Mapping[str, Any], cols: Columns) -> int:
    return 2 if cols.instruction in item or cols.output in item else 0  # a missing half is reported


def _alpaca(
    item: Mapping[str, Any], cols: Columns, path: str, index: int, repairs: Counter[str] | None
) -> Conversation:
    instruction = text(item.get(cols.instruction), f"field {cols.instruction!r}", path, index)
    output = text(item.get(cols.output), f"field {cols.output!r}", path, index)
    context = text(item.get(cols.input), f"field {cols.input!r}", path, index, required=False)
    system = text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
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
    return Conversation(index, tuple(turns), system, context, kept(item, cols, path, index))


def _alpaca_row(conv: Conversation) -> dict[str, Any]:
    *history, (instruction, output) = conv.turns
    row = {"instruction": instruction, "input": conv.input, "output": output, "count": conv.meta.get("count")}
    if history:
        row["history"] = [list(pair) for pair in history]
    return row


def _alpaca_info(present: set[str]) -> dict[str, Any]:
    columns = {"prompt": "instruction", "query": "input", "response": "output"}
    optional = {key: key for key in ("system", "history") if key in present}
    return {"formatting": "alpaca", "columns": {**columns, **optional}}


ALPACA = register(
    RecordShape(
        "alpaca",
        "Alpaca (instruction/output)",
        _alpaca_detect,
        _alpaca,
        _alpaca_row,
        ("id", "instruction", "input", "output", "system", "history", "count"),
        _alpaca_info,
        multi_turn_column=True,
    )
)


# ----------------------------------------------------------------------------- message lists

SHAREGPT_KEYS = MessageKeys("from", "value", frozenset({"human", "gpt", "system"}))
OPENAI_KEYS = MessageKeys("role", "content", frozenset({"user", "assistant", "system"}))


def _chat_keys(item: Mapping[str, Any], cols: Columns) -> MessageKeys | None:
    """The keys of the item's message list (ShareGPT's or OpenAI's), if it has one."""
    found = message_list(item, cols)
    if found is None:
        return None
    if cols.role:
        return OPENAI_KEYS if cols.role == "role" else SHAREGPT_KEYS
    first = next((m for m in found[1] if isinstance(m, Mapping)), {})
    return SHAREGPT_KEYS if "from" in first else OPENAI_KEYS


def _chat(keys: MessageKeys) -> Normalise:
    def normalise(
        item: Mapping[str, Any], cols: Columns, path: str, index: int, repairs: Counter[str] | None
    ) -> Conversation:
        found = message_list(item, cols)
        if found is None:
            key = cols.messages or "conversations"
            raise InputError(path, f"missing list field {key!r}", index)
        system = text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
        found_repairs: Counter[str] | None = Counter() if repairs is not None else None
        messages = message_texts(found[1], cols, keys, path, index, found_repairs)
        if found_repairs is not None:
            messages = repair_turns(messages, found_repairs)
        system, turns = pair_turns(messages, path, index, system)
        if repairs is not None and found_repairs:
            repairs.update(found_repairs)  # counted only for conversations that are kept
        return Conversation(index, turns, system, "", kept(item, cols, path, index))

    return normalise


def _sharegpt_detect(item: Mapping[str, Any], cols: Columns) -> int:
    return 4 if _chat_keys(item, cols) is SHAREGPT_KEYS else 0


def _sharegpt_row(conv: Conversation) -> dict[str, Any]:
    turns = [
        {"from": "human" if m["role"] == USER else "gpt", "value": m["content"]}
        for m in conv.messages()
        if m["role"] != SYSTEM
    ]
    return {"conversations": turns}


def _sharegpt_info(present: set[str]) -> dict[str, Any]:
    return {
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", **({"system": "system"} if "system" in present else {})},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
    }


SHAREGPT = register(
    RecordShape(
        "sharegpt",
        "ShareGPT (conversations of from/value)",
        _sharegpt_detect,
        _chat(SHAREGPT_KEYS),
        _sharegpt_row,
        ("id", "system", "conversations"),
        _sharegpt_info,
    )
)


def _messages_detect(item: Mapping[str, Any], cols: Columns) -> int:
    return 4 if _chat_keys(item, cols) is OPENAI_KEYS else 0


def _messages_row(conv: Conversation) -> dict[str, Any]:
    return {"messages": conv.messages()}  # the system prompt first, as a message


def _messages_info(present: set[str]) -> dict[str, Any]:
    return {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }


MESSAGES = register(
    RecordShape(
        "messages",
        "OpenAI messages (role/content)",
        _messages_detect,
        _chat(OPENAI_KEYS),
        _messages_row,
        ("id", "messages"),
        _messages_info,
    )
)


# ----------------------------------------------------------------------------- prompt/completion


def _prompt_completion_detect(item: Mapping[str, Any], cols: Columns) -> int:
    if cols.prompt in item and cols.completion in item:
        return 3
    return 1 if cols.prompt in item or cols.completion in item else 0


def _side(value: Any, what: str, role: str, cols: Columns, path: str, index: int) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(role, value)]
    if isinstance(value, list):
        return message_texts(value, cols, OPENAI_KEYS, path, index)
    raise InputError(path, f"field {what!r} must be a string or a list of messages", index)


def _prompt_completion(
    item: Mapping[str, Any], cols: Columns, path: str, index: int, repairs: Counter[str] | None
) -> Conversation:
    prompt = _side(item.get(cols.prompt), cols.prompt, USER, cols, path, index)
    completion = _side(item.get(cols.completion), cols.completion, ASSISTANT, cols, path, index)
    system = text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
    system, turns = pair_turns(prompt + completion, path, index, system)
    return Conversation(index, turns, system, "", kept(item, cols, path, index))


def _prompt_completion_row(conv: Conversation) -> dict[str, Any]:
    messages = conv.messages()
    return {"prompt": messages[:-1], "completion": messages[-1:]}


PROMPT_COMPLETION = register(
    RecordShape(
        "prompt-completion",
        "prompt/completion",
        _prompt_completion_detect,
        _prompt_completion,
        _prompt_completion_row,
        ("id", "prompt", "completion"),
    )
)
