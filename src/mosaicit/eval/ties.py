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
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.strategies.base import ORDER_TIE
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Plan


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
    """The plan among those the meta-instruction allows that best fits the answers ``given``
    (the ties are the ones its strategy declares: :attr:`Strategy.tie_keys`)."""
    plan = item.plan
    strategy = STRATEGIES.get(plan.strategy)
    tie = strategy.tie_keys.get(plan.rule) if strategy is not None and plan.rule else None
    if tie is None:
        return plan
    features = _features(item)

    def key(source: int) -> Any:
        return tie.key(features[source])

    if tie.what == ORDER_TIE:
        return replace(plan, answer_order=tied_order(plan.answer_order, key, given))
    skipped = tied_skips(plan, key, given)
    return replace(plan, skipped=skipped, answer_order=tuple(s for s in plan.sources if s not in skipped))
