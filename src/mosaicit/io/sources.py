"""Open any supported input as a stream of conversations, and write rows by the output's extension."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError, ParamError
from mosaicit.io.chats import EmptyConversation
from mosaicit.io.filetypes import check_plain, input_type, output_type
from mosaicit.io.formats import Columns, Conversation
from mosaicit.io.hf import iter_dataset, load_saved
from mosaicit.io.inputs import expand, given_name
from mosaicit.io.jsonstream import MAX_RECORD_MB, EncodedRow
from mosaicit.io.shapes import detect, input_formats, no_shape_message, normalise
from mosaicit.io.streams import STDIN
from mosaicit.io.wellformed import empty_chat, problem
from mosaicit.types.records import Reject

BAD_RECORD_POLICIES = ("error", "skip")
#: Above this share of rejected records the input is taken to be in another shape than assumed.
MAX_BAD_SHARE = 0.5


def source_name(source: Any) -> str:
    """How to name an input in messages: its path (the first of several, with how many more),
    or ``<dataset>`` for an in-memory dataset."""
    return given_name(source) if is_paths(source) else "<dataset>"


def is_paths(source: Any) -> bool:
    """Whether ``source`` names files (a path, or a non-empty list of them), not an in-memory dataset."""
    return isinstance(source, str | Path) or (
        isinstance(source, list | tuple) and bool(source) and all(isinstance(s, str | Path) for s in source)
    )


def iter_items(
    source: Any, split: str | None = None, max_record_mb: int = MAX_RECORD_MB
) -> Iterator[tuple[str, int, Any]]:
    """Yield ``(file, row, item)`` from paths (JSON, JSONL, Parquet or another file type of
    :mod:`mosaicit.io.filetypes`, .gz/.zst, ``-``, globs, folders of shards, saved HF datasets: see
    :mod:`mosaicit.io.inputs`) or a Dataset; ``row`` counts
    the items of each file from 0; a JSON record over ``max_record_mb`` MiB is an error."""
    if not is_paths(source):
        for row, item in iter_dataset(source):
            yield "<dataset>", row, item
        return
    for path in expand(source):
        name = str(path)
        if name != STDIN and Path(name).is_dir():
            items = iter_dataset(load_saved(path, split))
        else:
            kind = input_type(name)
            check_plain(kind, name, name == STDIN or not Path(name).is_file() and Path(name).exists())
            items = kind.read(path, max_record_mb)
        for row, item in items:
            yield name, row, item


@dataclass
class ReadStats:
    """What reading found: the shape, how many items, the ones set aside, the repairs made,
    and where each file's items start (to name a record by file and row)."""

    shape: str | None = None
    read: int = 0
    rejects: list[Reject] = field(default_factory=list)
    repairs: Counter[str] = field(default_factory=Counter)
    files: list[tuple[int, str]] = field(default_factory=list)
    #: The error line of the first item set aside as broken, if any.
    first_error: str | None = None
    #: Items set aside by readers elsewhere (a cluster's, file by file), by reason, beside ``rejects``.
    elsewhere: Counter[str] = field(default_factory=Counter)

    def origin(self, index: int) -> tuple[str, int] | None:
        """``(file, row)`` of the item with input ``index``, when known."""
        at = bisect.bisect_right([start for start, _ in self.files], index) - 1
        return (self.files[at][1], index - self.files[at][0]) if at >= 0 else None

    @property
    def bad(self) -> int:
        """How many items were set aside as broken (malformed) while reading."""
        return sum(1 for r in self.rejects if r.reason == "malformed") + self.elsewhere["malformed"]

    @property
    def empty(self) -> int:
        """How many conversations were set aside as empty (no exchange) while reading."""
        return len(self.rejects) + self.elsewhere.total() - self.bad


def check_read_options(
    input_format: str, on_bad: str, max_bad_share: float, max_record_mb: int = MAX_RECORD_MB
) -> None:
    """A clear error naming the parameter for an unknown shape or policy, or a share out of range."""
    if input_format not in input_formats():
        raise ParamError("input_format", f"must be one of {', '.join(input_formats())}, got {input_format!r}")
    if on_bad not in BAD_RECORD_POLICIES:
        raise ParamError("on_bad", f"must be one of {', '.join(BAD_RECORD_POLICIES)}, got {on_bad!r}")
    if not 0 <= max_bad_share <= 1:
        raise ParamError("max_bad_share", f"must be between 0 and 1, got {max_bad_share}")
    if not 1 <= max_record_mb <= 2**20:
        raise ParamError("max_record_mb", f"must be between 1 and {2**20}, got {max_record_mb}")


