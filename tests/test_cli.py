"""The command line, run in-process: outputs, golden bytes, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SAMPLE, TOKENIZERS
from formats_helpers import read_rows
from mosaicit.cli import main

GOLDEN = Path(__file__).parent / "golden"


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def lines(path: Path) -> list[dict]:
    return read_rows(path)


def test_augment_sample_writes_output_summary_and_rejects(tmp_path):
    out = tmp_path / "mosaic.jsonl"
    result = invoke("augment", SAMPLE, "-o", out)
    assert result.exit_code == 0, result.output
    samples = lines(out)
    summary = json.loads((tmp_path / "mosaic.jsonl.summary.json").read_text())
    assert (tmp_path / "mosaic.jsonl.rejects.jsonl").read_text() == ""
    assert summary["records_read"] == 120 and summary["records_used"] == 120
    assert summary["samples_written"] == len(samples)
    assert summary["record_uses"] == 120 * 4 == sum(s["count"] for s in samples)
    assert summary["tokens"]["max"] <= 2000 and summary["budget"]["composition"] == "exact"
    assert list(samples[0]) == [
        "id",
        "instruction",
        "input",
        "output",
        "system",
        "history",
        "count",
        "mosaic",
    ]
    assert samples[0]["id"] is None and samples[0]["system"] == "" and samples[0]["history"] is None
    assert {"sources", "strategy", "answer_order", "skipped", "numbering", "tags", "tokens"} <= set(
        samples[0]["mosaic"]
    )
    assert "wrote" in result.stderr and "summary:" in result.stderr
    assert not list(tmp_path.glob("*.part"))


def test_golden_output(tmp_path):
    """Same input, options and seed: the same bytes as the stored golden file."""
    small = tmp_path / "small.jsonl"
    small.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(True)[:16]), encoding="utf-8")
    out = tmp_path / "golden.jsonl"
    assert (
        invoke(
            "augment", small, "-o", out, "--seed", "11", "--epochs", "2", "--max-length", "900", "-q"
        ).exit_code
        == 0
    )
    assert out.read_bytes() == (GOLDEN / "sample16_seed11.jsonl").read_bytes()


def test_same_seed_same_bytes_and_json_array_output(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.json"
    for out in (a, b):
        invoke("augment", SAMPLE, "-o", out, "--seed", "5", "-q")
    invoke("augment", SAMPLE, "-o", c, "--seed", "5", "-q", "--no-meta")
    assert a.read_bytes() == b.read_bytes()
    as_array = json.loads(c.read_text())
    assert [s["output"] for s in as_array] == [s["output"] for s in lines(a)]
    assert "mosaic" not in as_array[0]


def test_research_script_option_names_are_accepted(tmp_path):
    out = tmp_path / "o.jsonl"
    result = invoke(
        "augment",
        SAMPLE,
        "-o",
        out,
        "--epo-num",
        "1",
        "--wrap-max-num",
        "3",
        "--model-name-or-path",
        TOKENIZERS / "llama-2",
        "--wrap-mode",
        "fix_max",
        "-q",
    )
    assert result.exit_code == 0
    assert {s["count"] for s in lines(out)} <= {1, 2, 3}


def test_over_budget_and_empty_records_are_reported_not_lost(tmp_path):
    records = [
        {"instruction": "Say hi.", "output": "Hi."},
        {"instruction": "Write a lot.", "output": "word " * 3000},
        {"instruction": "Say nothing.", "output": "   "},
        {"instruction": "Say bye.", "output": "Bye.", "id": "keep-me"},
    ]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(records), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert invoke("augment", src, "-o", out, "-q", "--epochs", "2").exit_code == 0
    rejects = lines(tmp_path / "o.jsonl.rejects.jsonl")
    assert [(r["index"], r["reason"]) for r in rejects] == [(1, "over_budget"), (2, "empty_output")]
    assert rejects[0] == {
        "index": 1,
        "file": str(src),
        "row": 1,
        "turn": None,
        "id": None,
        "reason": "over_budget",
        "detail": rejects[0]["detail"],
    }, "by default a reject names the record, not copies it"
    assert "max_length 2000" in rejects[0]["detail"]
    full = tmp_path / "full.jsonl"
    assert invoke("augment", src, "-o", full, "-q", "--epochs", "2", "--rejects-full").exit_code == 0
    assert lines(tmp_path / "full.jsonl.rejects.jsonl")[0]["record"]["instruction"] == "Write a lot."
    used = sorted(i for s in lines(out) for i in s["mosaic"]["sources"])
    assert used == [0, 0, 3, 3]
    ids = [i for s in lines(out) for i in s["mosaic"].get("ids", [])]
    assert "keep-me" in ids


BAD_INPUTS = [
    ("missing.jsonl", None, "no such file"),
    ("bad.json", '[{"instruction": "a", "output": "b"},\n {"instruction": }]', "invalid JSON at line 2"),
    (
        "bad.jsonl",
        '{"instruction": "a", "output": "b"}\n{"instruction": "a", "out\n',
        "record 1: invalid JSON on line 2",
    ),
    (
        "noout.jsonl",
        '{"instruction": "a", "output": "b"}\n{"instruction": "a"}\n',
        "record 1: missing field 'output'",
    ),
    ("noinst.json", '[{"output": "b"}]', "record 0: missing field 'instruction'"),
    ("types.jsonl", '{"instruction": "a", "output": 3}\n', "record 0: field 'output' must be a string"),
    ("list.json", '{"instruction": "a", "output": "b"}', None),
    ("text.txt", "hello there\n", "not JSON"),
    ("empty.jsonl", "", "no records"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS)
def test_bad_input_gives_one_line_and_leaves_nothing(tmp_path, name, content, message):
    src = tmp_path / name
    if content is not None:
        src.write_text(content, encoding="utf-8")
    out_dir = tmp_path / "out"
    result = invoke("augment", src, "-o", out_dir / "o.jsonl", "-q", "--on-bad-record", "error")
    if message is None:  # a single JSONL object is a valid one-record file
        assert result.exit_code == 0
        return
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mosaicit: error: ")
    assert message in result.stderr and str(src) in result.stderr
    assert not out_dir.exists() or not list(out_dir.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tokenizer", "./nope/tokenizer.json"], "no such tokenizer"),
        (["--tables", "missing.yaml"], "cannot read the tables"),
        (["--weights", "format=x"], "NAME=NUMBER"),
        (["--weights", "shuffle=1"], "unknown strategy"),
        (["--orderings", "sideways"], "unknown ['sideways']"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_options_give_one_line_and_leave_nothing(tmp_path, args, message):
    out = tmp_path / "o.jsonl"
    result = invoke("augment", SAMPLE, "-o", out, "-q", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_unknown_choice_is_a_usage_error(tmp_path):
    result = invoke("augment", SAMPLE, "-o", tmp_path / "o.jsonl", "--wrap-mode", "spiral")
    assert result.exit_code == 2 and "spiral" in result.stderr


def test_skip_policy_reports_malformed_records(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "a", "output": "b"}\n{"instruction": 1, "output": "b"}\n[1]\n', "utf-8")
    out = tmp_path / "o.jsonl"
    result = invoke("augment", src, "-o", out, "-q")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, "2 of 3 broken: over --max-bad-share"
    assert "66.7% of the records (2 of 3) were rejected as broken" in result.stderr
    assert "raise --max-bad-share (now 0.5)" in result.stderr and not out.exists()
    assert invoke("augment", src, "-o", out, "-q", "--max-bad-share", "0.7").exit_code == 0
    rejects = lines(tmp_path / "o.jsonl.rejects.jsonl")
    assert [(r["index"], r["reason"], r["row"]) for r in rejects] == [
        (1, "malformed", 1),
        (2, "malformed", 2),
    ]
    assert "must be a string" in rejects[0]["detail"]
    summary = json.loads((tmp_path / "o.jsonl.summary.json").read_text())
    reading = {"records": 2, "share": 0.6667, "max_bad_share": 0.7, "empty_conversations": 0}
    assert summary["rejected_at_reading"] == reading


def test_preview_marks_the_parts(tmp_path):
    result = invoke("preview", SAMPLE, "-n", "2", "--plain", "--seed", "4")
    assert result.exit_code == 0
    assert result.output.count("=== mosaic") == 2
    assert "--- instruction ---" in result.output and "--- output ---" in result.output
    coloured = CliRunner().invoke(main, ["preview", str(SAMPLE), "-n", "1"], color=True)
    assert "\x1b[" in coloured.output


def test_tables_commands(tmp_path):
    listed = invoke("tables", "list")
    assert listed.exit_code == 0 and "format.tagged" in listed.output
    copy = tmp_path / "mine.yaml"
    assert invoke("tables", "export", copy).exit_code == 0
    assert invoke("tables", "validate", copy).exit_code == 0
    copy.write_text(copy.read_text().replace("{begin}", "{start}", 1))
    bad = invoke("tables", "validate", copy)
    assert bad.exit_code == 1 and "unknown placeholder {start}" in bad.stderr
    assert invoke("tables", "export", copy).exit_code == 1, "never overwrites"


def test_records_in_memory_or_spooled_give_the_same_bytes(tmp_path, monkeypatch):
    """``$MOSAICIT_KEEP_IN_MEMORY`` only moves where the records wait: 0 spools every one."""
    outs = {}
    for kept in ("", "0", "20000", "abc"):
        monkeypatch.setenv("MOSAICIT_KEEP_IN_MEMORY", kept)
        out = tmp_path / f"out-{kept or 'default'}.jsonl"
        result = invoke("augment", SAMPLE, "-o", out, "--epochs", "2", "--workers", "2", "-q")
        if kept == "abc":
            assert result.exit_code != 0 and result.output.startswith(
                "mosaicit: error: $MOSAICIT_KEEP_IN_MEMORY must be a number of characters"
            )
            continue
        assert result.exit_code == 0, result.output
        outs[kept] = out.read_bytes()
    assert outs[""] == outs["0"] == outs["20000"] and outs[""]
