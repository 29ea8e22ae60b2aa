"""Large JSONL files cut into pieces that a cluster's tasks read apart.

A plain (uncompressed) JSONL file on the local filesystem that is larger than
:data:`PIECE_BYTES` is cut, at byte offsets, into pieces of about that size; a piece holds the
lines that start in it (a line starts after a line feed), so that the pieces hold the file's
lines, each once, in order. A piece is read as the whole file is read
(:class:`~mosaicit.io.jsonstream.JsonlWindow`), given the rows and the lines of the pieces
before it (:func:`count_piece`), so its items, their rows and its error lines are those of the
whole file's reading. Any other file (a JSON array, Parquet, a compressed or a remote file) is
one piece, read whole (:func:`~mosaicit.io.remote.iter_file`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.filetypes import input_type
from mosaicit.io.formats import Columns
from mosaicit.io.jsonstream import MAX_RECORD_MB, WHITESPACE, JsonlWindow, iter_json
from mosaicit.io.remote import iter_file
from mosaicit.io.sources import shown_shape
from mosaicit.io.streams import split_suffix

#: Bytes of a piece of a large JSONL file (about: a piece ends where a line does): 256 MiB, some
#: 130k records of ShareGPT's first turns.
PIECE_BYTES = 256 << 20
#: Bytes read from the head of a file to tell JSONL (a first ``{``) from a JSON array.
HEAD_BYTES = 4096


class Piece(NamedTuple):
    """The lines of a file (at ``path`` in its filesystem, ``name`` in messages) that start in
    its bytes ``[begin, end)``; ``end`` None: the whole file, read by its file type's reader."""

    path: str
    name: str
    begin: int = 0
    end: int | None = None


def cut(fs: Any, files: list[tuple[str, str]]) -> list[Piece]:
    """The pieces of ``files`` (``(path, name)`` in ``fs``, in reading order), in reading order:
    a plain JSONL file of the local filesystem larger than :data:`PIECE_BYTES` in pieces of
    about that size, any other file whole."""
    size = PIECE_BYTES
    pieces: list[Piece] = []
    for path, name in files:
        length = _jsonl_size(fs, path)
        if length is None or length <= size:
            pieces.append(Piece(path, name))
            continue
        n = -(-length // size)
        bounds = [length * k // n for k in range(n + 1)]
        pieces += [Piece(path, name, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    return pieces


def _jsonl_size(fs: Any, path: str) -> int | None:
    """The size of a plain JSONL file of the local filesystem (one whose first character, but for
    white space and a byte order mark, is ``{``), else None."""
    if fs.type_name != "local" or input_type(path).read is not iter_json or split_suffix(path)[1]:
        return None
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES).decode("utf-8", errors="replace")
        return os.path.getsize(path) if head.lstrip(WHITESPACE + "\ufeff")[:1] == "{" else None
    except OSError:  # its reader says why, in one line
        return None


class PieceCount(NamedTuple):
    """What :func:`count_piece` found: the piece's items, the shape they give the input (None:
    none gives one), and a cut piece's lines (blank ones too; 0 for a whole file)."""

    items: int
    shape: str | None
    lines: int


def count_piece(fs: Any, piece: Piece, columns: Columns, max_record_mb: int = MAX_RECORD_MB) -> PieceCount:
    """Count a piece's items and lines in one reading, keeping nothing, and find the shape they
    give the input (:func:`~mosaicit.io.sources.shown_shape`): what the pieces after it need to be
    read apart (their first input index, row and line, the input's shape). A reader's error ends
    the count: the piece's own reading meets it too, and the run stops at it."""
    window = (
        None if piece.end is None else JsonlWindow(piece.path, piece.begin, piece.end, 0, 1, max_record_mb)
    )
    items = iter_file(fs, piece.path, piece.name, max_record_mb) if window is None else window
    count, shape = 0, None
    with contextlib.suppress(MosaicitError):
        for *_, item in items:
            count += 1
            shape = shape or shown_shape(item, columns)
    return PieceCount(count, shape, 0 if window is None else window.lines)


def iter_piece(
    fs: Any, piece: Piece, row: int = 0, line: int = 1, max_record_mb: int = MAX_RECORD_MB
) -> Iterator[tuple[str, int, Any]]:
    """``(name, row, item)`` of a piece, its rows from ``row`` and its lines from ``line`` (those
    the pieces of the file before it leave); a whole file is read by
    :func:`~mosaicit.io.remote.iter_file`. A reader's error names the file."""
    if piece.end is None:
        yield from iter_file(fs, piece.path, piece.name, max_record_mb)
        return
    try:
        for at, item in JsonlWindow(piece.path, piece.begin, piece.end, row, line, max_record_mb):
            yield piece.name, at, item
    except InputError as exc:
        raise InputError(piece.name, exc.reason, exc.record) from None
