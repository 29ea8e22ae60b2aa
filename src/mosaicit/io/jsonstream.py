"""JSON arrays and JSONL: stream items in without loading the whole file as one object, and write rows out.

A JSON array is read item by item with :meth:`json.JSONDecoder.raw_decode` over a buffer
that grows only as far as the current item needs; JSONL is read line by line. The standard
library is enough for this, so there is no dependency on an incremental parser such as ijson
(whose speed matters little next to tokenization).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from mosaicit.errors import InputError
from mosaicit.io.outputs import open_output
from mosaicit.io.streams import open_input, open_text, read_errors, split_suffix

CHUNK = 1 << 16
WHITESPACE = " \t\n\r"
#: What a blank line of JSONL may hold.
BLANK = WHITESPACE + "\ufeff"
SPACES = re.compile(f"[{BLANK}]*")
#: The default bound on one record's text (a JSONL line, or an array item with the space before
#: it), in MiB (millions of characters): far above any real record (ShareGPT's longest are a few
#: MB), far below what exhausts memory, so that a decompression bomb or a file with no line
#: breaks is stopped after reading this much.
MAX_RECORD_MB = 256


class NonStandard(json.JSONDecodeError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's extensions, not JSON."""


def _refuse_constant(name: str) -> Any:
    raise NonStandard(f"{name} is not JSON (JSON has no NaN or Infinity)", "", 0)


def _finite_float(text: str) -> float:
    """A number with a fraction or an exponent, as a float; one beyond a float's range (``1e400``,
    which Python reads as infinity and would be written as ``null``) raises :class:`NonStandard`."""
    value = float(text)
    if math.isinf(value):
        raise NonStandard(f"the number {text[:40]} is beyond the range of a 64-bit float", "", 0)
    return value


#: The decoder of :func:`loads` (one for all: ``json.loads`` with options builds one per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def loads(text: str) -> Any:
    """Parse standard JSON: as :func:`json.loads`, but ``NaN`` and ``Infinity`` raise
    :class:`NonStandard` (a :class:`json.JSONDecodeError`), as does a number beyond a float's
    range; integers of any size are kept exactly."""
    return _DECODER.decode(text)


def _too_large(path: str, limit: int, index: int, where: str) -> InputError:
    """The error for a record over the ``limit`` (characters) at ``where`` in the file."""
    return InputError(
        path,
        f"{where} holds over {limit // 2**20} MiB of text without ending a record; "
        "raise --max-record-mb if records this large are meant",
        index,
    )


def iter_json(path: str | Path, max_record_mb: int = MAX_RECORD_MB) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, item)`` from a JSON array or a JSONL file (blank lines skipped); ``path`` may
    be ``-`` (stdin) or end in ``.gz``/``.zst`` (see :func:`mosaicit.io.streams.open_text`).
    A record (a line, an array item) over ``max_record_mb`` MiB of text is an error."""
    name = str(path)
    limit = max_record_mb * 2**20
    handle = open_text(path)
    with handle:
        try:
            head = handle.read(CHUNK)
            first = head.lstrip(WHITESPACE + "\ufeff")[:1]
            if first == "[":
                yield from _array(handle, head, name, limit)
            elif first in ("{", ""):
                yield from _lines(_line_iter(head, handle, limit), name, limit)
            else:
                raise InputError(name, "not JSON: expected a JSON array or one JSON object per line")
        except UnicodeDecodeError:
            raise InputError(name, "not UTF-8 text") from None
        except read_errors() as exc:  # a truncated or corrupt .gz/.zst stream
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(name, f"cannot read: {detail}") from None


class JsonlWindow:
    """``(index, item)`` of the lines of a plain JSONL file that start in its bytes ``[begin, end)``,
    read as :func:`iter_json` reads the whole file: the items numbered from ``row`` and the
    lines (in error messages) from ``line``, where the lines before the window leave them.
    ``lines``: how many lines (blank ones too) it has read so far."""

    def __init__(
        self, path: str, begin: int, end: int, row: int = 0, line: int = 1, max_record_mb: int = MAX_RECORD_MB
    ) -> None:
        self.path, self.begin, self.end, self.row, self.line = path, begin, end, row, line
        self.limit = max_record_mb * 2**20
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        with window_text(self.path, self.begin, self.end) as handle:
            try:
                yield from _lines(self._counted(handle), self.path, self.limit, self.row, self.line)
            except UnicodeDecodeError:
                raise InputError(self.path, "not UTF-8 text") from None

    def _counted(self, handle: IO[str]) -> Iterator[str]:
        for line in _line_iter("", handle, self.limit):
            self.lines += 1
            yield line


def window_text(path: str, begin: int, end: int) -> IO[str]:
    """The lines of the file at ``path`` that start in its bytes ``[begin, end)``, as UTF-8 text
    read as :func:`~mosaicit.io.streams.open_text` reads the whole file. A line starts after a
    line feed, so a window's lines are those of the whole file, split and translated alike."""
    raw = open_input(path)
    first, last = _line_start(raw, begin), _line_start(raw, end)
    raw.seek(first)
    return io.TextIOWrapper(io.BufferedReader(_Window(raw, last - first)), encoding="utf-8")


