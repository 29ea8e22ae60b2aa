"""Show a mosaic on the terminal with its parts told apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click

from mosaicit.render.layout import layout, piece_text
from mosaicit.types.plan import Plan
from mosaicit.types.records import Record, Sample

COLORS = ("cyan", "green", "yellow", "magenta", "blue", "red")


def _paint(segments: list, plan: Plan, records: Mapping[int, Record]) -> str:
    """The segments' texts, fixed text dim and each record's text in its colour."""
    out = []
    for seg in segments:
        if isinstance(seg, str):
            out.append(click.style(seg, dim=True))
            continue
        record = records[seg.source]
        text = piece_text(seg, {(seg.source, "prompt"): record.prompt, (seg.source, "output"): record.output})
        color = COLORS[(plan.number_of(seg.source) - 1) % len(COLORS)]
        out.append(click.style(text, fg=color))
    return "".join(out)


def show(number: int, sample: Sample, members: Sequence[Record]) -> str:
    """A printable block: a header with the plan's facts, the instruction and the output.

    ``members`` are the sample's records in the order of its sources. Fixed text (labels,
    tags, meta-instructions) is dim; each record's text has its own colour. A sample that
    holds several exchanges of one conversation is shown as written, in one colour.
    """
    m = sample.mosaic
    plan = Plan.from_dict(m)
    rows = [click.style(sample.instruction, fg=COLORS[0]), click.style(sample.output, fg=COLORS[0])]
    if len(set(plan.sources)) == len(plan.sources):
        records = {record.index: record for record in members}
        instruction, output = layout(plan)
        rows = [_paint(instruction, plan, records), _paint(output, plan, records)]
    rule = f" / {m['rule']}" if m.get("rule") else ""
    header = (
        f"=== mosaic {number}: {sample.count} records {m['sources']}, {m['strategy']}{rule}, "
        f"answers {m['answer_order']}, skipped {m['skipped']}, {m['tokens']} tokens ==="
    )
    return "\n".join(
        [
            click.style(header, bold=True),
            click.style("--- instruction ---", bold=True),
            rows[0],
            click.style("--- output ---", bold=True),
            rows[1],
            "",
        ]
    )
