"""Conversations and records over the budget (``--over-budget``), and accounting that adds up:
every emitted row re-tokenized independently, every record read in exactly one outcome."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ALPACA_EVAL, SHAREGPT, TOKENIZERS, independent
from formats_helpers import read_rows, run_cli
from mosaicit.report import page
from mosaicit.report.runs import load_run
from mosaicit.run.overbudget import cut

CONVERSATIONS = json.loads(SHAREGPT.read_text(encoding="utf-8"))


def augment(tmp_path: Path, source: Path, *options: object) -> tuple[dict, list[dict], list[dict]]:
    """Run the CLI; the summary, the rows (ShareGPT shape) and the rejects."""
    out = tmp_path / "o.jsonl"
    result = run_cli(
        "augment", source, "-o", out, "--output-format", "sharegpt", "--no-cache", "-q", *options
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "o.jsonl.summary.json").read_text())
    rejects = [json.loads(line) for line in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    return summary, read_rows(out), rejects


def texts(row: dict) -> list[str]:
    """The texts the bare template counts: every user and assistant message, not the system prompt."""
    return [m["value"] for m in row["conversations"]]


def check_accounting(summary: dict, rows: list[dict], rejects: list[dict], read: int) -> None:
    """read = mosaicked + passed through + rejected, each part from its own evidence."""
    a = summary["accounting"]
    assert a["read"] == read == summary["records_read"]
    assert a["mosaicked"] + a["passed_through"] + a["rejected"] == read
    assert sum(a["rejected_by_reason"].values()) == a["rejected"]
    assert sum(a["passed_by_kind"].values()) == a["passed_through"]
    mosaic_uses = Counter(
        (i, t) for r in rows if r["mosaic"]["strategy"] != "passthrough"
        for i, t in zip(r["mosaic"]["sources"], r["mosaic"].get("turns") or [None] * 99, strict=False)
    )  # fmt: skip
    passed = {r["mosaic"]["sources"][0] for r in rows if r["mosaic"]["strategy"] == "passthrough"}
    mosaicked = {i for i, _ in mosaic_uses}
    assert len(mosaicked) == a["mosaicked"]
    assert len(passed - mosaicked) == a["passed_through"]
    assert set(mosaic_uses.values()) <= {summary["epochs"]}, "each mosaicked record used --epochs times"
    assert len(mosaic_uses) == a["mosaic_records"] == summary["records_used"]
    assert sum(mosaic_uses.values()) == a["mosaic_record_uses"] == summary["record_uses"]
    assert (
        a["passthrough_rows"] == len(rows) - summary["mosaics_written"] == summary["passthrough"]["written"]
    )
    unused = set(range(read)) - mosaicked - passed
    assert {r["index"] for r in rejects} >= unused, "every record with nothing written has a reject line"
    assert len(unused) == a["rejected"]
    keys = [(r["index"], r["turn"], r["reason"]) for r in rejects]
    assert len(keys) == len(set(keys)) == summary["records_rejected"], "reject lines keyed by record and turn"


def check_budget(rows: list[dict], name: str, max_length: int) -> None:
    """Every row's real count, by the tokenizer's own library, is its provenance's; within the
    budget unless passed through unbudgeted on request."""
    count = independent(name)
    for row in rows:
        real = sum(count(texts(row)))
        assert real == row["mosaic"]["tokens"]
        assert real <= max_length or row["mosaic"].get("over_budget") == "pass"


MAX_LENGTH = 40


@pytest.mark.parametrize("name", ["llama-3.1", "cl100k"])
@pytest.mark.parametrize("policy", ["split", "trim", "pass", "reject"])
def test_over_budget_policies_on_sharegpt(tmp_path, name, policy):
    options = ("--max-length", MAX_LENGTH, "--tokenizer", TOKENIZERS / name, "--over-budget", policy)
    summary, rows, rejects = augment(tmp_path, SHAREGPT, *options, "--epochs", 2)
    check_accounting(summary, rows, rejects, len(CONVERSATIONS))
    check_budget(rows, name, MAX_LENGTH)
    a, p = summary["accounting"], summary["passthrough"]
    assert p["over_budget"] > 0 and p["over_budget_policy"] == policy, "the budget binds"
    touched = [r for r in rows if r["mosaic"].get("over_budget")]
    assert {r["mosaic"]["over_budget"] for r in touched} == ({policy} if policy != "reject" else set())
    by_conv: dict[int, list[dict]] = {}
    for row in touched:
        by_conv.setdefault(row["mosaic"]["sources"][0], []).append(row)
    turns_rejected = {(r["index"], r["turn"]) for r in rejects if r["turn"] is not None}
    for index, made in by_conv.items():
        exchanges = len(CONVERSATIONS[index]["conversations"]) // 2
        whole = list(range(exchanges))  # a conversation passed through unbudgeted has no turns
        kept = [t for row in made for t in row["mosaic"].get("turns", whole)]
        for row in made:  # each row holds consecutive whole exchanges, in the conversation's words
            turns = row["mosaic"].get("turns", whole)
            assert turns == list(range(turns[0], turns[-1] + 1))
            source = CONVERSATIONS[index]["conversations"][2 * turns[0] : 2 * turns[-1] + 2]
            assert texts(row) == [m["value"] for m in source]
        if policy == "split":  # every exchange in one run or rejected with its turn
            dropped = sorted(t for i, t in turns_rejected if i == index)
            assert sorted(kept + dropped) == list(range(exchanges))
        if policy == "trim":
            assert len(made) == 1 and kept[0] == 0
            assert (index, len(kept)) in turns_rejected or len(kept) == exchanges
    kinds = {"split": "split", "trim": "trimmed", "pass": "unbudgeted"}
    if policy in kinds:
        assert a["passed_by_kind"].get(kinds[policy], 0) == len(by_conv) > 0
        assert "over_budget" not in {
            r["reason"] for r in rejects if r["turn"] is None and r["index"] in by_conv
        }
    else:
        assert a["rejected_by_reason"]["over_budget"] == p["over_budget"]


def test_the_default_keeps_long_conversations_within_the_budget(tmp_path):
    """Without --over-budget, a long conversation is split into runs that fit, not rejected."""
    summary, rows, rejects = augment(tmp_path, SHAREGPT, "--max-length", MAX_LENGTH, "--epochs", 1)
    assert summary["passthrough"]["over_budget_policy"] == "split"
    assert summary["accounting"]["passed_by_kind"]["split"] == summary["passthrough"]["over_budget"] > 0
    assert all(r["mosaic"]["tokens"] <= MAX_LENGTH for r in rows)
    assert not [r for r in rejects if r["reason"] == "over_budget" and r["turn"] is None]
    a = summary["accounting"]
    facts = dict(page.facts(load_run(tmp_path / "o.jsonl")))  # the report states the same outcomes
    outcomes = (a["read"], a["mosaicked"], a["passed_through"], a["rejected"])
    assert facts["records read / mosaicked / passed through / rejected"] == " / ".join(
        f"{n:,}" for n in outcomes
    )


@pytest.fixture(scope="module")
def long_records(tmp_path_factory) -> Path:
    """AlpacaEval records, some longer than a 300-token budget alone, with a few empty ones."""
    rows = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))[:150]
    rows[3]["output"] = ""
    path = tmp_path_factory.mktemp("long") / "alpaca.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("parts", [False, True])
def test_single_records_over_budget_pass_through_only_when_asked(tmp_path, long_records, parts):
    extra = ("--output-parts", "jsonl") if parts else ()
    opts = ("--max-length", 300, "--tokenizer", TOKENIZERS / "qwen3", "--epochs", 2, "--no-cache", "-q")
    for policy in ("split", "pass"):
        target = tmp_path / policy / "o.jsonl"
        result = run_cli("augment", long_records, "-o", target, "--over-budget", policy, *opts, *extra)
        assert result.exit_code == 0, result.stderr
    split = json.loads((tmp_path / "split" / "o.jsonl.summary.json").read_text())
    passed = json.loads((tmp_path / "pass" / "o.jsonl.summary.json").read_text())
    over = split["accounting"]["rejected_by_reason"]["over_budget"]
    assert over > 0 and passed["accounting"]["passed_by_kind"] == {"unbudgeted": over}
    assert passed["accounting"]["rejected_by_reason"] == {"empty_output": 1}
    target = tmp_path / "pass" / "o.jsonl"
    rows = read_rows(target / "part-z-unbudgeted.jsonl" if parts else target)
    tail = rows[-over:]  # after the mosaics, in input order
    assert [r["mosaic"]["over_budget"] for r in tail] == ["pass"] * over
    assert all(r["mosaic"]["tokens"] > 300 for r in tail)
    assert [r["mosaic"]["sources"][0] for r in tail] == sorted(r["mosaic"]["sources"][0] for r in tail)


def test_split_conversations_reject_each_exchange_once(tmp_path):
    """With --conversations split, each rejected exchange has one line, keyed by its turn."""
    rows = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    for conv in rows[:100]:  # exchanges that only ask to go on, several per conversation
        for i in range(2, len(conv["conversations"]), 4):
            conv["conversations"][i] = {"from": "human", "value": "continue"}
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    options = ("--conversations", "split", "--max-length", 30, "--tokenizer", TOKENIZERS / "llama-3.1")
    summary, written, rejects = augment(tmp_path, path, *options, "--epochs", 1)
    check_accounting(summary, written, rejects, len(rows))
    check_budget(written, "llama-3.1", 30)
    reasons = Counter(r["reason"] for r in rejects)
    assert reasons["continuation_turn"] > 10 and reasons["over_budget"] > 0
    assert max(Counter(r["index"] for r in rejects).values()) > 1, "records with several rejected exchanges"
    assert all(r["turn"] is not None for r in rejects if r["reason"] in ("continuation_turn", "over_budget"))
    lines = (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines)), "no two identical reject lines"


@settings(max_examples=300, deadline=None)
@given(
    alone=st.lists(st.integers(1, 60), min_size=1, max_size=12),
    head=st.integers(0, 6),
    join=st.integers(-1, 2),
    go_on=st.lists(st.booleans(), min_size=12, max_size=12),
    max_length=st.integers(10, 80),
    trim=st.booleans(),
)
def test_cut_keeps_every_run_within_the_budget_and_loses_nothing(alone, head, join, go_on, max_length, trim):
    """Whatever joining exchanges does to the count, each run kept fits, is as long as the next
    exchange allows, and every exchange is kept or rejected once (``trim``: the tail reported)."""
    n = len(alone)
    users = ["continue" if go_on[i] else f"question {i}" for i in range(n)]

    def count(start: int, end: int) -> int:
        return sum(alone[start:end]) + (join - head) * (end - start - 1)

    cuts = cut(users, count, max_length, alone, trim)
    kept = [t for start, end, _ in cuts.runs for t in range(start, end)]
    for start, end, tokens in cuts.runs:
        assert tokens == count(start, end) <= max_length
        assert start == 0 or not users[start] == "continue"
        assert end == n or alone[end] > max_length or count(start, end + 1) > max_length
    rejected = {turn: reason for turn, reason, _ in cuts.rejected}
    if trim:
        assert len(cuts.runs) <= 1 and len(cuts.rejected) <= 1
        if cuts.runs:
            assert cuts.runs[0][0] == 0 and (
                rejected == {} if kept[-1] == n - 1 else rejected == {len(kept): "trimmed"}
            )
        else:
            assert rejected == {None: "over_budget"} and alone[0] > max_length
        return
    assert sorted(kept + list(rejected)) == list(range(n)) and len(rejected) == len(cuts.rejected)
    for turn, reason in rejected.items():
        assert (reason == "over_budget") == (alone[turn] > max_length)
        assert reason == "over_budget" or (turn > 0 and users[turn] == "continue")
