"""Rules: some answers of a mosaic obey a stated rule, each its own, and are rewritten to do so.

The meta-instruction names each ruled instruction by its number ("Write the answer to
instruction 2 in capital letters."), so the strategy needs visible numbering. A rule is drawn
only for an answer it fits (see :func:`mosaicit.render.edits.answer_facts`), and never when the
marks around the answers (labels, tags) break it themselves.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mosaicit.plan.strategies.base import Strategy, register
from mosaicit.plan.tables.check import Checker, fill
from mosaicit.render.edits import (
    BULLETS,
    EDGE,
    EDIT_RULES,
    LOWER,
    MAX_BULLETS,
    MAX_SENTENCES,
    NO_COMMAS,
    PREFIX,
    SENTENCES,
    SUFFIX,
    UPPER,
    AnswerFacts,
)
from mosaicit.types.edits import Edit, Param

RULES = "rules"
#: The strategy's one rule: ruled answers are named by their instruction's number.
BY_NUMBER = "by_number"
#: The most answers of one mosaic that get a rule.
MAX_RULED = 3
#: Rules the marks around an answer break when they hold a lowercase letter, an uppercase letter
#: or a comma.
MARK_CLASHES = {UPPER: str.islower, LOWER: str.isupper, NO_COMMAS: lambda c: c == ","}


@dataclass(frozen=True)
class RulesTables:
    """The ``rules`` slots: separators between the stated rules, the prefix and suffix texts,
    and each rule's wordings (``sentences`` has one wording list for one sentence, one for more)."""

    separators: tuple[str, ...]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    items: dict[str, tuple[str, ...]]
    one_sentence: tuple[str, ...]


def _param(rule: str, facts: AnswerFacts, rng: random.Random, table: RulesTables) -> Param | bool:
    """The parameter drawn for ``rule`` on an answer (False when none fits it)."""
    if rule == PREFIX:
        texts = [t for t in table.prefixes if facts.takes_prefix(t)]
        return rng.choice(texts) if texts else False
    if rule == SUFFIX:
        texts = [t for t in table.suffixes if facts.takes_suffix(t)]
        return rng.choice(texts) if texts else False
    if rule == SENTENCES:
        return rng.randint(1, min(MAX_SENTENCES, facts.sentences - 1))
    if rule == BULLETS:
        return rng.randint(2, min(MAX_BULLETS, facts.sentences))
    return None


def _wording(edit: Edit, number: int, rng: random.Random, table: RulesTables) -> str:
    """The sentence that states ``edit`` for instruction ``number``."""
    if edit.rule == SENTENCES and edit.param == 1:
        return fill(rng.choice(table.one_sentence), n=str(number))
    values = {"n": str(number)}
    if edit.param is not None:
        values["text" if isinstance(edit.param, str) else "count"] = str(edit.param)
    return fill(rng.choice(table.items[edit.rule]), **values)


def draw_edits(
    answers: Sequence[AnswerFacts], marks: str, rng: random.Random, table: RulesTables
) -> tuple[list[tuple[int, Edit]], str | None]:
    """Rules for 1 to :data:`MAX_RULED` answers that take one, and the meta-instruction."""
    clashing = {r for r, bad in MARK_CLASHES.items() if any(bad(c) for c in marks)}
    allowed = [[r for r in f.rules if r not in clashing] for f in answers]
    eligible = [i for i, rules in enumerate(allowed) if rules]
    if not eligible:
        return [], None
    chosen = sorted(rng.sample(eligible, rng.randint(1, min(MAX_RULED, len(eligible)))))
    drawn: list[tuple[int, Edit]] = []
    for i in chosen:
        rule = rng.choice(allowed[i])
        param = _param(rule, answers[i], rng, table)
        if param is not False:
            drawn.append((i, Edit(i, rule, param)))  # type: ignore[arg-type]
    if not drawn:
        return [], None
    separator = rng.choice(table.separators)
    return drawn, separator.join(_wording(e, i + 1, rng, table) for i, e in drawn)


@register
class Rules(Strategy):
    """Answer every instruction in order; some answers obey a rule the meta-instruction states."""

    name = RULES
    rank = 4
    rules = (BY_NUMBER,)
    numbered_rules = frozenset({BY_NUMBER})
    mixes = ("rules",)
    section = "rules"
    edits_answers = True
    eval_checks = ("mosaicit.eval.rules",)  # the check that each ruled answer obeys its rule

    def load_table(self, check: Checker) -> RulesTables | None:
        """The ``rules`` slots (None when the tables have no ``rules`` section: the strategy then
        leaves its mosaics as Format). Every wording uses ``{n}``; prefix and suffix wordings
        ``{text}``; bullets and the many-sentence wordings ``{count}``."""
        if not check.has("rules"):
            return None
        check.keys("rules", ("separators", "prefixes", "suffixes", "items"))
        check.keys("rules.items", EDIT_RULES)
        items: dict[str, tuple[str, ...]] = {}
        one_sentence: tuple[str, ...] = ()
        for rule in EDIT_RULES:
            slot = f"rules.items.{rule}"
            if rule == SENTENCES:
                check.keys(slot, ("one", "many"))
                one_sentence = check.strings(f"{slot}.one", ("n",))
                items[rule] = check.strings(f"{slot}.many", ("n", "count"))
            elif rule in (PREFIX, SUFFIX):
                items[rule] = check.strings(slot, ("n", "text"))
            else:
                items[rule] = check.strings(slot, ("n", "count") if rule == BULLETS else ("n",))
        texts = {}
        for slot in ("prefixes", "suffixes"):
            texts[slot] = check.strings(f"rules.{slot}")
            for i, text in enumerate(texts[slot]):
                if len(text) > EDGE or "\n" in text or any(c.isdigit() for c in text):
                    raise check.fail(
                        f"rules.{slot}[{i}]",
                        f"must be one line of at most {EDGE} characters, no digits (they read as labels)",
                    )
        return RulesTables(
            separators=check.strings("rules.separators", strip=False),
            prefixes=texts["prefixes"],
            suffixes=texts["suffixes"],
            items=items,
            one_sentence=one_sentence,
        )

    def rule_wordings(self, rule: str, table: RulesTables | None) -> list[tuple[str, tuple[str, ...]]]:
        """Every rule's wordings (a mosaic can state several)."""
        if table is None:
            return []
        out = [(f"rules.items.{r}", table.items[r]) for r in EDIT_RULES if r != SENTENCES]
        return [
            *out,
            ("rules.items.sentences.one", table.one_sentence),
            ("rules.items.sentences.many", table.items[SENTENCES]),
        ]

    def slot_counts(self, table: RulesTables | None) -> dict[str, int]:
        """Variants per slot."""
        if table is None:
            return {}
        out = {f"rules.{s}": len(getattr(table, s)) for s in ("separators", "prefixes", "suffixes")}
        out.update({slot: len(texts) for slot, texts in self.rule_wordings(BY_NUMBER, table)})
        return out

    def edit(
        self, rule: str, answers: Sequence[AnswerFacts], marks: str, rng: random.Random, table: Any
    ) -> tuple[list[tuple[int, Edit]], str | None]:
        """Rules for some answers (none without the ``rules`` tables)."""
        return draw_edits(answers, marks, rng, table) if table is not None else ([], None)
