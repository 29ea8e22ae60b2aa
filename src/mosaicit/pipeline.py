"""Count the records, then compose them: the in-memory core that every front end uses."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mosaicit.budget import Budget, Measured
from mosaicit.cache import CountCache
from mosaicit.compose import Composer, split_usable
from mosaicit.config import MosaicConfig
from mosaicit.io.sources import read_conversations
from mosaicit.parallel import can_fork, compose_parallel
from mosaicit.records import Record, Reject, Sample
from mosaicit.routing import route
from mosaicit.strategies.features import PromptFeatures
from mosaicit.tables.loader import Tables, load_tables
from mosaicit.templates import BareTemplate, Template
from mosaicit.tokens import TokenCounter, load_counter

COUNT_BATCH = 4096
#: Seed offset between system-prompt groups (the first group uses the seed itself).
GROUP_SEED_STEP = 7_919


def count_records(
    budget: Budget,
    records: Sequence[Record],
    progress: Callable[[int], None] | None = None,
    cache: CountCache | None = None,
) -> list[Measured]:
    """Tokenize every record's prompt and output once, in batches (or read them from ``cache``)."""
    counts: list[Measured] = []
    for start in range(0, len(records), COUNT_BATCH):
        chunk = records[start : start + COUNT_BATCH]
        texts = [r.prompt for r in chunk] + [r.output for r in chunk]
        keys = cache.keys(texts) if cache else []
        known: list[int | None] = cache.get(keys) if cache else [None] * len(texts)
        missing = [i for i, n in enumerate(known) if n is None]
        if missing:
            fresh = budget.counter.count_many([texts[i] for i in missing])
            for i, n in zip(missing, fresh, strict=True):
                known[i] = n
            if cache:
                cache.put([keys[i] for i in missing], fresh)
        both = budget.counts_from(texts, known)  # type: ignore[arg-type]
        for record, prompt, output in zip(chunk, both[: len(chunk)], both[len(chunk) :], strict=True):
            system = sys.intern(record.system)
            counts.append(Measured(prompt, output, PromptFeatures.of(record.prompt), system))
        if progress:
            progress(len(chunk))
    return counts


@dataclass
class Run:
    """One configured mosaicking run over in-memory records."""

    config: MosaicConfig
    counter: TokenCounter
    tables: Tables
    template: Template = field(default_factory=BareTemplate)
    workers: int = 1
    cache: CountCache | None = None

    def __post_init__(self) -> None:
        self.budget = Budget(self.counter)
        self.composer = Composer(self.config, self.budget, self.tables, self.template)
        self.rejects: list[Reject] = []
        self.usable = 0

    def samples(
        self,
        records: Sequence[Record],
        on_count: Callable[[int], None] | None = None,
        on_compose: Callable[[int], None] | None = None,
        group: int = 0,
    ) -> Iterator[Sample]:
        """Count, set aside what cannot fit alone, then yield every epoch's mosaics.

        ``records`` are indexed by position: a record's ``index`` is its input position,
        which provenance reports. ``group`` numbers the system-prompt groups of one run:
        each group after the first is composed with its own seed. With ``workers`` > 1,
        epochs are composed in parallel processes; the samples and their order are the same.
        """
        counts = count_records(self.budget, records, on_count, self.cache)
        usable, over = split_usable(self.composer, records, counts)
        self.rejects.extend(over)
        self.usable += len(usable)
        seed = self.config.seed + GROUP_SEED_STEP * group
        self.composer.config = replace(self.config, seed=seed) if group else self.config
        try:
            if self.workers > 1 and self.config.epochs > 1 and can_fork():
                yield from compose_parallel(self.composer, records, counts, usable, self.workers, on_compose)
            else:
                yield from self.composer.compose(records, counts, usable, on_compose)
        finally:
            self.composer.config = self.config

    def grouped(
        self,
        groups: Iterable[Sequence[Record]],
        on_count: Callable[[int], None] | None = None,
        on_compose: Callable[[int], None] | None = None,
    ) -> Iterator[Sample]:
        """Yield the samples of each system-prompt group in turn, each group with its own seed."""
        for group, members in enumerate(groups):
            yield from self.samples(members, on_count, on_compose, group=group)


def mosaic(
    records: Iterable[dict[str, Any]],
    config: MosaicConfig | None = None,
    tokenizer: str | TokenCounter | None = None,
    tables: Tables | str | Path | None = None,
) -> Iterator[Sample]:
    """Mosaic records given as dicts in any shape mosaicit reads (Alpaca, ShareGPT, messages,
    prompt/completion) into samples, system-prompt group by group.

    Raises :class:`~mosaicit.errors.InputError` on a malformed record. Only the mosaics are
    yielded: multi-turn conversations, and records that are empty or do not fit the budget
    alone, are left out; :func:`mosaicit.augment_dataset` writes and reports them.
    """
    counter = tokenizer if hasattr(tokenizer, "count_many") else load_counter(tokenizer)  # type: ignore[arg-type]
    loaded = tables if isinstance(tables, Tables) else load_tables(tables)
    run = Run(config or MosaicConfig(), counter, loaded)  # type: ignore[arg-type]
    routed = route(read_conversations(records))
    yield from run.grouped(routed.groups.values())
