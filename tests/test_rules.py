"""The ``rules`` strategy: per-answer rules whose edits obey their own checks, counted exactly
by the budget, replayed from the plan, and checked by ``eval``."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from importlib import resources

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ALPACA_EVAL, independent
from mosaicit import mosaic, render
from mosaicit.eval import Options, build_evalset, check_response
from mosaicit.plan.config import VERSIONS, MosaicConfig
from mosaicit.plan.strategies.rules import RulesTables, draw_edits
from mosaicit.plan.tables.loader import load_tables, tables_from_data
from mosaicit.render.edits import (
    EDIT_RULES,
    answer_facts,
    edit_answer,
    obeys,
    rule_fits,
    sentence_count,
)
from mosaicit.types.edits import Edit
from mosaicit.types.plan import Plan

TABLES = load_tables()
PROSE = "Paris is the capital of France. It lies on the Seine, a river. Many people visit it every year!"
#: For each rule, a parameter and a reference that the rule fits.
CASES = {
    "upper": (None, PROSE),
    "lower": (None, PROSE),
    "prefix": ("Answer:", PROSE),
    "suffix": ("Done.", PROSE),
    "repeat": (None, PROSE),
    "sentences": (2, PROSE),
    "bullets": (3, PROSE),
    "quotes": (None, PROSE),
    "code_block": (None, "def f(x):\n    return x + 1"),
    "no_commas": (None, PROSE),
}


@pytest.fixture(scope="module")
def records():
    data = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))
    return [{"instruction": r["instruction"], "output": r["output"]} for r in data]


@pytest.mark.parametrize("rule", EDIT_RULES)
def test_each_rule_edit_obeys_its_check_and_the_reference_does_not(rule):
    param, text = CASES[rule]
    prompt = "Tell me about Paris."
    edited = edit_answer(Edit(0, rule, param), text, prompt)
    assert obeys(rule, param, edited, prompt)
    assert not obeys(rule, param, text, prompt)
    assert edited == edited.strip()  # a clean text for exact composition


def test_the_edits_do_what_they_say():
    p = "Tell me about Paris."
    assert edit_answer(("sentences", 1), PROSE, p) == "Paris is the capital of France."
    assert edit_answer(("bullets", 2), PROSE, p) == (
        "- Paris is the capital of France.\n- It lies on the Seine, a river. Many people visit it every year!"
    )
    assert edit_answer(("no_commas", None), "1,000 cats, dogs,\nbirds", p) == "1000 cats dogs\nbirds"
    assert edit_answer(("repeat", None), PROSE, p).startswith(p + "\n\n")
    assert sentence_count('He said "Hi." Then he left. ') == 2


def test_a_rule_is_not_drawn_where_it_does_not_apply():
    assert answer_facts("Yes.", "Is it?").rules == ()  # too short
    code = answer_facts("def f(x):\n    return x, 1\n", "Write f.")
    assert not {"upper", "lower", "no_commas", "quotes", "sentences", "bullets"} & set(code.rules)
    shout = answer_facts("THIS IS ALREADY LOUD AND CLEAR.", "Shout.")
    assert "upper" not in shout.rules and "lower" in shout.rules
    assert "no_commas" not in answer_facts("No commas here at all.", "Say it.").rules
    assert "sentences" not in answer_facts("One sentence only here.", "Say it.").rules
    broken = answer_facts("First one here.\u2028Second one here. Third one.", "Say it.")
    assert not {"sentences", "bullets"} & set(broken.rules)  # any line break: not one paragraph


def test_on_real_answers_every_drawable_rule_fits(records):
    """Every rule answer_facts allows, with every parameter it may draw, edits each real
    reference into one that obeys it, while the reference as written does not."""
    seen: Counter[str] = Counter()
    for r in records:
        facts = answer_facts(r["output"], r["instruction"])
        for rule in facts.rules:
            params: list = [None]
            if rule == "sentences":
                params = list(range(1, min(3, facts.sentences - 1) + 1))
            elif rule == "bullets":
                params = list(range(2, min(5, facts.sentences) + 1))
            elif rule in ("prefix", "suffix"):
                params = list(
                    TABLES.section("rules").prefixes if rule == "prefix" else TABLES.section("rules").suffixes
                )
                params = [
                    t for t in params if (facts.takes_prefix if rule == "prefix" else facts.takes_suffix)(t)
                ]
            for param in params:
                assert rule_fits(rule, param, r["output"], r["instruction"]), (rule, param, r["output"][:200])
            seen[rule] += 1
    assert set(seen) == set(EDIT_RULES) and min(seen.values()) > 20


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Cats sleep.", "Dogs, too!", "Why?", "Yes.", "e.g. this", '"Quoted."']),
        min_size=2,
        max_size=9,
    ),
    st.data(),
)
def test_sentence_and_bullet_edits_hold_on_any_prose(parts, data):
    text = " ".join(parts)
    count = sentence_count(text)
    if count >= 2:
        n = data.draw(st.integers(1, count - 1))
        assert rule_fits("sentences", n, text, "x")
        b = data.draw(st.integers(2, count))
        assert rule_fits("bullets", b, text, "x")


def test_no_rule_clashes_with_the_marks_around_the_answers():
    facts = [answer_facts(PROSE, "Tell me.")] * 3
    table: RulesTables = TABLES.section("rules")
    for seed in range(200):
        for marks, banned in (("Answer 1. ", {"upper"}), ("1, ", {"no_commas"}), ("[BEGIN][END]", {"lower"})):
            drawn, meta = draw_edits(facts, marks, random.Random(seed), table)
            assert drawn and meta and not banned & {e.rule for _, e in drawn}


def test_tables_without_a_rules_section_still_load_and_leave_format():
    data = yaml.safe_load(resources.files("mosaicit.plan.tables").joinpath("default.yaml").read_text())
    del data["rules"]
    tables = tables_from_data(data, "old.yaml")
    assert tables.section("rules") is None
    samples = list(
        mosaic(
            [{"instruction": f"Say {i}.", "output": PROSE} for i in range(20)],
            MosaicConfig(weights={"rules": 1}, max_length=512),
            tables=tables,
        )
    )
    assert {s.mosaic["strategy"] for s in samples} <= {"format"}


def test_the_default_mix_has_no_rules():
    assert "rules" not in VERSIONS[MosaicConfig().version]
    assert VERSIONS["rules"] == {"format": 1, "rules": 1}


@pytest.mark.parametrize("name", ["llama-2", "llama-3.1"])
def test_budget_is_exact_with_rules_under_independent_tokenization(name, counters, records):
    max_length = 1024
    config = MosaicConfig(
        weights={"format": 1, "permute": 1, "maskout": 1, "rules": 1}, max_length=max_length, seed=7
    )
    samples = list(mosaic(records, config, tokenizer=counters(name)))
    real = independent(name)([t for s in samples for t in (s.instruction, s.output)])
    for i, s in enumerate(samples):
        assert real[2 * i] + real[2 * i + 1] == s.mosaic["tokens"] <= max_length, s.mosaic
    used = Counter(e["rule"] for s in samples for e in s.mosaic.get("edits", ()))
    assert set(used) == set(EDIT_RULES)


def test_same_seed_same_bytes_and_render_replays_the_plan(counters, records):
    config = MosaicConfig(weights={"format": 1, "rules": 2}, max_length=2048, seed=3)
    first = list(mosaic(records, config, tokenizer=counters("llama-2")))
    again = list(mosaic(records, config, tokenizer=counters("llama-2")))
    assert [(s.instruction, s.output, s.mosaic) for s in first] == [
        (s.instruction, s.output, s.mosaic) for s in again
    ]
    ruled = [s for s in first if s.mosaic.get("edits")]
    assert len(ruled) > 100
    prompts = {i: r["instruction"].strip() for i, r in enumerate(records)}
    outputs = {i: r["output"].strip() for i, r in enumerate(records)}
    for s in ruled:
        plan = Plan.from_dict(json.loads(json.dumps(s.mosaic)))
        assert render(plan, prompts, outputs) == (s.instruction, s.output)
        assert plan.to_dict()["edits"] == s.mosaic["edits"]
        for e in plan.edits:  # the provenance names each ruled item, its rule and its parameter
            assert e.source in plan.sources and str(plan.number_of(e.source)) in s.instruction
            assert obeys(
                e.rule, e.param, edit_answer(e, outputs[e.source], prompts[e.source]), prompts[e.source]
            )


def test_eval_scores_the_edited_reference_fully_and_fails_the_unedited_one(records):
    result = build_evalset(records, size=80, seed=2, weights={"format": 1, "rules": 3}, max_length=2048)
    ruled = [item for item in result.items if item.plan.edits]
    assert len(ruled) > 40
    for item in ruled:
        outcome = check_response(item, item.reference, Options("strict"))
        assert outcome.passed and outcome.correct == frozenset(item.plan.sources)
        prompts = {s.index: s.prompt for s in item.sources}
        outputs = {s.index: records[s.index]["output"].strip() for s in item.sources}
        _, unedited = render(replace(item.plan, edits=()), prompts, outputs)
        verdict = next(
            v for v in check_response(item, unedited, Options("strict")).verdicts if v.name == "rules"
        )
        assert not verdict.passed and verdict.blame == frozenset(e.source for e in item.plan.edits)


@pytest.mark.parametrize("name", ["llama-2", "llama-3.1", "qwen3"])
def test_budget_holds_with_rules_on_adversarial_answers(name, counters):
    """Rewritten answers full of odd characters (case changes that make special-token strings,
    fences, commas next to spaces) keep the budget and carry their real count."""
    from test_budget import ADVERSARIAL, check_samples

    checked: list[int] = []
    words = st.lists(
        st.one_of(ADVERSARIAL, st.sampled_from(["Fine.", "word,", "<S>", "Yes!", "a b"])), min_size=3
    )

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(st.lists(st.tuples(ADVERSARIAL, words.map(" ".join)), min_size=2, max_size=30), st.integers(0, 3))
    def check(pairs, seed):
        records = [{"instruction": a, "output": b} for a, b in pairs if a.strip() and b.strip()]
        config = MosaicConfig(weights={"rules": 1}, max_length=200, wrap_mode="uniform", max_num=8, seed=seed)
        samples = list(mosaic(records, config, tokenizer=counters(name)))
        checked.append(sum(bool(s.mosaic.get("edits")) for s in samples))
        check_samples(name, samples, 200)

    check()
    assert sum(checked) > 20  # rules were really drawn and checked


def test_workers_and_shards_give_the_same_bytes_with_rules(tmp_path):
    from conftest import augment_alpaca_llama2 as augment

    mix = ("--weights", "format=1,permute=1,maskout=1,rules=1", "--no-cache", "--epochs", "2")
    one, two, sharded = tmp_path / "one.jsonl", tmp_path / "two.jsonl", tmp_path / "sharded.jsonl"
    augment(one, *mix, "--workers", "1")
    augment(two, *mix, "--workers", "2")
    assert one.read_bytes() == two.read_bytes()
    assert b'\\"edits\\":[{' in one.read_bytes()  # the provenance, as a JSON string
    augment(sharded, *mix, "--workers", "2", "--shards", "3")
    again = tmp_path / "again.jsonl"
    augment(again, *mix, "--workers", "1", "--shards", "3")
    assert sharded.read_bytes() == again.read_bytes()
