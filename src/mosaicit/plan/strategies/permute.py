"""Permute: answer the instructions in a stated order.

Each ordering maps the instructions (in the order shown) to the order of the answers, as
0-based positions. Sorts are stable: ties keep the order the instructions are shown in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mosaicit.plan.strategies.base import ORDER_TIE, Strategy, Tie, register
from mosaicit.plan.tables.check import Checker, fill
from mosaicit.plan.tables.effects import REORDERS
from mosaicit.types.features import NO_LETTER, PromptFeatures

PERMUTE = "permute"
#: The orderings, as ``--orderings`` names them.
PERMUTE_RULES = (
    "fix",
    "reverse",
    "alpha",
    "reverse_alpha",
    "length_word",
    "reverse_length_word",
    "length_char",
    "reverse_length_char",
    "odd_even",
    "even_odd",
)
#: Orderings that name instruction numbers, so they need visible numbering.
NEEDS_NUMBERS = frozenset({"fix", "odd_even", "even_odd"})


@dataclass(frozen=True)
class PermuteTables:
    """The ``permute`` slots: how a spelled-out order is written, and each rule's wordings."""

    sequence_styles: tuple[str, ...]
    sequence_separators: tuple[str, ...]
    rules: dict[str, tuple[str, ...]]


def _sort(
    items: Sequence[PromptFeatures], key: Callable[[PromptFeatures], Any], reverse: bool = False
) -> list[int]:
    return sorted(range(len(items)), key=lambda i: key(items[i]), reverse=reverse)


def _alpha_reverse(items: Sequence[PromptFeatures]) -> list[int]:
    letters = [i for i in range(len(items)) if items[i].letter != NO_LETTER]
    others = [i for i in range(len(items)) if items[i].letter == NO_LETTER]
    return sorted(letters, key=lambda i: items[i].letter, reverse=True) + others


def _letter(f: PromptFeatures) -> str:
    return f.letter


def _words(f: PromptFeatures) -> int:
    return f.words


def _chars(f: PromptFeatures) -> int:
    return f.chars


ORDERINGS: dict[str, Callable[[Sequence[PromptFeatures]], list[int]]] = {
    "reverse": lambda p: list(reversed(range(len(p)))),
    "alpha": lambda p: _sort(p, _letter),
    "reverse_alpha": _alpha_reverse,
    "length_word": lambda p: _sort(p, _words),
    "reverse_length_word": lambda p: _sort(p, _words, reverse=True),
    "length_char": lambda p: _sort(p, _chars),
    "reverse_length_char": lambda p: _sort(p, _chars, reverse=True),
    "odd_even": lambda p: list(range(0, len(p), 2)) + list(range(1, len(p), 2)),
    "even_odd": lambda p: list(range(1, len(p), 2)) + list(range(0, len(p), 2)),
}


def permute(
    rule: str, prompts: Sequence[PromptFeatures], rng: random.Random, tables: PermuteTables
) -> tuple[list[int], str]:
    """The answer order (0-based positions) and the meta-instruction for ``rule``."""
    template = rng.choice(tables.rules[rule])
    if rule != "fix":
        return ORDERINGS[rule](prompts), template
    order = list(range(len(prompts)))
    rng.shuffle(order)
    style = rng.choice(tables.sequence_styles)
    separator = rng.choice(tables.sequence_separators)
    spelled = fill(style, items=separator.join(str(i + 1) for i in order))
    return order, fill(template, order=spelled)


@register
class Permute(Strategy):
    """Answer every instruction, in the order one of the orderings states."""

    name = PERMUTE
    rank = 2
    mixes = ("order", "both")
    rules = PERMUTE_RULES
    numbered_rules = NEEDS_NUMBERS
    rules_option = "orderings"
    section = "permute"
    effects = frozenset({REORDERS})
    #: Orderings by first letter or by length leave the order of equal ones open.
    tie_keys = {
        "alpha": Tie(ORDER_TIE, _letter),
        "reverse_alpha": Tie(ORDER_TIE, _letter),
        "length_word": Tie(ORDER_TIE, _words),
        "reverse_length_word": Tie(ORDER_TIE, _words),
        "length_char": Tie(ORDER_TIE, _chars),
        "reverse_length_char": Tie(ORDER_TIE, _chars),
    }

    def load_table(self, check: Checker) -> PermuteTables:
        """The ``permute`` slots; ``rules.fix`` uses ``{order}``, the other rules no placeholder."""
        check.keys("permute.rules", PERMUTE_RULES)
        rules = {
            r: check.strings(f"permute.rules.{r}", ("order",) if r == "fix" else ()) for r in PERMUTE_RULES
        }
        return PermuteTables(
            sequence_styles=check.strings("permute.sequence_styles", ("items",)),
            sequence_separators=check.separators("permute.sequence_separators"),
            rules=rules,
        )

    def rule_wordings(self, rule: str, table: PermuteTables) -> list[tuple[str, tuple[str, ...]]]:
        """The rule's one list of wordings."""
        return [(f"permute.rules.{rule}", table.rules[rule])]

    def slot_counts(self, table: PermuteTables) -> dict[str, int]:
        """Variants per slot."""
        out = {
            "permute.sequence_styles": len(table.sequence_styles),
            "permute.sequence_separators": len(table.sequence_separators),
        }
        out.update({f"permute.rules.{k}": len(v) for k, v in table.rules.items()})
        return out

    def apply(
        self, rule: str, prompts: Sequence[PromptFeatures], mask_ratio: float, rng: random.Random, table: Any
    ) -> tuple[list[int], list[int], str]:
        """Every position, in the rule's order; none skipped."""
        order, meta = permute(rule, prompts, rng, table)
        return order, [], meta
