"""Permute: answer the instructions in a stated order.

Each ordering maps the instructions (in the order shown) to the order of the answers, as
0-based positions. Sorts are stable: ties keep the order the instructions are shown in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from mosaicit.tables.loader import Tables, fill

#: Orderings that name instruction numbers, so they need visible numbering.
NEEDS_NUMBERS = frozenset({"fix", "odd_even", "even_odd"})


def first_letter(text: str) -> str:
    """Sort key: the first letter of ``text``, case-folded, after any leading punctuation.

    A text that starts with a digit, or has no letter, sorts after every letter.
    """
    for ch in text:
        if ch.isalnum():
            return "\x00" + ch.casefold() if ch.isalpha() else "\x01"
    return "\x01"


def words(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def _sort(prompts: Sequence[str], key: Callable[[str], Any], reverse: bool = False) -> list[int]:
    return sorted(range(len(prompts)), key=lambda i: key(prompts[i]), reverse=reverse)


def _alpha_reverse(prompts: Sequence[str]) -> list[int]:
    letters = [i for i in range(len(prompts)) if first_letter(prompts[i]) != "\x01"]
    others = [i for i in range(len(prompts)) if first_letter(prompts[i]) == "\x01"]
    return sorted(letters, key=lambda i: first_letter(prompts[i]), reverse=True) + others


ORDERINGS: dict[str, Callable[[Sequence[str]], list[int]]] = {
    "reverse": lambda p: list(reversed(range(len(p)))),
    "alpha": lambda p: _sort(p, first_letter),
    "reverse_alpha": _alpha_reverse,
    "length_word": lambda p: _sort(p, words),
    "reverse_length_word": lambda p: _sort(p, words, reverse=True),
    "length_char": lambda p: _sort(p, len),
    "reverse_length_char": lambda p: _sort(p, len, reverse=True),
    "odd_even": lambda p: list(range(0, len(p), 2)) + list(range(1, len(p), 2)),
    "even_odd": lambda p: list(range(1, len(p), 2)) + list(range(0, len(p), 2)),
}


def permute(rule: str, prompts: Sequence[str], rng: random.Random, tables: Tables) -> tuple[list[int], str]:
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