def _line_start(raw: IO[bytes], at: int) -> int:
    """The offset of the first line of ``raw`` that starts at byte ``at`` or after (its size if none)."""
    if at == 0:
        return 0
    raw.seek(at - 1)
    while chunk := raw.read(CHUNK):
        found = chunk.find(b"\n")
        if found >= 0:
            return raw.tell() - len(chunk) + found + 1
    return raw.tell()


class _Window(io.RawIOBase):
    """The next ``size`` bytes of ``raw``, read from where it stands; closed with ``raw``."""

    def __init__(self, raw: IO[bytes], size: int) -> None:
        self.raw, self.left = raw, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self.left]
        got = self.raw.readinto(view)  # type: ignore[attr-defined]
        self.left -= got
        return got

    def close(self) -> None:
        self.raw.close()
        super().close()


def _line_iter(head: str, handle: IO[str], limit: int) -> Iterator[str]:
    """The lines of ``head`` followed by the rest of ``handle``, without seeking back; of a line
    longer than ``limit`` characters only the first ``limit + 1`` are read (see :func:`_lines`)."""
    lines = head.split("\n")
    pending = lines.pop()
    yield from (line + "\n" for line in lines)
    while line := handle.readline(limit + 1 - len(pending)):
        if pending:  # only the first line of the rest can continue the head's last one
            line, pending = pending + line, ""
        yield line
    if pending:
        yield pending


class _Buffer:
    """A window on a text file: ``text[pos:]`` is what is not consumed yet."""

    def __init__(self, handle: IO[str], head: str, path: str, limit: int) -> None:
        self.handle, self.text, self.pos, self.eof = handle, head, 0, False
        self.path, self.limit = path, limit  # the longest record, space before it included
        self.lines = 0  # newlines dropped from the front, for error positions
        self.column = 0  # characters of the current line dropped from the front

    def more(self, at_least: int = CHUNK) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(max(at_least, CHUNK))
        if not chunk:
            self.eof = True
            return False
        dropped = self.text[: self.pos]
        newline = dropped.rfind("\n")
        self.lines += dropped.count("\n")
        self.column = len(dropped) - newline - 1 if newline >= 0 else self.column + len(dropped)
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def where(self, pos: int) -> str:
        """``line L, column C`` of position ``pos`` of the buffer, in the whole file."""
        line = self.lines + self.text.count("\n", 0, pos) + 1
        newline = self.text.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self.column + pos + 1
        return f"line {line}, column {column}"

    def skip_space(self, index: int) -> str:
        """Skip whitespace; the next character, or "" at the end of the file. More than the
        record limit of it is an error in record ``index``."""
        skipped = 0
        while True:
            end = SPACES.match(self.text, self.pos).end()  # type: ignore[union-attr]
            skipped += end - self.pos
            self.pos = end
            if skipped > self.limit:
                raise _too_large(self.path, self.limit, index, f"the space before {self.where(self.pos)}")
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""


def _array(handle: IO[str], head: str, path: str, limit: int) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
    buf = _Buffer(handle, head, path, limit)
    buf.skip_space(0)
    buf.pos += 1  # the "["
    index = 0
    if buf.skip_space(0) == "]":
        buf.pos += 1
    else:
        while True:
            if buf.skip_space(index) == "":
                raise InputError(path, f"invalid JSON: the array ends early, in record {index}")
            item = _decode_one(decoder, buf, path, index)
            yield index, item
            index += 1
            after = buf.skip_space(index)
            buf.pos += 1
            if after == "]":
                break
            if after != ",":
                found = repr(after) if after else "the end of the file"
                raise InputError(
                    path, f"invalid JSON after record {index - 1}: expected ',' or ']', got {found}"
                )
    if buf.skip_space(index) != "":
        raise InputError(path, "invalid JSON: extra data after the array")


