"""``mosaicit preview`` shows exactly the first mosaics that ``augment`` writes with the same options."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, SAMPLE, SHAREGPT, TOKENIZERS
from formats_helpers import read_rows
from mosaicit.cli import main

QWEN = str(TOKENIZERS / "qwen3")


def run(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def shown(row: dict) -> str:
    """The instruction and output blocks that preview prints for an Alpaca row."""
    return f"--- instruction ---\n{row['instruction']}\n--- output ---\n{row['output']}\n"


@pytest.mark.parametrize(
    ("source", "options"),
    [
        (SAMPLE, ["--template", "chatml", "--max-length", "300"]),
        (SAMPLE, ["--template", "vicuna_v1.1", "--tokenizer", QWEN, "--max-length", "400", "--seed", "7"]),
        (ALPACA_EVAL, ["--mix", "order", "--max-num", "4", "--epochs", "2", "--seed", "3"]),
        (SHAREGPT, ["--conversations", "split", "--template", "chatml", "--max-length", "600"]),
        (SHAREGPT, ["--conversations", "first-turn", "--input-format", "sharegpt", "--strict-conversations"]),
    ],
)
def test_preview_shows_the_first_mosaics_augment_writes(tmp_path, source, options):
    out = tmp_path / "out.jsonl"
    run("augment", source, "-o", out, "-q", "--workers", "2", "--no-cache", *options)
    rows = [r for r in read_rows(out) if r["mosaic"]["strategy"] != "passthrough"]
    assert len(rows) >= 2
    text = run("preview", source, "-n", "2", "--plain", *options)
    blocks = text.split("=== mosaic ")[1:]
    assert len(blocks) == 2
    for block, row in zip(blocks, rows[:2], strict=True):
        assert shown(row) in block
        assert f"records {row['mosaic']['sources']}" in block
        assert f"{row['mosaic']['tokens']} tokens" in block


def test_preview_reads_what_augment_reads(tmp_path):
    """Key mapping and the bad-record options reach preview (before, it read only the default keys)."""
    data = tmp_path / "odd.jsonl"
    rows = [{"q": f"Question {i}?", "a": f"Answer {i}."} for i in range(6)] + [{"q": 3, "a": "x"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    keys = ["--input-format", "alpaca", "--instruction-key", "q", "--output-key", "a"]
    assert "Question 0?" in run("preview", data, "-n", "1", "--plain", "--seed", "1", *keys)
    refused = CliRunner().invoke(main, ["preview", str(data), "--plain", *keys, "--on-bad-record", "error"])
    assert refused.exit_code == 1
    assert refused.output.startswith(f"mosaicit: error: {data}: record 6: ")
