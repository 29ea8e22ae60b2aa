"""permute.py: each ordering on fixed instructions, and the spelled-out fixed order."""

from __future__ import annotations

import random

import pytest

from mosaicit.plan.strategies.permute import ORDERINGS, PERMUTE, PERMUTE_RULES, permute
from mosaicit.plan.tables.loader import load_tables
from mosaicit.types.features import PromptFeatures

TABLES = load_tables()
TEXTS = ["banana bread recipe please", "Apple pie?", "cherry", "42 is the answer to what", "apricot jam now"]
PROMPTS = [PromptFeatures.of(t) for t in TEXTS]


def test_every_ordering_but_fix_is_a_function_of_the_features():
    assert set(ORDERINGS) == set(PERMUTE_RULES) - {"fix"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("reverse", [4, 3, 2, 1, 0]),
        ("alpha", [1, 4, 0, 2, 3]),  # by first letter, case-folded; ties keep shown order; no letter last
        ("reverse_alpha", [2, 0, 1, 4, 3]),
        ("length_word", [2, 1, 4, 0, 3]),
        ("reverse_length_word", [3, 0, 4, 1, 2]),
        ("length_char", [2, 1, 4, 3, 0]),
        ("reverse_length_char", [0, 3, 4, 1, 2]),
        ("odd_even", [0, 2, 4, 1, 3]),
        ("even_odd", [1, 3, 0, 2, 4]),
    ],
)
def test_orderings(rule, expected):
    assert ORDERINGS[rule](PROMPTS) == expected


def test_alpha_uses_the_first_letter_not_the_whole_string():
    # Whole-string, case-sensitive sorting would put "Zebra" before "apple".
    texts = ["Zebra stripes", "apple", "Mango", '"Quoted" first', "9 lives"]
    assert ORDERINGS["alpha"]([PromptFeatures.of(t) for t in texts]) == [1, 2, 3, 0, 4]


def test_fix_permutation_spells_out_its_order_and_handles_many_records():
    prompts = [PromptFeatures.of(f"Task number {i}") for i in range(80)]
    order, meta = permute("fix", prompts, random.Random(1), TABLES.section(PERMUTE))
    assert sorted(order) == list(range(80))
    positions = [meta.index(str(i + 1), meta.index(str(order[0] + 1))) for i in order[:3]]
    assert positions == sorted(positions)


@pytest.mark.parametrize("rule", sorted(ORDERINGS))
def test_permute_uses_the_ordering_and_a_wording_of_its_rule(rule):
    order, meta = permute(rule, PROMPTS, random.Random(0), TABLES.section(PERMUTE))
    assert order == ORDERINGS[rule](PROMPTS)
    assert meta in TABLES.section(PERMUTE).rules[rule]
