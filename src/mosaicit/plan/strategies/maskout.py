"""Maskout: leave some instructions unanswered, as the meta-instruction says."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mosaicit.plan.strategies.base import SKIP_TIE, Strategy, Tie, register
from mosaicit.plan.tables.check import Checker, fill
from mosaicit.plan.tables.effects import SKIPS
from mosaicit.types.features import PromptFeatures

MASKOUT = "maskout"
#: The mask rules, as ``--mask-rules`` names them.
MASK_RULES = ("fix", "word_long", "word_short", "odd", "even")
#: Rules that skip a counted number of instructions (one wording for one, another for many).
COUNTED_MASK_RULES = ("fix", "word_long", "word_short")
#: Mask rules that name instruction numbers, so they need visible numbering.
NEEDS_NUMBERS = frozenset({"fix", "odd", "even"})


@dataclass(frozen=True)
class MaskoutTables:
    """The ``maskout`` slots: how a set of skipped numbers is written, and each rule's wordings
    for one skipped instruction and for many."""

    list_styles: tuple[str, ...]
    list_separators: tuple[str, ...]
    one: dict[str, tuple[str, ...]]
    many: dict[str, tuple[str, ...]]


def skip_count(size: int, ratio: float) -> int:
    """How many instructions the counted rules skip: ``max(int(size * ratio), 1)``."""
    return max(int(size * ratio), 1)


#: The ranking of each rule that skips the first instructions ranked (most words first, or fewest).
MASK_RANKS: dict[str, Callable[[PromptFeatures], int]] = {
    "word_long": lambda f: -f.words,
    "word_short": lambda f: f.words,
}


def maskout(
    rule: str, prompts: Sequence[PromptFeatures], ratio: float, rng: random.Random, tables: MaskoutTables
) -> tuple[list[int], str]:
    """The skipped positions (0-based, ascending) and the meta-instruction for ``rule``."""
    size = len(prompts)
    n = skip_count(size, ratio)
    if rule == "odd":
        return list(range(0, size, 2)), rng.choice(tables.many[rule])
    if rule == "even":
        return list(range(1, size, 2)), rng.choice(tables.many[rule])
    template = rng.choice((tables.one if n == 1 else tables.many)[rule])
    if rule == "fix":
        skipped = sorted(rng.sample(range(size), n))
        style = rng.choice(tables.list_styles)
        separator = rng.choice(tables.list_separators)
        listed = separator.join(str(i + 1) for i in skipped)
        return skipped, fill(template, skip=listed if n == 1 else fill(style, items=listed))
    rank = MASK_RANKS[rule]
    ranked = sorted(range(size), key=lambda i: (rank(prompts[i]), i))
    return sorted(ranked[:n]), fill(template, count=str(n))


@register
class Maskout(Strategy):
    """Leave some instructions unanswered, as one of the mask rules states."""

    name = MASKOUT
    rank = 3
    mixes = ("mask", "both")
    rules = MASK_RULES
    numbered_rules = NEEDS_NUMBERS
    rules_option = "mask_rules"
    section = "maskout"
    effects = frozenset({SKIPS})
    #: Skipping the longest or shortest leaves open which of equally long ones to skip.
    tie_keys = {rule: Tie(SKIP_TIE, rank) for rule, rank in MASK_RANKS.items()}

    def load_table(self, check: Checker) -> MaskoutTables:
        """The ``maskout`` slots: ``fix`` uses ``{skip}``; the other counted rules' ``many``
        wordings use ``{count}`` (``one`` may); ``odd`` and ``even`` have one list, no placeholder."""
        check.keys("maskout.rules", MASK_RULES)
        one: dict[str, tuple[str, ...]] = {}
        many: dict[str, tuple[str, ...]] = {}
        for rule in MASK_RULES:
            if rule == "fix":
                one[rule] = check.strings("maskout.rules.fix.one", ("skip",))
                many[rule] = check.strings("maskout.rules.fix.many", ("skip",))
            elif rule in COUNTED_MASK_RULES:
                one[rule] = check.strings(f"maskout.rules.{rule}.one", (), ("count",))
                many[rule] = check.strings(f"maskout.rules.{rule}.many", ("count",))
            else:
                many[rule] = one[rule] = check.strings(f"maskout.rules.{rule}")
        return MaskoutTables(
            list_styles=check.strings("maskout.list_styles", ("items",)),
            list_separators=check.separators("maskout.list_separators"),
            one=one,
            many=many,
        )

    def rule_wordings(self, rule: str, table: MaskoutTables) -> list[tuple[str, tuple[str, ...]]]:
        """A counted rule's wordings for one and for many; odd's and even's one list."""
        slot = f"maskout.rules.{rule}"
        if rule in COUNTED_MASK_RULES:
            return [(f"{slot}.one", table.one[rule]), (f"{slot}.many", table.many[rule])]
        return [(slot, table.many[rule])]

    def slot_counts(self, table: MaskoutTables) -> dict[str, int]:
        """Variants per slot."""
        out = {
            "maskout.list_styles": len(table.list_styles),
            "maskout.list_separators": len(table.list_separators),
        }
        for rule in MASK_RULES:
            if rule in COUNTED_MASK_RULES:
                out[f"maskout.rules.{rule}.one"] = len(table.one[rule])
                out[f"maskout.rules.{rule}.many"] = len(table.many[rule])
            else:
                out[f"maskout.rules.{rule}"] = len(table.many[rule])
        return out

    def apply(
        self, rule: str, prompts: Sequence[PromptFeatures], mask_ratio: float, rng: random.Random, table: Any
    ) -> tuple[list[int], list[int], str]:
        """The positions left answered (in order) and the skipped ones."""
        skipped, meta = maskout(rule, prompts, mask_ratio, rng, table)
        gone = set(skipped)
        return [i for i in range(len(prompts)) if i not in gone], skipped, meta
