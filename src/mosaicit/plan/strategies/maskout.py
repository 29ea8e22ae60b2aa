"""Maskout: leave some instructions unanswered, as the meta-instruction says."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mosaicit.plan.features import PromptFeatures
from mosaicit.tables.loader import Tables, fill

#: Mask rules that name instruction numbers, so they need visible numbering.
NEEDS_NUMBERS = frozenset({"fix", "odd", "even"})


def skip_count(size: int, ratio: float) -> int:
    """How many instructions the counted rules skip: ``max(int(size * ratio), 1)``."""
    return max(int(size * ratio), 1)


def maskout(
    rule: str, prompts: Sequence[PromptFeatures], ratio: float, rng: random.Random, tables: Tables
) -> tuple[list[int], str]:
    """The skipped positions (0-based, ascending) and the meta-instruction for ``rule``."""
    size = len(prompts)
    n = skip_count(size, ratio)
    if rule == "odd":
        return list(range(0, size, 2)), rng.choice(tables.mask_many[rule])
    if rule == "even":
        return list(range(1, size, 2)), rng.choice(tables.mask_many[rule])
    template = rng.choice((tables.mask_one if n == 1 else tables.mask_many)[rule])
    if rule == "fix":
        skipped = sorted(rng.sample(range(size), n))
        style = rng.choice(tables.list_styles)
        separator = rng.choice(tables.list_separators)
        listed = separator.join(str(i + 1) for i in skipped)
        return skipped, fill(template, skip=listed if n == 1 else fill(style, items=listed))
    sign = -1 if rule == "word_long" else 1
    ranked = sorted(range(size), key=lambda i: (sign * prompts[i].words, i))
    return sorted(ranked[:n]), fill(template, count=str(n))
