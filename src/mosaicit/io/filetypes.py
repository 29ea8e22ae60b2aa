"""File types: each one :class:`FileType` (its name, suffixes, reader, writers, whether it may be
compressed), registered here and found by name or by a path's suffix.

Everything that asks what kind of file a path is asks here: reading an input
(:func:`mosaicit.io.sources.iter_items`, the Ray executor's readers), finding the data files of a
folder or a glob (:mod:`mosaicit.io.inputs`), writing one output file
(:func:`mosaicit.io.sources.write_dataset`) or a folder of part files (``--output-parts``,
:mod:`mosaicit.io.parts`), the summary's ``formats.file``. So a new file type is a reader and a
writer (in a module of their own) and one :func:`register` call (docs/architecture.md).

The record shape (Alpaca, ShareGPT...) is another matter: any file type holds rows of any shape
(:mod:`mosaicit.io.shapes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError, MosaicitError, ParamError, listed
from mosaicit.io.jsonstream import iter_json, write_lines, write_rows
from mosaicit.io.parquet import iter_parquet, write_parquet, write_parquet_part
from mosaicit.io.streams import COMPRESSIONS, STDIN, split_suffix

#: ``read(path, max_record_mb)``: ``(row, item)`` of every item of the file, rows from 0; a file it
#: cannot read is an :class:`~mosaicit.errors.InputError` naming the file (and the record).
Reader = Callable[[str | Path, int], Iterator[tuple[int, Any]]]
#: ``write(path, rows, shape)``: write the rows (of the output ``shape``'s columns) as the file at
#: ``path``, atomically (:func:`mosaicit.io.atomic.atomic_open`); returns how many.
Writer = Callable[[str | Path, Iterable[Any], str], int]
#: ``write_part(path, rows, shape, hint)``: write the rows as one part file at ``path`` (a
#: temporary folder's file, no need to be atomic); returns how many, and the ``hint`` for the
#: next parts (Parquet: the ``id`` column's type, the same in every part).
PartWrite = Callable[[str, Iterable[Any], str, Any], tuple[int, Any]]


@dataclass(frozen=True)
class FileType:
    """One file type.

    ``name`` is what ``--output-parts`` and the summary call it, and a part file's extension;
    ``suffixes`` are the extensions that name it (an input of another extension is read as JSON);
    ``compressible``: whether ``.gz``/``.zst`` may follow them (and the file be read from a pipe);
    a type that is not is read from, and written as, a plain file only. ``json_rows``: the writers
    take rows already encoded as JSON (:class:`mosaicit.io.jsonstream.EncodedRow`, made where the
    samples are composed) as well as dicts; else dicts only. ``write_part`` (None: no part files
    of this type) writes one part of ``--output-parts``; parts concatenated in name order must hold
    the rows of the one-file output. ``title`` names the type in messages."""

    name: str
    suffixes: tuple[str, ...]
    read: Reader
    write: Writer
    write_part: PartWrite | None = None
    compressible: bool = True
    json_rows: bool = False
    title: str = ""


#: The registered file types, by name, in the order they were registered.
FILE_TYPES: dict[str, FileType] = {}
#: What reads an input whose name has no registered suffix (``-``, ``data.txt``): a JSON array or
#: JSONL, told apart by the first character.
FALLBACK = "jsonl"


def register(file_type: FileType) -> FileType:
    """Add ``file_type`` to :data:`FILE_TYPES`; returns it. Its name and suffixes must be new."""
    clash = sorted(set(_suffixes()) & set(file_type.suffixes))
    if file_type.name in FILE_TYPES or clash:
        taken = f"suffix {clash[0]}" if clash else "name"
        raise MosaicitError(f"file type {file_type.name!r}: its {taken} is another file type's already")
    if not file_type.suffixes or any(s != s.lower() or not s.startswith(".") for s in file_type.suffixes):
        raise MosaicitError(f"file type {file_type.name!r}: suffixes are lowercase and start with a dot")
    FILE_TYPES[file_type.name] = file_type
    return file_type


def by_suffix(path: str | Path) -> FileType | None:
    """The file type that ``path``'s data suffix names (before any ``.gz``/``.zst``), if any."""
    suffix = split_suffix(path)[0]
    return next((known for known in FILE_TYPES.values() if suffix in known.suffixes), None)


