"""Measure one system-prompt group's records, then compose them: the in-memory middle of a run.

The steps (:mod:`mosaicit.run.steps`) are outer and call :class:`Run` group by group; a
:class:`Run` hands its units of work (a batch to measure, an epoch to compose) to its executor
(:mod:`mosaicit.run.executors`), which is inner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from mosaicit.budget.budget import Budget, Measured, PieceCounts, TextCounts
from mosaicit.budget.cache import CountCache
from mosaicit.budget.tokens import TokenCounter
from mosaicit.errors import MosaicitError, RecordError
from mosaicit.plan.compose import Composer, split_usable
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.seeds import group_seed, unseeded_rng
from mosaicit.plan.tables.loader import Tables
from mosaicit.render.templates import BareTemplate, Template
from mosaicit.run.executors import Executor, MeasureUnit, executor_for
from mosaicit.run.shards import ComposeJob, KeyOf, WritePart, plan_units
from mosaicit.run.store import RecordStore
from mosaicit.types.features import PromptFeatures
from mosaicit.types.records import Record, Reject, Sample

COUNT_BATCH = 4096
#: Each measure batch of a pool takes 1 / (GUIDED_SHARE x workers) of the records left.
GUIDED_SHARE = 2
#: The smallest measure batch (below it, sending the batch costs more than it saves).
MIN_BATCH = 256
#: Cached counts checked against the tokenizer per batch of records read from the cache.
SPOT_CHECKS = 8
#: The most and the fewest whole conversations counted in one batch (they are long: batches
#: this size keep the progress moving).
CONVERSATION_BATCH, MIN_CONVERSATION_BATCH = 256, 32


def _same(sample: Sample) -> Sample:
    return sample


class Measurement(NamedTuple):
    """What :func:`measure_range` found: the records measured, the counts the cache lacked
    (``keys``, ``fresh``), the cache's hit/miss/ignored tallies for the range, and how many
    spot-checked cached counts were wrong (then every count of the range is a real one)."""

    measured: list[Measured]
    keys: list[bytes]
    fresh: list[int]
    tally: tuple[int, int, int]
    wrong: int = 0


def measure_range(
    budget: Budget, records: Sequence[Record], start: int, end: int, cache: CountCache | None = None
) -> Measurement:
    """Measure ``records[start:end]``: tokenize each prompt and output once, or read its count
    from ``cache`` (new counts are returned, not stored: the caller stores them)."""
    chunk = records[start:end]
    far = far_over(budget, chunk)
    texts = [r.prompt if i not in far else "" for i, r in enumerate(chunk)]
    texts += [r.output if i not in far else "" for i, r in enumerate(chunk)]
    try:
        known, keys, fresh, tally, wrong = _cached_counts(budget, texts, cache, budget.count_many)
    except MosaicitError as exc:  # a text the tokenizer cannot count: name its record
        raise RecordError(_uncountable(budget, chunk), str(exc)) from None
    both = budget.counts_from(texts, known)
    measured = [
        Measured(prompt, output, PromptFeatures.of(record.prompt), record.system)
        for record, prompt, output in zip(chunk, both[: len(chunk)], both[len(chunk) :], strict=True)
    ]
    for i, bounds in far.items():
        measured[i] = at_least(bounds)
    return Measurement(measured, keys, fresh, tally, wrong)


def at_least(bounds: tuple[int, int]) -> Measured:
    """A record far over the budget (see :func:`far_over`) measured as its bounds: over it."""
    prompt, output = bounds
    empty = PromptFeatures.of("")
    return Measured(TextCounts(prompt, prompt, False), TextCounts(output, output, False), empty)


class AtLeast(int):
    """A conversation's count that is a lower bound, found without tokenizing it: over twice
    the budget (see :func:`count_conversations_range`)."""


def _cached_counts(
    budget: Budget, texts: Sequence[str], cache: CountCache | None, count: Callable[[list[str]], list[int]]
) -> tuple[list[int], list[bytes], list[int], tuple[int, int, int], int]:
    """The plain count of every text: read from ``cache`` where it has one that passes the spot
    check, else counted with ``count``. Also the keys and counts the cache lacked (to store),
    the cache's hit/miss/ignored tallies, and how many spot-checked cached counts were wrong
    (then every count is a real one)."""
    keys: list[bytes] = []
    known: list[int | None] = [None] * len(texts)
    tally = (0, 0, 0)
    if cache:
        before = cache.tally()
        keys = cache.keys(texts)
        known = cache.get(keys)
        tally = (cache.hits - before[0], cache.misses - before[1], cache.ignored - before[2])
    wrong = _spot_check(budget, texts, known)
    if wrong:  # the cache lies: count every text for real
        known = [None] * len(texts)
    missing = [i for i, n in enumerate(known) if n is None]
    fresh = count([texts[i] for i in missing]) if missing else []
    for i, n in zip(missing, fresh, strict=True):
        known[i] = n
    return known, [keys[i] for i in missing] if cache else [], fresh, tally, wrong  # type: ignore[return-value]


class Totals(NamedTuple):
    """What :func:`count_conversations_range` found: each conversation's total count, and the
    cache's part as in :class:`Measurement`."""

    totals: list[int]
    keys: list[bytes]
    fresh: list[int]
    tally: tuple[int, int, int]
    wrong: int = 0


