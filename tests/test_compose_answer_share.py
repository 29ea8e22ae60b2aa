"""``--answer-share MIN:MAX``: every mosaic's output takes a share of its tokens within the bound,
recomputed here by re-tokenizing; the budget holds; records outside it alone are rejected and
counted; the same seed gives the same bytes; without the option nothing changes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, TOKENIZERS, augment_alpaca_llama2, independent
from mosaicit import MosaicConfig, mosaic
from mosaicit.cli import main
from mosaicit.errors import ParamError
from mosaicit.plan.config import parse_share

ALL_FOUR = {"format": 1, "permute": 1, "maskout": 1, "rules": 1}
BOUND = (0.35, 0.7)


def shares(name: str, samples: list) -> list[tuple[int, int]]:
    """(output tokens, instruction + output tokens) of each sample, counted by the tokenizer's library."""
    real = independent(name)([t for s in samples for t in (s.instruction, s.output)])
    return [(real[2 * i + 1], real[2 * i] + real[2 * i + 1]) for i in range(len(samples))]


@pytest.fixture(scope="module")
def records(alpaca_eval):
    return alpaca_eval[:400]


@pytest.mark.parametrize("name", ["llama-2", "llama-3.1", "cl100k"])
def test_every_mosaic_is_within_the_bound_and_the_budget(name, counters, records):
    max_length = 1024
    config = MosaicConfig(weights=ALL_FOUR, max_length=max_length, seed=5, epochs=2, answer_share=BOUND)
    rejects: list = []
    samples = list(mosaic(records, config, tokenizer=counters(name), rejects=rejects))
    for s, (answer, tokens) in zip(samples, shares(name, samples), strict=True):
        assert tokens == s.mosaic["tokens"] <= max_length
        assert BOUND[0] <= answer / tokens <= BOUND[1], (answer, tokens, s.mosaic["strategy"])
    # every record is in a mosaic of each epoch, or rejected once with its reason
    used = [i for s in samples for i in s.mosaic["sources"]]
    aside = {r.index for r in rejects}
    assert sorted(used) == sorted(2 * [i for i in range(len(records)) if i not in aside])
    assert {r.reason for r in rejects} <= {"answer_share", "over_budget"}
    assert any(r.reason == "answer_share" for r in rejects)
    # the bound binds: without it some mosaics (of these same records) fall outside it
    free = MosaicConfig(weights=ALL_FOUR, max_length=max_length, seed=5, epochs=2)
    kept = [r for i, r in enumerate(records) if i not in aside]
    unbounded = list(mosaic(kept, free, tokenizer=counters(name)))
    outside = [a / t for a, t in shares(name, unbounded) if not BOUND[0] <= a / t <= BOUND[1]]
    assert outside
    # the groups were cut back, not all reduced to records alone
    assert max(len(s.mosaic["sources"]) for s in samples) >= 5
    assert {s.mosaic["strategy"] for s in samples} == set(ALL_FOUR)


def test_a_record_set_aside_is_outside_the_bound_alone(counters, records):
    rejects: list = []
    config = MosaicConfig(max_length=2048, seed=1, epochs=1, answer_share=BOUND)
    list(mosaic(records, config, tokenizer=counters("llama-2"), rejects=rejects))
    aside = [r for r in rejects if r.reason == "answer_share"]
    assert aside
    count = independent("llama-2")
    for reject in aside:
        record = records[reject.index]
        prompt, output = count([record["instruction"].strip(), record["output"].strip()])
        assert not BOUND[0] <= output / (prompt + output) <= BOUND[1]
        assert f"{output} of its {prompt + output} tokens" in reject.detail


