"""Composed counts: exact for space-exact and pre-token-exact vocabularies, whatever the layout
and whatever the record texts; every emitted sample re-tokenized independently."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHAREGPT, independent
from mosaicit import MosaicConfig, mosaic
from mosaicit.budget.budget import Budget, Measured
from mosaicit.types.features import PromptFeatures
from mosaicit.types.segments import Piece

FIXED = [
    "\n",
    "\n\n",
    " ",
    "1. ",
    "(2):\n",
    "### 3 ",
    "<BEGIN> ",
    " <END>",
    "<start>\n",
    "\n[|end|]",
    "Answer each of these instructions.",
    "Answer in this order: [3->1->2].",
    "\n\n4.\n",
    "Task 5: ",
    "\n</ans>",
    " [/ANSWER]",
    "Q1) ",
    "\n\n- ",
    "\n \n",
    "\n\n  * ",
    "\r\n",
    "Answer:\n\n",
    "<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\n",
    " USER: ",
]
#: Record texts whose ends are awkward for split patterns (stripped, as records are).
AWKWARD = [
    "Hello.",
    "Done!!",
    "1990",
    "(a) first",
    "“quoted”",
    "ok :)",
    "end ...",
    "x.)",
    "a.b.",
    "日本語です。",
    "emoji 😀.",
    "--",
    "`code`",
    "**bold**",
    "e\u0301tude.",
    "\u0301start",
    "'s odd",
    "tab\tend.",
    "zero\u200b",
    "x\u200b.",
    "nbsp\u00a0.",
    "line\r\nbreak?",
    "12345 apples",
    # one split piece that a space before and newlines after both join (issue 12)
    "!!",
    "~",
    "```",
    ";)",
    "\u200b",
    "\u0301",
    "😀",
    "cafe\u0301",  # NFC (Qwen3) makes the last character a letter
    "x\u1c89!",  # a letter unknown to this Python's Unicode tables: counted for real
    # not composable: white space at the ends (records are stripped, the API is not)
    " lead",
    "trail ",
    "\n!!",
    "!!\n",
]


def measured(counts):
    """Use each text as both a prompt and an output."""
    return [Measured(c, c, PromptFeatures("", 0, 0)) for c in counts]


@pytest.fixture(scope="module")
def texts(alpaca_eval):
    picked = [r["instruction"].strip() for r in alpaca_eval[:120]] + [
        r["output"].strip() for r in alpaca_eval[:120]
    ]
    return [t for t in picked if t] + AWKWARD


def layouts(n_texts: int):
    piece = st.integers(0, n_texts - 1).map(lambda i: Piece(i, "prompt"))
    return st.lists(st.one_of(st.sampled_from(FIXED), piece), min_size=1, max_size=12)


@pytest.mark.parametrize("name", ["llama-2", "mistral-7b-v0.1", "default", "llama-3.1", "qwen3", "cl100k"])
def test_composition_is_exact_for_space_and_pretoken_exact_vocabularies(name, texts, counters):
    counter = counters(name)
    budget = Budget(counter, 2000)
    table = measured(budget.text_counts(texts))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(layouts(len(texts)))
    def check(segments):
        rendered = "".join(s if isinstance(s, str) else texts[s.source] for s in segments)
        composed = budget.compose(segments, table)
        real = independent(name)([rendered])[0]
        if composed.exact:
            assert composed.tokens == real, (segments, rendered[:200])
        else:  # only layouts that glue a piece to other text without a space are not exact
            assert composed.low <= real + 50

    check()


def test_glued_text_and_special_tokens_are_not_claimed_exact(counters):
    budget = Budget(counters("llama-2"), 2000)
    table = measured(budget.text_counts(["Hi there", "see </s> here"]))
    assert budget.compose(["1. ", Piece(0, "prompt")], table).exact
    assert not budget.compose(["1.", Piece(0, "prompt")], table).exact, "glued label"
    assert not budget.compose([Piece(1, "prompt")], table).exact, "special token string inside"
    assert not budget.compose(["<s> ", Piece(0, "prompt")], table).exact


def test_pretoken_exact_joins(counters):
    budget = Budget(counters("qwen3"), 2000)
    texts = ["Name three rivers.", "1990 was a year", "see <|im_end|> here"]
    table = measured(budget.text_counts(texts))
    assert budget.compose([Piece(0, "prompt"), "\n\n", "2. ", Piece(1, "prompt")], table).exact
    assert budget.compose(["<|im_start|>user\n", Piece(0, "prompt"), "<|im_end|>\n"], table).exact
    assert not budget.compose(["2.", Piece(0, "prompt")], table).exact, "glued label"
    assert not budget.compose([Piece(0, "prompt"), "!"], table).exact, "glued after"
    assert not budget.compose([Piece(0, "prompt"), Piece(1, "prompt")], table).exact
    assert not budget.compose([Piece(2, "prompt")], table).exact, "special token string inside"
    # newlines after a final run of punctuation join it: ".\n\n" is counted as one piece
    joined = budget.compose([Piece(0, "prompt"), "\n\n"], table).tokens
    assert joined == budget.counter.count(texts[0] + "\n\n") < budget.counter.count(texts[0]) + 1


def test_other_vocabularies_are_estimates(counters):
    budget = Budget(counters("mistral-7b-v0.1/tokenizer.model"), 2000)
    table = measured(budget.text_counts(["Name three rivers."]))
    count = budget.compose(["1. ", Piece(0, "prompt"), "\n\n"], table)
    assert not count.exact and count.low < count.tokens < count.high


#: Pieces of adversarial record texts: runs of punctuation, symbols, white space and newlines,
#: zero-width and combining characters, emoji, letters this Python does not know, and the
#: special-token strings of the vocabularies tested.
ATOMS = [
    "!!", "!!!", "~", "```", "```py", ";)", ":-)", "...", "--", "?!", "**", "#", "'", "'s", "’",
    "\u200b", "\u200d", "\ufeff", "\u0301", "e\u0301", "\u0308", "😀", "👍🏽", "«»", "·", "|",
    "\u1c89", "\U0001e030", "日本", "١٢", "12345", "word", "Answer", "▁",
    " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "\u3000", "\u2028", "\x85",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "</s>", "<s>", "<|begin_of_text|>",
]  # fmt: skip
ADVERSARIAL = st.lists(
    st.one_of(st.sampled_from(ATOMS), st.characters(codec="utf-8")), min_size=1, max_size=6
).map("".join)
ALL_FIVE = ["llama-3.1", "qwen3", "cl100k", "llama-2", "mistral-7b-v0.1"]


def check_samples(name: str, samples: list, max_length: int) -> int:
    """Re-tokenize every sample (instruction and output, as the template ``none`` counts them)
    with the tokenizer's own library; each must fit and carry its real count. Returns how many."""
    real = independent(name)([text for s in samples for text in (s.instruction, s.output)])
    for i, sample in enumerate(samples):
        tokens = real[2 * i] + real[2 * i + 1]
        assert tokens == sample.mosaic["tokens"] <= max_length, (
            sample.instruction[:300],
            sample.output[:300],
        )
    return len(samples)


