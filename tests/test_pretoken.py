"""pretoken.py: where a split pattern cuts a joined text, checked directly on fixed inputs and
against the real Llama-3.1, Qwen3 and cl100k tokenizers (counted without mosaicit)."""

from __future__ import annotations

import pytest

from conftest import independent
from mosaicit.budget.pretoken import first_span, hard_parts, join_tail, newline_lead, space_words

BYTE_LEVEL = ["llama-3.1", "qwen3", "cl100k"]


@pytest.mark.parametrize(
    ("text", "tail"),
    [
        ("Hello world", ""),  # ends in a letter: newlines after it start a new piece
        ("Count to 3", ""),
        ("Hello world!", "!"),
        ("Really?!", "?!"),
        ("Wait for it !!", " !!"),  # the single space before the run belongs to it
        ("Wait  !!", " !!"),
        ("!!", "!!"),
        ("x\u0378", None),  # unassigned code point: a newer engine may call it a letter
        ("naïve", ""),
    ],
)
def test_join_tail(text, tail):
    assert join_tail(text) == tail


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Hello big world", "Hello"),
        ("one", "one"),
        ("  two spaces", "  two"),  # a space after a space does not end the span
        ("a\n b", "a\n b"),  # nor does a space after a newline
        ("Use tabs\there", "Use"),
    ],
)
def test_first_span(text, span):
    assert first_span(text) == span


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b c", ["a", "b", "c"]),
        ("a b  c", ["a", "b", " c"]),  # the second space stays with the word after it
        ("x\n y", ["x\n y"]),  # no cut after a newline
        ("solo", ["solo"]),
    ],
)
def test_space_words(text, words):
    assert space_words(text) == words


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Task 1:\nAnswer", ["Task", " 1:\n", "Answer"]),
        ("[BEGIN]\n", ["[BEGIN]\n"]),
        ("a  b", ["a", "  b"]),
    ],
)
def test_hard_parts(text, parts):
    assert hard_parts(text) == parts
    assert "".join(parts) == text


def test_newline_lead():
    assert (newline_lead("\n\nAnswer"), newline_lead("\r\nx"), newline_lead("Answer\n")) == (
        "\n\n",
        "\r\n",
        "",
    )


TEXTS = [
    "Name three primary colours.",
    "Is 7 prime?!",
    "What does `x += 1` do :)",
    "Translate 'bonjour' -- please !!",
    "Sum 12345 and 678.",
    "Ünïcödé wörds, too…",
]


@pytest.mark.parametrize("name", BYTE_LEVEL)
def test_rules_hold_for_real_tokenizers(name):
    """The composition the budget relies on: hard parts sum, newlines join only the tail, and a
    leading space changes only the first span."""
    count = independent(name)

    def one(text: str) -> int:
        return count([text])[0]

    checked = 0
    for text in TEXTS:
        for fixed in (f"### {text}\n\n", f"<<{text}>>: \n"):
            assert one(fixed) == sum(map(one, hard_parts(fixed))), fixed
        tail = join_tail(text)
        assert tail is not None
        if tail:
            head = text[: len(text) - len(tail)]
            assert one(text + "\n\n") == one(head) + one(tail + "\n\n"), text
            checked += 1
        else:
            assert one(text + "\n\n") == one(text) + one("\n\n"), text
        span = first_span(text)
        assert one(" " + text) == one(" " + span) + one(text[len(span) :]), text
    assert checked >= 3  # the tail rule was exercised, not skipped
