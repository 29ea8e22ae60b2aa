"""Executors: where the units of work of a run are done. The steps (:mod:`mosaicit.run.steps`) are
the outer orchestration; an executor is the inner one, and runs the same two kinds of unit
whatever it is:

- **measure one batch**: :class:`MeasureUnit` ``(start, end)``, records ``start:end`` of one
  system-prompt group, measured by a ``Callable[[int, int], Measurement]``
  (:func:`mosaicit.run.groups.measure_range` bound to the group's budget, records and cache);
- **compose one unit**: :class:`~mosaicit.shards.ComposeUnit` ``(group, epoch, shard)``: one pass
  over one shard of one group's usable records (all of them unsharded), by
  :func:`mosaicit.shards.compose_unit` with the group's composer and the unit's seed.

Every executor yields the results **in the order of the units given**, whatever order they are
done in, so that the output is the same bytes for every executor and number of workers. A
unit's randomness comes only from its seed (group, epoch), never from where it runs.

An executor has three methods: :meth:`Executor.runs_elsewhere` (``units`` units would be done
in other processes: the caller then flushes spooled records and merges cache tallies),
:meth:`Executor.measure` and :meth:`Executor.compose`. Today's executors:

- :class:`LocalExecutor`: one process, the caller's;
- :class:`WorkersExecutor`: a pool of forked processes on this machine
  (:mod:`mosaicit.run.workers`), which share the parent's memory;
- :class:`mosaicit.run.ray_executor.RayExecutor`: a Ray cluster (its own module: it also reads the
  input with Ray Data and counts with Ray actors, see docs/architecture.md).

A new executor is one more class with these three methods. ``key_of`` (sharded runs) gives each
sample's provenance its records' stable keys (:mod:`mosaicit.shards`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mosaicit.budget.budget import PieceCounts
from mosaicit.plan.compose import Composer
from mosaicit.records import Record, Sample
from mosaicit.run.workers import can_fork, compose_parallel, map_parallel
from mosaicit.shards import ComposeUnit, KeyOf, compose_unit

__all__ = ["ComposeUnit", "Executor", "LocalExecutor", "MeasureUnit", "WorkersExecutor", "executor_for"]

T = TypeVar("T")
M = TypeVar("M")


@dataclass(frozen=True)
class MeasureUnit:
    """Measure records ``start:end`` of one group."""

    start: int
    end: int


class Executor(Protocol):
    """Does units of work and yields their results in the order of the units."""

    def runs_elsewhere(self, units: int) -> bool:
        """True if ``units`` units would be done in other processes than this one."""
        ...

    def measure(self, measure: Callable[[int, int], M], units: Sequence[MeasureUnit]) -> Iterator[M]:
        """``measure(unit.start, unit.end)`` for each unit, in order."""
        ...

    def compose(
        self,
        composer: Composer,
        records: Sequence[Record],
        counts: PieceCounts,
        usable: Sequence[int],
        units: Sequence[ComposeUnit],
        progress: Callable[[int], None] | None,
        finish: Callable[[Sample], T],
        key_of: KeyOf | None = None,
    ) -> Iterator[T]:
        """``finish(sample)`` for each unit's samples, unit by unit; ``composer.tally`` counts them all."""
        ...


class LocalExecutor:
    """Every unit in this process, one after the other."""

    def runs_elsewhere(self, units: int) -> bool:
        """Never."""
        return False

    def measure(self, measure: Callable[[int, int], M], units: Sequence[MeasureUnit]) -> Iterator[M]:
        """Measure each unit here."""
        return (measure(u.start, u.end) for u in units)

    def compose(
        self,
        composer: Composer,
        records: Sequence[Record],
        counts: PieceCounts,
        usable: Sequence[int],
        units: Sequence[ComposeUnit],
        progress: Callable[[int], None] | None,
        finish: Callable[[Sample], T],
        key_of: KeyOf | None = None,
    ) -> Iterator[T]:
        """Compose each unit here."""
        for unit in units:
            yield from map(finish, compose_unit(composer, unit, records, counts, usable, progress, key_of))


@dataclass(frozen=True)
class WorkersExecutor:
    """Units in up to ``workers`` forked processes when there are several units (one process where
    fork is missing): see :mod:`mosaicit.run.workers`."""

    workers: int

    def runs_elsewhere(self, units: int) -> bool:
        """True when there are several units, several workers, and fork."""
        return self.workers > 1 and units > 1 and can_fork()

    def measure(self, measure: Callable[[int, int], M], units: Sequence[MeasureUnit]) -> Iterator[M]:
        """Measure the units in the pool."""
        if not self.runs_elsewhere(len(units)):
            return LocalExecutor().measure(measure, units)
        return map_parallel(measure, [(u.start, u.end) for u in units], self.workers)

    def compose(
        self,
        composer: Composer,
        records: Sequence[Record],
        counts: PieceCounts,
        usable: Sequence[int],
        units: Sequence[ComposeUnit],
        progress: Callable[[int], None] | None,
        finish: Callable[[Sample], T],
        key_of: KeyOf | None = None,
    ) -> Iterator[T]:
        """Compose the units in the pool."""
        if not self.runs_elsewhere(len(units)):
            return LocalExecutor().compose(composer, records, counts, usable, units, progress, finish, key_of)
        return compose_parallel(
            composer, records, counts, usable, units, self.workers, progress, finish, key_of
        )


def executor_for(workers: int | Executor) -> Executor:
    """The executor for ``workers`` processes (1: :class:`LocalExecutor`), or ``workers`` itself."""
    if isinstance(workers, int):
        return WorkersExecutor(workers) if workers > 1 else LocalExecutor()
    return workers
