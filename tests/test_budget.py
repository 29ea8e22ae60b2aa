"""Composed counts: exact for space-exact and pre-token-exact vocabularies, whatever the layout."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaicit.budget import Budget, Measured
from mosaicit.strategies.features import PromptFeatures
from mosaicit.strategies.render import Piece

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
    budget = Budget(counter)
    table = measured(budget.text_counts(texts))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(layouts(len(texts)))
    def check(segments):
        rendered = "".join(s if isinstance(s, str) else texts[s.source] for s in segments)
        composed = budget.compose(segments, table)
        real = counter.count(rendered)
        if composed.exact:
            assert composed.tokens == real, (segments, rendered[:200])
        else:  # only layouts that glue a piece to other text without a space are not exact
            assert composed.low <= real + 50

    check()


def test_glued_text_and_special_tokens_are_not_claimed_exact(counters):
    budget = Budget(counters("llama-2"))
    table = measured(budget.text_counts(["Hi there", "see </s> here"]))
    assert budget.compose(["1. ", Piece(0, "prompt")], table).exact
    assert not budget.compose(["1.", Piece(0, "prompt")], table).exact, "glued label"
    assert not budget.compose([Piece(1, "prompt")], table).exact, "special token string inside"
    assert not budget.compose(["<s> ", Piece(0, "prompt")], table).exact


def test_pretoken_exact_joins(counters):
    budget = Budget(counters("qwen3"))
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
    budget = Budget(counters("mistral-7b-v0.1/tokenizer.model"))
    table = measured(budget.text_counts(["Name three rivers."]))
    count = budget.compose(["1. ", Piece(0, "prompt"), "\n\n"], table)
    assert not count.exact and count.low < count.tokens < count.high
