"""The rejects file: one JSON row per reject, naming its file, row, turn, id, reason and detail."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mosaicit.io.jsonstream import EncodedRow, write_rows
from mosaicit.io.sources import ReadStats
from mosaicit.io.wellformed import dumps_escaped
from mosaicit.run.shards import KeyOf
from mosaicit.types.records import Reject


def write_rejects(
    path: str | Path,
    rejects: Iterable[Reject],
    stats: ReadStats | None = None,
    full: bool = False,
    key_of: KeyOf | None = None,
) -> int:
    """Write rejects as JSONL: each record's input ``index``, where it was read (``file``, and
    ``row``: its position in that file, from 0), the exchange it concerns (``turn``, null for the
    whole record), its ``id``, the ``reason`` and a ``detail``;
    its stable ``key`` with ``key_of`` (sharded runs: see :mod:`mosaicit.run.shards`); the whole
    record too when ``full``. A lone surrogate is written as a JSON escape."""
    rows = reject_rows(rejects, stats, full, key_of)
    return write_rows(path, (EncodedRow(dumps_escaped(row).encode("utf-8"), frozenset()) for row in rows))


def reject_rows(
    rejects: Iterable[Reject], stats: ReadStats | None = None, full: bool = False, key_of: KeyOf | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of the rejects file (see :func:`write_rejects`), one per reject."""
    for r in rejects:
        file, at = (stats.origin(r.index) if stats else None) or (None, None)
        out = {"index": r.index, "file": file, "row": at, "turn": r.turn, "id": r.id}
        out.update(reason=r.reason, detail=r.detail)
        if key_of is not None:
            out["key"] = key_of(r.index, r.turn)
        if full:
            out["record"] = r.raw()
        yield out
