"""eval score: accuracies that add up across groups, bookkeeping of odd answer files, one-line errors."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL
from eval_helpers import DAMAGES, built, rendered
from mosaicit.cli import main
from mosaicit.errors import InputError, MosaicitError
from mosaicit.eval import score_answers
from mosaicit.eval.build import build_evalset, write_evalset
from mosaicit.eval.checks import REGISTRY
from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.score import GROUPS, format_report

SUMMED = ("prompts", "prompts_passed", "instructions", "instructions_correct")


def invoke(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)], catch_exceptions=False)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mixed_answers() -> dict[str, str]:
    """References for some prompts, damaged answers for others, and none for every seventh."""
    answers = {}
    names = sorted(DAMAGES)
    for n, item in enumerate(built()):
        if n % 7 == 6:
            continue
        case = DAMAGES[names[n % len(names)]](item)
        answers[item.id] = case.response if case else item.reference
    return answers


@pytest.fixture(scope="module")
def report():
    return score_answers(list(built()), mixed_answers(), content=True)


def test_references_score_full_marks():
    items = list(built())[:150]  # content scores (rouge-score) are slow on long references
    full = score_answers(items, {i.id: i.reference for i in items}, content=True).to_dict()
    for mode in ("strict", "loose"):
        assert full[mode]["overall"]["prompt_accuracy"] == 1.0
        assert full[mode]["overall"]["instruction_accuracy"] == 1.0
    assert full["content"]["overall"]["rouge_l"] == 1.0
    assert full["content"]["overall"]["parts_rouge_l"] == 1.0


@pytest.mark.parametrize("mode", ["strict", "loose"])
@pytest.mark.parametrize("by", sorted(GROUPS))
def test_group_tables_add_up_to_the_overall_numbers(report, mode, by):
    data = report.to_dict()[mode]
    overall, groups = data["overall"], data[f"by_{by}"]
    assert len(groups) >= 2
    for key in SUMMED:
        assert sum(g[key] for g in groups.values()) == overall[key]
    for check, counts in overall["checks"].items():
        for field in ("applies", "passed"):
            assert sum(g["checks"][check][field] for g in groups.values()) == counts[field]
    for kind in ("layout", "content"):
        for key in ("prompts_passed", "instructions_correct"):
            assert sum(g[kind][key] for g in groups.values()) == overall[kind][key]
        # the composite needs both kinds: it passes no more than either
        assert overall["prompts_passed"] <= overall[kind]["prompts_passed"] < overall["prompts"]
    for g in groups.values():
        assert g["prompt_accuracy"] == round(g["prompts_passed"] / g["prompts"], 4)
    assert 0 < overall["prompt_accuracy"] < 1


def test_mixed_answers_are_scored_and_counted(report):
    data = report.to_dict()
    n = len(built())
    assert data["counts"] == {
        "prompts": n,
        "answers_read": len(mixed_answers()),
        "missing": n // 7,
        "unknown_ids": 0,
        "duplicate_ids": 0,
    }
    strict, loose = data["strict"]["overall"], data["loose"]["overall"]
    assert loose["prompts_passed"] > strict["prompts_passed"]  # cosmetic damage forgiven
    missing = [r for r in report.results if r.response is None]
    assert all(not r.outcomes["strict"].passed and not r.outcomes["strict"].correct for r in missing)
    damaged = {item.id for n, item in enumerate(built()) if n % 7 != 6}
    passed = {r.item.id for r in report.results if r.outcomes["strict"].passed}
    assert passed < damaged
    rows = list(report.details())
    assert len(rows) == n and rows[6]["answered"] is False and rows[6]["method"] == "missing"


def test_each_prompt_row_has_every_check_and_both_kinds(report):
    """The per-prompt rows (``--details``, ``PromptResult.to_dict``) that paired analyses read."""
    rows = list(report.details())
    for row, result in zip(rows, report.results, strict=True):
        assert row["id"] == result.item.id and row["strategy"] == result.item.plan.strategy
        for mode in ("strict", "loose"):
            data, outcome = row[mode], result.outcomes[mode]
            assert list(data["checks"]) == list(REGISTRY)
            assert data["passed"] == (data["layout"] and data["content"]) == outcome.passed
            for name, check in data["checks"].items():
                assert set(check) == {"applies", "passed", "reason", "blame"}
                assert check["passed"] or (check["applies"] and check["reason"])
                kind = REGISTRY[name].kind
                assert check["passed"] or not check["applies"] or not data[kind]
            wrong = data["instructions"] - data["instructions_correct"]
            assert wrong >= data["instructions"] - min(
                data[f"{k}_instructions_correct"] for k in ("layout", "content")
            )
    assert any(r["strict"]["layout"] and not r["strict"]["content"] for r in rows)
    assert any(r["strict"]["content"] and not r["strict"]["layout"] for r in rows)


def test_instruction_accuracy_counts_each_instruction_once():
    item = next(i for i in built() if len(i.plan.skipped) >= 1 and len(i.plan.answer_order) >= 2)
    extra = item.plan.skipped[0]
    dropped = item.plan.answer_order[0]
    order = tuple(
        s for s in item.plan.sources if (s in item.plan.answer_order and s != dropped) or s == extra
    )
    response = rendered(item, replace(item.plan, answer_order=order))
    data = score_answers([item], {item.id: response}).to_dict()["strict"]["overall"]
    assert data["instructions"] == item.size
    assert data["instructions_correct"] == item.size - 2  # the dropped one and the answered skipped one
    assert data["prompts_passed"] == 0


def test_cli_score_prints_tables_and_writes_json(tmp_path):
    items = list(built())[:40]
    evals = tmp_path / "evals.jsonl"
    write_evalset(evals, items)
    rows = [{"id": i.id, "response": i.reference} for i in items[:30]]
    rows += [{"id": "not-in-the-set", "response": "hello"}, {"id": items[0].id, "response": "again"}]
    answers = write_jsonl(tmp_path / "answers.jsonl", rows)
    result = invoke(
        "score", evals, answers, "--json", tmp_path / "r.json", "--details", tmp_path / "d.jsonl", "--rouge"
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("40 prompts, 32 answers read: 10 missing (scored as failures), 1 with unknown ids")
    assert "1 duplicate ids (first kept)" in out.splitlines()[0]
    assert "all                " in out and "strategy " in out and "rule " in out and "markers " in out
    assert " 75.0%" in out  # 30 of 40 prompts pass
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["strict"]["overall"]["prompts_passed"] == 30
    assert data["examples"]["unknown_ids"] == ["not-in-the-set"]
    assert data["content"]["overall"]["rouge_l"] == 0.75
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 40


def test_cli_score_with_other_field_names_and_one_mode(tmp_path):
    items = list(built())[:10]
    evals = tmp_path / "evals.jsonl"
    write_evalset(evals, items)
    answers = write_jsonl(tmp_path / "a.jsonl", [{"qid": i.id, "output": i.reference.upper()} for i in items])
    result = invoke("score", evals, answers, "--id-key", "qid", "--response-key", "output", "--mode", "loose")
    assert result.exit_code == 0, result.output
    assert "strict" not in result.stdout and "loose prompt" in result.stdout
    assert score_answers(evals, answers, id_key="qid", response_key="output", modes=["loose"]).to_dict()[
        "loose"
    ]


def test_table_layout_is_stable():
    items = list(built())[:12]
    text = format_report(score_answers(items, {i.id: i.reference for i in items[:9]}, modes=["strict"]))
    lines = text.splitlines()
    assert lines[2].split() == [
        "group", "prompts", "strict", "prompt", "strict", "layout", "strict", "content", "strict", "instr"
    ]  # fmt: skip
    assert lines[4].split()[:5] == ["all", "12", "75.0%", "75.0%", "75.0%"]  # 3 missing fail both
    assert lines[-10].split() == ["check", "kind", "applies", "strict", "pass"]
    assert [line.split()[:2] for line in lines[-8:]] == [
        ["instructions", "layout"],
        ["numbering", "layout"],
        ["order", "layout"],
        ["tags", "layout"],
        ["outside", "layout"],
        ["content", "content"],
        ["alignment", "content"],
        ["rules", "layout"],
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "response": "x"}\n{"id": "b", "response": \n', "answers.jsonl: line 2: invalid JSON"),
        ('{"id": "a"}\n', "answers.jsonl: line 1: missing field 'response'"),
        ('\n\n{"response": "x"}\n', "answers.jsonl: line 3: missing field 'id'"),
        ('{"id": "a", "response": null}\n', "line 1: field 'response' must be a string, got NoneType"),
        ('["a", "x"]\n', "answers.jsonl: line 1: expected an object, got list"),
        (b"\xff\xfe{}\n", "not UTF-8"),
    ],
)
def test_bad_answer_files_give_one_line_errors(tmp_path, content, message):
    evals = tmp_path / "evals.jsonl"
    write_evalset(evals, list(built())[:3])
    answers = tmp_path / "answers.jsonl"
    if isinstance(content, bytes):
        answers.write_bytes(content)
    else:
        answers.write_text(content, encoding="utf-8")
    result = invoke("score", evals, answers)
    assert result.exit_code == 1
    assert result.stderr.startswith("mosaicit: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    with pytest.raises(InputError):
        score_answers(evals, answers)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: ALPACA_EVAL,
            "line 1: invalid JSON: Expecting value (a JSON array? expected JSONL",
        ),  # a JSON array is not an eval set
        (
            lambda p: write_jsonl(p / "e.jsonl", [{"instruction": "a", "output": "b"}]),
            "line 1: missing field 'id'",
        ),
        (lambda p: write_jsonl(p / "e.jsonl", []), "no prompts in the eval set"),
        (
            lambda p: write_jsonl(p / "e.jsonl", [{**built()[0].to_dict(), "messages": "hi"}]),
            "line 1: 'messages' must",
        ),
        (
            lambda p: write_jsonl(p / "e.jsonl", [{**built()[0].to_dict(), "plan": {"sources": []}}]),
            "not a mosaic plan",
        ),
        (
            lambda p: write_jsonl(p / "e.jsonl", [built()[0].to_dict()] * 2),
            "line 2: duplicate id 'mosaic-00001'",
        ),
        (lambda p: p / "nowhere.jsonl", "no such file"),
    ],
)
def test_bad_eval_sets_give_one_line_errors(tmp_path, make, message):
    answers = write_jsonl(tmp_path / "answers.jsonl", [])
    result = invoke("score", make(tmp_path), answers)
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1


def test_bad_options():
    items = list(built())[:2]
    with pytest.raises(MosaicitError, match="unknown mode"):
        score_answers(items, {}, modes=["lenient"])
    with pytest.raises(MosaicitError, match="unknown check 'nope'"):
        score_answers(items, {}, checks=["nope"])
    with pytest.raises(MosaicitError, match="--leftover"):
        score_answers(items, {}, leftover=-1)
    only = score_answers(items, {}, checks=["order"]).to_dict()["strict"]["overall"]["checks"]
    assert list(only) == ["order"]


HOLLOW = {
    "hollow": lambda item: {s.index: "ok" for s in item.sources},
    "stub": lambda item: {
        s.index: " ".join(s.output.split()[: max(1, len(s.output.split()) // 20)]) for s in item.sources
    },
    "last_text_dropped": lambda item: {item.plan.answer_order[-1]: ""} if item.plan.answer_order else {},
    "instructions_copied": lambda item: {s.index: s.prompt for s in item.sources},
}


@functools.cache
def new_user_set() -> tuple[EvalItem, ...]:
    """300 prompts as `mosaicit eval build alpaca_eval_805.json --size 300` makes them (defaults)."""
    return tuple(build_evalset(ALPACA_EVAL, size=300).items)


def test_references_of_a_real_eval_set_score_100_percent():
    items = new_user_set()
    data = score_answers(items, {i.id: i.reference for i in items}).to_dict()
    for mode in ("strict", "loose"):
        assert (
            data[mode]["overall"]["prompt_accuracy"] == data[mode]["overall"]["instruction_accuracy"] == 1.0
        )


@pytest.mark.parametrize("damage", sorted(HOLLOW))
def test_hollow_answers_of_a_real_eval_set_score_at_most_5_percent(damage):
    """Labels and tags kept, answers hollowed: the content check fails them (the rule checks alone passed
    100% of the hollow answers)."""
    items = new_user_set()
    answers = {i.id: rendered(i, i.plan, HOLLOW[damage](i)) for i in items}
    data = score_answers(items, answers, modes=["strict"]).to_dict()
    assert data["strict"]["overall"]["prompt_accuracy"] <= 0.05, data["strict"]["overall"]
    rules_only = score_answers(
        items, answers, modes=["strict"], checks=[c for c in REGISTRY if c != "content"]
    )
    if damage == "hollow":
        assert rules_only.to_dict()["strict"]["overall"]["prompt_accuracy"] >= 0.9  # what the old scorer saw
