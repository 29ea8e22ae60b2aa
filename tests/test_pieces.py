"""Byte-level tokenizers count plain ASCII texts piece by piece (mosaicit.budget.pieces): the counts
must be the tokenizer's own, on real data and on texts built to break the split pattern."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from conftest import ASSETS, TOKENIZERS
from mosaicit.budget.tokens import load_counter

BYTE_LEVEL = ["llama-3.1", "qwen3"]


@cache
def _counter(name):
    return load_counter(TOKENIZERS / name)


@cache
def _tokenizer(name):
    tok = Tokenizer.from_file(str(TOKENIZERS / name / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _reference(name):
    """Independent counts: a tokenizer of its own, every text through its whole pipeline."""
    tok = _tokenizer(name)
    return lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]


@pytest.mark.parametrize("name", BYTE_LEVEL)
def test_real_texts_count_as_the_tokenizer_counts_them(name):
    counter = load_counter(TOKENIZERS / name)  # a fresh one: nothing memoised yet
    assert counter.pieces is not None
    records = json.loads((ASSETS / "datasets" / "alpaca_eval_805.json").read_text(encoding="utf-8"))
    texts = [r["instruction"] for r in records] + [r["output"] for r in records]
    covered = [t for t in texts if counter.pieces.covers(t)]
    assert len(covered) > len(texts) // 2  # the fast path is really taken
    assert counter.count_many(texts) == _reference(name)(texts)
    words = sorted({w for t in covered for w in t.split(" ")})
    assert counter.count_many(words) == _reference(name)(words)


ODD = [
    "",
    " ",
    "  ",
    "\t",
    "\n\n",
    " \n ",
    "a  b",
    "x\t\ty",
    "end.\n\n",
    "!!!",
    " ?!\n",
    "'s",
    "'S'LL'd",
    "don't",
    "I'M",
    "123456789",
    "3.14159",
    "a1b2c3",
    "\x0b\x0c",
    "\r\n\r\n",
    "---",
    "   lead",
    "trail   ",
    "<|im_end|>",
    "<|eot_id|>",
    "<|begin_of_text|>x",
    "<|",
    "|>",
    "<s>",
    "\x00",
    "\x1f",
    "\x7f",
    "\x1c x",
    "#!/bin/sh\n\tcd ~/x && ls -la | grep '*.py'",
    "http://a.b/c?d=e&f=g#h",
    "a\u00a0b",
    "caf\u00e9",
]


@pytest.mark.parametrize("name", BYTE_LEVEL)
def test_odd_texts_count_as_the_tokenizer_counts_them(name):
    counter = load_counter(TOKENIZERS / name)
    texts = ODD + [a + b for a in ODD for b in ODD[:12]]
    assert counter.count_many(texts) == _reference(name)(texts)
    assert [counter.count(t) for t in texts] == _reference(name)(texts)
    special = counter.specials[0]
    assert not counter.pieces.covers(f"a {special} b")  # left to the tokenizer, which splits it out
    assert not counter.pieces.covers("\x1f") and not counter.pieces.covers("caf\u00e9")


ascii_texts = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=60)


@pytest.mark.parametrize("name", BYTE_LEVEL)
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(ascii_texts, min_size=1, max_size=8))
def test_any_ascii_counts_as_the_tokenizer_counts_it(name, texts):
    assert _counter(name).count_many(texts) == _reference(name)(texts)
