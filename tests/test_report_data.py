"""The report's data: cost arithmetic on hand-checked cases, what it reads from a real run, and
the plain_tokens summary field it relies on."""

from __future__ import annotations

import json
import sys
from collections import Counter
from itertools import combinations, permutations

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, SAMPLE, SHAREGPT, TOKENIZERS
from mosaicit.cli import main
from mosaicit.errors import MosaicitError
from mosaicit.report.cost import cost_of, expected_batch_max, pad_longest, saving
from mosaicit.report.page import differences
from mosaicit.report.runs import load_run, numbering_label, tags_label

pytest.importorskip("matplotlib")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# --- cost arithmetic -------------------------------------------------------------------------


def test_expected_batch_max_by_hand():
    # pairs of [1, 2, 3, 4]: maxima 2, 3, 4, 3, 4, 4 -> 20/6
    assert expected_batch_max(Counter([1, 2, 3, 4]), 2) == pytest.approx(20 / 6)
    assert expected_batch_max(Counter([5, 5, 5]), 2) == pytest.approx(5)
    assert expected_batch_max(Counter([1, 2, 3, 4]), 1) == pytest.approx(2.5)  # the mean
    assert expected_batch_max(Counter([1, 2, 3, 4]), 4) == pytest.approx(4)


def _brute_pad_longest(lengths: list[int], batch: int) -> float:
    """The mean over every order of the data of sum(batch size x batch max)."""
    totals = []
    for order in permutations(lengths):
        totals.append(
            sum(len(order[i : i + batch]) * max(order[i : i + batch]) for i in range(0, len(order), batch))
        )
    return sum(totals) / len(totals)


@pytest.mark.parametrize(
    ("lengths", "batch"),
    [([1, 2, 3, 4], 2), ([3, 1, 4, 1, 5], 2), ([7, 2, 2, 9, 4, 4], 4), ([10, 20, 30], 5)],
)
def test_pad_longest_is_the_expectation_over_every_order(lengths, batch):
    assert pad_longest(Counter(lengths), batch) == pytest.approx(_brute_pad_longest(lengths, batch))


def test_cost_of_a_hand_checked_case():
    # 5 samples of 100, 200, 300, 400, 1000 tokens, budget 1000, batches of 2
    c = cost_of(Counter([100, 200, 300, 400, 1000]), 1000, 2)
    assert (c.samples, c.tokens, c.pad_max) == (5, 2000, 5000)
    assert (c.packed_rows, c.packing) == (2, 2000)
    pairs = [max(p) for p in combinations([100, 200, 300, 400, 1000], 2)]
    assert c.pad_longest == pytest.approx(4 * sum(pairs) / len(pairs) + 1 * 2000 / 5)
    # the same tokens in two full samples: nothing to pad under any scheme
    m = cost_of(Counter([1000, 1000]), 1000, 2)
    assert (m.pad_max, m.pad_longest, m.packing) == (2000, 2000, 2000)
    assert saving(c.pad_max, m.pad_max) == pytest.approx(0.6)
    assert saving(c.packing, m.packing) == pytest.approx(0.0)
    assert saving(0, 10) is None
    assert cost_of(Counter([1]), 1000, 2).packing == 1000  # the last packed row is padded


# --- what the report reads ---------------------------------------------------------------------


def test_labels_of_numbering_and_tags():
    assert numbering_label(None) == "none"
    assert numbering_label({"style": "[{n}]", "punctuation": ".", "newline": False}) == "[1]"
    assert tags_label({"begin": "<<START>>", "end": "<<END>>", "newline": True}) == "START … END"
    assert tags_label({"begin": "(#res_start#)", "end": "(#res_end#)"}) == "res_start … res_end"
    assert tags_label(None) == "none"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """AlpacaEval mosaicked at a 400-token budget (some records over it), as JSONL, JSON and Parquet."""
    folder = tmp_path_factory.mktemp("report_runs")
    outs = {}
    for ext in ("jsonl", "json", "parquet"):
        out = folder / f"eval.{ext}"
        result = invoke(
            "augment", ALPACA_EVAL, "-o", out, "--max-length", 400, "--epochs", 2, "-q", "--workers", 1,
            "--rejects-full",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outs[ext] = out
    return outs


def test_load_run_tallies_every_row_and_reads_all_file_types(runs):
    data = {ext: load_run(path) for ext, path in runs.items()}
    jsonl = data["jsonl"]
    summary = jsonl.summary
    assert sum(jsonl.mosaic_tokens.values()) == summary["mosaics_written"] == summary["samples_written"]
    assert sum(k * v for k, v in jsonl.mosaic_tokens.items()) == summary["tokens"]["total"]
    assert max(jsonl.mosaic_tokens) == summary["tokens"]["max"] <= 400
    assert sum(jsonl.numbering.values()) == sum(jsonl.tags.values()) == summary["mosaics_written"]
    assert "none" in jsonl.numbering and "none" in jsonl.tags and len(jsonl.tags) > 5
    over = summary["rejected_by_reason"]["over_budget"]
    assert over > 0 and len(jsonl.reject_examples["over_budget"]) == 3
    first = jsonl.reject_examples["over_budget"][0]
    records = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))
    assert first["excerpt"].startswith(" ".join(records[first["index"]]["instruction"].split())[:40])
    for other in ("json", "parquet"):
        assert data[other].mosaic_tokens == jsonl.mosaic_tokens
        assert data[other].tags == jsonl.tags and data[other].numbering == jsonl.numbering


