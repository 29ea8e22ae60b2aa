"""The composer on real data: budget, accounting, traceability, reproducibility, wrap modes."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from conftest import TOKENIZERS, independent
from mosaicit import MosaicConfig, Record, Run, load_tables
from mosaicit.budget.tokens import load_counter
from mosaicit.plan.compose import draw_size

TABLES = load_tables()


def run_on(alpaca_eval, counter, **options):
    records = [Record(i, r["instruction"].strip(), r["output"].strip()) for i, r in enumerate(alpaca_eval)]
    run = Run(MosaicConfig(**options), counter, TABLES)
    samples = list(run.samples(records))
    return records, run, samples


def independent_count(name: str):
    """A tokenizer loaded straight from its file, not through mosaicit."""
    tok = Tokenizer.from_file(str(TOKENIZERS / name / "tokenizer.json"))
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


@pytest.mark.parametrize(
    ("name", "max_length"),
    [("llama-2", 2000), ("llama-2", 300), ("qwen3", 2000), ("llama-3.1", 700), ("mistral-7b-v0.1", 1000)],
)
def test_every_sample_fits_under_independent_retokenization(alpaca_eval, counters, name, max_length):
    prepared, run, samples = run_on(alpaca_eval, counters(name), max_length=max_length, epochs=2)
    count = independent_count(name)
    for sample in samples:
        real = count(sample.instruction) + count(sample.output)
        assert real <= max_length
        assert real == sample.mosaic["tokens"], "provenance states the real count"
    assert max(s.mosaic["tokens"] for s in samples) > 0.75 * max_length, (
        "the budget is reached, so the check is not vacuous"
    )


@pytest.mark.parametrize("name", ["llama-2", "qwen3", "llama-3.1", "cl100k"])
def test_a_record_alone_is_counted_as_its_two_texts(alpaca_eval, counters, name):
    """Under exact counts and the bare template, whether a record fits alone is read from its two
    texts' counts without laying out a plan: the same answer as the plan's measured count, which
    is the two texts' real token count."""
    records = [Record(i, r["instruction"].strip(), r["output"].strip()) for i, r in enumerate(alpaca_eval)]
    run = Run(MosaicConfig(max_length=600), counters(name), TABLES)
    counts, _, over = run.measure(records)
    composer = run.composer
    assert composer.bare_exact and over, "the shortcut is taken, and some records do not fit"
    real = independent(name)
    shortcut = [composer.single_fits(i, records, counts) for i in range(len(records))]
    composer.bare_exact = False  # the plainest plan, laid out and measured
    measured = [composer.single_fits(i, records, counts) for i in range(len(records))]
    assert shortcut == measured
    texts = [t for r in records for t in (r.prompt, r.output)]
    both = real(texts)
    alone = [both[2 * i] + both[2 * i + 1] for i in range(len(records))]
    assert [n if n <= 600 else None for n in alone] == shortcut


def test_estimated_counts_are_settled_by_real_tokenization(alpaca_eval, tmp_path):
    """A byte-level tokenizer whose split pattern mosaicit does not know gets estimated counts:
    near-limit decisions and every sample are checked by a real tokenization."""
    spec = json.loads((TOKENIZERS / "qwen3" / "tokenizer.json").read_text(encoding="utf-8"))
    spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] += r"|\s+"  # same splits, unknown text
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    counter = load_counter(path)
    assert not (counter.space_exact or counter.pretoken_exact)
    _, run, samples = run_on(alpaca_eval[:300], counter, max_length=900, epochs=1)
    tok = Tokenizer.from_file(str(path))
    for sample in samples:
        real = sum(
            len(tok.encode(t, add_special_tokens=False).ids) for t in (sample.instruction, sample.output)
        )
        assert real == sample.mosaic["tokens"] <= 900
    assert run.composer.tally.verified >= len(samples)
    assert max(s.mosaic["tokens"] for s in samples) > 0.75 * 900


def test_every_record_is_used_epochs_times_or_reported(alpaca_eval, counters):
    prepared, run, samples = run_on(alpaca_eval, counters("llama-2"), max_length=400, epochs=3)
    uses = Counter(i for s in samples for i in s.mosaic["sources"])
    rejected = {r.index for r in run.rejects}
    assert rejected, "some AlpacaEval records are longer than 400 tokens"
    assert all(r.reason == "over_budget" for r in run.rejects)
    assert set(uses) | rejected == set(range(len(alpaca_eval)))
    assert not set(uses) & rejected
    assert set(uses.values()) == {3}
    epochs = Counter((s.mosaic["epoch"], i) for s in samples for i in s.mosaic["sources"])
    assert set(epochs.values()) == {1}