def read_conversations(
    source: Any,
    input_format: str = "auto",
    columns: Columns | None = None,
    on_bad: str = "skip",
    stats: ReadStats | None = None,
    split: str | None = None,
    strict: bool = False,
    max_bad_share: float = MAX_BAD_SHARE,
    items: Iterable[tuple[str, int, Any]] | None = None,
    max_record_mb: int = MAX_RECORD_MB,
    start: int = 0,
    shape: str | None = None,
) -> Iterator[Conversation]:
    """Normalise every item of ``source``; the shape is detected from the first item unless given.

    ``items`` (``(file, row, item)``, as :func:`iter_items` yields them) are read instead of
    ``source`` when given: items fetched elsewhere (a cluster's tasks) are read the same way.

    ShareGPT and messages lists are repaired and the repairs counted in ``stats.repairs``
    (:mod:`mosaicit.io.chats`) unless ``strict``. An empty conversation is set aside
    (``empty_conversation``). An item in another known shape than the file's, or malformed,
    (see :func:`mosaicit.io.wellformed.problem`) is set aside in ``stats.rejects``
    (``on_bad="skip"``, the default) or raises (``"error"``).
    When more than ``max_bad_share`` of the items were set aside as malformed, reading stops with
    an error at the end: the input is likely in another shape than assumed (empty conversations
    do not count: they are in the right shape).
    A JSON record longer than ``max_record_mb`` MiB of text is an error (the bound that stops
    a decompression bomb).

    ``start`` and ``shape`` read one part of a larger input (one file of it, where a cluster
    reads its files apart): ``start`` is the input index of the first item, ``shape`` the input's
    shape, found from the parts before (None: found here as for a whole input).
    """
    check_read_options(input_format, on_bad, max_bad_share, max_record_mb)
    cols = columns or Columns()
    stats = stats if stats is not None else ReadStats()
    name = source_name(source)
    shape = shape or (None if input_format == "auto" else input_format)
    stats.shape = shape
    repairs = None if strict else stats.repairs
    first_error: InputError | None = None
    if items is None:
        items = iter_items(source, split, max_record_mb)
    for index, (file, row, item) in enumerate(items, start):
        if row == 0:
            stats.files.append((index, file))
        stats.read += 1
        bad = problem(item)
        empty = bad is None and empty_chat(item, cols)
        found = None if bad is not None else detect(item, cols)
        try:
            if bad is not None:
                raise InputError(file, bad, row)
            if empty:
                raise EmptyConversation(file, "empty conversation: no messages", row)
            if shape is None:
                if found is None:
                    raise InputError(file, no_shape_message(item), row)
                shape = stats.shape = found
            elif input_format == "auto" and found is not None and found != shape and not empty:
                raise InputError(
                    file, f"mixed shapes: this record is {found} but the records before it are {shape}", row
                )
            conv = normalise(item, shape, cols, file, row, repairs)
            yield conv if row == index else replace(conv, index=index)
        except EmptyConversation as exc:
            if strict and on_bad == "error":
                raise
            stats.rejects.append(Reject(index, "empty_conversation", _raw(item), exc.reason, _id(item, cols)))
        except InputError as exc:
            if on_bad == "error" or (bad is None and shape is None and index == 0 and found is None):
                raise
            first_error = first_error or exc
            stats.rejects.append(Reject(index, "malformed", _raw(item), exc.reason, _id(item, cols)))
    stats.first_error = stats.first_error or (str(first_error) if first_error else None)
    check_bad_share(name, stats, max_bad_share)


def shown_shape(item: Any, cols: Columns) -> str | None:
    """The shape that ``item`` gives the input in :func:`read_conversations` when no item before it
    has given one: its own, if it is well formed and not an empty conversation (else None)."""
    return None if problem(item) is not None or empty_chat(item, cols) else detect(item, cols)


def check_bad_share(name: str, stats: ReadStats, max_bad_share: float) -> None:
    """One clear error when more than ``max_bad_share`` of the items read were set aside as broken."""
    if stats.read and stats.bad / stats.read > max_bad_share:
        share = f"{stats.bad / stats.read:.1%}"
        first = f" (first: {stats.first_error})" if stats.first_error else ""
        raise InputError(
            name,
            f"{share} of the records ({stats.bad} of {stats.read}) were rejected as broken{first}; "
            f"check --input-format and the --*-key options, or raise --max-bad-share "
            f"(now {max_bad_share}) to keep going",
        )


def _raw(item: Any) -> dict[str, Any]:
    return dict(item) if isinstance(item, dict) else {"value": item}


def _id(item: Any, cols: Columns) -> Any:
    return item.get(cols.id) if isinstance(item, dict) else None


def write_dataset(path: str | Path, rows: Iterable[dict[str, Any] | EncodedRow], shape: str) -> int:
    """Write rows atomically in the file type that the extension of ``path`` names
    (:func:`mosaicit.io.filetypes.output_type`: a JSON array, JSONL, Parquet...; rows already
    encoded as JSON only where the type takes them)."""
    return output_type(path).write(path, rows, shape)
