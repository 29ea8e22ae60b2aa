"""A strategy with a rule is one unit: defined here, in a test module, it is drawn, composed,
rendered again from its plan, and checked by ``eval`` through what it declares itself (the
ties its rule leaves open, ``tie_keys``, and its own check module, ``eval_checks``), with no
other file of mosaicit edited (issue 29)."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from dataclasses import replace

import pytest

from conftest import ALPACA_EVAL
from eval_helpers import rendered
from mosaicit import MosaicConfig, mosaic, render
from mosaicit.eval import REGISTRY as CHECKS
from mosaicit.eval import Options, build_evalset, check_response
from mosaicit.eval.plugins import UNCHECKED, load_checks
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.strategies.base import ORDER_TIE, REGISTRY, Strategy, Tie, add_strategy
from mosaicit.plan.tables.effects import REORDERS
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Plan

META = "Answer the instructions from the one with the most words to the one with the fewest."


def most_words_first(f: PromptFeatures) -> int:
    return -f.words


class Wordiest(Strategy):
    """Answer every instruction, from the wordiest to the tersest."""

    name = "wordiest"
    rank = 99
    rules = ("most_words_first",)
    effects = frozenset({REORDERS})
    tie_keys = {"most_words_first": Tie(ORDER_TIE, most_words_first)}
    eval_checks = ("new_strategy_check",)

    def apply(
        self,
        rule: str,
        prompts: Sequence[PromptFeatures],
        mask_ratio: float,
        rng: random.Random,
        table: object,
    ) -> tuple[list[int], list[int], str]:
        """Every position, most words first (a stable sort: ties in the order shown)."""
        order = sorted(range(len(prompts)), key=lambda i: most_words_first(prompts[i]))
        return order, [], META


WEIGHTS = {"format": 1, "wordiest": 3}


@pytest.fixture(scope="module")
def wordiest():
    """The strategy registered, and its checks loaded as ``mosaicit.eval`` loads them; both gone after."""
    add_strategy(REGISTRY, Wordiest)
    sys.modules.pop("new_strategy_check", None)
    load_checks()
    yield STRATEGIES["wordiest"]
    del REGISTRY["wordiest"]
    CHECKS.pop("wordiest", None)
    UNCHECKED.pop("wordiest", None)
    sys.modules.pop("new_strategy_check", None)


@pytest.fixture(scope="module")
def records():
    return json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))


def words(prompt: str) -> int:
    return PromptFeatures.of(prompt).words


def test_it_is_drawn_composed_and_rendered_again_from_its_plan(wordiest, records):
    config = MosaicConfig(weights=WEIGHTS, max_length=1500, seed=4, epochs=1)
    samples = list(mosaic(records[:300], config))
    ours = [s for s in samples if s.mosaic["strategy"] == "wordiest"]
    assert len(ours) > 10 and {s.mosaic["rule"] for s in ours} == {"most_words_first"}
    prompts = {i: r["instruction"].strip() for i, r in enumerate(records)}
    outputs = {i: r["output"].strip() for i, r in enumerate(records)}
    for s in ours:
        order = s.mosaic["answer_order"]
        assert [words(prompts[i]) for i in order] == sorted((words(prompts[i]) for i in order), reverse=True)
        assert META in s.instruction
        assert render(Plan.from_dict(s.mosaic), prompts, outputs) == (s.instruction, s.output)


def test_eval_checks_it_with_its_own_check_and_its_own_ties(wordiest, records, monkeypatch):
    items = build_evalset(ALPACA_EVAL, size=80, seed=3, weights=WEIGHTS, max_length=2048).items
    ours = [item for item in items if item.plan.strategy == "wordiest"]
    assert len(ours) > 20
    strict = Options("strict")
    tied = 0
    for item in ours:
        outcome = check_response(item, item.reference, strict)
        assert outcome.passed
        assert next(v for v in outcome.verdicts if v.name == "wordiest").passed  # its declared check ran
        order = item.plan.answer_order
        counts = [words(item.source(s).prompt) for s in order]
        if counts[0] != counts[-1]:  # answered backwards: the order and its own check fail
            backwards = rendered(item, replace(item.plan, answer_order=order[::-1]))
            failed = {v.name for v in check_response(item, backwards, strict).verdicts if not v.passed}
            assert {"order", "wordiest"} <= failed
        at = next((i for i in range(len(order) - 1) if counts[i] == counts[i + 1]), None)
        if at is None:
            continue
        tied += 1  # two equally wordy instructions answered the other way round: the tie allows it
        swapped = list(order)
        swapped[at], swapped[at + 1] = swapped[at + 1], swapped[at]
        response = rendered(item, replace(item.plan, answer_order=tuple(swapped)))
        assert check_response(item, response, strict).passed
        with monkeypatch.context() as undeclared:  # the tie is the strategy's word, not eval's
            undeclared.setattr(wordiest, "tie_keys", {})
            failed = {v.name for v in check_response(item, response, strict).verdicts if not v.passed}
            assert "order" in failed
    assert tied


def test_without_it_nothing_knows_it(wordiest):
    assert "wordiest" in CHECKS
    assert "wordiest" not in MosaicConfig().strategy_weights  # it joins no mix: default runs unchanged
