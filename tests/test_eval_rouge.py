"""ROUGE-L and the bit-parallel LCS it rests on, against a plain dynamic program."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaicit.eval.rouge import containment, lcs_length, rouge_l, words


def lcs_table(a: list[str], b: list[str]) -> int:
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            rows[i + 1][j + 1] = rows[i][j] + 1 if x == y else max(rows[i][j + 1], rows[i + 1][j])
    return rows[-1][-1]


tokens = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=80)


@settings(max_examples=400, deadline=None)
@given(tokens, tokens)
def test_lcs_matches_the_dynamic_program(a, b):
    assert lcs_length(a, b) == lcs_table(a, b) == lcs_length(b, a)


@pytest.mark.parametrize(
    ("candidate", "reference", "expected"),
    [
        ("the cat sat on the mat", "the cat sat on the mat", 1.0),
        ("The CAT sat, on the mat!", "the cat sat on the mat", 1.0),  # case and punctuation ignored
        ("the cat lay on the mat", "the cat sat on the mat", 5 / 6),
        ("mat the on sat cat the", "the cat sat on the mat", 3 / 6),  # "the on the"
        ("the cat", "the cat sat on the mat", 2 * (1.0 * 2 / 6) / (1.0 + 2 / 6)),
        ("dogs bark", "the cat sat on the mat", 0.0),
        ("", "the cat", 0.0),
    ],
)
def test_rouge_l_values(candidate, reference, expected):
    assert rouge_l(candidate, reference) == pytest.approx(expected)


def test_words_and_containment():
    assert words("Don't STOP-now, 2 times!") == ["don", "t", "stop", "now", "2", "times"]
    assert containment(words("the mat"), words("the cat sat on the mat")) == 1.0
    assert containment(words("the dog"), words("the cat")) == 0.5
    assert containment([], ["x"]) == 1.0
