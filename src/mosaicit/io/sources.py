"""Open any supported input as a stream of conversations, and write rows by the output's extension."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.formats import (
    INPUT_SHAPES,
    SHAPES,
    Columns,
    Conversation,
    detect,
    no_shape_message,
    normalise,
)
from mosaicit.io.hf import is_saved_dataset, iter_dataset, load_saved
from mosaicit.io.jsonstream import EncodedRow, iter_json, write_rows
from mosaicit.io.parquet import iter_parquet, write_parquet
from mosaicit.io.wellformed import problem
from mosaicit.records import Reject

OUTPUT_SUFFIXES = (".json", ".jsonl", ".parquet")
BAD_RECORD_POLICIES = ("error", "skip")


def source_name(source: Any) -> str:
    """How to name an input in messages: its path, or ``<dataset>`` for an in-memory dataset."""
    return str(source) if isinstance(source, str | Path) else "<dataset>"


def iter_items(source: Any, split: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, raw item)`` from a path (JSON, JSONL, Parquet, saved HF dataset) or a Dataset."""
    if not isinstance(source, str | Path):
        yield from iter_dataset(source)
        return
    path = Path(source)
    if path.is_dir():
        if not is_saved_dataset(path):
            raise InputError(str(path), "a folder that is not a saved Hugging Face dataset (no state.json)")
        yield from iter_dataset(load_saved(path, split))
    elif path.suffix.lower() == ".parquet":
        yield from iter_parquet(path)
    else:
        yield from iter_json(path)


@dataclass
class ReadStats:
    """What reading found: the shape, how many items, and the ones set aside."""

    shape: str | None = None
    read: int = 0
    rejects: list[Reject] = field(default_factory=list)


def read_conversations(
    source: Any,
    input_format: str = "auto",
    columns: Columns | None = None,
    on_bad: str = "error",
    stats: ReadStats | None = None,
    split: str | None = None,
) -> Iterator[Conversation]:
    """Normalise every item of ``source``; the shape is detected from the first item unless given.

    An item in another known shape than the file's is an error (mixed shapes); a malformed item
    (see also :func:`mosaicit.io.wellformed.problem`) raises (``on_bad="error"``) or is recorded
    in ``stats.rejects`` (``"skip"``).
    """
    if input_format not in INPUT_SHAPES:
        raise MosaicitError(f"--input-format must be one of {', '.join(INPUT_SHAPES)}, got {input_format!r}")
    if on_bad not in BAD_RECORD_POLICIES:
        raise MosaicitError(f"--on-bad-record must be one of {', '.join(BAD_RECORD_POLICIES)}")
    cols = columns or Columns()
    stats = stats if stats is not None else ReadStats()
    name = source_name(source)
    shape = None if input_format == "auto" else input_format
    stats.shape = shape
    for index, item in iter_items(source, split):
        stats.read += 1
        bad = problem(item)
        if bad is not None and on_bad == "skip":
            stats.rejects.append(Reject(index, "malformed", _raw(item), bad))
            continue
        if bad is not None:
            raise InputError(name, bad, index)
        found = detect(item, cols)
        if shape is None:
            if found is None:
                raise InputError(name, no_shape_message(item), index)
            shape = stats.shape = found
        elif input_format == "auto" and found is not None and found != shape:
            raise InputError(
                name, f"mixed shapes: this record is {found} but the records before it are {shape}", index
            )
        try:
            yield normalise(item, shape, cols, name, index)
        except InputError as exc:
            if on_bad == "error":
                raise
            stats.rejects.append(Reject(index, "malformed", _raw(item), exc.reason))


def _raw(item: Any) -> dict[str, Any]:
    """An input item as the record of a reject."""
    return dict(item) if isinstance(item, dict) else {"value": item}


def output_kind(path: str | Path) -> str:
    """The file type an output path asks for: ``json``, ``jsonl`` or ``parquet``."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise MosaicitError(f"{path}: the output must end in {', '.join(OUTPUT_SUFFIXES)}")
    return suffix[1:]


def check_output_format(shape: str) -> str:
    """``shape`` if it is a writable shape, else a clear error."""
    if shape not in SHAPES:
        raise MosaicitError(f"--output-format must be one of {', '.join(SHAPES)}, got {shape!r}")
    return shape


def write_dataset(path: str | Path, rows: Iterable[dict[str, Any] | EncodedRow], shape: str) -> int:
    """Write rows atomically as a JSON array, JSONL or Parquet, chosen by the extension of ``path``
    (rows already encoded as JSON only for the first two)."""
    if output_kind(path) == "parquet":
        return write_parquet(path, cast(Iterable[dict[str, Any]], rows), shape)
    return write_rows(path, rows)
