"""plan/strategies: the registry holds each strategy as one unit, in draw order, and a new
strategy is one registered class."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from mosaicit.plan.config import MIXES, VERSIONS, MosaicConfig
from mosaicit.plan.planner import draw_style, make_plan
from mosaicit.plan.strategies import STRATEGIES, STRATEGY_NAMES, Strategy, register
from mosaicit.plan.strategies.base import REGISTRY
from mosaicit.plan.tables.check import Checker
from mosaicit.plan.tables.loader import load_tables
from mosaicit.types.features import PromptFeatures

TABLES = load_tables()


def test_the_registry_holds_the_five_strategies_in_draw_order():
    assert STRATEGY_NAMES == ("primary", "format", "permute", "maskout", "rules")
    assert [s.rank for s in STRATEGIES.values()] == [0, 1, 2, 3, 4]
    assert {n for mix in VERSIONS.values() for n in mix} <= set(STRATEGIES)


def test_each_strategy_declares_its_place_in_the_mixes():
    assert all(set(s.mixes) <= set(MIXES) for s in STRATEGIES.values())
    assert VERSIONS == {
        "format": {"format": 1},
        "order": {"format": 1, "permute": 1},
        "mask": {"format": 1, "maskout": 1},
        "both": {"format": 1, "permute": 1, "maskout": 1},
        "primary": {"primary": 1},
        "rules": {"format": 1, "rules": 1},
    }
    assert list(VERSIONS["both"]) == ["format", "permute", "maskout"]


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_a_strategy_brings_its_own_tables_and_rules(name):
    strategy = STRATEGIES[name]
    if strategy.section:
        assert TABLES.section(name) is not None
        assert all(
            slot.startswith(strategy.section + ".") for slot in strategy.slot_counts(TABLES.section(name))
        )
    assert strategy.monotone == (not strategy.rules)
    assert strategy.numbered_rules <= set(strategy.rules)


def test_a_clash_is_refused():
    class Again(Strategy):
        name = "format"
        rank = 99

    with pytest.raises(ValueError, match="clashes"):
        register(Again)


def test_a_new_strategy_is_one_registered_class():
    """A strategy that answers the last instruction only, drawn and planned like the others."""

    class LastOnly(Strategy):
        name = "last_only"
        rank = 50
        rules = ("last",)
        section = "last_only"

        def load_table(self, check: Checker) -> tuple[str, ...]:
            return ("Answer only the last instruction.",)

        def apply(
            self,
            rule: str,
            prompts: Sequence[PromptFeatures],
            mask_ratio: float,
            rng: random.Random,
            table: Any,
        ) -> tuple[list[int], list[int], str]:
            return [len(prompts) - 1], list(range(len(prompts) - 1)), rng.choice(table)

    saved = dict(REGISTRY)
    try:
        register(LastOnly)
        assert STRATEGY_NAMES != tuple(REGISTRY) and tuple(REGISTRY)[-1] == "last_only"
        tables = load_tables()
        style = draw_style(random.Random(0), MosaicConfig(weights={"last_only": 1}), tables)
        plan = make_plan(style, [4, 5, 6], [PromptFeatures.of(t) for t in "abc"], tables)
        assert (plan.strategy, plan.answer_order, plan.skipped) == ("last_only", (6,), (4, 5))
        assert plan.rule_meta == "Answer only the last instruction."
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)
