"""One schema per output file: every row of a shape has the same columns, in the same order.

Loaders that fix a file's schema from its first rows (``datasets.load_dataset("json")``
reads JSONL in 10 MB blocks and casts every later block to the first block's types; Parquet
writers fix it in the first batch) read a file only when every column has the same type in
every row and the first rows show that type. So, in every file type:

- every row has every column of its shape (:attr:`mosaicit.io.shapes.RecordShape.columns`), null
  where it has no value;
- ``system`` is a string, ``""`` when there is no system prompt (``""`` is what LLaMA-Factory
  uses for a missing system column too);
- ``mosaic``, the provenance, is a JSON string (:func:`encode_mosaic`): its fields vary with
  the strategy (``numbering`` null or an object, ``ids`` of any type, ``turns`` only for split
  conversations), which no single inferred type can hold. :func:`decode_mosaic` reads it back,
  and mosaicit's readers do so themselves;
- ``augment`` writes the passthrough rows first, the first one that holds a ``history`` and
  the first that holds an ``id`` at the very top, so that the first rows show those columns'
  types (mosaics have neither); see :func:`mosaicit.run.api.augment_dataset`.
"""

from __future__ import annotations

import json
from typing import Any

from mosaicit.io.jsonstream import dumps_line

#: The provenance column, which follows a shape's own columns unless left out.
META = "mosaic"
#: Columns written as ``""`` rather than null when empty.
EMPTY_STRING = ("system",)


def encode_mosaic(value: Any) -> str | None:
    """The provenance as written: a compact JSON string, as rows are (null stays null; a string is
    kept)."""
    if value is None or isinstance(value, str):
        return value
    return dumps_line(value)


def decode_mosaic(value: Any) -> Any:
    """The provenance object of a written ``mosaic`` value (a JSON string, or an object from
    files written before it became a string); other text is returned as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def conform(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """``row`` with exactly ``columns`` (a shape's, :func:`mosaicit.io.shapes.columns`) in order:
    missing ones null (``system`` ``""``), ``mosaic`` as a JSON string."""
    out = {name: row.get(name) for name in columns}
    for name in EMPTY_STRING:
        if name in out and out[name] is None:
            out[name] = ""
    if META in out:
        out[META] = encode_mosaic(out[META])
    return out
