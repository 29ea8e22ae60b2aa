"""The ``rules`` check: every answer that a per-answer rule governs obeys it (see
:mod:`mosaicit.render.edits`). An answer the response does not give is left to the check of the
answered instructions."""

from __future__ import annotations

from mosaicit.eval.checks import Options, Verdict, register
from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.parse import Parsed
from mosaicit.render.edits import obeys

RULES_CHECK = "rules"


@register(RULES_CHECK, applies=lambda item: bool(item.plan.edits))
def answer_rules(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """Each answer with a rule of its own (capital letters, a prefix, at most N sentences...) obeys it."""
    given: dict[int, str] = {}
    for answer in parsed.answers:
        if answer.source is not None:
            given.setdefault(answer.source, answer.text)
    broken = []
    for edit in item.plan.edits:
        text = given.get(edit.source)
        if text is not None and not obeys(edit.rule, edit.param, text, item.source(edit.source).prompt):
            broken.append(edit)
    if not broken:
        return Verdict(RULES_CHECK, True, True)
    reasons = [f"answer {item.plan.number_of(e.source)} breaks rule {e.rule}" for e in broken]
    return Verdict(RULES_CHECK, True, False, "; ".join(reasons), frozenset(e.source for e in broken))
