"""Reshape a dataset from a :class:`~mosaicit.run.spec.RunSpec`: read -> write, one row per item,
no mosaicking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mosaicit.errors import InputError, ParamError
from mosaicit.io import dataset_info
from mosaicit.io.chats import REPAIRS
from mosaicit.io.commit import committed_together
from mosaicit.io.shapes import to_row
from mosaicit.io.sources import ReadStats, source_name
from mosaicit.run import steps
from mosaicit.run.assemble import executor_of
from mosaicit.run.rejects_file import write_rejects
from mosaicit.run.spec import RunSpec
from mosaicit.run.steps import Rejects


@committed_together()
def convert(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec`` as a conversion: read -> write, one row per item (see :func:`convert_dataset`)."""
    out = spec.outputs
    if out.path is None:
        raise ParamError("output", "is needed to convert")
    shape = out.output_format
    name = source_name(spec.source)
    stats = ReadStats()
    rejects = Rejects()

    def rows() -> Iterator[dict[str, Any]]:
        for conv in steps.read(spec, stats, rejects, executor_of(spec)):
            yield to_row(conv, shape, out.with_meta)
        if stats.read == 0:
            raise InputError(name, "empty dataset: no records")

    seen = dataset_info.ColumnSeen()
    written = steps.write(rows(), out, seen)
    summary: dict[str, Any] = {
        "input": name,
        "output": str(out.path),
        "input_format": stats.shape,
        "output_format": shape,
        "records_read": stats.read,
        "records_written": written,
        "records_rejected": len(rejects),
        "repairs": {k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]},
    }
    if len(rejects) and out.rejects_target is not None:
        write_rejects(out.rejects_target, rejects.in_input_order(), stats, out.rejects_full)
        summary["rejects"] = str(out.rejects_target)
    if out.dataset_info is not None:
        summary["dataset_info"] = {
            "path": str(out.dataset_info),
            "name": dataset_info.write_entry(out.dataset_info, out.path, shape, seen.present),
        }
    return summary