def test_the_summary_reports_the_shares_and_the_rejects_account_for_every_record(tmp_path):
    out = tmp_path / "out.jsonl"
    augment_alpaca_llama2(out, "--answer-share", "0.35:0.7", "--epochs", "2", "--no-cache")
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    plans = [json.loads(r["mosaic"]) if isinstance(r["mosaic"], str) else r["mosaic"] for r in rows]
    real = independent("llama-2")([t for r in rows for t in (r["instruction"], r["output"])])
    found = [real[2 * i + 1] / (real[2 * i] + real[2 * i + 1]) for i in range(len(rows))]
    share = summary["answer_share"]
    assert share["bound"] == [0.35, 0.7]
    assert share["min"] == min(found) >= 0.35 and share["max"] == max(found) <= 0.7
    assert share["overall"] == round(sum(real[1::2]) / sum(real), 4)
    assert share["min"] <= share["p10"] <= share["p50"] <= share["p90"] <= share["max"] + 0.0005
    rejects = [json.loads(line) for line in (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()]
    aside = {r["index"] for r in rejects if r["reason"] == "answer_share"}
    assert share["records_set_aside"] == len(aside) == summary["rejected_by_reason"]["answer_share"] > 0
    accounting = summary["accounting"]
    assert accounting["read"] == 805 == accounting["mosaicked"] + accounting["rejected"]
    used = {i for p in plans for i in p["sources"]}
    assert used.isdisjoint(aside) and len(used | {r["index"] for r in rejects}) == 805
    assert max(p["tokens"] for p in plans) <= 1200
    assert summary["config"]["answer-share"] == "0.35:0.7"


def test_same_seed_same_bytes_for_any_workers_and_the_no_bound_bytes_unchanged(tmp_path):
    one, two, again = (tmp_path / f"{n}.jsonl" for n in ("one", "two", "again"))
    args = ("--answer-share", "0.3:0.65", "--epochs", "2", "--no-cache")
    mix = ("--weights", "format=1,permute=1,maskout=1,rules=1")
    augment_alpaca_llama2(one, *args, *mix, "--workers", "1")
    augment_alpaca_llama2(two, *args, *mix, "--workers", "2")
    augment_alpaca_llama2(again, *args, *mix, "--workers", "1")
    assert one.read_bytes() == two.read_bytes() == again.read_bytes()
    plain, open_bound = tmp_path / "plain.jsonl", tmp_path / "open.jsonl"
    augment_alpaca_llama2(plain, "--epochs", "2", "--no-cache", *mix)
    augment_alpaca_llama2(open_bound, "--answer-share", "0:1", "--epochs", "2", "--no-cache", *mix)
    assert plain.read_bytes() == open_bound.read_bytes() != one.read_bytes()  # 0:1 bounds nothing
    assert "answer_share" not in json.loads((tmp_path / "plain.jsonl.summary.json").read_text())
    assert "answer_share" in json.loads((tmp_path / "open.jsonl.summary.json").read_text())


def test_with_a_chat_template_the_share_is_of_the_rendered_sample(tmp_path):
    """The denominator is what the budget counts (the ChatML rendering); the numerator the output alone."""
    out = tmp_path / "out.jsonl"
    tokenizer = str(TOKENIZERS / "qwen3")
    args = ["augment", str(ALPACA_EVAL), "-o", str(out), "-q", "--tokenizer", tokenizer, "--no-cache"]
    args += ["--template", "chatml", "--max-length", "900", "--answer-share", "0.4:0.75", "--epochs", "1"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    texts = []
    for r in rows:
        texts.append(
            f"<|im_start|>user\n{r['instruction']}<|im_end|>\n<|im_start|>assistant\n{r['output']}<|im_end|>\n"
        )
        texts.append(r["output"])
    real = independent("qwen3")(texts)
    for i, r in enumerate(rows):
        plan = json.loads(r["mosaic"]) if isinstance(r["mosaic"], str) else r["mosaic"]
        assert real[2 * i] == plan["tokens"] <= 900
        assert 0.4 <= real[2 * i + 1] / real[2 * i] <= 0.75


@pytest.mark.parametrize(
    ("text", "bound"), [("0.3:0.7", (0.3, 0.7)), (":0.6", (0.0, 0.6)), ("0.25:", (0.25, 1.0))]
)
def test_parse_share(text, bound):
    assert parse_share(text) == bound == MosaicConfig(answer_share=text).answer_share


@pytest.mark.parametrize("value", ["x", (0.5,), 5, ("a", "b"), (0.9, 0.1), (-0.1, 0.5)])
def test_the_api_takes_a_pair_or_a_string_and_names_the_parameter(value):
    assert MosaicConfig(answer_share=[0, 0.5]).answer_share == (0.0, 0.5)
    with pytest.raises(ParamError, match="^answer_share"):
        MosaicConfig(answer_share=value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.7", "--answer-share: '0.7' is not MIN:MAX"),
        ("a:b", "--answer-share: 'a:b' is not MIN:MAX"),
        ("0.8:0.2", "--answer-share needs 0 <= MIN <= MAX <= 1, got 0.8:0.2"),
        ("0:1.5", "--answer-share needs 0 <= MIN <= MAX <= 1, got 0.0:1.5"),
        ("nan:1", "--answer-share needs 0 <= MIN <= MAX <= 1"),
    ],
)
def test_a_bad_bound_is_one_clear_line(tmp_path, value, message):
    args = ["augment", str(ALPACA_EVAL), "-o", str(tmp_path / "o.jsonl"), "--answer-share", value]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_over_budget_pass_passes_the_long_records_and_still_rejects_the_share(tmp_path):
    out = tmp_path / "out.jsonl"
    args = ["augment", str(ALPACA_EVAL), "-o", str(out), "-q", "--tokenizer", str(TOKENIZERS / "llama-2")]
    args += ["--max-length", "300", "--over-budget", "pass", "--answer-share", "0.35:0.7", "--no-cache"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    accounting = summary["accounting"]
    assert accounting["passed_by_kind"]["unbudgeted"] > 0
    assert set(accounting["rejected_by_reason"]) == {"answer_share"}
    assert (
        accounting["read"] == accounting["mosaicked"] + accounting["passed_through"] + accounting["rejected"]
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    plans = [json.loads(r["mosaic"]) for r in rows]
    passed = {p["sources"][0] for p in plans if p.get("over_budget") == "pass"}
    rejected = {json.loads(line)["index"] for line in (tmp_path / "out.jsonl.rejects.jsonl").open()}
    assert len(passed) == accounting["passed_by_kind"]["unbudgeted"] and passed.isdisjoint(rejected)