def count_conversations_range(
    budget: Budget,
    items: Sequence[Any],
    render: Callable[[Any], Sequence[str]],
    start: int,
    end: int,
    cache: CountCache | None = None,
) -> Totals:
    """The real token count of each of ``items[start:end]``: the sum of the plain counts of the
    texts ``render`` makes of it (an item has an ``index``, which an error names), read from
    ``cache`` where it can be (new counts are returned, not stored). A conversation that the
    counter's lower bound puts at over twice the budget is not tokenized: its total is that
    bound, an :class:`AtLeast`."""
    rendered = [_rendered(render, item) for item in items[start:end]]
    far = {i: least for i, group in enumerate(rendered) if (least := _least(budget, group)) is not None}
    texts = [text for i, group in enumerate(rendered) if i not in far for text in group]
    try:
        known, keys, fresh, tally, wrong = _cached_counts(budget, texts, cache, budget.counter.count_many)
    except MosaicitError as exc:  # a text the tokenizer cannot count: name its conversation
        chunk = items[start:end]
        bad = [
            item
            for i, (item, texts) in enumerate(zip(chunk, rendered, strict=True))
            if i not in far and not _countable(budget, texts)
        ]
        raise RecordError((bad or chunk)[0].index, str(exc)) from None
    totals: list[int] = []
    at = 0
    for i, group in enumerate(rendered):
        if i in far:
            totals.append(AtLeast(far[i]))
            continue
        totals.append(sum(known[at : at + len(group)]))
        at += len(group)
    return Totals(totals, keys, fresh, tally, wrong)


def _least(budget: Budget, texts: Sequence[str]) -> int | None:
    """The counter's lower bound on the total count of ``texts`` where it is over twice the
    budget (they cannot fit, and are not tokenized), else None."""
    least = getattr(budget.counter, "least_tokens", None)
    limit = 2 * budget.max_length
    if least is None or sum(map(len, texts)) <= limit:  # (a bound never exceeds the length)
        return None
    bound = sum(map(least, texts))
    return bound if bound > limit else None


def _rendered(render: Callable[[Any], Sequence[str]], item: Any) -> list[str]:
    try:
        return list(render(item))
    except RecordError:
        raise
    except MosaicitError as exc:
        raise RecordError(item.index, str(exc)) from None


def _countable(budget: Budget, texts: Sequence[str]) -> bool:
    try:
        budget.counter.count_many(list(texts))
    except MosaicitError:
        return False
    return True


def far_over(budget: Budget, records: Sequence[Record]) -> dict[int, tuple[int, int]]:
    """The records (by position) whose texts the counter's lower bound puts at over twice the
    budget, with the bounds of their prompt and output: they cannot fit, and are not tokenized
    (a 100 MB text takes minutes and gigabytes to tokenize)."""
    least = getattr(budget.counter, "least_tokens", None)
    limit = budget.max_length
    if least is None:
        return {}
    far = {}
    for i, record in enumerate(records):
        if len(record.prompt) + len(record.output) > 2 * limit:  # (a bound never exceeds the length)
            bounds = least(record.prompt), least(record.output)
            if sum(bounds) > 2 * limit:
                far[i] = bounds
    return far


def _spot_check(budget: Budget, texts: Sequence[str], known: Sequence[int | None]) -> int:
    """How many of up to :data:`SPOT_CHECKS` cached counts, drawn at random (unpredictably,
    so that a forger cannot tell which), differ from the tokenizer's real counts."""
    cached = [i for i, n in enumerate(known) if n is not None]
    if not cached:
        return 0
    drawn = unseeded_rng().sample(cached, min(SPOT_CHECKS, len(cached)))
    real = budget.counter.count_many([texts[i] for i in drawn])
    return sum(known[i] != n for i, n in zip(drawn, real, strict=True))


def _uncountable(budget: Budget, records: Sequence[Record]) -> int:
    """The index of the first record whose prompt or output cannot be counted."""
    for record in records:
        try:
            budget.count_many([record.prompt, record.output])
        except MosaicitError:
            return record.index
    return records[0].index


