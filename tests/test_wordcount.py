"""Word-by-word counts equal the tokenizer's own counts, for every text of the real data."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHAREGPT, TOKENIZERS, independent
from mosaicit.budget.budget import Budget
from mosaicit.budget.tokens import FunctionCounter, load_counter
from mosaicit.budget.wordcount import WordCounter
from mosaicit.run.counting import COUNT_BATCH, MIN_BATCH, batch_ranges
from mosaicit.run.executors import LocalExecutor, WorkersExecutor
from mosaicit.run.store import RecordStore
from mosaicit.types.records import Record

SPACE_EXACT = ["llama-2", "mistral-7b-v0.1", "default"]
PRETOKEN_EXACT = ["qwen3", "llama-3.1", "cl100k"]


def real_texts(alpaca_eval):
    """Every instruction and answer of the shared datasets, as read and also unstripped."""
    texts = [r[k] for r in alpaca_eval for k in ("instruction", "output")]
    for conv in json.loads(SHAREGPT.read_text(encoding="utf-8")):
        texts += [turn["value"] for turn in conv["conversations"]]
    return texts + [t.strip() for t in texts]


@pytest.mark.parametrize("name", SPACE_EXACT + PRETOKEN_EXACT)
def test_word_counts_equal_the_tokenizer_on_real_data(name, alpaca_eval, counters):
    texts = real_texts(alpaca_eval)
    # the cases that matter: runs of spaces, newlines, a space after a newline (no boundary for
    # byte-level BPE) and text that is not ASCII
    assert all(any(s in t for t in texts) for s in ("  ", "\n", "\n "))
    assert not all(t.isascii() for t in texts)
    words = WordCounter(counters(name), Budget(counters(name), 2000).is_clean)
    assert words.count_many(texts) == independent(name)(texts)
    assert [words.count(t) for t in texts[:300]] == independent(name)(texts[:300])
    assert len(words.memo) < sum(len(t.split()) for t in texts) / 5, "each distinct word counted once"


PARTS = list("ab Z1.,:-\n\t\ré🤖▁'\u00a0\u3000\u0301\u2028")
PARTS += ["  ", "\n\n", "日本", "the", "Answer", "'s", "12345"]
PARTS += ["</s>", "<s>", "<|im_end|>", "<|begin_of_text|>"]  # special tokens of the vocabularies tested
WEIRD = st.lists(st.sampled_from(PARTS), max_size=30).map("".join)


@pytest.mark.parametrize("name", ["llama-2", "default", "qwen3", "cl100k"])
def test_word_counts_equal_the_tokenizer_on_any_text(name, counters):
    counter = counters(name)
    words = WordCounter(counter, Budget(counter, 2000).is_clean)
    reference = independent(name)

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(WEIRD, min_size=1, max_size=8))
    def check(texts):
        assert words.count_many(texts) == reference(texts)
        assert [words.count(t) for t in texts] == reference(texts)

    check()


def test_word_counting_refuses_other_vocabularies(counters):
    estimated = FunctionCounter("other", "0", counters("qwen3").count_many)  # neither kind
    with pytest.raises(ValueError, match="space-exact or pre-token-exact"):
        WordCounter(estimated, lambda text: True)


def test_vocabularies_that_merge_words_whole_are_not_space_exact(tmp_path):
    spec = json.loads((TOKENIZERS / "llama-2" / "tokenizer.json").read_text(encoding="utf-8"))
    spec["model"]["ignore_merges"] = True  # a word found whole in the vocabulary skips the merges
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert not load_counter(path).space_exact


@pytest.mark.parametrize("n", [1, 255, 256, 1000, 11128, 10**6])
@pytest.mark.parametrize("workers", [1, 2, 16])
def test_measure_batches_cover_the_records_and_shrink_at_the_end(n, workers):
    ranges = batch_ranges(n, workers)
    assert ranges[0].start == 0 and ranges[-1].end == n
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))
    sizes = [r.end - r.start for r in ranges]
    assert max(sizes) <= COUNT_BATCH and all(s >= MIN_BATCH for s in sizes[:-1])
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)
    if workers > 1 and n >= 8 * MIN_BATCH:  # the last batches are small: the workers finish together
        assert sizes[-2] <= max(MIN_BATCH, n // 16)


def test_measuring_in_workers_equals_one_process(alpaca_eval, counters, tmp_path):
    from mosaicit.budget.cache import CountCache

    n = 2 * COUNT_BATCH + 100  # several batches per worker
    records = [
        Record(i, r["instruction"].strip(), r["output"].strip(), id=i)
        for i, r in enumerate(alpaca_eval[i % len(alpaca_eval)] for i in range(n))
    ]
    one = LocalExecutor().count(Budget(counters("llama-2"), 2000), records)
    cache = CountCache(tmp_path, counters("llama-2").fingerprint)
    ticks: list[int] = []
    two = WorkersExecutor(2).count(Budget(counters("llama-2"), 2000), records, ticks.append, cache)
    assert two == one and sum(ticks) == n and ticks == [r.end - r.start for r in batch_ranges(n, 2)]
    # a batch measured after an earlier one was stored finds the texts they share in the cache
    distinct = len({r.prompt for r in records} | {r.output for r in records})
    assert cache.stats()["misses"] + cache.stats()["hits"] == 2 * n and cache.stats()["misses"] >= distinct
    hits = cache.stats()["hits"]
    again = WorkersExecutor(2).count(Budget(counters("llama-2"), 2000), records, cache=cache)
    assert again == one and cache.stats()["hits"] - hits == 2 * n
    with RecordStore(records) as spooled:  # records on disk, still buffered when the workers fork
        assert WorkersExecutor(2).count(Budget(counters("llama-2"), 2000), spooled) == one
