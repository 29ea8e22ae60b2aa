"""What an executor is: the hooks a run calls, each with the local behaviour as its default.

A run hands an executor its work through these hooks, and asks it nothing else:

- :meth:`Executor.list_inputs` (when the spec is made) and :meth:`Executor.read`: the items of
  the input, ``(file, row, item)``, read here by default;
- :meth:`Executor.count`: every record's token counts, by default in batches that are units of
  :meth:`Executor.measure` (:class:`~mosaicit.run.counting.MeasureUnit`), through the count cache;
- :meth:`Executor.compose`: what each :class:`~mosaicit.run.shards.ComposeUnit` of a group's
  :class:`~mosaicit.run.shards.ComposeJob` yields, by :func:`~mosaicit.run.shards.unit_results`;
- :meth:`Executor.cluster`: a cluster to spread a whole augment run over instead
  (:mod:`mosaicit.run.spread`: each file read, routed and measured by a task of its own, each
  unit composed by a task that receives only its records), as Ray does.

Every hook yields its results **in the order of its units**, whatever order they are done in,
so that the output is the same bytes for every executor and number of workers; a unit's
randomness comes only from its seed (group, epoch), never from where it runs. A subclass
overrides only what it does elsewhere: :meth:`Executor.measure` and :meth:`Executor.compose`
for more processes, :meth:`Executor.read` to read elsewhere too, :meth:`Executor.cluster` to have
a whole augment run spread over a cluster (as Ray does). :meth:`Executor.runs_elsewhere` tells
the caller when units are done in other processes (it then flushes spooled records and merges
the cache's tallies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, NamedTuple, TypeVar

from mosaicit.budget.budget import Budget, Measured
from mosaicit.budget.cache import CountCache
from mosaicit.io.inputs import expand
from mosaicit.io.remote import Remote, has_uri, list_remote, read_files
from mosaicit.io.sources import is_paths, iter_items
from mosaicit.run.counting import (
    CONVERSATION_BATCH,
    MIN_CONVERSATION_BATCH,
    MeasureUnit,
    batch_ranges,
    count_conversations_range,
    measure_range,
)
from mosaicit.run.shards import ComposeJob, unit_results
from mosaicit.run.store import RecordStore
from mosaicit.types.records import Record

M = TypeVar("M")
T = TypeVar("T")
E = TypeVar("E", bound="Executor")


class Listed(NamedTuple):
    """A run's inputs as an executor listed them (:meth:`Executor.list_inputs`): the ``source`` the
    run names in its messages and summary, the key name of each file (see
    :attr:`mosaicit.io.inputs.Expanded.keys`), the ``local`` paths among them (checked against the
    outputs), and what the executor's :meth:`~Executor.read` reads (``found``)."""

    source: Any
    keys: dict[str, str]
    local: Any
    found: Any


@dataclass(frozen=True)
class NoOptions:
    """The options of an executor that declares none."""


