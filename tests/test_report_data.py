"""The report's data: cost arithmetic on hand-checked cases, what it reads from a real run, and
the plain_tokens summary field it relies on."""

from __future__ import annotations

import json
import sys
from collections import Counter
from itertools import combinations, permutations
from pathlib import Path

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


# --- what the page shows ----------------------------------------------------------------------


def test_light_rejects_show_the_record_read_back_from_the_input(tmp_path):
    """Without --rejects-full the examples showed no text: they are read back by file and row."""
    from mosaicit.report.page import _examples

    source = tmp_path / "in.jsonl"
    lines = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    lines[3] = {"instruction": "  ", "output": "x"}  # empty_instruction: its JSON is shown
    lines[0]["instruction"] = "Say <b>hi</b>\x1b[31m & \u202e" + " long" * 100  # markup, controls
    source.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    light, full = tmp_path / "light.jsonl", tmp_path / "full.jsonl"
    common = ("--max-length", 120, "--epochs", 1, "-q", "--workers", 1)
    assert invoke("augment", source, "-o", light, *common).exit_code == 0
    assert invoke("augment", source, "-o", full, *common, "--rejects-full").exit_code == 0
    read_back, kept = load_run(light).reject_examples, load_run(full).reject_examples
    assert read_back.keys() == kept.keys() >= {"empty_instruction", "over_budget"}
    over = [e["excerpt"] for e in read_back["over_budget"]]
    assert over == [e["excerpt"] for e in kept["over_budget"]]  # the same, kept or read back
    assert read_back["empty_instruction"][0]["excerpt"] == '{"instruction": " ", "output": "x"}'  # as read
    assert [e["index"] for e in read_back["over_budget"]][0] == 0
    assert over[0].startswith("Say <b>hi</b>\\x1b[31m & \\u202e long long") and len(over[0]) == 140
    for ex in read_back["over_budget"][1:]:
        assert (
            ex["read_back"] and ex["excerpt"][:60] == " ".join(lines[ex["index"]]["instruction"].split())[:60]
        )
    html = _examples(load_run(light))
    assert "Say &lt;b&gt;hi&lt;/b&gt;\\x1b[31m &amp; \\u202e long" in html and "<b>hi" not in html
    assert "read back from the input" in _examples(load_run(light))
    assert "read back" not in _examples(load_run(full))
    source.write_text("", encoding="utf-8")  # the input emptied, then gone: a note each time
    assert {e["excerpt"] for e in load_run(light).reject_examples["over_budget"]} == {
        f"(no such row in {source} any more)"
    }
    source.unlink()
    assert all("is not there" in e["excerpt"] for e in load_run(light).reject_examples["over_budget"])


def test_rule_mix_names_every_rule_and_other_is_never_the_largest_bar():
    from mosaicit.report.plots import top_categories

    rules = Counter({f"permute.r{i}": 130 - i for i in range(10)})
    rules.update({f"maskout.m{i}": 350 - i for i in range(5)})  # 15 rules, as on ShareGPT
    assert sorted(top_categories([rules])) == sorted(rules)  # every rule named, no "other (3 kinds)"
    shown = top_categories([rules], top=12)  # 12 would have left 366 in "other", the largest bar
    assert len(shown) == 13 and sum(rules[k] for k in rules if k not in shown) < rules[shown[0]]
    tail = Counter({"big": 1000, "mid": 500, **{f"rare{i:02}": 3 for i in range(40)}})
    shown = top_categories([tail], top=2)
    rest = sum(tail.values()) - sum(tail[k] for k in shown)
    assert shown == ["big", "mid"] and 0 < rest <= tail["big"]  # the long tail is still summed
    flat = Counter({f"kind{i:02}": 10 for i in range(30)})
    shown = top_categories([flat], top=5)
    assert sum(flat.values()) - sum(flat[k] for k in shown) <= 10 < sum(flat[k] for k in shown[:2])


def test_no_text_of_a_figure_overlaps_and_dollars_are_not_mathtext():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mosaicit.report import plots
    from mosaicit.report.cost import Cost

    with plots.style():
        names = {"$\\oops{$ cost": 5, "a $5 and $6 tag": 9, "x" * 80: 3}  # broken TeX would not draw
        fig = plots.mix([names, {"$x$": 2}], ["A: $x$.jsonl", "B: y.jsonl"], "mosaics")
        plots.to_png(fig)
        texts = [t for t, _ in plots.text_boxes(fig)]
        assert "$\\oops{$ cost" in texts and "A: $x$.jsonl" in texts and "x" * 39 + "…" in texts
        for big in (45_764_000, 3_210_987_654, 987_654):  # the cost axis: long tick labels
            cost = Cost(10, big, big, big * 0.8, 10, big // 3)
            fig = plots.cost([_Run(), _Run()], [(cost, cost), (None, cost)])
            plots.to_png(fig)
            boxes = plots.text_boxes(fig)
            assert not plots.overlaps(boxes), plots.overlaps(boxes)
            width, height = fig.bbox.width, fig.bbox.height
            assert all(0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height for _, (x0, y0, x1, y1) in boxes)
        assert plots.overlaps([("a", (0, 0, 10, 10)), ("b", (5, 5, 20, 20))]) == [("a", "b")]  # can fail
        fig = plots.bars(["a", "b"], [("x", [123_456_789, 98_000_000], "#000")], "v")
        fig.set_size_inches(2.2, 2)  # narrow: the ticks of the value axis run into each other ...
        FigureCanvasAgg(fig).draw()
        assert len(plots.overlaps(plots.text_boxes(fig))) > 3
        plots.untangle(fig)  # ... until the axis is thinned
        texts = [t for t, _ in plots.text_boxes(fig)]
        assert not plots.overlaps(plots.text_boxes(fig)) and {"0", "123.46M", "98M"} <= set(texts)


class _Run:
    output = Path("run.jsonl")
