"""Shared pieces for the eval tests: a built eval set on real data, and ways to damage an answer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from conftest import ALPACA_EVAL
from mosaicit.eval.build import build_evalset
from mosaicit.eval.evalset import EvalItem
from mosaicit.strategies.plan import Numbering, Plan, Tags
from mosaicit.strategies.render import render

ALL_STRATEGIES = {"primary": 1.0, "format": 1.0, "permute": 1.0, "maskout": 1.0}


@functools.cache
def built(size: int = 400, seed: int = 7, min_records: int = 1, max_records: int = 6) -> tuple[EvalItem, ...]:
    """An eval set over every strategy, rule and marker kind, from the 805 AlpacaEval records."""
    result = build_evalset(
        ALPACA_EVAL,
        size=size,
        seed=seed,
        min_records=min_records,
        max_records=max_records,
        weights=ALL_STRATEGIES,
        no_numbering_rate=0.3,
    )
    return tuple(result.items)


def rendered(item: EvalItem, plan: Plan) -> str:
    """The output text of ``plan`` from the item's own source texts."""
    prompts = {s.index: s.prompt for s in item.sources}
    outputs = {s.index: s.output for s in item.sources}
    return render(plan, prompts, outputs)[1]


@dataclass(frozen=True)
class Damage:
    """A damaged answer and the checks it must fail in each mode."""

    response: str
    strict: frozenset[str]
    loose: frozenset[str]


def _same(response: str, *fails: str) -> Damage:
    return Damage(response, frozenset(fails), frozenset(fails))


def _cosmetic(response: str, fail: str) -> Damage:
    return Damage(response, frozenset({fail}), frozenset())


def drop_one(item: EvalItem) -> Damage | None:
    """The middle answer left out."""
    order = list(item.plan.answer_order)
    if not order:
        return None
    del order[len(order) // 2]
    return _same(rendered(item, replace(item.plan, answer_order=tuple(order))), "instructions")


def swap_two(item: EvalItem) -> Damage | None:
    """The first and last answers swapped."""
    order = list(item.plan.answer_order)
    if len(order) < 2 or item.source(order[0]).output == item.source(order[-1]).output:
        return None
    order[0], order[-1] = order[-1], order[0]
    return _same(rendered(item, replace(item.plan, answer_order=tuple(order))), "order")


def answer_skipped(item: EvalItem) -> Damage | None:
    """A skipped instruction answered too, in its place among the others."""
    plan = item.plan
    if not plan.skipped:
        return None
    extra = plan.skipped[0]
    order = [s for s in plan.sources if s in plan.answer_order or s == extra]
    return _same(rendered(item, replace(plan, answer_order=tuple(order))), "instructions")


def answer_twice(item: EvalItem) -> Damage | None:
    """The first answer given once more at the end (plain plans need two answers to tell)."""
    plan = item.plan
    if not plan.answer_order or (len(plan.answer_order) < 2 and not (plan.numbering or plan.tags)):
        return None
    once = rendered(item, plan)
    again = rendered(item, replace(plan, answer_order=plan.answer_order[:1]))
    return _same(once + "\n\n" + again, "instructions")


def tags_removed(item: EvalItem) -> Damage | None:
    """No begin/end tags around the answers."""
    if not item.plan.tags or not item.plan.answer_order:
        return None
    return _same(rendered(item, replace(item.plan, tags=None)), "tags")


def labels_removed(item: EvalItem) -> Damage | None:
    """No numbering labels before the answers."""
    if not item.plan.numbering or not item.plan.answer_order:
        return None
    return _same(rendered(item, replace(item.plan, numbering=None)), "numbering")


def tags_case_changed(item: EvalItem) -> Damage | None:
    """Tags with their letters' case swapped: cosmetic."""
    tags = item.plan.tags
    if not tags or not item.plan.answer_order:
        return None
    changed = Tags(tags.begin.swapcase(), tags.end.swapcase(), tags.newline)
    return _cosmetic(rendered(item, replace(item.plan, tags=changed)), "tags")


def tags_emphasised(item: EvalItem) -> Damage | None:
    """Tags in Markdown bold: cosmetic."""
    tags = item.plan.tags
    if not tags or not item.plan.answer_order:
        return None
    changed = Tags(f"**{tags.begin}**", f"**{tags.end}**", tags.newline)
    return _cosmetic(rendered(item, replace(item.plan, tags=changed)), "tags")


def labels_emphasised(item: EvalItem) -> Damage | None:
    """Labels in Markdown bold or code: cosmetic."""
    numbering = item.plan.numbering
    if not numbering or not item.plan.answer_order:
        return None
    mark = "`" if len(item.plan.sources) % 2 else "**"
    changed = Numbering(mark + numbering.style, numbering.punctuation + mark, numbering.newline)
    return _cosmetic(rendered(item, replace(item.plan, numbering=changed)), "numbering")


def labels_indented(item: EvalItem) -> Damage | None:
    """Labels indented by two spaces: cosmetic."""
    numbering = item.plan.numbering
    if not numbering or not item.plan.answer_order:
        return None
    changed = Numbering("  " + numbering.style, numbering.punctuation, numbering.newline)
    return _cosmetic(rendered(item, replace(item.plan, numbering=changed)), "numbering")


def labels_case_changed(item: EvalItem) -> Damage | None:
    """Worded labels ('Task 1', 'Part 1') in upper case: cosmetic."""
    numbering = item.plan.numbering
    if not numbering or not item.plan.answer_order:
        return None
    worded = numbering.style.replace("{n}", "")
    if worded.upper() == worded:
        return None
    style = "{n}".join(part.upper() for part in numbering.style.split("{n}"))
    changed = Numbering(style, numbering.punctuation, numbering.newline)
    return _cosmetic(rendered(item, replace(item.plan, numbering=changed)), "numbering")


def preamble_added(item: EvalItem) -> Damage | None:
    """A chatty first line before the answers (plans with markers only)."""
    if not (item.plan.numbering or item.plan.tags) or not item.plan.answer_order:
        return None
    return _same("Sure! Here are my answers.\n\n" + rendered(item, item.plan), "layout")


def surrounding_whitespace(item: EvalItem) -> Damage | None:
    """Blank lines and spaces around the whole answer: ignored in both modes."""
    return _same("\n \n" + rendered(item, item.plan) + "\n\n  ")


DAMAGES: dict[str, Callable[[EvalItem], Damage | None]] = {
    f.__name__: f
    for f in (
        drop_one,
        swap_two,
        answer_skipped,
        answer_twice,
        tags_removed,
        labels_removed,
        tags_case_changed,
        tags_emphasised,
        labels_emphasised,
        labels_indented,
        labels_case_changed,
        preamble_added,
        surrounding_whitespace,
    )
}
