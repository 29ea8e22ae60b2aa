"""Lay out and render a plan: a pure function of the plan and the records' texts."""

from __future__ import annotations

from collections.abc import Mapping

from mosaicit.types.plan import Plan
from mosaicit.types.segments import Piece, Segment

ANSWER_JOINER = "\n\n"


def _wrap(core: list[Segment], meta: str | None, first: bool, sep: str) -> list[Segment]:
    if not meta:
        return core
    return [meta, sep, *core] if first else [*core, sep, meta]


def layout(plan: Plan) -> tuple[list[Segment], list[Segment]]:
    """The instruction and the output as lists of fixed strings and record pieces."""
    body: list[Segment] = []
    for number, source in enumerate(plan.sources, 1):
        if number > 1:
            body.append(plan.instruction_joiner)
        if plan.numbering:
            body.append(plan.numbering.label(number))
        body.append(Piece(source, "prompt"))
    instruction = _wrap(body, plan.format_meta, plan.format_meta_first, plan.format_meta_sep)
    instruction = _wrap(instruction, plan.rule_meta, plan.rule_meta_first, plan.rule_meta_sep)

    output: list[Segment] = []
    for source in plan.answer_order:
        if output:
            output.append(ANSWER_JOINER)
        if plan.numbering:
            output.append(plan.numbering.label(plan.number_of(source)))
        if plan.tags:
            inner = "\n" if plan.tags.newline else " "
            output += [plan.tags.begin + inner, Piece(source, "output"), inner + plan.tags.end]
        else:
            output.append(Piece(source, "output"))
    return instruction, output


def join(segments: list[Segment], texts: Mapping[tuple[int, str], str]) -> str:
    """Concatenate a layout, looking pieces up by ``(source, field)``."""
    return "".join(s if isinstance(s, str) else texts[(s.source, s.field)] for s in segments)


def render(plan: Plan, prompts: Mapping[int, str], outputs: Mapping[int, str]) -> tuple[str, str]:
    """The (instruction, output) text of a plan, from its records' prompts and outputs."""
    texts = {(i, "prompt"): prompts[i] for i in plan.sources}
    texts.update({(i, "output"): outputs[i] for i in plan.answer_order})
    instruction, output = layout(plan)
    return join(instruction, texts), join(output, texts)
