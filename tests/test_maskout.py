"""maskout.py: each mask rule on fixed instructions, and the listed skipped numbers."""

from __future__ import annotations

import random

import pytest

from mosaicit.plan.strategies.maskout import MASKOUT, maskout, skip_count
from mosaicit.plan.tables.loader import load_tables
from mosaicit.types.features import PromptFeatures

TABLES = load_tables()
TEXTS = ["banana bread recipe please", "Apple pie?", "cherry", "42 is the answer to what", "apricot jam now"]
PROMPTS = [PromptFeatures.of(t) for t in TEXTS]


@pytest.mark.parametrize(("size", "ratio", "n"), [(5, 0.1, 1), (5, 0.45, 2), (10, 0.5, 5), (1, 0.5, 1)])
def test_skip_count_is_at_least_one(size, ratio, n):
    assert skip_count(size, ratio) == n


@pytest.mark.parametrize(
    ("rule", "ratio", "expected"),
    [
        ("odd", 0.3, [0, 2, 4]),
        ("even", 0.3, [1, 3]),
        ("word_long", 0.3, [3]),  # int(5 * 0.3) = 1: the instruction with most words
        ("word_long", 0.45, [0, 3]),  # 2 skipped; ties broken by position
        ("word_short", 0.45, [1, 2]),
    ],
)
def test_mask_rules(rule, ratio, expected):
    skipped, meta = maskout(rule, PROMPTS, ratio, random.Random(0), TABLES.section(MASKOUT))
    assert skipped == expected
    assert meta
    if rule.startswith("word") and len(expected) > 1:
        assert str(len(expected)) in meta


def test_fix_mask_lists_the_skipped_numbers():
    for seed in range(20):
        skipped, meta = maskout("fix", PROMPTS, 0.45, random.Random(seed), TABLES.section(MASKOUT))
        assert len(skipped) == 2
        assert all(str(i + 1) in meta for i in skipped)