class Executor:
    """Where a run's units of work are done: in this process, one unit after the other, unless a
    subclass does them elsewhere. ``name`` is what ``--executor`` and ``RunSpec(executor=...)``
    call it (:func:`mosaicit.run.executors.register`); ``uses_cache``: whether the count cache,
    a file on this machine, serves its counting; ``workers``: how many processes do its units.

    ``options``: the frozen dataclass of the options the executor declares itself, each an
    ``option(...)`` field (:mod:`mosaicit.types.options`), as ``ray_address``; they are options of
    every command that executes and keywords of the API, and :meth:`open` gets their values."""

    name: ClassVar[str] = ""
    uses_cache: ClassVar[bool] = True
    options: ClassVar[type[Any]] = NoOptions
    workers: int = 1

    @classmethod
    def list_inputs(cls, source: Any) -> Listed:
        """When the spec is made: the inputs ``source`` names (paths, globs, folders, ``-``; or
        ``s3://``, ``gs://``, ``hf://`` URIs: :mod:`mosaicit.io.remote`), expanded once (one clear
        error for one that cannot be read), or an in-memory dataset as it is."""
        if not is_paths(source):
            return Listed(source, {}, source, source)
        if has_uri(source):  # URIs: listed through their filesystem, read by read_files
            found, names, local = list_remote(source)
            return Listed(source, names, local, found)
        expanded = expand(source)
        return Listed(expanded, dict(expanded.keys), expanded, expanded)

    @classmethod
    def open(cls: type[E], workers: int | None, options: Any) -> E:
        """The executor of one run with ``workers`` processes (None: as many as the CPUs that
        other work leaves free) and its ``options`` (an instance of :attr:`options`)."""
        return cls()

    def runs_elsewhere(self, units: int) -> bool:
        """True if ``units`` units would be done in other processes than this one."""
        return False

    def cluster(self) -> Any:
        """The cluster an augment run over files is spread on (a
        :class:`mosaicit.run.spread.Cluster`: the records stay in its tasks), or None (here):
        then the run reads here and hands its units to the other hooks."""
        return None

    def read(self, listed: Listed, split: str | None, max_record_mb: int) -> Iterator[tuple[str, int, Any]]:
        """``(file, row, item)`` for every item of the inputs listed, in reading order (``split``:
        of a saved dataset; a JSON record over ``max_record_mb`` MiB is an error), each as read."""
        if isinstance(listed.found, Remote):
            return read_files(listed.found.fs, listed.found.files, max_record_mb)
        return iter_items(listed.found, split, max_record_mb)

    def measure(self, measure: Callable[[int, int], M], units: Sequence[MeasureUnit]) -> Iterator[M]:
        """``measure(unit.start, unit.end)`` for each unit, in order."""
        return (measure(u.start, u.end) for u in units)

    def compose(self, job: ComposeJob, progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """What each of ``job.units`` yields (:func:`~mosaicit.run.shards.unit_results`), unit by
        unit; ``job.composer.tally`` counts every sample."""
        for unit in job.units:
            yield from unit_results(job, unit, progress)

    def count(
        self,
        budget: Budget,
        records: Sequence[Record],
        progress: Callable[[int], None] | None = None,
        cache: CountCache | None = None,
        on_batch: Callable[[int, int, list[Measured]], None] | None = None,
    ) -> list[Measured]:
        """Measure every record, in batches, each batch a unit of :meth:`measure` (the results are
        the same for any executor). New counts are stored in ``cache``; ``progress`` ticks the
        records measured.

        A cache that fails a spot check in any batch is discarded (one warning line), and every
        batch that read counts from it is measured again without it.

        ``on_batch(start, end, counts)`` is called once for each batch, when its counts
        (``counts[start:end]``) are final: here, while the executor measures the batches after it.
        """
        ranges = batch_ranges(len(records), self.workers)
        measured = partial(measure_range, budget, records)

        def shared(part: Any) -> list[Measured]:
            return [budget.shared(m) for m in part.measured]

        return self._batches(records, measured, ranges, shared, progress, cache, on_batch)

    def count_conversations(
        self,
        budget: Budget,
        items: Sequence[Any],
        render: Callable[[Any], Sequence[str]],
        progress: Callable[[int], None] | None = None,
        cache: CountCache | None = None,
    ) -> list[int]:
        """The real token count of each item (see :func:`~mosaicit.run.counting.count_conversations_range`),
        in batches, each a unit of :meth:`measure`; new counts are stored in ``cache``, and
        ``progress`` ticks the items counted. As in :meth:`count`, a cache that fails a spot check
        in any batch is discarded, and every batch that read counts from it is counted again without it."""
        ranges = batch_ranges(len(items), self.workers, CONVERSATION_BATCH, MIN_CONVERSATION_BATCH)
        count = partial(count_conversations_range, budget, items, render)
        return self._batches(items, count, ranges, lambda part: part.totals, progress, cache)

    def _batches(
        self,
        items: Sequence[Any],
        measure_batch: Callable[..., Any],
        ranges: Sequence[MeasureUnit],
        values: Callable[[Any], list[T]],
        progress: Callable[[int], None] | None,
        cache: CountCache | None,
        on_batch: Callable[[int, int, list[T]], None] | None = None,
    ) -> list[T]:
        """The ``values`` of what ``measure_batch(start, end, cache=...)`` finds of each batch of
        ``items`` (``ranges``, each a unit of :meth:`measure`), for :meth:`count` and
        :meth:`count_conversations`: new counts stored in ``cache``, its tallies kept, ``progress``
        ticked; a cache that fails a spot check discarded and every batch that read it measured
        again without it; ``on_batch`` called as :meth:`count` says."""
        elsewhere = self.runs_elsewhere(len(ranges))
        if elsewhere and isinstance(items, RecordStore):
            items.flush()
        out: list[T] = []
        read_cache: list[int] = []  # the batches that took counts from the cache
        wrong = 0
        for i, part in enumerate(self.measure(partial(measure_batch, cache=cache), ranges)):
            got = values(part)
            out.extend(got)
            wrong += part.wrong
            if part.tally[0] and not part.wrong:
                read_cache.append(i)  # its counts are final once every batch has passed its spot check
            elif on_batch:
                on_batch(ranges[i].start, ranges[i].end, out)
            if cache:
                cache.put(part.keys, part.fresh)
                if elsewhere:  # the worker's tallies were kept in its copy of the cache
                    cache.add_tally(part.tally)
            if progress:
                progress(len(got))
        if cache and wrong:
            cache.discard(f"disagrees with the tokenizer on {wrong} spot-checked token count(s)")
            again = self.measure(measure_batch, [ranges[i] for i in read_cache])
            for i, part in zip(read_cache, again, strict=True):
                out[ranges[i].start : ranges[i].end] = values(part)
        for i in read_cache if on_batch else ():
            on_batch(ranges[i].start, ranges[i].end, out)  # type: ignore[misc]
        return out
