"""ROUGE-L scores (through the ``rouge-score`` package), and the word tokens and fast longest
common subsequence that the parser and the content check use to match texts."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from mosaicit.extras import require

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits (punctuation and whitespace dropped)."""
    return WORD.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (bit-parallel, Hyyrö 2004)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for token in b:
        match = row & masks.get(token, 0)
        row = ((row + match) | (row - match)) & full
    return len(a) - row.bit_count()


@functools.cache
def _scorer() -> Any:
    rouge_scorer = require("rouge_score.rouge_scorer")
    return rouge_scorer.RougeScorer(["rougeL"])


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of ``candidate`` against ``reference``, as ``rouge-score`` computes it (lower-cased
    ASCII letters and digits, no stemming), so figures compare with other papers."""
    return float(_scorer().score(reference, candidate)["rougeL"].fmeasure)


def containment(part: Sequence[str], whole: Sequence[str]) -> float:
    """Share of ``part``'s tokens that a common subsequence with ``whole`` covers (1.0 if empty)."""
    return lcs_length(part, whole) / len(part) if part else 1.0
