"""The plain-vs-mosaic experiment (experiments/mosaic_vs_plain.py) end to end in smoke mode.

It needs the experiments extra (trl, nvidia-ifbench, rouge-score) and the SmolLM2 model, which
the shared fetch script takes from PyPI into ~/.cache/mosaicit-tests; without either the test
is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mosaic_vs_plain.py"
FETCH = ROOT.parent / "shared" / "scripts" / "fetch_smollm2.sh"
CACHE = Path.home() / ".cache" / "mosaicit-tests" / "smollm2"


def experiment():
    spec = importlib.util.spec_from_file_location("mosaic_vs_plain", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_and_plain_samples_keep_training_and_evaluation_apart():
    exp = experiment()
    pool, held = exp.split_records(ROOT.parent / "shared" / "assets" / "datasets" / "alpaca_eval_805.json")
    assert len(pool) == exp.TRAIN_POOL and len(pool) + len(held) == 805
    assert not {r["instruction"] for r in pool} & {r["instruction"] for r in held}
    samples = exp.plain_samples(pool[:10], passes=2, seed=3)
    assert len(samples) == 20
    seen = [s["prompt"][0]["content"] for s in samples]
    assert all(seen.count(r["instruction"]) == 2 for r in pool[:10])
    assert samples == exp.plain_samples(pool[:10], passes=2, seed=3)


def model_dir() -> Path:
    if not list(CACHE.glob("*.gguf")):
        if not FETCH.is_file():
            pytest.skip(f"no model in {CACHE} and no fetch script at {FETCH}")
        done = subprocess.run(["bash", str(FETCH), str(CACHE)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not list(CACHE.glob("*.gguf")):
            pytest.skip(f"could not fetch SmolLM2 with {FETCH}: {done.stderr.strip()[-200:]}")
    return CACHE


@pytest.mark.heavy
def test_smoke_run_trains_every_arm_and_scores_it(tmp_path):
    for module in ("trl", "ifbench", "rouge_score", "gguf"):
        pytest.importorskip(
            module, reason=f"the experiment needs {module}: pip install 'mosaicit[experiments]'"
        )
    models = model_dir()
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    command = [
        sys.executable,
        str(SCRIPT),
        "--smoke",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
        "--model-dir",
        str(models),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["arm"] for r in results["runs"]] == ["base", "plain", "mosaic", "primary"]
    for run in results["runs"][1:]:
        cost = run["cost"]
        assert cost["steps"] == math.ceil(cost["samples"] / results["config"]["batch_size"])
        assert cost["real_tokens"] <= cost["pad_to_longest_tokens"] <= cost["pad_to_max_tokens"]
        assert cost["real_tokens"] <= cost["packed_tokens"] <= cost["pad_to_max_tokens"]
        assert cost["longest"] <= results["config"]["max_length"]
    costs = {r["arm"]: r["cost"] for r in results["runs"][1:]}
    assert costs["mosaic"]["samples"] < costs["plain"]["samples"] <= results["config"]["records"]
    scale = results["cost_at_scale"]["arms"]
    assert (
        scale["mosaic"]["samples"]
        < scale["plain"]["samples"]
        == 4 * results["cost_at_scale"]["setup"]["records"]
    )
    assert scale["mosaic"]["pad_to_max_tokens"] < scale["plain"]["pad_to_max_tokens"]
    for run in results["runs"]:
        scores = run["scores"]
        assert scores["mosaic_eval"]["strict"]["overall"]["prompts"] == results["evalsets"]["mosaic"]
        assert 0 <= scores["ifbench"]["loose"]["prompt_accuracy"] <= 1
        assert 0 <= scores["plain"]["rouge_l"] <= 1
        assert (
            len(
                (tmp_path / "answers" / f"{run['arm']}{'-seed1' if run['seed'] else ''}-mosaic.jsonl")
                .read_text()
                .splitlines()
            )
            == results["evalsets"]["mosaic"]
        )
    table = (tmp_path / "tables.md").read_text()
    for heading in ("**mosaicit eval**", "**IFBench**", "**Held-out plain prompts**", "**Training cost**"):
        assert heading in table
