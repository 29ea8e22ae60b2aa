"""The validated template tables, as the strategies and the planner read them.

:mod:`mosaicit.plan.tables.loader` makes them (it asks the strategy registry which sections to read);
this module sits below the strategies, which draw from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mosaicit.plan.tables.effects import SKIPS


@dataclass(frozen=True)
class Tables:
    """Validated template tables: every list non-empty, every placeholder in its place, and no
    two meta-instructions of one sample at odds (:mod:`mosaicit.plan.tables.coherence`).

    The named fields are the shared slots of the Format layer (``numbering``, ``tags``,
    ``format``); ``sections`` holds each strategy's own slots, by strategy name (see
    :meth:`section`), and ``section_counts`` how many variants each of their slots has.
    ``format_tagged`` only says how answers are wrapped; ``format_tagged_every`` and
    ``format_generic`` also ask for an answer to every instruction, so they are never drawn beside
    a rule that skips some (see :meth:`format_choices`).
    """

    numbering_styles: tuple[str, ...]
    punctuation: tuple[str, ...]
    tag_words: tuple[tuple[str, str], ...]
    tag_brackets: tuple[str, ...]
    format_tagged: tuple[str, ...]
    format_tagged_every: tuple[str, ...]
    format_generic: tuple[str, ...]
    sections: dict[str, Any]
    section_counts: dict[str, int]
    source: str
    _choices: dict[bool, tuple[tuple[str, ...], tuple[str, ...]]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._choices[False] = (self.format_tagged + self.format_tagged_every, self.format_generic)
        self._choices[True] = (self.format_tagged, ())

    def format_choices(self, effects: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The tagged and the generic format meta-instructions a strategy with ``effects`` may
        draw: those that ask for an answer to every instruction only where no rule skips any."""
        return self._choices[SKIPS in effects]

    def section(self, strategy: str) -> Any:
        """A strategy's own validated slots (None for a strategy that has none)."""
        return self.sections.get(strategy)

    def counts(self) -> dict[str, int]:
        """How many variants each slot has, by dotted slot name."""
        out = {
            "numbering.styles": len(self.numbering_styles),
            "numbering.punctuation": len(self.punctuation),
            "tags.words": len(self.tag_words),
            "tags.brackets": len(self.tag_brackets),
            "format.tagged": len(self.format_tagged),
            "format.tagged_every": len(self.format_tagged_every),
            "format.generic": len(self.format_generic),
        }
        return out | self.section_counts
