"""planner.py: draw_style and make_plan on fixed inputs, and plans that replay exactly."""

from __future__ import annotations

import random

import pytest

from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.planner import base_style, draw_style, make_plan
from mosaicit.plan.strategies.format import FORMAT
from mosaicit.plan.strategies.maskout import MASKOUT
from mosaicit.plan.strategies.maskout import NEEDS_NUMBERS as MASK_NEEDS
from mosaicit.plan.strategies.permute import NEEDS_NUMBERS as PERMUTE_NEEDS
from mosaicit.plan.strategies.permute import PERMUTE
from mosaicit.plan.strategies.primary import PRIMARY
from mosaicit.plan.tables.loader import load_tables
from mosaicit.render.layout import render
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Numbering, Plan, Style

TABLES = load_tables()
TEXTS = ["banana bread recipe please", "Apple pie?", "cherry", "42 is the answer to what", "apricot jam now"]
PROMPTS = [PromptFeatures.of(t) for t in TEXTS]
NUMBERED = Numbering("[{n}]", ".", False)


def _style(strategy: str, rule: str | None, ratio: float = 0.3) -> Style:
    return Style(strategy, NUMBERED, None, None, "\n", True, "\n", rule, False, "\n\n", ratio, 99)


@pytest.mark.parametrize(
    ("seed", "strategy", "rule", "label", "meta"),
    [  # pinned draws: a change here changes every output of a seed (maskout draws no generic line)
        (0, MASKOUT, "word_short", "(#{n})", None),
        (1, PERMUTE, "reverse_alpha", "[{n}]", "Answer all of the instructions."),
        (2, MASKOUT, "word_short", "({n})", None),
    ],
)
def test_draw_style_on_a_fixed_seed(seed, strategy, rule, label, meta):
    config = MosaicConfig(weights={PERMUTE: 1, MASKOUT: 1}, no_numbering_rate=0.0, tag_rate=0.0)
    style = draw_style(random.Random(seed), config, TABLES)
    assert (style.strategy, style.rule, style.format_meta) == (strategy, rule, meta)
    assert style.numbering is not None and style.numbering.style == label and style.tags is None


def test_a_rule_that_needs_numbers_falls_back_to_format_without_them():
    config = MosaicConfig(weights={MASKOUT: 1}, mask_rules=("odd",), no_numbering_rate=1.0)
    style = draw_style(random.Random(0), config, TABLES)
    assert (style.strategy, style.rule, style.numbering) == (FORMAT, None, None)


def test_make_plan_reverse_answers_in_reverse():
    plan = make_plan(_style(PERMUTE, "reverse"), [7, 3, 5], PROMPTS[:3], TABLES)
    assert (plan.strategy, plan.rule, plan.sources) == (PERMUTE, "reverse", (7, 3, 5))
    assert (plan.answer_order, plan.skipped) == ((5, 3, 7), ())
    assert plan.rule_meta in TABLES.section(PERMUTE).rules["reverse"]
    assert plan.number_of(5) == 3


def test_make_plan_odd_mask_skips_the_odd_numbered():
    plan = make_plan(_style(MASKOUT, "odd"), [10, 11, 12, 13, 14], PROMPTS, TABLES)
    assert (plan.answer_order, plan.skipped) == ((11, 13), (10, 12, 14))
    assert plan.rule_meta in TABLES.section(MASKOUT).many["odd"]


def test_make_plan_word_long_skips_the_longest_by_words():
    plan = make_plan(_style(MASKOUT, "word_long", 0.45), [0, 1, 2, 3, 4], PROMPTS, TABLES)
    assert plan.skipped == (0, 3) and plan.answer_order == (1, 2, 4)


def test_make_plan_one_record_gets_no_rule():
    plan = make_plan(_style(PERMUTE, "fix"), [4], PROMPTS[4:], TABLES)
    assert (plan.strategy, plan.rule, plan.rule_meta, plan.answer_order) == (FORMAT, None, None, (4,))


def test_make_plan_is_deterministic_and_format_keeps_the_shown_order():
    style = _style(PERMUTE, "fix")
    assert make_plan(style, [0, 1, 2, 3], PROMPTS[:4], TABLES) == make_plan(
        style, [0, 1, 2, 3], PROMPTS[:4], TABLES
    )
    plain = make_plan(base_style(), [2, 0], [PROMPTS[2], PROMPTS[0]], TABLES)
    assert (plain.strategy, plain.answer_order, plain.numbering, plain.tags) == (FORMAT, (2, 0), None, None)
    assert render(plain, {0: "A", 2: "C"}, {0: "a", 2: "c"}) == ("C\nA", "c\n\na")


def test_numbered_rules_never_drawn_without_numbering():
    config = MosaicConfig(no_numbering_rate=1.0, weights={PERMUTE: 1, MASKOUT: 1})
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
        assert plan.strategy == PRIMARY and plan.numbering and not plan.tags
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
        assert plan.strategy in (FORMAT, PRIMARY) and plan.rule is None
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
