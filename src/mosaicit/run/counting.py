"""Measuring records: the token counts of each record's prompt and output (and of whole
conversations), in batches of records, read from the count cache where it can be. A batch is a
unit of work that an executor does (:meth:`mosaicit.run.executors.base.Executor.count`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mosaicit.budget.budget import Budget, Measured, TextCounts
from mosaicit.budget.cache import CountCache
from mosaicit.errors import MosaicitError, RecordError
from mosaicit.plan.seeds import unseeded_rng
from mosaicit.types.features import PromptFeatures
from mosaicit.types.records import Record

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


@dataclass(frozen=True)
class MeasureUnit:
    """Measure records ``start:end`` of one group."""

    start: int
    end: int


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
    far = {
        i: least for i, group in enumerate(rendered) if (least := least_far_over(budget, group)) is not None
    }
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


def least_far_over(budget: Budget, texts: Sequence[str]) -> int | None:
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