def test_plain_tokens_are_each_used_record_counted_alone(runs):
    """The summary's plain_tokens against an independent count with the tokenizer itself."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZERS / "llama-2" / "tokenizer.json"))
    out = runs["jsonl"].with_name("llama.jsonl")
    assert invoke("augment", SAMPLE, "-o", out, "--tokenizer", TOKENIZERS / "llama-2", "-q").exit_code == 0
    summary = json.loads(out.with_name("llama.jsonl.summary.json").read_text())
    expected = Counter()
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        prompt = r["instruction"].strip() + ("\n" + r["input"].strip() if r.get("input", "").strip() else "")
        n = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in (prompt, r["output"].strip()))
        expected[str(n)] += 1
    assert summary["plain_tokens"] == dict(sorted(expected.items(), key=lambda kv: int(kv[0])))
    run = load_run(out)
    plain = run.plain_lengths()
    assert sum(plain.values()) == summary["records_used"] * summary["epochs"] == summary["record_uses"]


def test_passthrough_rows_count_on_both_sides_of_the_cost(tmp_path):
    out = tmp_path / "chat.jsonl"
    assert invoke("augment", SHAREGPT, "-o", out, "-q", "--max-length", 1024, "--epochs", 2).exit_code == 0
    run = load_run(out)
    s = run.summary
    assert sum(run.passthrough_tokens.values()) == s["passthrough"]["written"] > 0
    assert sum(run.mosaic_tokens.values()) == s["mosaics_written"]
    plain = run.plain_lengths()
    assert plain is not None
    assert sum(plain.values()) == s["record_uses"] + s["passthrough"]["written"]
    assert (plain - Counter({int(k): v * 2 for k, v in s["plain_tokens"].items()})) == run.passthrough_tokens


def test_report_errors_are_one_line(tmp_path):
    out = tmp_path / "bare.jsonl"
    assert invoke("augment", SAMPLE, "-o", out, "-q", "--no-meta").exit_code == 0
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"mosaicit: error: {out}: record 0: no 'mosaic' provenance with a token count; "
        "the report needs it (augment without --no-meta)"
    ]
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nothing.jsonl")])
    assert result.exit_code == 1 and "nothing.jsonl.summary.json: no such file" in result.output
    assert not list(tmp_path.glob("*.html"))


def test_missing_matplotlib_is_a_one_line_hint(tmp_path, monkeypatch):
    from mosaicit.report.plots import require_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MosaicitError, match=r"pip install 'mosaicit\[report\]'"):
        require_matplotlib()
    out = tmp_path / "m.jsonl"
    result = CliRunner().invoke(main, ["augment", str(SAMPLE), "-o", str(out), "-q", "--report"])
    assert result.exit_code == 1
    assert result.output == "mosaicit: error: the report needs matplotlib: pip install 'mosaicit[report]'\n"
    assert not out.exists()  # checked before the run


def test_same_run_same_bytes_and_the_pngs_beside_it(runs, tmp_path):
    page = tmp_path / "r.html"
    assert invoke("report", runs["jsonl"], "-o", page).exit_code == 0
    first = page.read_bytes()
    pngs = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
    assert sorted(pngs) == sorted(
        f"{s}.png"
        for s in ("tokens", "records", "strategies", "rules", "numbering", "tags", "kinds", "rejects", "cost")
    )
    assert invoke("report", runs["jsonl"], "-o", page).exit_code == 0
    assert page.read_bytes() == first
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == pngs
    assert b"Software" not in pngs["tokens.png"] and b"matplotlib" not in pngs["tokens.png"]


def test_two_runs_side_by_side(runs, tmp_path):
    other = tmp_path / "seed7.jsonl"
    assert (
        invoke(
            "augment", ALPACA_EVAL, "-o", other, "--max-length", 400, "--epochs", 2, "--seed", 7, "-q"
        ).exit_code
        == 0
    )
    result = invoke("report", runs["jsonl"], other, "--batch-size", 4)
    assert result.exit_code == 0
    page = runs["jsonl"].with_name("eval.jsonl.vs.seed7.jsonl.report.html")
    assert result.output == f"wrote {page}\n"
    html = page.read_text(encoding="utf-8")
    assert "A: eval.jsonl" in html and "B: seed7.jsonl" in html and "Differences between the runs" in html
    assert "pad to longest (batch 4)" in html
    a, b = load_run(runs["jsonl"]), load_run(other)
    diff = {k: (va, vb) for k, va, vb in differences(a.summary, b.summary)}
    assert diff["options.seed"] == (42, 7) and "tokens.max_length" not in diff
    assert "plain_tokens" not in diff and "records_used" not in diff  # same records used
    assert CliRunner().invoke(main, ["report", str(other), str(other), str(other)]).exit_code == 2
    bad_batch = CliRunner().invoke(main, ["report", str(other), "--batch-size", "0"])
    assert bad_batch.exit_code == 1 and len(bad_batch.stderr.splitlines()) == 1, bad_batch.stderr
