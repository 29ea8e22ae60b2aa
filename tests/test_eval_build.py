"""eval build: prompts in the size range, plans that replay to the prompt and reference, same seed same bytes."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, SAMPLE, SHAREGPT, TOKENIZERS
from eval_helpers import built
from mosaicit.cli import main
from mosaicit.errors import InputError, MosaicitError
from mosaicit.eval.build import build_evalset, marks_in_answers
from mosaicit.eval.checks import check_response
from mosaicit.eval.evalset import item_from_dict, read_evalset
from mosaicit.render.layout import render
from mosaicit.types.plan import Numbering, Tags


def invoke(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)], catch_exceptions=False)


def test_items_replay_their_plan_and_round_trip(alpaca_eval):
    for item in built():
        assert 1 <= item.size <= 6
        prompts = {s.index: s.prompt for s in item.sources}
        outputs = {s.index: s.output for s in item.sources}
        assert render(item.plan, prompts, outputs) == (item.prompt, item.reference)
        assert item.messages == [{"role": "user", "content": item.prompt}]
        for source in item.sources:
            record = alpaca_eval[source.index]
            assert source.output == record["output"].strip()
            assert source.number == item.plan.number_of(source.index)
        assert item_from_dict(json.loads(json.dumps(item.to_dict())), "row") == item
        assert item.tokens is not None and item.tokens <= 2000
    assert len({item.id for item in built()}) == len(built())


@pytest.mark.parametrize(("low", "high"), [(1, 1), (2, 4), (3, 3), (5, 8)])
def test_records_per_prompt_stay_in_the_range(low, high):
    result = build_evalset(ALPACA_EVAL, size=60, seed=3, min_records=low, max_records=high)
    sizes = Counter(item.size for item in result.items)
    assert set(sizes) <= set(range(low, high + 1)) and len(result.items) == 60
    if high - low >= 2:
        assert len(sizes) >= 2, sizes  # sizes spread over the range, not stuck at one end
    if low > 1:
        assert result.summary["set_aside"].get("outside_size_range", 0) > 0


def test_strategy_mix_and_rule_choice_are_honoured():
    result = build_evalset(
        ALPACA_EVAL,
        size=80,
        seed=5,
        weights={"permute": 1},
        orderings=("reverse", "fix"),
        no_numbering_rate=0,
    )
    rules = {(i.plan.strategy, i.plan.rule) for i in result.items if i.size > 1}
    assert rules == {("permute", "reverse"), ("permute", "fix")}
    masked = build_evalset(ALPACA_EVAL, size=40, seed=5, version="mask", mask_rules=("odd",))
    assert {i.plan.rule for i in masked.items} <= {None, "odd"}
    assert {i.plan.strategy for i in masked.items} <= {"format", "maskout"}


def test_budget_with_a_real_tokenizer_and_records_that_do_not_fit(counters):
    result = build_evalset(
        ALPACA_EVAL, size=30, seed=1, max_length=300, tokenizer=str(TOKENIZERS / "llama-2"), max_records=3
    )
    counter = counters("llama-2")
    for item in result.items:
        assert item.tokens is not None and item.tokens <= 300
        assert counter.count(item.prompt) + counter.count(item.reference) == item.tokens
    assert result.summary["records_over_budget"] > 0


def test_prompts_whose_answers_contain_the_plans_marks_are_set_aside():
    item = next(i for i in built() if i.plan.numbering and i.size >= 2)
    assert not marks_in_answers(item)
    first = item.sources[0]
    numbered = replace(item, plan=replace(item.plan, numbering=Numbering("{n}", ".", False)))
    for output, ambiguous in (("Steps:\n1. Mix", True), ("Steps:\n 2) Mix", True), ("Steps: 1. Mix", False)):
        changed = replace(numbered, sources=(replace(first, output=output), *item.sources[1:]))
        assert marks_in_answers(changed) is ambiguous, output
    tagged = replace(item, plan=replace(item.plan, tags=Tags("[BEGIN]", "[END]", False)))
    assert not marks_in_answers(tagged)
    changed = replace(tagged, sources=(replace(first, output="say **[end]** now"), *item.sources[1:]))
    assert marks_in_answers(changed)


def test_same_seed_same_bytes_other_seed_other_prompts(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for out, seed in ((a, 9), (b, 9), (c, 10)):
        result = invoke("build", SAMPLE, "-o", out, "--size", 15, "--seed", seed, "-q")
        assert result.exit_code == 0, result.output
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    rows = [json.loads(line) for line in a.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 15
    assert set(rows[0]) == {"id", "prompt", "messages", "plan", "reference", "sources"}
    assert {"tokens", "strategy", "answer_order", "skipped"} <= set(rows[0]["plan"])
    assert len(read_evalset(a)) == 15


def test_cli_build_reports_what_it_did(tmp_path):
    out = tmp_path / "evals.jsonl"
    result = invoke(
        "build", ALPACA_EVAL, "-o", out, "--size", 25, "--min-records", 3, "--max-records", 4,
        "--weights", "primary=1,maskout=1", "--tag-rate", 1, "--no-numbering-rate", 0,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("wrote 25 prompts to ")
    items = read_evalset(out)
    assert all(3 <= i.size <= 4 for i in items)
    assert all(i.plan.tags for i in items if i.plan.strategy == "maskout")
    assert {i.plan.strategy for i in items} == {"primary", "maskout"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-records", 4, "--max-records", 2], "need 1 <= --min-records <= --max-records"),
        (["--size", 0], "--size must be at least 1"),
        (["--min-records", 9, "--max-records", 9, "--max-length", 200], "found only 0 of"),
        (["--orderings", "sideways"], "--orderings: unknown"),
        (["--weights", "format=x"], "--weights"),
    ],
)
def test_cli_build_errors_are_one_line(tmp_path, args, message):
    out = tmp_path / "evals.jsonl"
    result = invoke("build", SAMPLE, "-o", out, *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("mosaicit: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_bad_input_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        build_evalset(tmp_path / "missing.json")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match="record 1"):
        build_evalset(bad, on_bad="error")
    with pytest.raises(MosaicitError, match="sets epochs itself"):
        build_evalset(SAMPLE, epochs=2)


def test_any_shape_mosaicit_reads_with_system_prompts_and_a_chat_template():
    result = build_evalset(SHAREGPT, size=10, min_records=2, max_records=3, template="vicuna_v1.1")
    assert result.summary["multi_turn_conversations"] > 0  # left out, and counted
    assert result.summary["options"]["template"] == "vicuna_v1.1"
    assert all(2 <= i.size <= 3 for i in result.items)
    rows = [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Say {w}."},
                      {"role": "assistant", "content": w}]}
        for w in ("red", "green", "blue", "cyan", "pink", "gold")
    ]  # fmt: skip
    briefed = build_evalset(rows, size=2, min_records=2, max_records=3, seed=4)
    for item in briefed.items:
        assert item.messages[0] == {"role": "system", "content": "Be brief."}
        assert item.messages[1] == {"role": "user", "content": item.prompt}
        assert check_response(item, item.reference).passed
