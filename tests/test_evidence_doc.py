"""docs/evidence.md's tables recompute from the per-prompt results in experiments/results/, and
the statistics behind them (experiments/evidence_stats.py) do what the doc says."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "evidence.md"

sys.path.insert(0, str(ROOT / "experiments"))
try:
    stats = importlib.import_module("evidence_stats")
finally:
    sys.path.remove(str(ROOT / "experiments"))


def test_every_table_of_the_doc_recomputes_from_the_committed_results():
    doc = DOC.read_text(encoding="utf-8")
    blocks = stats.BLOCK.findall(doc)
    assert {b[1] for b in blocks} == {
        "experiments/results/pilot",
        "experiments/results/powered",
        "experiments/results/cost-at-scale",
    }
    assert stats.refresh(doc) == doc, "run: python experiments/evidence_stats.py --doc docs/evidence.md"


def test_the_pilot_block_shows_the_effect_the_composite_hid():
    table = stats.render(ROOT / "experiments" / "results" / "pilot")
    assert "| `numbering` | 2/15 | 2 + 2 = 4/30 | 10 + 8 = 18/30 | 9 + 9 = 18/30 |" in table
    assert "| `content` | 14/16 | 13 + 14 = 27/32 | 7 + 9 = 16/32 | 10 + 12 = 22/32 |" in table
    assert "| plain | 12 | 0 | 6.0e-04 |" in table and "| mosaic | 6 | 0 | 3.0e-04 |" in table


def test_the_cost_at_scale_reproduces_the_pilots_and_adds_length_grouped_batches():
    pilot = json.loads((ROOT / "experiments/results/pilot/results.json").read_text())["cost_at_scale"]
    now = json.loads((ROOT / "experiments/results/cost-at-scale/results.json").read_text())["cost_at_scale"]
    assert now["setup"] == pilot["setup"]
    for arm, cost in pilot["arms"].items():
        assert {k: now["arms"][arm][k] for k in cost} == cost
    table = stats.render(ROOT / "experiments" / "results" / "cost-at-scale")
    assert "| mosaic | 435 | 5.56 | 55 |" in table  # 1 - 1/5.56: the 82% saving under pad-to-max
    assert "| 321.9 | 8.5% |" in table  # pad to longest with length-grouped batches


def _mosaic_row(n: int, passed: bool, checks: dict[str, bool]) -> dict:
    mode = {"passed": passed, "instructions": 2, "correct": 2 * passed, "checks": checks}
    return {
        "id": f"m{n}",
        "strategy": "format",
        "rouge_l": 0.5,
        "parts_rouge_l": 0.25,
        "strict": mode,
        "loose": mode,
    }


def _run_folder(tmp_path: Path, mosaic_pass: list[bool], plain_pass: list[bool]) -> Path:
    """A run folder in the runner's format: base and plain pass ``plain_pass``, mosaic ``mosaic_pass``."""
    runs, prompts = [], tmp_path / "prompts"
    prompts.mkdir()
    for arm, seeds, passes in (
        ("base", [None], plain_pass),
        ("plain", [1, 2], plain_pass),
        ("mosaic", [1, 2], mosaic_pass),
    ):
        for seed in seeds:
            name = arm if seed is None else f"{arm}-seed{seed}"
            cost = None if seed is None else {
                "samples": 10, "steps": 2, "tokens_per_step": [5, 7], "lr_sum": 2e-4, "lr_min": 1e-4,
                "weights_moved_l2": 0.5, "loss_per_step": [2.0, 1.5], "seconds": 3.0,
            }  # fmt: skip
            runs.append({"arm": arm, "seed": seed, "cost": cost})
            # a check the scorer may add ("skip") is aggregated like any other, by its name
            rows = [_mosaic_row(n, p, {"numbering": p, "skip": True}) for n, p in enumerate(passes)]
            if arm == "mosaic":  # where the skip check does not apply, it is left out of the rate
                rows[0]["strict"] = rows[0]["strict"] | {"checks": {"numbering": passes[0]}}
            ifb = [
                {
                    "id": str(n),
                    "strict": {"passed": p, "follow": [p, True]},
                    "loose": {"passed": p, "follow": [p, True]},
                }
                for n, p in enumerate(passes)
            ]
            plain = [{"id": str(n), "rouge_l": 0.2} for n in range(len(passes))]
            for kind, data in (("mosaic", rows), ("ifbench", ifb), ("composed", ifb), ("plain", plain)):
                (prompts / f"{name}-{kind}.jsonl").write_text(
                    "".join(json.dumps(r | {"response": "x"}) + "\n" for r in data)
                )
    results = {
        "config": {"records": 5, "passes": 2, "max_length": 64, "seeds": [1, 2]},
        "model": "m.gguf",
        "runs": runs,
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    return tmp_path


def _row(table: str, label: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_identical_arms_differ_by_exactly_zero(tmp_path):
    passes = [True, False, True, True, False, False, True, False]
    table = stats.render(_run_folder(tmp_path, passes, passes))
    cells = _row(table, "composite, strict (prompt passes every check)")
    assert cells[0] == cells[1] == cells[2] and cells[0].startswith("50.0 (")
    assert cells[3] == "+0.0 (+0.0 to +0.0)" and cells[4] == "0.0"
    assert _row(table, "check `skip`, strict")[2] == "100.0 (100.0 to 100.0)"


def test_a_large_paired_effect_is_found_and_its_interval_excludes_zero(tmp_path):
    mosaic = [True] * 30 + [False] * 10
    plain = [True] * 10 + [False] * 30
    table = stats.render(_run_folder(tmp_path, mosaic, plain))
    cells = _row(table, "check `numbering`, strict")
    assert cells[1].startswith("25.0 (") and cells[2].startswith("75.0 (")
    gap, detectable = cells[3], float(cells[4])
    low = float(gap.split("(")[1].split(" to ")[0])
    assert gap.startswith("+50.0") and low > 0 and 0 < detectable < 50
    # instruction level: 2 instructions a prompt, both right when the prompt passes
    assert _row(table, "instructions right, strict")[2].startswith("75.0")
    assert _row(table, "prompt level, strict")[2].startswith("75.0")
    assert _row(table, "instruction level, strict")[2].startswith("87.5")  # (30*2 + 10*1) / 80
    assert _row(table, "ROUGE-L vs the reference (x100)")[0] == "20.0 (20.0 to 20.0)"
    assert "| mosaic | 1 | 10 | 2 | 6 (5-7) | 2.00e-04 | 1.00e-04 | 0.500 | 2.000 -> 1.500 | 3 |" in table


def test_the_bootstrap_is_the_same_every_time(tmp_path):
    passes = [n % 3 == 0 for n in range(25)]
    folder = _run_folder(tmp_path, [not p for p in passes], passes)
    assert stats.render(folder) == stats.render(folder)


def test_models_with_other_prompts_are_refused(tmp_path):
    folder = _run_folder(tmp_path, [True, False], [False, True])
    (folder / "prompts" / "mosaic-seed2-plain.jsonl").write_text(
        json.dumps({"id": "9", "rouge_l": 0.1}) + "\n"
    )
    with pytest.raises(ValueError, match="mosaic-seed2-plain.jsonl: not the same prompts"):
        stats.render(folder)