def batch_ranges(
    records: int, workers: int, most: int = COUNT_BATCH, least: int = MIN_BATCH
) -> list[MeasureUnit]:
    """The measure batches of ``records`` records for ``workers`` processes (the counts do not
    depend on them): ``most`` (:data:`COUNT_BATCH`) records each for one process; for several,
    batches that shrink as the records run out, each 1 / (:data:`GUIDED_SHARE` x ``workers``) of
    what is left (between ``least``, :data:`MIN_BATCH`, and ``most``), so that the workers finish
    together."""
    ranges, start = [], 0
    while start < records:
        if workers <= 1:
            size = most
        else:
            size = max(least, min(most, -(-(records - start) // (workers * GUIDED_SHARE))))
        ranges.append(MeasureUnit(start, min(start + size, records)))
        start += size
    return ranges


def count_records(
    budget: Budget,
    records: Sequence[Record],
    progress: Callable[[int], None] | None = None,
    cache: CountCache | None = None,
    workers: int | Executor = 1,
    on_batch: Callable[[int, int, list[Measured]], None] | None = None,
) -> list[Measured]:
    """Measure every record, in batches, each batch a unit of the executor (``workers``: a number
    of processes, or an executor; the results are the same). New counts are stored in ``cache``.

    A cache that fails a spot check in any batch is discarded (one warning line), and every
    batch that read counts from it is measured again without it.

    ``on_batch(start, end, counts)`` is called once for each batch, when its counts
    (``counts[start:end]``) are final: here, while the executor measures the batches after it.
    """
    executor = executor_for(workers)
    ranges = batch_ranges(len(records), getattr(executor, "workers", 1))
    elsewhere = executor.runs_elsewhere(len(ranges))
    if elsewhere and isinstance(records, RecordStore):
        records.flush()
    parts = executor.measure(partial(measure_range, budget, records, cache=cache), ranges)
    counts: list[Measured] = []
    read_cache: list[int] = []  # the batches that took counts from the cache
    wrong = 0
    for i, part in enumerate(parts):
        counts.extend(budget.shared(m) for m in part.measured)
        wrong += part.wrong
        if part.tally[0] and not part.wrong:
            read_cache.append(i)  # its counts are final once every batch has passed its spot check
        elif on_batch:
            on_batch(ranges[i].start, ranges[i].end, counts)
        if cache:
            cache.put(part.keys, part.fresh)
            if elsewhere:  # the worker's tallies were kept in its copy of the cache
                cache.add_tally(part.tally)
        if progress:
            progress(len(part.measured))
    if cache and wrong:
        cache.discard(f"disagrees with the tokenizer on {wrong} spot-checked token count(s)")
        again = executor.measure(partial(measure_range, budget, records), [ranges[i] for i in read_cache])
        for i, part in zip(read_cache, again, strict=True):
            counts[ranges[i].start : ranges[i].end] = [budget.shared(m) for m in part.measured]
    for i in read_cache if on_batch else ():
        on_batch(ranges[i].start, ranges[i].end, counts)  # type: ignore[misc]
    return counts


def count_conversations(
    budget: Budget,
    items: Sequence[Any],
    render: Callable[[Any], Sequence[str]],
    progress: Callable[[int], None] | None = None,
    cache: CountCache | None = None,
    workers: int | Executor = 1,
) -> list[int]:
    """The real token count of each item (see :func:`count_conversations_range`), in batches, each
    a unit of the executor; new counts are stored in ``cache``, and ``progress`` ticks the items
    counted. As in :func:`count_records`, a cache that fails a spot check in any batch is
    discarded, and every batch that read counts from it is counted again without it."""
    executor = executor_for(workers)
    ranges = batch_ranges(
        len(items), getattr(executor, "workers", 1), CONVERSATION_BATCH, MIN_CONVERSATION_BATCH
    )
    elsewhere = executor.runs_elsewhere(len(ranges))
    count = partial(count_conversations_range, budget, items, render)
    totals: list[int] = []
    read_cache: list[int] = []
    wrong = 0
    for i, part in enumerate(executor.measure(partial(count, cache=cache), ranges)):
        totals.extend(part.totals)
        wrong += part.wrong
        if part.tally[0] and not part.wrong:
            read_cache.append(i)
        if cache:
            cache.put(part.keys, part.fresh)
            if elsewhere:  # the worker's tallies were kept in its copy of the cache
                cache.add_tally(part.tally)
        if progress:
            progress(len(part.totals))
    if cache and wrong:
        cache.discard(f"disagrees with the tokenizer on {wrong} spot-checked token count(s)")
        for i, part in zip(read_cache, executor.measure(count, [ranges[i] for i in read_cache]), strict=True):
            totals[ranges[i].start : ranges[i].end] = part.totals
    return totals


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
        """The measure step for one group: every record's counts (see :func:`count_records`; an
        executor with its own ``count``, Ray's, counts them itself), the records that fit the
        budget alone, and a reject for each one that does not (ticked as composed: ``on_compose``).

        Whether a record fits alone is found batch by batch, while the executor measures the
        batches after it (in other processes, this work is no longer a step of its own)."""
        alone: list[int | None] = [None] * len(records)

        def check(start: int, end: int, counts: PieceCounts) -> None:
            for i in range(start, end):
                alone[i] = self.composer.single_fits(i, records, counts)

        own = getattr(self.executor, "count", None)
        if own is not None:
            counts: list[Measured] = own(self.budget, records, on_count)
            check(0, len(records), counts)
        else:
            counts = count_records(self.budget, records, on_count, self.cache, self.executor, check)
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
        cache (see :func:`count_conversations`)."""
        return count_conversations(self.budget, items, render, on_count, self.cache, self.executor)

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
        keys = [key_of(records[i].index, records[i].turn) for i in usable] if key_of else None
        units = plan_units(group, seed, self.config.epochs, self.shards, usable, keys)
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
