"""Every answer order and skip choice a meta-instruction allows when its rule ties.

An ordering by first letter or by length says nothing about two instructions with the same
first letter or the same length, and a rule that skips the n longest (or shortest) says nothing
about which of several equally long ones to skip. The composer breaks such ties by position,
but a model may break them either way: :func:`resolve_ties` turns the plan into the allowed
plan closest to what the response did, so the checks accept every allowed choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from mosaicit.eval.evalset import EvalItem
from mosaicit.plan.strategies.maskout import MASKOUT
from mosaicit.plan.strategies.permute import PERMUTE
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Plan

#: The sort key of each permute ordering that can tie (the others name positions).
ORDER_KEYS: dict[str, Callable[[PromptFeatures], Any]] = {
    "alpha": lambda f: f.letter,
    "reverse_alpha": lambda f: f.letter,
    "length_word": lambda f: f.words,
    "reverse_length_word": lambda f: f.words,
    "length_char": lambda f: f.chars,
    "reverse_length_char": lambda f: f.chars,
}
#: The ranking key of each mask rule that can tie (most words first, or fewest first).
MASK_KEYS: dict[str, Callable[[PromptFeatures], Any]] = {
    "word_long": lambda f: -f.words,
    "word_short": lambda f: f.words,
}


def _features(item: EvalItem) -> dict[int, PromptFeatures]:
    return {s.index: PromptFeatures.of(s.prompt) for s in item.sources}


def _rank(given: Sequence[int]) -> dict[int, int]:
    """Position of each source's first answer in ``given``."""
    rank: dict[int, int] = {}
    for source in given:
        rank.setdefault(source, len(rank))
    return rank


def tied_order(order: Sequence[int], key: Callable[[int], Any], given: Sequence[int]) -> tuple[int, ...]:
    """``order`` with each run of equal keys rearranged as ``given`` answers them (unanswered last)."""
    rank = _rank(given)
    out: list[int] = []
    start = 0
    while start < len(order):
        stop = start
        while stop < len(order) and key(order[stop]) == key(order[start]):
            stop += 1
        run = list(order[start:stop])
        out += sorted(run, key=lambda s: (rank.get(s, len(rank)), run.index(s)))
        start = stop
    return tuple(out)


def tied_skips(plan: Plan, key: Callable[[int], Any], given: Sequence[int]) -> tuple[int, ...]:
    """The skip set of the same size that the rule allows and that overlaps ``given`` least."""
    count = len(plan.skipped)
    if not count:
        return plan.skipped
    ranked = sorted(plan.sources, key=key)
    boundary = key(ranked[count - 1])
    chosen = [s for s in plan.sources if key(s) < boundary]
    answered = set(given)
    tied = [s for s in plan.sources if key(s) == boundary]
    tied.sort(key=lambda s: (s in answered, s not in plan.skipped))
    chosen += tied[: count - len(chosen)]
    return tuple(s for s in plan.sources if s in chosen)


def resolve_ties(item: EvalItem, given: Sequence[int]) -> Plan:
    """The plan among those the meta-instruction allows that best fits the answers ``given``."""
    plan = item.plan
    if plan.strategy == PERMUTE and plan.rule in ORDER_KEYS:
        features, order_key = _features(item), ORDER_KEYS[plan.rule]
        order = tied_order(plan.answer_order, lambda s: order_key(features[s]), given)
        return replace(plan, answer_order=order)
    if plan.strategy == MASKOUT and plan.rule in MASK_KEYS:
        features, mask_key = _features(item), MASK_KEYS[plan.rule]
        skipped = tied_skips(plan, lambda s: mask_key(features[s]), given)
        answer = tuple(s for s in plan.sources if s not in skipped)
        return replace(plan, skipped=skipped, answer_order=answer)
    return plan
