"""Executors: where the units of work of a run are done. The steps (:mod:`mosaicit.run.steps`) are
the outer orchestration; an executor is the inner one, and runs the same two kinds of unit
whatever it is:

- **measure one batch**: :class:`MeasureUnit` ``(start, end)``, records ``start:end`` of one
  system-prompt group, measured by a ``Callable[[int, int], Measurement]``
  (:func:`mosaicit.run.groups.measure_range` bound to the group's budget, records and cache);
- **compose one unit**: :class:`~mosaicit.run.shards.ComposeUnit` ``(group, epoch, shard)``: one pass
  over one shard of one group's usable records (all of them unsharded), by
  :func:`mosaicit.run.shards.unit_results` with the group's composer and the unit's seed. What a
  group's units share (composer, records, counts, usable, units, finish, keys, part writer) is
  one frozen :class:`~mosaicit.run.shards.ComposeJob`.

Every executor yields the results **in the order of the units given**, whatever order they are
done in, so that the output is the same bytes for every executor and number of workers. A
unit's randomness comes only from its seed (group, epoch), never from where it runs.

An executor has three methods: :meth:`Executor.runs_elsewhere` (``units`` units would be done
in other processes: the caller then flushes spooled records and merges cache tallies),
:meth:`Executor.measure` and :meth:`Executor.compose`. Today's executors:

- :class:`LocalExecutor`: one process, the caller's;
- :class:`WorkersExecutor`: a pool of forked processes on this machine
  (:mod:`mosaicit.run.workers`), which share the parent's memory;
- :class:`mosaicit.run.executors.ray.RayExecutor`: a Ray cluster (its own module: it also reads the
  input with Ray Data and counts with Ray actors, see docs/architecture.md).

A new executor is one more class with these three methods. The job's ``key_of`` (sharded runs)
gives each sample's provenance its records' stable keys, and its ``write_part`` (sharded output)
writes each unit's part file where the unit is composed (:mod:`mosaicit.run.shards`,
:mod:`mosaicit.io.parts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mosaicit.run.shards import ComposeJob, ComposeUnit, unit_results
from mosaicit.run.workers import CoreLook, can_fork, compose_parallel, map_parallel

__all__ = [
    "ComposeJob",
    "ComposeUnit",
    "Executor",
    "LocalExecutor",
    "MeasureUnit",
    "WorkersExecutor",
    "executor_for",
]

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

    def compose(self, job: ComposeJob, progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """What each of ``job.units`` yields (:func:`~mosaicit.run.shards.unit_results`), unit by unit;
        ``job.composer.tally`` counts every sample."""
        ...


class LocalExecutor:
    """Every unit in this process, one after the other."""

    def runs_elsewhere(self, units: int) -> bool:
        """Never."""
        return False

    def measure(self, measure: Callable[[int, int], M], units: Sequence[MeasureUnit]) -> Iterator[M]:
        """Measure each unit here."""
        return (measure(u.start, u.end) for u in units)

    def compose(self, job: ComposeJob, progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """Compose each unit here."""
        for unit in job.units:
            yield from unit_results(job, unit, progress)


class WorkersExecutor:
    """Units in up to ``workers`` forked processes when there are several units (one process where
    fork is missing): see :mod:`mosaicit.run.workers`. ``workers`` None: the CPUs that other work
    leaves free, watched from here until the first units are handed out (:class:`CoreLook`)."""

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers
        self._look = CoreLook() if workers is None else None

    @property
    def workers(self) -> int:
        """How many processes at most."""
        if self._workers is None:
            assert self._look is not None
            self._workers = self._look.free()
        return self._workers

    def runs_elsewhere(self, units: int) -> bool:
        """True when there are several units, several workers, and fork."""
        return self.workers > 1 and units > 1 and can_fork()

    def measure(self, measure: Callable[[int, int], M], units: Sequence[MeasureUnit]) -> Iterator[M]:
        """Measure the units in the pool."""
        if not self.runs_elsewhere(len(units)):
            return LocalExecutor().measure(measure, units)
        return map_parallel(measure, [(u.start, u.end) for u in units], self.workers)

    def compose(self, job: ComposeJob, progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """Compose the units in the pool."""
        if not self.runs_elsewhere(len(job.units)):
            return LocalExecutor().compose(job, progress)
        return compose_parallel(job, self.workers, progress)


def executor_for(workers: int | None | Executor) -> Executor:
    """The executor for ``workers`` processes (1: :class:`LocalExecutor`; None: as many as there
    are free CPUs), or ``workers`` itself."""
    if workers is None or isinstance(workers, int):
        return LocalExecutor() if workers == 1 else WorkersExecutor(workers)
    return workers
