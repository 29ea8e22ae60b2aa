"""Measure one system-prompt group's records, then compose them: the in-memory middle of a run.

The steps (:mod:`mosaicit.run.steps`) are outer and call :class:`Run` group by group; a
:class:`Run` hands its units of work (a batch to measure, an epoch to compose) to its executor
(:mod:`mosaicit.run.executors`), which is inner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mosaicit.budget.budget import Budget, Measured, PieceCounts
from mosaicit.budget.cache import CountCache
from mosaicit.budget.tokens import TokenCounter
from mosaicit.errors import MosaicitError
from mosaicit.plan.compose import Composer, split_usable
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.seeds import group_seed
from mosaicit.plan.tables.loader import Tables
from mosaicit.render.templates import BareTemplate, Template
from mosaicit.run.executors import Executor, executor_for
from mosaicit.run.shards import ComposeJob, KeyOf, WritePart, plan_units
from mosaicit.run.store import take
from mosaicit.types.records import Record, Reject, Sample


def _same(sample: Sample) -> Sample:
    return sample


@dataclass
class Run:
    """One configured mosaicking run over in-memory records, group by group; ``workers`` is a
    number of processes or an :class:`~mosaicit.run.executors.Executor`. Each epoch is composed as
    ``shards`` units (:mod:`mosaicit.run.shards`); ``key_of`` gives the records' stable keys (needed
    when ``shards`` > 1). With ``write_part`` each unit writes its samples as its own part file
    where it is composed, and :meth:`compose` yields only what each write returns."""

    config: MosaicConfig
    counter: TokenCounter
    tables: Tables
    template: Template = field(default_factory=BareTemplate)
    workers: int | Executor = 1
    cache: CountCache | None = None
    shards: int = 1
    key_of: KeyOf | None = None
    write_part: WritePart | None = None

    def __post_init__(self) -> None:
        self.budget = Budget(self.counter, self.config.max_length)
        self.composer = Composer(self.config, self.budget, self.tables, self.template)
        self.executor = executor_for(self.workers)
        self.rejects: list[Reject] = []
        self.usable = 0
        #: Usable records by their token count as a plain sample (each record alone, unmosaicked).
        self.plain_tokens: Counter[int] = Counter()

    def measure(
        self,
        records: Sequence[Record],
        on_count: Callable[[int], None] | None = None,
        on_compose: Callable[[int], None] | None = None,
    ) -> tuple[list[Measured], list[int], list[Reject]]:
        """The measure step for one group: every record's counts (the executor's ``count``, see
        :meth:`mosaicit.run.executors.base.Executor.count`), the records that fit the
        budget alone, and a reject for each one that does not (ticked as composed: ``on_compose``).

        Whether a record fits alone is found batch by batch, while the executor measures the
        batches after it (in other processes, this work is no longer a step of its own)."""
        alone: list[int | None] = [None] * len(records)

        def check(start: int, end: int, counts: PieceCounts) -> None:
            for i in range(start, end):
                alone[i] = self.composer.single_fits(i, records, counts)

        counts = self.executor.count(self.budget, records, on_count, self.cache, check)
        usable, over = split_usable(self.composer, records, counts, self.plain_tokens, alone)
        if on_compose and over:  # records that take no part still count as composed, for progress
            on_compose(len(over) * self.config.epochs)
        self.usable += len(usable)
        return counts, usable, over

    def count_conversations(
        self,
        items: Sequence[Any],
        render: Callable[[Any], Sequence[str]],
        on_count: Callable[[int], None] | None = None,
    ) -> list[int]:
        """The real token count of each item, the sum of the texts ``render`` makes of it (a
        passthrough conversation under the template): counted by the executor, through the
        cache (see :meth:`mosaicit.run.executors.base.Executor.count_conversations`)."""
        return self.executor.count_conversations(self.budget, items, render, on_count, self.cache)

    def compose(
        self,
        records: Sequence[Record],
        counts: PieceCounts,
        usable: Sequence[int],
        group: int = 0,
        on_compose: Callable[[int], None] | None = None,
        finish: Callable[[Sample], Any] = _same,
    ) -> Iterator[Any]:
        """The compose step for one group: every epoch's mosaics, each (epoch, shard) a unit of the
        executor (:func:`mosaicit.run.shards.plan_units`)."""
        seed = group_seed(self.config.seed, group)
        key_of = self.key_of if self.shards > 1 else None
        if self.shards > 1 and key_of is None:
            raise MosaicitError("sharding needs the records' stable keys (Run.key_of)")
        keys = [key_of(r.index, r.turn) for r in take(records, usable)] if key_of else None
        units = plan_units(group, seed, self.config.epochs, self.shards, usable, keys, self.config.seed)
        del keys
        job = ComposeJob(self.composer, records, counts, usable, units, finish, key_of, self.write_part)
        yield from self.executor.compose(job, on_compose)

    def samples(
        self,
        records: Sequence[Record],
        on_count: Callable[[int], None] | None = None,
        on_compose: Callable[[int], None] | None = None,
        group: int = 0,
        finish: Callable[[Sample], Any] = _same,
    ) -> Iterator[Any]:
        """Measure, set aside what cannot fit alone (in :attr:`rejects`), then yield every epoch's
        mosaics.

        ``records`` are indexed by position: a record's ``index`` is its input position,
        which provenance reports. ``group`` numbers the system-prompt groups of one run:
        each group after the first is composed with its own seed. The samples and their order
        are the same for every executor. ``finish`` turns each sample into what is yielded
        (an encoded output row, say); it runs where the sample is composed.
        """
        counts, usable, over = self.measure(records, on_count, on_compose)
        self.rejects.extend(over)
        yield from self.compose(records, counts, usable, group, on_compose, finish)

    def grouped(
        self,
        groups: Iterable[Sequence[Record]],
        on_count: Callable[[int], None] | None = None,
        on_compose: Callable[[int], None] | None = None,
        finish: Callable[[Sample], Any] = _same,
    ) -> Iterator[Any]:
        """Yield the samples of each system-prompt group in turn, each group with its own seed
        (``finish``: see :meth:`samples`)."""
        for group, members in enumerate(groups):
            yield from self.samples(members, on_count, on_compose, group, finish)
