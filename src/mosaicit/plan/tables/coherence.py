"""Meta-instructions that never contradict each other or the mosaic they describe.

Coherence holds by construction. Each strategy declares what its rules do to the answers
(``Strategy.effects``: :data:`SKIPS`, :data:`REORDERS`), and the Format layer draws a wording
that asks for an answer to every instruction (``format.tagged_every``, ``format.generic``) only
for a strategy that skips none (:meth:`~mosaicit.plan.tables.slots.Tables.format_choices`).

:func:`incoherence` then checks the tables: it walks every sample the tables can produce (each
strategy, each of its rules or none, with numbering or without) and every meta-instruction that
sample can hold beside the others, and reports the first wording that says something the sample
does not do (:data:`CLAIMS`). The wordings are read as English; a claim worded otherwise is not
seen, so the check never rejects what it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mosaicit.plan.strategies.base import Strategy
from mosaicit.plan.tables.check import short
from mosaicit.plan.tables.effects import REORDERS, SKIPS, UNNUMBERED
from mosaicit.plan.tables.slots import Tables

__all__ = ["REORDERS", "SKIPS", "UNNUMBERED", "incoherence"]

#: How an error names each effect, when a sample has it and when it has not.
EFFECT_TEXT = {
    SKIPS: ("leaves some instructions unanswered", "answers every instruction"),
    REORDERS: ("answers in another order than shown", "answers in the order shown"),
    UNNUMBERED: ("shows no numbers", "shows numbers"),
}

_NOUNS = r"(?:instructions?|tasks?|questions?|prompts?|requests?|quer(?:y|ies)|items?|problems?|exercises?)"


@dataclass(frozen=True)
class Claim:
    """Something a wording can ask for, found by ``pattern`` (not when ``unless`` also matches),
    and the effect that contradicts it (``denied_by``) or without which it is false (``needs``)."""

    says: str
    pattern: re.Pattern[str]
    denied_by: str | None = None
    needs: str | None = None
    unless: re.Pattern[str] | None = None

    def made_by(self, text: str) -> bool:
        """True when ``text`` makes this claim."""
        return bool(self.pattern.search(text)) and not (self.unless and self.unless.search(text))

    def contradicted_by(self, effects: frozenset[str]) -> bool:
        """True when a sample with ``effects`` does not do what this claim asks."""
        return self.denied_by in effects or (self.needs is not None and self.needs not in effects)


_SKIP = re.compile(
    r"\b(?:skip\w*|omit\w*|leave\s+out|leaving\s+out|left\s+out|ignor(?:e|ing)|do\s+not\s+answer"
    r"|don't\s+answer|except|excluding|apart\s+from)\b",
    re.I,
)

#: What the check reads in a wording.
CLAIMS = (
    Claim(
        "asks for an answer to every instruction",
        re.compile(
            rf"\b(?:each|every|all)(?:\s+and\s+every)?(?:\s+(?:single|one))?(?:\s+of)?"
            rf"(?:\s+(?:the|these|those|my|your))?\s+{_NOUNS}\b"
            r"|\b(?:answer|respond\s+to|reply\s+to|address|complete|handle)\s+"
            r"(?:them\s+all|all\s+of\s+them|everything|each\s+one|every\s+one)\b",
            re.I,
        ),
        denied_by=SKIPS,
        unless=re.compile(
            rf"{_SKIP.pattern}|\b(?:other\s+than|save\s+for|only|rest|remaining|others?)\b", re.I
        ),
    ),
    Claim("asks to leave instructions unanswered", _SKIP, needs=SKIPS),
    Claim(
        "asks for the answers in the order shown",
        re.compile(
            r"\bin\s+order\b(?!\s*(?:of|to|by|:|\{))"
            r"|\bin\s+(?:the\s+)?(?:same|original|given|listed|numerical|numeric|sequential)\s+order\b"
            r"|\bin\s+the\s+order\s+(?:given|shown|listed|presented|written|they|in\s+which)\b"
            r"|\bfrom\s+(?:the\s+)?first(?:\s+one)?\s+to\s+(?:the\s+)?last\b"
            r"|\bsequentially\b|\bin\s+sequence\b|\bfrom\s+top\s+to\s+bottom\b",
            re.I,
        ),
        denied_by=REORDERS,
    ),
    Claim(
        "asks for another order than the one shown",
        re.compile(
            r"\b(?:reverse|reversed|backwards?|alphabetical(?:ly)?|ascending|descending|last\s+to\s+first)\b"
            r"|\b(?:shortest|longest|fewest|most)\s+(?:\w+\s+)?first\b|\bin\s+this\s+order\b|\{order\}",
            re.I,
        ),
        needs=REORDERS,
    ),
    Claim(
        "refers to instruction numbers",
        re.compile(r"\bnumber(?:ed|s)?\b(?!\s+of\b)|\{skip\}|\{order\}", re.I),
        denied_by=UNNUMBERED,
    ),
)


@lru_cache(maxsize=4096)
def claims_of(text: str) -> tuple[Claim, ...]:
    """The claims ``text`` makes."""
    return tuple(claim for claim in CLAIMS if claim.made_by(text))


@dataclass(frozen=True)
class Wording:
    """One table entry: its slot (``format.tagged[3]``) and its text."""

    entry: str
    text: str


def _entries(slot: str, texts: Sequence[str]) -> list[Wording]:
    return [Wording(f"{slot}[{i}]", text) for i, text in enumerate(texts)]


def _format_entries(tables: Tables, effects: frozenset[str]) -> list[Wording]:
    """The format wordings a strategy with ``effects`` draws, named by their table entries."""
    tagged, generic = tables.format_choices(effects)
    drawn = set(tagged) | set(generic)
    slots = {
        "format.tagged": tables.format_tagged,
        "format.tagged_every": tables.format_tagged_every,
        "format.generic": tables.format_generic,
    }
    return [w for slot, texts in slots.items() for w in _entries(slot, texts) if w.text in drawn]


def _samples(strategy: Strategy, tables: Tables) -> Iterator[tuple[frozenset[str], str, list[Wording]]]:
    """Each kind of sample a strategy makes: its effects, what it is, and the wordings of its rule
    (none for a mosaic left as plain Format: one record, or no rule allowed)."""
    table = tables.section(strategy.name)
    for numbered in (True, False):
        base = frozenset() if numbered else frozenset({UNNUMBERED})
        where = "" if numbered else " without numbering"
        yield base, f"a mosaic{where}", []
        for rule in strategy.rules:
            if numbered or rule not in strategy.numbered_rules:
                slots = strategy.rule_wordings(rule, table)
                wordings = [w for slot, texts in slots for w in _entries(slot, texts)]
                yield base | strategy.effects, f"a {strategy.name} mosaic{where} (rule {rule})", wordings


def _problem(wording: Wording, effects: frozenset[str], sample: str, beside: Sequence[Wording]) -> str | None:
    """What ``wording`` says that a sample with ``effects`` does not do, naming a wording beside it."""
    for claim in claims_of(wording.text):
        if claim.contradicted_by(effects):
            effect = str(claim.denied_by if claim.denied_by in effects else claim.needs)
            does = EFFECT_TEXT[effect][0 if effect in effects else 1]
            partner = f" beside {beside[0].entry} {short(beside[0].text)}" if beside else ""
            drawn = f"it is drawn in {sample}{partner}, which {does}"
            return f"{wording.entry}: {short(wording.text)} {claim.says}, but {drawn}"
    return None


def incoherence(tables: Tables, strategies: Mapping[str, Strategy]) -> str | None:
    """The first contradiction among the meta-instructions one sample can hold, or None.

    Walks every kind of sample (each strategy, each of its rules or none, with numbering and
    without) and every wording it can hold. A rule's wordings say what the sample does, so two
    wordings contradict each other exactly when one of them says what the sample does not do:
    checking each wording against each sample it can be drawn in covers every pair that can meet.
    """
    for strategy in strategies.values():
        format_wordings = _format_entries(tables, strategy.effects)
        for effects, sample, rule_wordings in _samples(strategy, tables):
            for wording in format_wordings:
                problem = _problem(wording, effects, sample, rule_wordings)
                if problem:
                    return problem
            for wording in rule_wordings:
                problem = _problem(wording, effects, sample, ())
                if problem:
                    return problem
    return None
