"""Alpaca-style records in JSON arrays and JSONL: read, and write mosaicked samples."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mosaicit.errors import InputError
from mosaicit.io.atomic import atomic_open
from mosaicit.records import Record, Sample

REQUIRED = ("instruction", "output")
OPTIONAL_TEXT = ("input", "system")


def iter_json_objects(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, item)`` from a JSON array or a JSONL file (blank lines skipped)."""
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    with handle:
        try:
            head = handle.read(4096)
        except UnicodeDecodeError:
            raise InputError(str(path), "not UTF-8 text") from None
        first = head.lstrip()[:1]
        handle.seek(0)
        if first == "[":
            yield from _array_items(handle, str(path))
        elif first in ("{", ""):
            yield from _jsonl_items(handle, str(path))
        else:
            raise InputError(str(path), "not JSON: expected a JSON array or one JSON object per line")


def _array_items(handle: IO[str], path: str) -> Iterator[tuple[int, Any]]:
    text = handle.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise InputError(path, "expected a JSON array of records")
    yield from enumerate(data)


def _jsonl_items(handle: IO[str], path: str) -> Iterator[tuple[int, Any]]:
    index = 0
    try:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield index, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON on line {lineno}: {exc.msg}", index) from None
            index += 1
    except UnicodeDecodeError:
        raise InputError(path, f"not UTF-8 text (after record {index})") from None


def to_record(index: int, item: Any, path: str) -> Record:
    """Check one Alpaca item and make a :class:`Record`; raise :class:`InputError` if malformed."""
    if not isinstance(item, dict):
        raise InputError(path, f"expected an object, got {type(item).__name__}", index)
    for key in REQUIRED:
        if key not in item or item[key] is None:
            raise InputError(path, f"missing field {key!r}", index)
    for key in REQUIRED + OPTIONAL_TEXT:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(path, f"field {key!r} must be a string, got {type(value).__name__}", index)
    return Record(
        index=index,
        instruction=item["instruction"].strip(),
        output=item["output"].strip(),
        input=(item.get("input") or "").strip(),
        id=item.get("id"),
        system=(item.get("system") or "").strip(),
    )


def sample_to_alpaca(sample: Sample, with_meta: bool = True) -> dict[str, Any]:
    """The Alpaca-shaped dict of one sample."""
    row: dict[str, Any] = {"instruction": sample.instruction, "input": "", "output": sample.output}
    if sample.system:
        row["system"] = sample.system
    row["count"] = sample.count
    if with_meta:
        row["mosaic"] = sample.mosaic
    return row


def write_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write dicts atomically as JSONL, or as a JSON array when ``path`` ends in ``.json``."""
    as_array = str(path).endswith(".json")
    n = 0
    with atomic_open(path) as out:
        if as_array:
            out.write("[")
        for row in rows:
            line = json.dumps(row, ensure_ascii=False)
            if as_array:
                out.write(("\n" if n == 0 else ",\n") + line)
            else:
                out.write(line + "\n")
            n += 1
        if as_array:
            out.write("\n]\n" if n else "]\n")
    return n
