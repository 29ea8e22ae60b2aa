"""Records in, samples out, in memory: the mosaics of a :class:`~mosaicit.run.spec.RunSpec` without
writing anything (``preview``, ``eval build``), and the API's :func:`mosaic` (the mosaics alone)
and :func:`augment` (every row of a run, as a ``datasets.Dataset``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from mosaicit.budget.tokens import TokenCounter
from mosaicit.errors import InputError, RecordError
from mosaicit.io.hf import require_datasets
from mosaicit.io.parquet import rows_table
from mosaicit.io.sources import ReadStats, source_name
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.tables.loader import Tables
from mosaicit.run import steps
from mosaicit.run.assemble import open_run
from mosaicit.run.augment import augment_rows
from mosaicit.run.routing import Routed
from mosaicit.run.spec import InputOptions, RunSpec
from mosaicit.run.summary import RunSummary
from mosaicit.types.records import Record, Reject, Sample


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
                conversations = steps.read(self.spec, self.stats, self.rejects, run.executor)
                self.routed = steps.route(conversations, self.spec, self.rejects)
                steps.check_template(run, self.routed, name)
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
    rejects: list[Reject] | None = None,
) -> Iterator[Sample]:
    """Mosaic records given as dicts in any shape mosaicit reads (Alpaca, ShareGPT, messages,
    prompt/completion) into samples, system-prompt group by group.

    Raises :class:`~mosaicit.errors.InputError` on a malformed record. Only the mosaics are
    yielded; when the iteration ends, ``rejects`` (if given) receives, in input order, every
    record left out, with its reason: empty ones, those that do not fit the budget alone
    (``over_budget``), and multi-turn conversations (``multi_turn``), which :func:`augment`
    passes through unchanged.
    """
    counter = tokenizer if hasattr(tokenizer, "count_many") else None
    spec = RunSpec(
        records,
        config or MosaicConfig(),
        InputOptions(on_bad="error"),
        tokenizer=None if counter else tokenizer,  # type: ignore[arg-type]
        tables=tables,
        workers=1,
        use_cache=False,
    )
    mosaics = Mosaics(spec, counter)  # type: ignore[arg-type]
    yield from mosaics
    if rejects is not None:
        left = "left out: mosaic() yields mosaics only; augment() passes it through unchanged"
        mosaics.rejects.send(
            Reject(conv.index, why, {"messages": conv.messages()}, left, conv.meta.get("id"))
            for conv, why in mosaics.routed.passthrough
        )
        rejects.extend(mosaics.rejects.in_input_order())


class Augmented(NamedTuple):
    """What :func:`augment` returns: the rows, the rejects and the run's summary."""

    #: Every row ``mosaicit augment`` writes, in its order and with its columns: a ``datasets.Dataset``.
    dataset: Any
    #: The rows of the rejects file, each record in full (``record``), in input order.
    rejects: list[dict[str, Any]]
    #: The run's summary, as the summary file holds it (:meth:`RunSummary.to_dict`).
    summary: RunSummary

    def __repr__(self) -> str:
        s = self.summary
        reasons = ", ".join(f"{k} {v}" for k, v in s.rejected_by_reason.items()) or "none"
        return (
            f"Augmented(dataset={self.dataset!r},\n  rejects={len(self.rejects)} rows ({reasons}),\n"
            f"  summary: {s.records_read} records read, {s.samples_written} rows written)"
        )


def augment(
    source: Any,
    config: MosaicConfig | None = None,
    *,
    progress: bool = False,
    **options: Any,
) -> Augmented:
    """Mosaic ``source`` (a ``datasets.Dataset``, a list of dicts, or paths as for
    :func:`~mosaicit.run.api.augment_dataset`) in memory, as ``mosaicit augment`` does with the
    same options and seed, and return its rows as a ``datasets.Dataset`` (typed as the Parquet
    output), with the rejects and the summary (:class:`Augmented`). Nothing is written.

    ``options`` are those of :func:`~mosaicit.run.api.augment_dataset` by name
    (``max_length=1024, seed=1``: over ``config``; ``output_format="messages"``; ``tokenizer``: a
    path, a hub id in the local cache, or a loaded :class:`TokenCounter`), less the files it
    writes; the token-count cache (``use_cache``/``cache_dir``) is off by default: it is a file.
    """
    tokenizer = options.pop("tokenizer", None)
    counter = tokenizer if hasattr(tokenizer, "count_many") else None
    settings: dict[str, Any] = {"use_cache": False, **options, "tokenizer": None if counter else tokenizer}
    spec = RunSpec.of(source, None, config, **settings)
    datasets = require_datasets()  # before the run, not after it
    made: list[Any] = []

    def keep(rows: Iterator[dict[str, Any]]) -> int:
        made.append(rows_table(rows, spec.outputs.output_format, spec.outputs.with_meta))
        return int(made[0].num_rows)

    finished = augment_rows(spec, keep, progress, counter)
    assert finished.rejects is not None
    return Augmented(datasets.Dataset(made[0]), finished.rejects, finished.summary)
