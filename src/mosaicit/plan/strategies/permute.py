"""Permute: answer the instructions in a stated order.

Each ordering maps the instructions (in the order shown) to the order of the answers, as
0-based positions. Sorts are stable: ties keep the order the instructions are shown in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from mosaicit.plan.features import NO_LETTER, PromptFeatures
from mosaicit.tables.loader import Tables, fill

#: Orderings that name instruction numbers, so they need visible numbering.
NEEDS_NUMBERS = frozenset({"fix", "odd_even", "even_odd"})


def _sort(
    items: Sequence[PromptFeatures], key: Callable[[PromptFeatures], Any], reverse: bool = False
) -> list[int]:
    return sorted(range(len(items)), key=lambda i: key(items[i]), reverse=reverse)


def _alpha_reverse(items: Sequence[PromptFeatures]) -> list[int]:
    letters = [i for i in range(len(items)) if items[i].letter != NO_LETTER]
    others = [i for i in range(len(items)) if items[i].letter == NO_LETTER]
    return sorted(letters, key=lambda i: items[i].letter, reverse=True) + others


ORDERINGS: dict[str, Callable[[Sequence[PromptFeatures]], list[int]]] = {
    "reverse": lambda p: list(reversed(range(len(p)))),
    "alpha": lambda p: _sort(p, lambda f: f.letter),
    "reverse_alpha": _alpha_reverse,
    "length_word": lambda p: _sort(p, lambda f: f.words),
    "reverse_length_word": lambda p: _sort(p, lambda f: f.words, reverse=True),
    "length_char": lambda p: _sort(p, lambda f: f.chars),
    "reverse_length_char": lambda p: _sort(p, lambda f: f.chars, reverse=True),
    "odd_even": lambda p: list(range(0, len(p), 2)) + list(range(1, len(p), 2)),
    "even_odd": lambda p: list(range(1, len(p), 2)) + list(range(0, len(p), 2)),
}


def permute(
    rule: str, prompts: Sequence[PromptFeatures], rng: random.Random, tables: Tables
) -> tuple[list[int], str]:
    """The answer order (0-based positions) and the meta-instruction for ``rule``."""
    template = rng.choice(tables.permute[rule])
    if rule != "fix":
        return ORDERINGS[rule](prompts), template
    order = list(range(len(prompts)))
    rng.shuffle(order)
    style = rng.choice(tables.sequence_styles)
    separator = rng.choice(tables.sequence_separators)
    spelled = fill(style, items=separator.join(str(i + 1) for i in order))
    return order, fill(template, order=spelled)
