"""Lay out and render a plan: a pure function of the plan and the records' texts."""

from __future__ import annotations

from collections.abc import Mapping

from mosaicit.render.edits import edit_answer
from mosaicit.types.plan import Plan
from mosaicit.types.segments import Piece, Segment, edited_piece

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
    edits = {e.source: e for e in plan.edits}
    for source in plan.answer_order:
        if output:
            output.append(ANSWER_JOINER)
        if plan.numbering:
            output.append(plan.numbering.label(plan.number_of(source)))
        edit = edits.get(source)
        answer = edited_piece(edit) if edit else Piece(source, "output")
        if plan.tags:
            inner = "\n" if plan.tags.newline else " "
            output += [plan.tags.begin + inner, answer, inner + plan.tags.end]
        else:
            output.append(answer)
    return instruction, output


def piece_text(piece: Piece, texts: Mapping[tuple[int, str], str]) -> str:
    """The text of a piece, from record texts keyed by ``(source, field)``; an edited output is
    rewritten from its record's output and prompt."""
    if piece.edit is None:
        return texts[(piece.source, piece.field)]
    return edit_answer(piece.edit, texts[(piece.source, "output")], texts[(piece.source, "prompt")])


def join(segments: list[Segment], texts: Mapping[tuple[int, str], str]) -> str:
    """Concatenate a layout, looking pieces up by ``(source, field)``."""
    return "".join(s if isinstance(s, str) else piece_text(s, texts) for s in segments)


def render(plan: Plan, prompts: Mapping[int, str], outputs: Mapping[int, str]) -> tuple[str, str]:
    """The (instruction, output) text of a plan, from its records' prompts and outputs."""
    texts = {(i, "prompt"): prompts[i] for i in plan.sources}
    texts.update({(i, "output"): outputs[i] for i in plan.answer_order})
    instruction, output = layout(plan)
    return join(instruction, texts), join(output, texts)
