"""ShareGPT and messages as they are in the wild: repairs, empty and broken records, continuation turns."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import ALPACA_EVAL
from formats_helpers import messy_sharegpt, read_rows, run_cli
from mosaicit.errors import InputError
from mosaicit.io.chats import MERGE_JOINER, is_continuation, repair_turns
from mosaicit.io.formats import Columns
from mosaicit.io.shapes import normalise

U, A, S = "user", "assistant", "system"

REPAIRS = [
    ([(A, "x"), (U, "q"), (A, "a")], [(U, "q"), (A, "a")], {"leading_model_turns_dropped": 1}),
    ([(S, "s"), (A, "x"), (A, "y"), (U, "q"), (A, "a")], [(S, "s"), (U, "q"), (A, "a")],
     {"leading_model_turns_dropped": 1}),
    ([(U, "q"), (A, "a"), (U, "more?")], [(U, "q"), (A, "a")], {"trailing_user_turn_dropped": 1}),
    ([(U, "q1"), (U, "q2"), (A, "a1"), (A, "a2")], [(U, "q1" + MERGE_JOINER + "q2"), (A, "a1" + MERGE_JOINER + "a2")],
     {"same_role_merged": 1}),
    ([(A, "x"), (U, "q"), (U, "q2")], [], {"leading_model_turns_dropped": 1, "same_role_merged": 1, "trailing_user_turn_dropped": 1}),
    ([(U, "q"), (A, "a")], [(U, "q"), (A, "a")], {}),
]  # fmt: skip


@pytest.mark.parametrize(("messages", "expected", "counted"), REPAIRS)
def test_repairs(messages, expected, counted):
    repairs: Counter[str] = Counter()
    assert repair_turns(messages, repairs) == expected
    assert dict(repairs) == counted


def test_aliases_are_mapped_and_counted_and_strict_mode_repairs_nothing():
    item = {"conversations": [{"from": "bing", "value": "x"}, {"from": "human", "value": "q"},
                              {"from": "Bard", "value": "a"}]}  # fmt: skip
    repairs: Counter[str] = Counter()
    conv = normalise(item, "sharegpt", Columns(), "f.json", 3, repairs)
    assert conv.turns == (("q", "a"),)
    assert repairs == {"role_aliases": 1, "leading_model_turns_dropped": 1}
    with pytest.raises(InputError, match="record 3: roles out of order"):
        normalise(item, "sharegpt", Columns(), "f.json", 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("continue", True), ("Continue.", True), (" go on! ", True), ("Keep going", True), ("please continue", True),
     ("Continue the story about the cat.", False), ("What next for the project?", False)],
)  # fmt: skip
def test_continuation_turns(text, expected):
    assert is_continuation(text) is expected


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    rows, made = messy_sharegpt()
    path = tmp_path_factory.mktemp("messy") / "sharegpt.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path, rows, made


def test_messy_sharegpt_with_default_options(tmp_path, messy):
    """Every repair counted by kind, empty and broken records rejected, nothing lost, the run goes on."""
    path, rows, made = messy
    out = tmp_path / "o.jsonl"
    result = run_cli("augment", path, "-o", out, "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "o.jsonl.summary.json").read_text())
    for kind in (
        "role_aliases",
        "leading_model_turns_dropped",
        "trailing_user_turn_dropped",
        "same_role_merged",
    ):
        assert summary["repairs"][kind] == made[kind]
    assert summary["rejected_by_reason"] == {"empty_conversation": made["empty_conversation"],
                                             "malformed": made["malformed"]}  # fmt: skip
    bad, empty = made["malformed"], made["empty_conversation"]
    assert summary["rejected_at_reading"] == {
        "records": bad,
        "share": round(bad / len(rows), 4),
        "max_bad_share": 0.5,
        "empty_conversations": empty,
    }
    assert summary["kinds"]["empty"] == {"read": empty, "empty_conversation": empty}
    assert summary["kinds"]["broken"] == {"read": bad, "malformed": bad}
    assert sum(kind["read"] for kind in summary["kinds"].values()) == len(rows)
    assert f"empty conversations: {empty}; broken records: {bad} ({bad / len(rows):.1%}" in result.stderr
    rejects = read_rows(tmp_path / "o.jsonl.rejects.jsonl")
    assert all(set(r) == {"index", "file", "row", "turn", "id", "reason", "detail"} for r in rejects)
    assert all(r["id"] == rows[r["index"]]["id"] and r["file"] == str(path) for r in rejects)
    assert any("unknown role 'narrator'" in r["detail"] for r in rejects)
    written = {i for r in read_rows(out) for i in r["mosaic"]["sources"]}
    assert written | {r["index"] for r in rejects} == set(range(len(rows))), "each record written or rejected"


def test_strict_conversations_rejects_what_it_would_repair(tmp_path, messy):
    path, rows, made = messy
    out = tmp_path / "o.jsonl"
    assert run_cli("augment", path, "-o", out, "--epochs", "1", "--strict-conversations", "-q").exit_code == 0
    summary = json.loads((tmp_path / "o.jsonl.summary.json").read_text())
    needs_repair = sum(made[k] for k in ("leading_model_turns_dropped", "trailing_user_turn_dropped",
                                           "same_role_merged"))  # fmt: skip
    assert summary["rejected_by_reason"]["malformed"] == made["malformed"] + needs_repair
    assert summary["repairs"] == {}, "nothing repaired (aliases are still read as names)"


def test_split_flags_and_counts_continuation_turns(tmp_path, messy):
    path, _, made = messy
    out = tmp_path / "o.jsonl"
    result = run_cli("augment", path, "-o", out, "--epochs", "1", "--conversations", "split", "-q")
    assert result.exit_code == 0
    summary = json.loads((tmp_path / "o.jsonl.summary.json").read_text())
    assert summary["rejected_by_reason"]["continuation_turn"] == made["continuation"]
    assert summary["kinds"]["multi_turn"]["continuation_turn"] == made["continuation"]
    rejects = [r for r in read_rows(tmp_path / "o.jsonl.rejects.jsonl") if r["reason"] == "continuation_turn"]
    assert all(r["detail"] == "'Continue.' only asks to go on" for r in rejects)
    assert not any("Continue." in r["instruction"].splitlines() for r in read_rows(out))


def test_wrong_format_stops_with_one_line_naming_the_option(tmp_path):
    out = tmp_path / "o.jsonl"
    result = run_cli("augment", ALPACA_EVAL, "-o", out, "--input-format", "sharegpt", "-q")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "100.0% of the records (805 of 805) were rejected as broken" in result.stderr
    assert "--max-bad-share (now 0.5)" in result.stderr and not out.exists()


def test_empty_conversation_first_does_not_fix_the_shape(tmp_path):
    """An empty list says nothing about the shape: the next record decides, and no 'mixed shapes'."""
    path = tmp_path / "e.jsonl"
    rows = [
        {"conversations": []},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert run_cli("convert", path, "-o", out, "--max-bad-share", "0.6", "-q").exit_code == 0
    [reject] = read_rows(tmp_path / "o.jsonl.rejects.jsonl")
    assert reject["reason"] == "empty_conversation" and reject["row"] == 0
    assert len(read_rows(out)) == 1
