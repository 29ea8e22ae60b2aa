"""Strategies: each ordering and mask rule, the Format layer, plans that replay exactly."""

from __future__ import annotations

import random

import pytest

from mosaicit.config import MosaicConfig
from mosaicit.plan.features import PromptFeatures
from mosaicit.plan.plan import Plan
from mosaicit.plan.planner import draw_style, make_plan
from mosaicit.plan.strategies.maskout import MASKOUT, maskout
from mosaicit.plan.strategies.maskout import NEEDS_NUMBERS as MASK_NEEDS
from mosaicit.plan.strategies.permute import NEEDS_NUMBERS as PERMUTE_NEEDS
from mosaicit.plan.strategies.permute import ORDERINGS, PERMUTE, permute
from mosaicit.render.layout import render
from mosaicit.tables import load_tables

TABLES = load_tables()
TEXTS = ["banana bread recipe please", "Apple pie?", "cherry", "42 is the answer to what", "apricot jam now"]
PROMPTS = [PromptFeatures.of(t) for t in TEXTS]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("reverse", [4, 3, 2, 1, 0]),
        ("alpha", [1, 4, 0, 2, 3]),  # by first letter, case-folded; ties keep shown order; no letter last
        ("reverse_alpha", [2, 0, 1, 4, 3]),
        ("length_word", [2, 1, 4, 0, 3]),
        ("reverse_length_word", [3, 0, 4, 1, 2]),
        ("length_char", [2, 1, 4, 3, 0]),
        ("reverse_length_char", [0, 3, 4, 1, 2]),
        ("odd_even", [0, 2, 4, 1, 3]),
        ("even_odd", [1, 3, 0, 2, 4]),
    ],
)
def test_orderings(rule, expected):
    assert ORDERINGS[rule](PROMPTS) == expected


def test_alpha_uses_the_first_letter_not_the_whole_string():
    # Whole-string, case-sensitive sorting would put "Zebra" before "apple".
    texts = ["Zebra stripes", "apple", "Mango", '"Quoted" first', "9 lives"]
    assert ORDERINGS["alpha"]([PromptFeatures.of(t) for t in texts]) == [1, 2, 3, 0, 4]


def test_fix_permutation_spells_out_its_order_and_handles_many_records():
    prompts = [PromptFeatures.of(f"Task number {i}") for i in range(80)]
    order, meta = permute("fix", prompts, random.Random(1), TABLES.section(PERMUTE))
    assert sorted(order) == list(range(80))
    positions = [meta.index(str(i + 1), meta.index(str(order[0] + 1))) for i in order[:3]]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("rule", "ratio", "expected"),
    [
        ("odd", 0.3, [0, 2, 4]),
        ("even", 0.3, [1, 3]),
        ("word_long", 0.3, [3]),  # int(5 * 0.3) = 1: the instruction with most words
        ("word_long", 0.45, [0, 3]),  # 2 skipped; ties broken by position
        ("word_short", 0.45, [1, 2]),
    ],
)
def test_mask_rules(rule, ratio, expected):
    skipped, meta = maskout(rule, PROMPTS, ratio, random.Random(0), TABLES.section(MASKOUT))
    assert skipped == expected
    assert meta
    if rule.startswith("word") and len(expected) > 1:
        assert str(len(expected)) in meta


def test_fix_mask_lists_the_skipped_numbers():
    for seed in range(20):
        skipped, meta = maskout("fix", PROMPTS, 0.45, random.Random(seed), TABLES.section(MASKOUT))
        assert len(skipped) == 2
        assert all(str(i + 1) in meta for i in skipped)


def test_numbered_rules_never_drawn_without_numbering():
    config = MosaicConfig(no_numbering_rate=1.0, weights={"permute": 1, "maskout": 1})
    rng = random.Random(0)
    for _ in range(400):
        style = draw_style(rng, config, TABLES)
        assert style.numbering is None
        assert style.rule not in PERMUTE_NEEDS | MASK_NEEDS


def test_primary_is_numbered_plain_concatenation():
    rng = random.Random(3)
    for _ in range(50):
        style = draw_style(rng, MosaicConfig(version="primary"), TABLES)
        plan = make_plan(style, [0, 1, 2], PROMPTS[:3], TABLES)
        assert plan.strategy == "primary" and plan.numbering and not plan.tags
        assert plan.format_meta is None and plan.rule_meta is None


def _render(plan: Plan) -> tuple[str, str]:
    prompts = {i: TEXTS[i] for i in range(5)}
    outputs = {i: f"Answer {i}." for i in range(5)}
    return render(plan, prompts, outputs)


@pytest.mark.parametrize("seed", range(60))
def test_plans_replay_and_leave_no_stray_whitespace(seed):
    rng = random.Random(seed)
    style = draw_style(rng, MosaicConfig(), TABLES)
    size = rng.randint(1, 5)
    plan = make_plan(style, list(range(size)), PROMPTS[:size], TABLES)
    if size == 1:
        assert plan.strategy in ("format", "primary") and plan.rule is None
    replayed = Plan.from_dict(plan.to_dict())
    assert replayed == plan
    instruction, output = _render(plan)
    assert _render(replayed) == (instruction, output)
    for text in (instruction, output):
        assert text == text.strip()
    assert set(plan.answer_order) | set(plan.skipped) == set(plan.sources)
    if plan.tags:
        assert output.count(plan.tags.begin) == len(plan.answer_order)
        assert output.count(plan.tags.end) == len(plan.answer_order)
        assert plan.format_meta and plan.tags.begin in plan.format_meta