def test_samples_trace_back_to_their_records_and_follow_their_plans(alpaca_eval, counters):
    _, _, samples = run_on(alpaca_eval, counters("llama-2"), max_length=2000, epochs=2)
    by_index = {i: r for i, r in enumerate(alpaca_eval)}
    strategies = Counter()
    for s in samples:
        m = s.mosaic
        strategies[m["strategy"]] += 1
        positions = [s.instruction.index(by_index[i]["instruction"].strip()) for i in m["sources"]]
        assert positions == sorted(positions), "instructions appear in `sources` order"
        at = 0
        for i in m["answer_order"]:
            out = by_index[i]["output"].strip()
            at = s.output.index(out, at) + len(out)  # answers appear in `answer_order`
        for i in m["skipped"]:
            out = by_index[i]["output"].strip()
            if not any(out in by_index[j]["output"] for j in m["answer_order"]):
                assert out not in s.output
        numbering = m["numbering"]
        referenced = m["rule"] in {"fix", "odd_even", "even_odd", "odd", "even"}
        if referenced:
            assert numbering, "a rule that names numbers needs visible numbers"
        if numbering:
            from mosaicit.types.plan import Plan

            plan = Plan.from_dict(m)
            for i in m["sources"]:
                assert plan.numbering.label(plan.number_of(i)) in s.instruction
            for i in m["answer_order"]:
                assert plan.numbering.label(plan.number_of(i)) in s.output
        if m["tags"]:
            assert s.output.count(m["tags"]["begin"]) >= len(m["answer_order"])
            assert s.output.startswith(m["tags"]["begin"]) or numbering
        assert s.count == len(m["sources"])
    assert set(strategies) == {"format", "permute", "maskout"}


def test_same_seed_same_samples_other_seed_other_samples(alpaca_eval, counters):
    def dump(seed):
        _, _, samples = run_on(alpaca_eval[:300], counters("llama-2"), seed=seed, epochs=1)
        return [(s.instruction, s.output, s.mosaic) for s in samples]

    assert dump(7) == dump(7)
    assert dump(7) != dump(8)


EXPECTED_TOP = {  # P(k = max_num) for max_num = 10
    "exp": 1 - math.exp(-1),
    "pareto": 0.5 / (1 - 1 / 11),
    "lognormal": 0.5 / 0.98935,
    "logistic2": (1 / (1 + math.exp(-0.5)) - 0.5) / (1 / (1 + math.exp(-5)) - 0.5),
    "fix_max": 1.0,
    "uniform": 0.1,
}


@pytest.mark.parametrize("mode", sorted(EXPECTED_TOP))
def test_wrap_mode_size_distributions(mode):
    rng = random.Random(2024)
    sizes = [draw_size(rng, mode, 10) for _ in range(20000)]
    assert min(sizes) >= 1 and max(sizes) <= 10
    top = sizes.count(10) / len(sizes)
    assert top == pytest.approx(EXPECTED_TOP[mode], abs=0.015)
    if mode == "uniform":
        assert sum(sizes) / len(sizes) == pytest.approx(5.5, abs=0.08)
        assert set(sizes) == set(range(1, 11))
    if mode in ("exp", "pareto", "lognormal", "logistic2"):
        assert Counter(sizes).most_common(1)[0][0] == 10, "these modes lean toward max_num"


def test_wrap_modes_shape_the_mosaics(alpaca_eval, counters):
    short = [r for r in alpaca_eval if len(r["instruction"]) + len(r["output"]) < 300][:150]
    sizes = {}
    for mode in ("uniform", "fix_max", "max_length", "exp"):
        _, _, samples = run_on(short, counters("llama-2"), wrap_mode=mode, max_num=6, epochs=2)
        sizes[mode] = [s.count for s in samples]
    assert set(sizes["fix_max"][:-1]) == {6}, "every group but an epoch's last is full"
    assert max(sizes["uniform"]) <= 6 and min(sizes["uniform"]) == 1
    assert max(sizes["max_length"]) > 6, "max_length mode is bounded by the budget only"
    assert sum(sizes["exp"]) / len(sizes["exp"]) > sum(sizes["uniform"]) / len(sizes["uniform"])


def test_large_max_num_has_no_hidden_cap(alpaca_eval, counters):
    tiny = [{"instruction": f"Say the number {i}.", "output": str(i)} for i in range(200)]
    _, _, samples = run_on(
        tiny,
        counters("llama-2"),
        wrap_mode="fix_max",
        max_num=120,
        epochs=1,
        max_length=20000,
        weights={"permute": 1},
        orderings=("fix",),
        no_numbering_rate=0.0,
    )
    assert samples[0].count == 120
    assert samples[0].mosaic["rule"] == "fix"


def test_special_tokens_in_user_tables_are_verified(alpaca_eval, counters, tmp_path):
    """A label holding a special-token string makes counts inexact even for Llama-2: samples
    are then checked by a real tokenization, and their stated count is the real one."""
    import yaml

    from mosaicit.plan.tables.loader import tables_from_data

    raw = yaml.safe_load((Path(__file__).parents[1] / "src/mosaicit/plan/tables/default.yaml").read_text())
    raw["numbering"]["styles"] = ["</s>{n}"]
    raw["numbering"]["punctuation"] = [""]
    tables = tables_from_data(raw, "glued.yaml")
    records = [
        Record(i, r["instruction"].strip(), r["output"].strip()) for i, r in enumerate(alpaca_eval[:200])
    ]
    run = Run(
        MosaicConfig(max_length=600, epochs=1, version="format", no_numbering_rate=0.0),
        counters("llama-2"),
        tables,
    )
    samples = list(run.samples(records))
    count = independent_count("llama-2")
    assert samples, "the check below must not pass on no samples"
    assert all(count(s.instruction) + count(s.output) == s.mosaic["tokens"] <= 600 for s in samples)
