"""Records in, samples out, in memory: the mosaics of a :class:`~mosaicit.run.spec.RunSpec` without
writing anything (``preview``, ``eval build``) and the API's :func:`mosaic`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mosaicit.budget.tokens import TokenCounter
from mosaicit.config import MosaicConfig
from mosaicit.errors import InputError, RecordError
from mosaicit.io.sources import ReadStats, source_name
from mosaicit.records import Record, Sample
from mosaicit.run import steps
from mosaicit.run.assemble import open_run
from mosaicit.run.files import check_template
from mosaicit.run.routing import Routed
from mosaicit.run.spec import InputOptions, RunSpec
from mosaicit.tables.loader import Tables


class Mosaics:
    """The mosaics of a spec, in the order ``augment`` writes them, and what the steps found."""

    def __init__(self, spec: RunSpec, counter: TokenCounter | None = None) -> None:
        self.spec = spec
        self.counter = counter
        self.stats = ReadStats()
        self.rejects = steps.Rejects()
        self.routed = Routed()
        #: The records to mosaic by input index and exchange number (``turn``), once routed.
        self.records: dict[tuple[int, int | None], Record] = {}

    def __iter__(self) -> Iterator[Sample]:
        name = source_name(self.spec.source)
        try:
            with open_run(self.spec, self.counter) as run:
                self.run = run
                conversations = steps.read(self.spec, self.stats, self.rejects)
                self.routed = steps.route(conversations, self.spec, self.rejects)
                check_template(run, self.routed, name)
                self.records = {(r.index, r.turn): r for r in self.routed.records}
                yield from steps.mosaics(run, self.routed, self.rejects)
        except RecordError as exc:
            raise InputError(name, exc.reason, exc.record) from None


def members(sample: Sample, records: Mapping[tuple[int, int | None], Record]) -> list[Record]:
    """The records a sample was made of, in the order of its ``sources``."""
    sources = sample.mosaic["sources"]
    turns = sample.mosaic.get("turns") or [None] * len(sources)
    return [records[key] for key in zip(sources, turns, strict=True)]


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
    counter = tokenizer if hasattr(tokenizer, "count_many") else None
    spec = RunSpec(
        records,
        config or MosaicConfig(),
        InputOptions(on_bad="error"),
        tokenizer=None if counter else tokenizer,  # type: ignore[arg-type]
        tables=tables,
    )
    yield from Mosaics(spec, counter)  # type: ignore[arg-type]
