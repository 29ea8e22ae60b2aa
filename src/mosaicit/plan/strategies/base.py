"""What a strategy is, and the registry the strategies add themselves to.

A strategy is one unit, in one file: its name, its rules, its own slots of the template tables
(with their placeholders, checked when the tables load), how it draws its labels, and its plan:
which answers it gives, in which order, and the meta-instruction that says so. Every choice is
drawn from the generator it is given, so a plan can be replayed (see :mod:`mosaicit.plan.seeds`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, Protocol

from mosaicit.plan.labels import draw_format_meta, draw_numbering, draw_tags
from mosaicit.plan.tables.check import Checker
from mosaicit.plan.tables.slots import Tables
from mosaicit.render.edits import AnswerFacts
from mosaicit.types.edits import Edit
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Numbering, Tags

#: The registered strategies by name, in the order of their ``rank``.
REGISTRY: dict[str, Strategy] = {}

#: What a tie leaves open (:class:`Tie`): the order of the tied answers, or which of them are skipped.
ORDER_TIE, SKIP_TIE = "order", "skip"


class Tie(NamedTuple):
    """What a rule says nothing about: among instructions with equal ``key`` (of their features),
    the order of their answers (``what`` is :data:`ORDER_TIE`: the rule sorts by ``key``) or which
    of them are skipped (:data:`SKIP_TIE`: the rule skips the first ones ranked by ``key``).
    ``mosaicit eval`` accepts every choice a tie allows."""

    what: str
    key: Callable[[PromptFeatures], Any]


class Options(Protocol):
    """What a strategy reads of a run's options (a :class:`~mosaicit.plan.config.MosaicConfig`, which
    stands above the strategies: it asks the registry which strategies, rules and mixes exist)."""

    @property
    def no_numbering_rate(self) -> float: ...
    @property
    def tag_rate(self) -> float: ...
    @property
    def generic_meta_rate(self) -> float: ...


class Strategy:
    """One strategy. Subclass it in a module of :mod:`mosaicit.plan.strategies` and decorate
    the class with :func:`register`, or name the subclass in another package's
    ``mosaicit.strategies`` entry point (:mod:`mosaicit.plan.strategies.plugins`).

    ``rank`` orders the strategies in the weighted draw: a new strategy takes the next free rank
    (changing an existing rank changes the output of a seed). A strategy with ``rules`` answers
    differently from plain Format: a mosaic draws one of its rules, and it falls back to Format
    when none is allowed or the mosaic holds one record. ``numbered_rules`` name instruction
    numbers, so they are drawn only with visible numbering; ``rules_option`` is the
    :class:`~mosaicit.plan.config.MosaicConfig` field that chooses among the rules (all when None; its
    default is every rule, :func:`~mosaicit.plan.strategies.option_rules`). ``mixes`` names the
    mixes (``--mix``) it takes part in, with weight 1.
    ``section`` is its own top-level slot of the tables, read by :meth:`load_table`.
    ``effects`` says what its rules do to the answers (:data:`~mosaicit.plan.tables.effects.SKIPS`,
    :data:`~mosaicit.plan.tables.effects.REORDERS`): the Format layer draws no wording that says
    otherwise, and the tables are checked against them when they load.
    """

    name: ClassVar[str]
    rank: ClassVar[int]
    rules: ClassVar[tuple[str, ...]] = ()
    numbered_rules: ClassVar[frozenset[str]] = frozenset()
    rules_option: ClassVar[str | None] = None
    mixes: ClassVar[tuple[str, ...]] = ()
    section: ClassVar[str | None] = None
    effects: ClassVar[frozenset[str]] = frozenset()
    #: True for a strategy that rewrites answers (:meth:`edit`) instead of choosing which to give.
    edits_answers: ClassVar[bool] = False
    #: For a strategy from another package (:mod:`mosaicit.plan.strategies.plugins`): its
    #: section's data when the tables have none, as a mapping or as ``"package:file.yaml"``
    #: (a YAML or JSON file of that package's data).
    default_table: ClassVar[Any] = None
    #: Modules that register the strategy's ``eval`` checks (:func:`mosaicit.eval.checks.register`),
    #: imported when :mod:`mosaicit.eval` loads. The checks of every plan (instructions, order,
    #: skips, labels, tags, content) need none: they read the plan's ``answer_order`` and ``skipped``.
    eval_checks: ClassVar[tuple[str, ...]] = ()
    #: The rules that rank instructions by a key that can tie, by rule (see :class:`Tie`).
    tie_keys: ClassVar[Mapping[str, Tie]] = {}

    @property
    def monotone(self) -> bool:
        """True when a mosaic's count can only grow with each record (no rule reorders or skips)."""
        return not self.rules

    def chosen_rules(self, config: Options) -> tuple[str, ...]:
        """The rules the run may use."""
        return getattr(config, self.rules_option) if self.rules_option else self.rules

    def allowed_rules(self, numbered: bool, config: Options) -> list[str]:
        """The rules a mosaic may use: numbered rules only when labels are visible."""
        return [r for r in self.chosen_rules(config) if numbered or r not in self.numbered_rules]

    def draw_labels(
        self, rng: random.Random, config: Options, tables: Tables
    ) -> tuple[Numbering | None, Tags | None, str | None]:
        """The numbering, tags and format meta-instruction of a mosaic (the Format layer)."""
        numbering = None if rng.random() < config.no_numbering_rate else draw_numbering(rng, tables)
        tags = draw_tags(rng, tables) if rng.random() < config.tag_rate else None
        meta = draw_format_meta(rng, tables.format_choices(self.effects), tags, config.generic_meta_rate)
        return numbering, tags, meta

    def load_table(self, check: Checker) -> Any:
        """This strategy's own slots of the tables, validated (None when it has none)."""
        return None

    def rule_wordings(self, rule: str, table: Any) -> Sequence[tuple[str, tuple[str, ...]]]:
        """The slots ``rule``'s meta-instruction is drawn from, by dotted name, with their wordings."""
        return ()

    def slot_counts(self, table: Any) -> dict[str, int]:
        """How many variants each of its slots has, by dotted slot name."""
        return {}

    def apply(
        self,
        rule: str,
        prompts: Sequence[PromptFeatures],
        mask_ratio: float,
        rng: random.Random,
        table: Any,
    ) -> tuple[list[int], list[int], str]:
        """For ``rule``: the answered positions in answer order, the skipped positions
        (ascending) and the meta-instruction; positions are 0-based in instruction order."""
        raise NotImplementedError(f"strategy {self.name} has no rules")

    def edit(
        self,
        rule: str,
        answers: Sequence[AnswerFacts],
        marks: str,
        rng: random.Random,
        table: Any,
    ) -> tuple[list[tuple[int, Edit]], str | None]:
        """For a strategy that :attr:`edits_answers`: the rules drawn for some answers, as
        ``(position, edit)`` pairs (positions 0-based in instruction order), and the
        meta-instruction that states them (None, with no pairs, when no answer takes a rule).
        ``marks`` is the text of the labels and tags put around the answers."""
        raise NotImplementedError(f"strategy {self.name} does not edit answers")


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: add a strategy to the registry (names and ranks must be new)."""
    add_strategy(REGISTRY, cls)
    return cls


def add_strategy(registry: dict[str, Strategy], cls: type[Strategy]) -> None:
    """Add an instance of ``cls`` to ``registry``, kept in the order of the ranks."""
    if cls.name in registry or any(s.rank == cls.rank for s in registry.values()):
        raise ValueError(f"strategy {cls.name!r} (rank {cls.rank}) clashes with a registered one")
    registry[cls.name] = cls()
    ordered = sorted(registry.values(), key=lambda s: s.rank)
    registry.clear()
    registry.update((s.name, s) for s in ordered)
