"""Checks that a decoded record can travel through the run: valid Unicode, bounded nesting.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``), which decodes to a Python string that
no tokenizer takes and no UTF-8 file can hold. Such a record is malformed, like a missing
field; set aside under ``--on-bad-record skip``, it is written to the rejects file with JSON
escapes (:func:`dumps_escaped`), so the rejects file stays valid UTF-8 and keeps the record.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mosaicit.io.formats import MESSAGE_LIST_KEYS, Columns

#: Containers nested deeper than this make a record malformed (a record needs a few levels).
MAX_DEPTH = 100
SURROGATE = re.compile("[\ud800-\udfff]")


def _flat_and_clean(item: Any) -> bool:
    """True for a mapping of plain scalars with no lone surrogate (most records): a quick check."""
    if type(item) is not dict:
        return False
    for key, value in item.items():
        if type(key) is not str or not (key.isascii() or not SURROGATE.search(key)):
            return False
        if type(value) is str:
            if not value.isascii() and SURROGATE.search(value):
                return False
        elif value is not None and type(value) not in (int, float, bool):
            return False
    return True


def problem(item: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes ``item`` unusable (a lone surrogate, too deep a nesting), or None if nothing."""
    if _flat_and_clean(item):
        return None
    stack: list[tuple[Any, str, int]] = [(item, "the record", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and SURROGATE.search(value):
                return f"a lone surrogate ({_first_surrogate(value)}) in {where}: not valid Unicode"
        elif isinstance(value, dict | list | tuple):
            if depth >= max_depth:
                return f"nested deeper than {max_depth} levels"
            field = where[len("field ") :] if where.startswith("field ") else ""
            if isinstance(value, dict):
                for key, member in value.items():
                    name = f"{field}.{key}" if field else str(key)
                    stack.append((key, f"a key of {where}", depth + 1))
                    stack.append((member, f"field {name}", depth + 1))
            else:
                for i, member in enumerate(value):
                    stack.append((member, f"field {field}[{i}]", depth + 1))
    return None


def _first_surrogate(text: str) -> str:
    found = SURROGATE.search(text)
    return f"\\u{ord(found.group()):04x}" if found else ""


def _text_form(value: Any) -> str:
    """A value with no JSON form (a Parquet column's date, decimal or bytes) as text."""
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)


def _finite(value: Any) -> Any:
    """``value`` with each NaN or infinity (a Parquet float's) as None, as JSON has none."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps_escaped(row: Any) -> str:
    """``row`` as one line of JSON, non-ASCII kept as is unless a lone surrogate needs escapes;
    a value that JSON cannot hold (from a Parquet file) as text, a NaN or infinity as null."""
    try:
        line = json.dumps(row, ensure_ascii=False, allow_nan=False, default=_text_form)
    except ValueError:
        row = _finite(row)
        line = json.dumps(row, ensure_ascii=False, default=_text_form)
    return line if line.isascii() or not SURROGATE.search(line) else json.dumps(row, default=_text_form)


def empty_chat(item: Any, cols: Columns) -> bool:
    """True for an item whose message list holds no message at all."""
    if not isinstance(item, dict):
        return False
    keys = [cols.messages] if cols.messages else MESSAGE_LIST_KEYS
    return any(isinstance(item.get(k), list) and not item[k] for k in keys)