@pytest.mark.parametrize("name", ALL_FIVE)
def test_mosaics_of_adversarial_texts_keep_the_budget_and_their_real_count(name, counters):
    counter = counters(name)
    checked: list[int] = []

    # derandomized: the same examples every run, so the guard below cannot fail by chance
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        st.lists(st.tuples(ADVERSARIAL, ADVERSARIAL), min_size=2, max_size=40),
        st.sampled_from([24, 60, 200]),
        st.sampled_from(["max_length", "uniform"]),
        st.integers(0, 3),
    )
    def check(pairs, max_length, wrap_mode, seed):
        records = [{"instruction": a, "output": b} for a, b in pairs if a.strip() and b.strip()]
        config = MosaicConfig(epochs=2, max_length=max_length, wrap_mode=wrap_mode, max_num=1000, seed=seed)
        checked.append(check_samples(name, list(mosaic(records, config, tokenizer=counter)), max_length))

    check()
    assert sum(checked) > 100  # samples were really made and checked


@pytest.mark.parametrize("name", ["qwen3", "llama-3.1", "cl100k"])
def test_punctuation_records_between_a_space_and_newlines_count_exactly(name, counters):
    """Issue 12: 200 records "!!" / "!!!" at 200 tokens (Qwen3: 232 real tokens recorded as 196)."""
    records = [{"instruction": "!!", "output": "!!!"}] * 200
    config = MosaicConfig(max_length=200, wrap_mode="max_length", max_num=1000)
    samples = list(mosaic(records, config, tokenizer=counters(name)))
    check_samples(name, samples, 200)
    assert max(s.mosaic["tokens"] for s in samples) > 150


@pytest.fixture(scope="module")
def real_records(alpaca_eval):
    """AlpacaEval's 805 records and the first exchange of each FastChat conversation."""
    records = [{"instruction": r["instruction"], "output": r["output"]} for r in alpaca_eval]
    for conv in json.loads(SHAREGPT.read_text(encoding="utf-8")):
        turns = conv["conversations"]
        records.append({"instruction": turns[0]["value"], "output": turns[1]["value"]})
    return records


#: A sample of the tokenizer x budget matrix (128 to 4096), each tokenizer at least once.
REAL_CASES = [
    ("llama-3.1", 128), ("llama-3.1", 2048), ("qwen3", 512), ("qwen3", 4096), ("cl100k", 256),
    ("cl100k", 1024), ("llama-2", 128), ("llama-2", 512), ("mistral-7b-v0.1", 4096),
]  # fmt: skip


@pytest.mark.parametrize(("name", "max_length"), REAL_CASES)
def test_mosaics_of_real_data_keep_the_budget_and_their_real_count(name, max_length, real_records, counters):
    config = MosaicConfig(epochs=2, max_length=max_length, wrap_mode="max_length", max_num=1000, seed=5)
    samples = list(mosaic(real_records, config, tokenizer=counters(name)))
    assert check_samples(name, samples, max_length) > 50
    assert max(s.mosaic["tokens"] for s in samples) > 0.8 * max_length


def test_fits_is_inclusive_of_the_limit(counters):
    budget = Budget(counters("llama-2"), 10)
    assert (budget.fits(9), budget.fits(10), budget.fits(11)) == (True, True, False)