def _decode_one(decoder: json.JSONDecoder, buf: _Buffer, path: str, index: int) -> Any:
    """Decode the value at ``buf.pos``, reading more of the file until it is complete."""
    want = CHUNK
    while True:
        try:
            item, end = decoder.raw_decode(buf.text, buf.pos)
        except RecursionError:
            where = buf.where(buf.pos)
            raise InputError(path, f"invalid JSON at {where}: nested too deeply", index) from None
        except NonStandard as exc:
            where = buf.where(buf.pos)
            raise InputError(path, f"invalid JSON in the record at {where}: {exc.msg}", index) from None
        except json.JSONDecodeError as exc:
            if buf.more(want):
                want = _grown(buf, want, index)  # each retry reads at least as much again: linear
                continue
            raise InputError(path, f"invalid JSON at {buf.where(exc.pos)}: {exc.msg}", index) from None
        if end == len(buf.text) and buf.more(want):  # a number or literal may go on
            want = _grown(buf, want, index)
            continue
        buf.pos = end
        return item


def _grown(buf: _Buffer, want: int, index: int) -> int:
    """How much to read next for record ``index``, which is not complete yet; an error once it
    is longer than the record limit."""
    if len(buf.text) - buf.pos > buf.limit:
        raise _too_large(buf.path, buf.limit, index, f"the item at {buf.where(buf.pos)}")
    return min(want * 2, buf.limit + 1)


def _lines(
    lines: Iterator[str], path: str, limit: int, index: int = 0, first_line: int = 1
) -> Iterator[tuple[int, Any]]:
    """``(index, item)`` of the JSONL ``lines`` (blank ones skipped), numbered from ``index``; the
    errors name the line, counted from ``first_line``, and the record."""
    for lineno, line in enumerate(lines, first_line):
        if len(line) - line.endswith("\n") > limit:
            raise _too_large(path, limit, index, f"line {lineno}")
        if line[:1] in BLANK and not line.strip(BLANK):  # (a line that starts with "{" is not blank)
            continue
        try:
            item = loads(line.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON on line {lineno}: {exc.msg}", index) from None
        except RecursionError:
            raise InputError(path, f"invalid JSON on line {lineno}: nested too deeply", index) from None
        yield index, item
        index += 1


class EncodedRow(NamedTuple):
    """A row already encoded as one line of JSON (UTF-8 bytes), with the names of its non-empty
    columns."""

    json: bytes
    filled: frozenset[str]


def dumps_bytes(row: Any) -> bytes:
    """``row`` as one line of compact JSON in UTF-8, non-ASCII kept as is: orjson's bytes, which
    are the standard library's with ``separators=(",", ":")`` and ``ensure_ascii=False`` for
    strings, integers and containers, about six times faster. A row orjson refuses (an integer
    beyond 64 bits, a key that is not a string) is written by the standard library in the same
    shape. JSON has no NaN or infinity: orjson writes such a float as ``null``."""
    try:
        return orjson.dumps(row)
    except TypeError:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps_line(row: Any) -> str:
    """:func:`dumps_bytes` as text."""
    return dumps_bytes(row).decode("utf-8")


def encode_row(row: dict[str, Any]) -> EncodedRow:
    """Encode a row as :func:`write_rows` would (so that the work can be done elsewhere)."""
    return EncodedRow(dumps_bytes(row), frozenset(k for k, v in row.items() if v))


def row_line(row: dict[str, Any] | EncodedRow) -> bytes:
    """A row as the one line of JSON that :func:`write_rows` writes for it (no newline)."""
    return row.json if isinstance(row, EncodedRow) else dumps_bytes(row)


def write_rows(path: str | Path, rows: Iterable[dict[str, Any] | EncodedRow]) -> int:
    """Write rows (dicts, or rows already encoded) atomically as JSONL, or as a JSON array when
    ``path`` ends in ``.json`` (before any ``.gz``/``.zst``); ``-`` is stdout (JSONL)."""
    as_array = split_suffix(path)[0] == ".json"
    n = 0
    with open_output(path) as out:
        if as_array:
            out.write(b"[")
        for row in rows:
            line = row_line(row)
            if as_array:
                out.write((b"\n" if n == 0 else b",\n") + line)
            else:
                out.write(line + b"\n")
            n += 1
        if as_array:
            out.write(b"\n]\n" if n else b"]\n")
    return n


def write_lines(path: str | Path, rows: Iterable[dict[str, Any] | EncodedRow]) -> int:
    """Write rows as JSONL to a new plain file at ``path`` (not atomically: a part file, in a
    folder that is committed whole); returns how many."""
    n = 0
    with open(path, "wb") as lines:
        for row in rows:
            lines.write(row_line(row) + b"\n")
            n += 1
    return n
