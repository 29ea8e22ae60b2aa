"""Mosaic a dataset from a :class:`~mosaicit.run.spec.RunSpec`: :func:`augment` writes the files,
:func:`augment_rows` hands the rows to a sink.

read (any shape, any file type) -> route (policies) -> measure and compose each system-prompt
group -> count the passthrough conversations under the template -> write (chosen shape, by
extension), with the rejects, the summary and, if asked, the LLaMA-Factory dataset_info.json
entry (the steps: :mod:`mosaicit.run.steps`). Nothing is written unless the whole run succeeds.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from mosaicit.budget.tokens import TokenCounter
from mosaicit.errors import InputError, MosaicitError, ParamError, RecordError
from mosaicit.io import dataset_info
from mosaicit.io.atomic import atomic_folder, atomic_open
from mosaicit.io.commit import committed_together
from mosaicit.io.filetypes import part_type
from mosaicit.io.formats import Conversation
from mosaicit.io.jsonstream import encode_row
from mosaicit.io.parts import PASSTHROUGH, UNBUDGETED, Part, PartWriter, check_writable, write_marker
from mosaicit.io.shapes import to_row
from mosaicit.io.sources import ReadStats, source_name
from mosaicit.io.store import is_uri
from mosaicit.progress import Progress
from mosaicit.run import steps
from mosaicit.run.assemble import open_run
from mosaicit.run.groups import Run
from mosaicit.run.passthrough import Outcome, Passing
from mosaicit.run.rejects_file import reject_rows, write_rejects
from mosaicit.run.routing import Routed
from mosaicit.run.shards import FileKeys
from mosaicit.run.spec import OutputOptions, RunSpec
from mosaicit.run.spread import spread
from mosaicit.run.steps import Rejects
from mosaicit.run.store import Allowance, RecordStore
from mosaicit.run.summarise import Counted, kinds, record_uses, summarise
from mosaicit.run.summary import (
    DatasetInfoSummary,
    RunSummary,
)
from mosaicit.types.records import Reject, Sample

#: Characters of record text a run keeps in memory before its records wait in spool files
#: (``$MOSAICIT_KEEP_IN_MEMORY`` overrides it; 0 spools every record).
KEEP_IN_MEMORY = 64 << 20


def keep_in_memory() -> int:
    """How many characters of record text a run keeps in memory (see :data:`KEEP_IN_MEMORY`)."""
    value = os.environ.get("MOSAICIT_KEEP_IN_MEMORY", "").strip()
    if not value:
        return KEEP_IN_MEMORY
    if not value.isdigit():
        raise MosaicitError(f"$MOSAICIT_KEEP_IN_MEMORY must be a number of characters, got {value!r}")
    return int(value)


def sample_conversation(sample: Sample) -> Conversation:
    """A mosaicked sample as a one-exchange conversation carrying its count and provenance."""
    meta = {"count": sample.count, "mosaic": sample.mosaic}
    return Conversation(-1, ((sample.instruction, sample.output),), sample.system, "", meta)


#: Where an in-memory run's rows go instead of a file (:func:`augment_rows`); returns how many it took.
Sink = Callable[[Iterator[dict[str, Any]]], int]


@dataclass(frozen=True)
class Finished:
    """A finished augment run: its summary; its rejects when it wrote no files (:func:`augment_rows`:
    the rows of the rejects file, each record in full; None when the run wrote its rejects file);
    the token counts of its rows (count -> rows), mosaics and passthrough apart, for the cost table."""

    summary: RunSummary
    rejects: list[dict[str, Any]] | None
    mosaic_lengths: Counter[int]
    passthrough_lengths: Counter[int]


@committed_together()
def augment(spec: RunSpec, progress: bool = False, recorded: dict[str, Any] | None = None) -> RunSummary:
    """Run ``spec``: read -> route -> measure -> compose -> write (:mod:`mosaicit.run.steps`), with
    the rejects, the summary and the dataset_info.json entry the spec asks for; see
    :func:`augment_dataset`. ``recorded``: the options that repeat the run, kept in the summary
    (its ``config``). Returns the summary."""
    if spec.outputs.path is None:
        raise ParamError("output", "is needed to augment")
    if spec.outputs.output_parts is not None:
        check_writable(spec.outputs.path)  # here, not in the spec: a dry run writes nothing
    return _run(spec, progress, None, recorded).summary


def augment_rows(
    spec: RunSpec, sink: Sink, progress: bool = False, counter: TokenCounter | None = None
) -> Finished:
    """Run ``spec`` as :func:`augment` does, writing nothing: the rows (as :func:`augment` writes
    them, each a dict of the output shape's columns, in the same order) go to ``sink``.
    ``counter`` stands in for the spec's tokenizer (see :func:`~mosaicit.run.assemble.open_run`)."""
    return _run(spec, progress, sink, None, counter)


def _run(
    spec: RunSpec,
    progress: bool,
    sink: Sink | None,
    recorded: dict[str, Any] | None,
    counter: TokenCounter | None = None,
) -> Finished:
    name = source_name(spec.source)
    stats = ReadStats()
    rejects = Rejects()
    bars = Progress(progress)
    stores: list[RecordStore] = []
    kept = Allowance(keep_in_memory())

    def new_group() -> RecordStore:
        stores.append(RecordStore(allowance=kept))
        return stores[-1]

    try:
        with open_run(spec, counter) as run:
            cluster = run.executor.cluster()
            if cluster is not None:  # the whole run spread over the cluster's tasks
                output = spread(spec, run, cluster, bars, row_of(spec, sink))
                return write_output(output, run, spec, output.stats, bars, sink, recorded)
            run.key_of = FileKeys(stats.files, spec.key_names)
            read = steps.read(spec, stats, rejects, run.executor)
            conversations = bars.counted("reading", read, lambda: stats.read)
            routed = steps.route(conversations, spec, rejects, steps.raw_in(stats), new_group)
            return _augment(routed, run, spec, stats, rejects, name, bars, sink, recorded)
    except RecordError as exc:
        raise InputError(name, exc.reason, exc.record) from None
    finally:
        bars.close(completed=False)
        for store in stores:
            store.close()


class Output(Protocol):
    """What a run hands the writing (:func:`_write`): its rows, in order, or its part files; then
    its rejects, in input order, and what the summary counts. A run in this process makes it
    from its routed records (:class:`RoutedOutput`); a run spread over a cluster, from the
    files' shares (:class:`mosaicit.run.spread.SpreadOutput`)."""

    done: Outcome

    def rows(self) -> Iterator[Any]:
        """Every row: the passthrough rows, the mosaics, the rows passed through unbudgeted."""

    def parts(self, writer: PartWriter) -> list[Part]:
        """Write the same rows as part files with ``writer`` (:func:`_write_parts`): the
        passthrough part first, whose ``id`` type the others take; returns the parts in order."""

    def rejects(self) -> Iterable[Reject]:
        """Every reject of the run, in input order (once the rows or parts are written)."""

    def counted(self) -> Counted:
        """What the summary counts of the rejects and outcomes (once the rows are written)."""


class RowOf:
    """A sample as the output row it is written as (an encoded JSON row unless ``as_dicts``):
    small to pickle, so it runs where the sample is composed."""

    def __init__(self, shape: str, with_meta: bool, as_dicts: bool) -> None:
        self.shape, self.with_meta, self.as_dicts = shape, with_meta, as_dicts

    def __call__(self, sample: Sample) -> Any:
        row = to_row(sample_conversation(sample), self.shape, self.with_meta)
        return row if self.as_dicts else encode_row(row)


def row_of(spec: RunSpec, sink: Sink | None) -> RowOf:
    """How a run of ``spec`` writes a sample (dicts for a ``sink`` and for a file type that does
    not take encoded JSON rows)."""
    out = spec.outputs
    as_dicts = sink is not None or out.file_type is None or not out.file_type.json_rows
    return RowOf(out.output_format, out.with_meta, as_dicts)


class RoutedOutput:
    """The :class:`Output` of a run in this process: its routed records measured and composed by
    the run's executor, its passthrough conversations passed through here."""

    def __init__(
        self,
        routed: Routed,
        run: Run,
        spec: RunSpec,
        stats: ReadStats,
        rejects: Rejects,
        bars: Progress,
        finish: RowOf,
    ) -> None:
        self.routed, self.run, self.spec, self.stats, self._rejects = routed, run, spec, stats, rejects
        self.bars, self.finish = bars, finish
        self.done = Outcome()
        split = spec.inputs.conversations == "split"
        out = spec.outputs
        policy = spec.inputs.over_budget
        self.passing = Passing(run, out.output_format, out.with_meta, self.done, routed.ledger, policy, split)

    def _passthrough(self) -> Iterator[dict[str, Any]]:
        counting = self.bars.ticker("counting passthrough")
        yield from self.bars.counted("passthrough", self.passing.rows(self.routed.passthrough, counting))

    def _mosaics(self) -> Iterator[Any]:
        self._rejects.send(self.done.rejects)
        counting, composing = self.bars.ticker("counting tokens"), self.bars.ticker("composing")
        unbudgeted = self.done.unbudgeted if self.spec.inputs.over_budget == "pass" else None
        yield from steps.mosaics(
            self.run, self.routed, self._rejects, counting, composing, self.finish, unbudgeted
        )

    def _unbudgeted(self) -> Iterator[dict[str, Any]]:
        yield from (self.passing.unbudgeted(record) for record in self.done.unbudgeted)

    def rows(self) -> Iterator[Any]:
        yield from self._passthrough()
        for row in self._mosaics():
            self.done.mosaics += 1
            yield row
        yield from self._unbudgeted()

    def parts(self, writer: PartWriter) -> list[Part]:
        parts = []
        if self.routed.passthrough:
            parts.append(writer.write(PASSTHROUGH, self._passthrough()))
            writer = replace(writer, id_type=parts[0].id_type)  # every part's id column alike
        self.run.write_part = writer
        try:
            for part in self._mosaics():
                self.done.mosaics += part.rows
                parts.append(part)
        finally:
            self.run.write_part = None
        if self.done.unbudgeted:
            parts.append(writer.write(UNBUDGETED, self._unbudgeted()))
        return parts

    def rejects(self) -> Iterable[Reject]:
        return self._rejects.in_input_order()

    def counted(self) -> Counted:
        uses = record_uses(self.run.composer.tally)
        rows = self.done.passthrough
        accounting = self.routed.ledger.settle(
            self.stats.read, self._rejects.in_input_order(), self.run.usable, uses, rows
        )
        return Counted(
            accounting,
            self._rejects.by_reason(),
            kinds(self.routed.kinds, self.stats),
            len(self.routed.groups),
        )


def _augment(
    routed: Routed,
    run: Run,
    spec: RunSpec,
    stats: ReadStats,
    rejects: Rejects,
    name: str,
    bars: Progress,
    sink: Sink | None,
    recorded: dict[str, Any] | None,
) -> Finished:
    """Compose, write (or hand to ``sink``) and summarise a routed dataset (see :func:`augment`)."""
    if stats.read == 0:
        raise InputError(name, "empty dataset: no records")
    steps.check_template(run, routed, name)
    bars.plan("counting passthrough", len(routed.passthrough))
    bars.plan("passthrough", len(routed.passthrough))
    bars.plan("counting tokens", routed.record_count)
    bars.plan("composing", routed.record_count * run.config.epochs)
    output = RoutedOutput(routed, run, spec, stats, rejects, bars, row_of(spec, sink))
    return write_output(output, run, spec, stats, bars, sink, recorded)


def write_output(
    output: Output,
    run: Run,
    spec: RunSpec,
    stats: ReadStats,
    bars: Progress,
    sink: Sink | None,
    recorded: dict[str, Any] | None,
) -> Finished:
    """Write a run's ``output`` (or hand its rows to ``sink``), its rejects, dataset_info.json entry
    and summary, as the spec asks (see :func:`augment`)."""
    out, done = spec.outputs, output.done
    lengths = run.composer.tally.token_counts, done.passthrough_lengths
    sharded = run.key_of if run.shards > 1 else None
    if sink is not None:
        written = sink(output.rows())
        found = list(reject_rows(output.rejects(), stats, True, sharded))
        summary = summarise(run, spec, stats, output.counted(), done, written, None)
        bars.close()
        return Finished(summary, found, *lengths)
    assert out.path is not None
    seen = dataset_info.ColumnSeen()
    parts = None
    if out.output_parts is None:
        written = steps.write(output.rows(), out, seen)
    else:
        parts = _write_parts(out, output)
        written = sum(part.rows for part in parts)
        seen.present.update(*(part.present for part in parts))
    if out.rejects_target is not None:
        write_rejects(out.rejects_target, output.rejects(), stats, out.rejects_full, sharded)
    info = None
    if out.dataset_info is not None:
        entry = dataset_info.write_entry(out.dataset_info, out.path, out.output_format, seen.present)
        info = DatasetInfoSummary(str(out.dataset_info), entry)
    summary = summarise(run, spec, stats, output.counted(), done, written, info, parts, recorded)
    if out.summary_target is not None:
        with atomic_open(out.summary_target) as handle:
            json.dump(summary.to_dict(), handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    bars.close()
    return Finished(summary, None, *lengths)


def _write_parts(out: OutputOptions, output: Output) -> list[Part]:
    """Write the output as a folder of part files (``--output-parts``, :mod:`mosaicit.io.parts`):
    the passthrough part, each compose unit's part where the unit is composed, then the records
    passed through unbudgeted, if any (:meth:`Output.parts`); the folder is committed with the
    run's other outputs. Returns the parts written, in order."""
    assert out.path is not None and out.output_parts is not None
    with atomic_folder(out.path) as folder:
        # absolute: a Ray task writes from its own working directory
        where = folder if is_uri(folder) else os.path.abspath(folder)
        parts = output.parts(PartWriter(where, part_type(out.output_parts), out.output_format))
    parts = [part for part in parts if part.rows]  # no file was written for the others
    write_marker(out.path, parts, out.output_parts)
    return parts
