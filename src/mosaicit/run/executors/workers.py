"""The ``workers`` executor: units in a pool of forked processes on this machine, which share the
parent's memory (the pool: :mod:`mosaicit.run.workers`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from mosaicit.run.counting import MeasureUnit
from mosaicit.run.executors.base import Executor
from mosaicit.run.shards import ComposeJob
from mosaicit.run.workers import CoreLook, can_fork, compose_parallel, map_parallel

M = TypeVar("M")


class WorkersExecutor(Executor):
    """Units in up to ``workers`` forked processes when there are several units (this process
    where fork is missing). ``workers`` None: the CPUs that other work leaves free, watched from
    here until the first units are handed out (:class:`~mosaicit.run.workers.CoreLook`)."""

    name = "workers"

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers
        self._look = CoreLook() if workers is None else None

    @classmethod
    def open(cls, workers: int | None, options: Any) -> WorkersExecutor:
        """A pool of ``workers`` processes (None: the free CPUs); it declares no ``options``."""
        return cls(workers)

    @property
    def workers(self) -> int:  # type: ignore[override]
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
            return super().measure(measure, units)
        return map_parallel(measure, [(u.start, u.end) for u in units], self.workers)

    def compose(self, job: ComposeJob, progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """Compose the units in the pool."""
        if not self.runs_elsewhere(len(job.units)):
            return super().compose(job, progress)
        return compose_parallel(job, self.workers, progress)
