"""Smoke test of the benchmark's parts (no timings): the dataset builder and the baseline port."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
SMALL_BUDGET = 300


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_augment", ROOT / "bench" / "bench_augment.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tok(bench):
    return bench.load_tokenizer(ASSETS / bench.TOKENIZER_REL)


@pytest.fixture(scope="module")
def pool(bench, tok):
    return bench.load_pool(ASSETS, tok)


def count_with(tok):
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def test_dataset_is_deterministic_and_a_prefix_of_larger_builds(bench, pool):
    first = list(bench.build_records(50, 7, pool, over=SMALL_BUDGET))
    again = list(bench.build_records(50, 7, pool, over=SMALL_BUDGET))
    assert first == again
    assert list(bench.build_records(20, 7, pool, over=SMALL_BUDGET)) == first[:20]
    assert first != list(bench.build_records(50, 8, pool, over=SMALL_BUDGET))
    assert all(r["instruction"] and r["output"] for r in first)
    assert len({r["id"] for r in first}) == 50


def test_dataset_has_a_tail_over_the_budget(bench, pool, tok):
    records = list(bench.build_records(300, 7, pool, over=SMALL_BUDGET))
    count = count_with(tok)
    lengths = [count(bench.prompt_of(r)) + count(r["output"]) for r in records]
    assert any(n > SMALL_BUDGET for n in lengths)
    assert any(n < SMALL_BUDGET // 2 for n in lengths)


def test_baseline_samples_fit_the_budget(bench, pool, tok):
    records = list(bench.build_records(50, 7, pool, over=SMALL_BUDGET))
    count = count_with(tok)
    samples = list(bench.baseline_mosaic(records, count, max_length=SMALL_BUDGET, epochs=2, seed=1))
    assert samples
    assert all(count(s["instruction"] + s["output"]) < SMALL_BUDGET for s in samples)
    assert all(1 <= s["count"] <= bench.MAX_NUM for s in samples)
    assert sum(s["count"] for s in samples) <= 2 * len(records)
    assert any(s["count"] > 1 for s in samples)


def test_floor_counts_every_record(bench, pool, tmp_path):
    path = tmp_path / "records.jsonl"
    records = list(bench.build_records(50, 7, pool, over=SMALL_BUDGET))
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    stats = bench.floor(path, ASSETS / bench.TOKENIZER_REL, over=SMALL_BUDGET)
    assert stats["records"] == 50
    assert 0 < stats["over_budget"] < 50
    assert stats["tokens"] > 50


def test_unknown_mosaicit_options_are_dropped(bench):
    cli = bench.Cli.probe("--no-such-option 3 --seed 5")
    assert cli.dropped == ["--no-such-option", "3"]
    assert cli.extra == ["--seed", "5"]
    assert cli.accepts("--max-length")


def test_floor_benchmark_takes_real_sharegpt_first_turns(bench, tmp_path, capsys, monkeypatch):
    """bench_floor.py's data and floor: the first (human, gpt) exchange of each whole conversation."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_floor", ROOT / "bench" / "bench_floor.py")
    floor = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = floor
    spec.loader.exec_module(floor)
    source = ASSETS / "datasets" / "fastchat_dummy_conversation.json"
    conversations = json.loads(source.read_text(encoding="utf-8"))
    expected = [
        {"instruction": c["conversations"][0]["value"], "output": c["conversations"][1]["value"]}
        for c in conversations
        if [t["from"] for t in c["conversations"][:2]] == ["human", "gpt"]
        and all(t["value"].strip() for t in c["conversations"][:2])
    ]
    target = tmp_path / "first.jsonl"
    assert floor.first_turns(source, target) == len(expected) > 0
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == expected
    floor.floor_child(str(target), str(ASSETS / bench.TOKENIZER_REL))
    assert json.loads(capsys.readouterr().out)["records"] == len(expected)
    assert (floor.checkout("HEAD", tmp_path / "head") / "mosaicit" / "__init__.py").is_file()
