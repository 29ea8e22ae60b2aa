"""Passing conversations through unmosaicked: each one's rows with their token counts and
provenance, what is over the budget following ``--over-budget`` (:mod:`mosaicit.run.overbudget`),
and the :class:`Outcome` of writing that the summary reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, NamedTuple

from mosaicit.errors import MosaicitError, RecordError
from mosaicit.io.formats import Conversation, with_meta
from mosaicit.io.shapes import shape_of, to_row
from mosaicit.render.templates import Template
from mosaicit.run.accounting import Ledger
from mosaicit.run.counting import AtLeast, least_far_over
from mosaicit.run.groups import Run
from mosaicit.run.overbudget import cut
from mosaicit.types.plan import Plan
from mosaicit.types.records import Record, Reject


@dataclass
class Outcome:
    """What writing found: mosaics and passthrough rows written, the conversations over the
    budget, the rejects made while passing through, and the records to pass through unbudgeted."""

    mosaics: int = 0
    passthrough: int = 0
    passthrough_tokens: int = 0
    passthrough_max: int = 0
    over_budget: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unbudgeted: list[Record] = field(default_factory=list)
    passthrough_lengths: Counter[int] = field(default_factory=Counter)


@dataclass
class Passing:
    """The rows of what is passed through, with their token counts; what is over the budget
    follows ``policy`` (``--over-budget``, :mod:`mosaicit.run.overbudget`), its rejects go to
    ``done.rejects`` and each record's outcome to ``ledger``; ``split``: ``--conversations split``."""

    run: Run
    shape: str
    meta: bool
    done: Outcome
    ledger: Ledger
    policy: str
    split: bool

    def rows(
        self, items: list[tuple[Conversation, str]], on_count: Callable[[int], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The passthrough rows, in input order, except that the first row of a multi-turn
        conversation in a shape whose rows then hold a column more (``multi_turn_column``: Alpaca's
        ``history``) and the first holding an ``id`` lead, so that the file's first rows show every
        column's type (see :mod:`mosaicit.io.schema`). Every conversation is counted first,
        through the count cache (``on_count`` ticks them)."""
        render = partial(passthrough_texts, self.run.template)
        tokens = self.run.count_conversations([conv for conv, _ in items], render, on_count)
        made: dict[int, list[tuple[Conversation, dict[str, Any]]]] = {}

        def rows_at(i: int) -> list[tuple[Conversation, dict[str, Any]]]:
            if i not in made:
                made[i] = self.of(*items[i], tokens[i])
            return made[i]

        lead: list[tuple[int, int]] = []
        for wants in self.leading():
            found = next(
                ((i, k) for i, (c, _) in enumerate(items) if wants(c)
                 for k, (part, _) in enumerate(rows_at(i)) if wants(part)),
                None,
            )  # fmt: skip
            if found is not None and found not in lead:
                lead.append(found)
        for i, k in lead:
            yield made[i][k][1]
        for i in range(len(items)):
            rows = made.pop(i) if i in made else rows_at(i)
            made.pop(i, None)
            yield from (row for k, (_, row) in enumerate(rows) if (i, k) not in lead)

    def leading(self) -> list[Callable[[Conversation], bool]]:
        """What the rows that lead the passthrough rows hold, in order (see :meth:`rows`): a
        multi-turn part in a shape whose rows then hold a column more, and an ``id``."""
        sparse = shape_of(self.shape).multi_turn_column
        return [lambda c: bool(sparse and c.multi_turn), lambda c: c.meta.get("id") is not None]

    def block(self, items: list[tuple[Conversation, str]]) -> PassBlock:
        """The passthrough rows of ``items`` (one part of a larger input: one file of it) in input
        order, and where the first row that each of :meth:`leading` wants is among them: the
        whole input's rows are then :func:`in_order`."""
        render = partial(passthrough_texts, self.run.template)
        tokens = self.run.count_conversations([conv for conv, _ in items], render)
        rows: list[dict[str, Any]] = []
        wanted = self.leading()
        leads: list[int | None] = [None] * len(wanted)
        for i, item in enumerate(items):
            for part, row in self.of(*item, tokens[i]):
                for k, wants in enumerate(wanted):
                    if leads[k] is None and wants(part):
                        leads[k] = len(rows)
                rows.append(row)
        return PassBlock(rows, tuple(leads))

    def count(self, conv: Conversation, start: int = 0, end: int | None = None, exact: bool = True) -> int:
        """The real count of exchanges ``start`` to ``end - 1`` of ``conv``, rendered as one
        conversation; unless ``exact``, an :class:`AtLeast` where the counter's lower bound puts
        them at over twice the budget (then they are not tokenized: a 100 MB exchange takes
        minutes and gigabytes)."""
        try:
            texts = passthrough_texts(self.run.template, _part(conv, start, end))
            least = None if exact else least_far_over(self.run.budget, texts)
            return AtLeast(least) if least is not None else self.run.budget.count_texts(texts)
        except MosaicitError as exc:
            raise RecordError(conv.index, str(exc)) from None

    def of(self, conv: Conversation, why: str, tokens: int) -> list[tuple[Conversation, dict[str, Any]]]:
        """The rows of one conversation passed through (``tokens``: its count), each with the part
        of it that it holds: the whole conversation when it fits the budget, else what the policy
        makes of it."""
        if self.run.budget.fits(tokens):
            self.ledger.passed(conv.index, "whole")
            return [self.row(conv, why, tokens)]
        self.done.over_budget += 1
        limit = self.run.budget.max_length
        if self.policy == "pass":
            self.ledger.passed(conv.index, "unbudgeted")
            exact = self.count(conv) if isinstance(tokens, AtLeast) else tokens  # (its row says it)
            return [self.row(conv, why, exact, over="pass")]
        if self.policy == "reject" or not conv.multi_turn:
            least = "at least " if isinstance(tokens, AtLeast) else ""
            detail = f"{least}{tokens} tokens > max_length {limit}"
            self.reject(conv, "over_budget", detail)
            return []
        alone = [self.count(conv, i, i + 1, exact=False) for i in range(len(conv.turns))]
        users = [user for user, _ in conv.turns]
        cuts = cut(users, partial(self.count, conv), limit, alone, trim=self.policy == "trim")
        for turn, reason, detail in cuts.rejected:
            self.reject(conv, reason, detail, turn)
        rows = []
        for start, end, run_tokens in cuts.runs:
            part = _part(conv, start, end)
            rows.append(self.row(part, why, run_tokens, self.policy, list(range(start, end))))
        if rows:
            self.ledger.passed(conv.index, "split" if self.policy == "split" else "trimmed")
        return rows

    def unbudgeted(self, record: Record) -> dict[str, Any]:
        """The row of a record that cannot fit the budget alone, passed through (``--over-budget pass``)."""
        meta = {} if record.id is None else {"id": record.id}
        conv = Conversation(
            record.index, ((record.instruction, record.output),), record.system, record.input, meta
        )
        why = "multi_turn" if record.turn is not None else "with_system" if record.system else "single_turn"
        self.ledger.passed(record.index, "unbudgeted")
        turns = None if record.turn is None else [record.turn]
        return self.row(conv, why, self.count(conv), "pass", turns)[1]

    def reject(self, conv: Conversation, reason: str, detail: str, turn: int | None = None) -> None:
        """Reject ``conv`` (or its exchange ``turn``) for ``reason``."""
        raw = to_row(conv, "messages")
        self.done.rejects.append(Reject(conv.index, reason, raw, detail, conv.meta.get("id"), turn))

    def row(
        self,
        conv: Conversation,
        why: str,
        tokens: int,
        over: str | None = None,
        turns: list[int] | None = None,
    ) -> tuple[Conversation, dict[str, Any]]:
        """``conv`` as an output row with its provenance (see :func:`passthrough_provenance`)."""
        done, run = self.done, self.run
        done.passthrough += 1
        done.passthrough_tokens += tokens
        done.passthrough_max = max(done.passthrough_max, tokens)
        done.passthrough_lengths[tokens] += 1
        provenance = passthrough_provenance(conv, why, tokens, self.split)
        if turns is not None:
            provenance["turns"] = turns
        if over is not None:
            provenance["over_budget"] = over
        if run.shards > 1 and run.key_of is not None:  # the same keys as a sharded run's mosaics
            first = turns[0] if turns else 0
            provenance.update(
                shard=None, keys=[run.key_of(conv.index, first if self.split or first else None)]
            )
        row = to_row(
            with_meta(conv, mosaic=provenance, count=conv.meta.get("count", 1)), self.shape, self.meta
        )
        return conv, row


class PassBlock(NamedTuple):
    """One part's passthrough rows, in input order, and the position among them of the first row
    that each of :meth:`Passing.leading` wants (None: none)."""

    rows: list[dict[str, Any]]
    leads: tuple[int | None, ...]


def in_order(
    leads: Sequence[Sequence[int | None]], block: Callable[[int], Sequence[dict[str, Any]]]
) -> Iterator[dict[str, Any]]:
    """The passthrough rows of a whole input from its parts' blocks, as :meth:`Passing.rows`
    orders them: ``leads`` are each block's :attr:`PassBlock.leads` and ``block(i)`` gives block
    ``i``'s rows (each asked for once in order, but for the blocks of leading rows, first)."""
    first: list[tuple[int, int]] = []
    for k in range(max((len(found) for found in leads), default=0)):
        at = next(((b, found[k]) for b, found in enumerate(leads) if found[k] is not None), None)
        if at is not None and at not in first:
            first.append(at)  # type: ignore[arg-type]
    held: dict[int, Sequence[dict[str, Any]]] = {}
    for b, k in first:
        held.setdefault(b, block(b))
        yield held[b][k]
    for b in range(len(leads)):
        rows = held.pop(b) if b in held else block(b)
        yield from (row for k, row in enumerate(rows) if (b, k) not in first)


def _part(conv: Conversation, start: int = 0, end: int | None = None) -> Conversation:
    """Exchanges ``start`` to ``end - 1`` of ``conv`` as a conversation (the Alpaca context kept
    with the last exchange)."""
    stop = len(conv.turns) if end is None else end
    if (start, stop) == (0, len(conv.turns)):
        return conv
    return replace(conv, turns=conv.turns[start:stop], input=conv.input if stop == len(conv.turns) else "")


def passthrough_texts(template: Template, conv: Conversation) -> list[str]:
    """The texts a passthrough conversation counts under ``template`` (their counts are summed)."""
    turns = [(conv.user_text(i), answer) for i, (_, answer) in enumerate(conv.turns)]
    return template.conversation(conv.system, turns)


def passthrough_provenance(conv: Conversation, why: str, tokens: int, split: bool) -> dict[str, Any]:
    """The ``mosaic`` object of a passthrough row: the same keys and types as a mosaic's.

    ``strategy`` is ``"passthrough"`` and ``rule`` says why (``multi_turn``, ``with_system``);
    the other plan fields are null. A row that the budget touched (:mod:`mosaicit.run.overbudget`)
    also has ``over_budget`` (``split``, ``trim`` or ``pass``: what was done) and ``turns`` (the
    conversation's exchanges it holds). Same keys as the mosaics, so that loaders which fix a
    schema from the first rows (``datasets.load_dataset("json")``) read the whole file.
    """
    # a plan's keys as Plan.to_dict writes them: no ``edits`` (only a rules mosaic has them)
    provenance: dict[str, Any] = dict.fromkeys(k for k in Plan.__dataclass_fields__ if k != "edits")
    provenance.update(strategy="passthrough", rule=why, sources=[conv.index])
    provenance.update(answer_order=[conv.index], skipped=[])
    if conv.meta.get("id") is not None:
        provenance["ids"] = [conv.meta["id"]]
    if split:
        provenance["turns"] = [0]
    provenance.update(tokens=tokens, epoch=None)
    return provenance