def data_type(path: str | Path) -> FileType | None:
    """The file type of a data file found by its name (in a folder or by a glob): a registered
    suffix, compressed only where the type may be; None for any other file."""
    found = by_suffix(path)
    if found is None or (split_suffix(path)[1] and not found.compressible):
        return None
    return found


def data_suffixes() -> str:
    """The suffixes of data files, for messages: ``.json, .jsonl, .parquet, .gz, .zst``."""
    return ", ".join([*_suffixes(), *COMPRESSIONS])


def _suffixes(compressible: bool = False) -> list[str]:
    """The suffixes of every file type (only of those that may be compressed, if asked), in order."""
    return [
        s for known in FILE_TYPES.values() if known.compressible or not compressible for s in known.suffixes
    ]


def input_type(path: str | Path) -> FileType:
    """The file type that reads the input ``path``: by its suffix, else :data:`FALLBACK`."""
    return by_suffix(path) or FILE_TYPES[FALLBACK]


def check_plain(file_type: FileType, path: str | Path, piped: bool = False) -> None:
    """An :class:`InputError` when ``path`` is compressed, or ``piped`` (not a regular file), and
    ``file_type`` reads plain files only."""
    if not file_type.compressible and (piped or split_suffix(path)[1]):
        plain = f"a plain {file_type.suffixes[0]} file"
        raise InputError(
            str(path), f"{file_type.title or file_type.name} is read from {plain}, not compressed or piped"
        )


def output_type(path: str | Path) -> FileType:
    """The file type an output path asks for, by its suffix (compressed where the type may be);
    ``-`` (stdout) is JSONL."""
    if str(path) == STDIN:
        return FILE_TYPES["jsonl"]
    found = data_type(path)
    if found is None:
        packed = _suffixes(compressible=True)
        may = f" ({listed(packed, 'and')} may add {listed(COMPRESSIONS)})" if packed else ""
        raise MosaicitError(f"{path}: the output must end in {listed(_suffixes())}{may}, or be - for stdout")
    return found


def part_types() -> tuple[str, ...]:
    """The names of the file types that part files can be (``--output-parts``)."""
    return tuple(name for name, known in FILE_TYPES.items() if known.write_part is not None)


def part_type(name: str) -> FileType:
    """The file type of ``--output-parts`` ``name``, or an error naming the parameter."""
    if name not in part_types():
        raise ParamError("output_parts", f"must be {listed(part_types())}, got {name!r}")
    return FILE_TYPES[name]


# ----------------------------------------------------------------------------- mosaicit's own


def _write_json(path: str | Path, rows: Iterable[Any], shape: str) -> int:
    return write_rows(path, rows)  # a JSON array or JSONL, by the suffix of path


def _jsonl_part(path: str, rows: Iterable[Any], shape: str, hint: Any) -> tuple[int, Any]:
    return write_lines(path, rows), None


def _read_parquet(path: str | Path, max_record_mb: int) -> Iterator[tuple[int, Any]]:
    return iter_parquet(path)  # a row is bounded by the file's own column chunks


JSON = register(FileType("json", (".json",), iter_json, _write_json, json_rows=True, title="JSON"))
JSONL = register(
    FileType("jsonl", (".jsonl",), iter_json, _write_json, _jsonl_part, json_rows=True, title="JSONL")
)
#: Parquet is never compressed (it compresses its own pages) nor piped (its reader seeks).
PARQUET = register(
    FileType(
        "parquet",
        (".parquet",),
        _read_parquet,
        write_parquet,
        write_parquet_part,
        compressible=False,
        title="Parquet",
    )
)
