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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

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
from mosaicit.render.templates import ChatTemplate
from mosaicit.run import steps
from mosaicit.run.assemble import open_run
from mosaicit.run.groups import Run
from mosaicit.run.passthrough import Outcome, Passing
from mosaicit.run.rejects_file import reject_rows, write_rejects
from mosaicit.run.routing import Routed
from mosaicit.run.shards import FileKeys
from mosaicit.run.spec import OutputOptions, RunSpec
from mosaicit.run.steps import Rejects
from mosaicit.run.store import Allowance, RecordStore
from mosaicit.run.summarise import summarise
from mosaicit.run.summary import (
    DatasetInfoSummary,
    RunSummary,
)
from mosaicit.types.records import Sample

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


def _raw_in(stats: ReadStats) -> Callable[[Conversation], dict[str, Any]]:
    return lambda conv: to_row(conv, stats.shape or "messages")


def check_template(run: Run, routed: Routed, name: str) -> None:
    """Render the chat template once for each shape in use, naming the first record that needs it."""
    if not isinstance(run.template, ChatTemplate):
        return
    for system, records in routed.groups.items():
        try:
            run.template.shape(bool(system))
        except MosaicitError as exc:
            raise InputError(name, str(exc), records[0].index) from None


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
            run.key_of = FileKeys(stats.files, spec.key_names)
            read = steps.read(spec, stats, rejects, run.executor)
            conversations = bars.counted("reading", read, lambda: stats.read)
            routed = steps.route(conversations, spec, rejects, _raw_in(stats), new_group)
            return _augment(routed, run, spec, stats, rejects, name, bars, sink, recorded)
    except RecordError as exc:
        raise InputError(name, exc.reason, exc.record) from None
    finally:
        bars.close(completed=False)
        for store in stores:
            store.close()


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
    config, out = run.config, spec.outputs
    shape = out.output_format
    if stats.read == 0:
        raise InputError(name, "empty dataset: no records")
    check_template(run, routed, name)
    done = Outcome()
    bars.plan("counting passthrough", len(routed.passthrough))
    bars.plan("passthrough", len(routed.passthrough))
    bars.plan("counting tokens", routed.record_count)
    bars.plan("composing", routed.record_count * config.epochs)
    as_dicts = sink is not None or out.file_type is None or not out.file_type.json_rows

    def finish(sample: Sample) -> Any:  # runs in the worker processes too
        row = to_row(sample_conversation(sample), shape, out.with_meta)
        return row if as_dicts else encode_row(row)

    split = spec.inputs.conversations == "split"
    passing = Passing(run, shape, out.with_meta, done, routed.ledger, spec.inputs.over_budget, split)

    def passthrough_rows() -> Iterator[dict[str, Any]]:
        counting = bars.ticker("counting passthrough")
        yield from bars.counted("passthrough", passing.rows(routed.passthrough, counting))

    def mosaic_rows() -> Iterator[Any]:
        rejects.send(done.rejects)
        counting, composing = bars.ticker("counting tokens"), bars.ticker("composing")
        unbudgeted = done.unbudgeted if spec.inputs.over_budget == "pass" else None
        yield from steps.mosaics(run, routed, rejects, counting, composing, finish, unbudgeted)

    def unbudgeted_rows() -> Iterator[dict[str, Any]]:
        yield from (passing.unbudgeted(record) for record in done.unbudgeted)

    def rows() -> Iterator[Any]:
        yield from passthrough_rows()
        for row in mosaic_rows():
            done.mosaics += 1
            yield row
        yield from unbudgeted_rows()

    lengths = run.composer.tally.token_counts, done.passthrough_lengths
    sharded = run.key_of if run.shards > 1 else None
    if sink is not None:
        written = sink(rows())
        found = list(reject_rows(rejects.in_input_order(), stats, True, sharded))
        summary = summarise(run, spec, stats, routed, rejects, done, written, None)
        bars.close()
        return Finished(summary, found, *lengths)
    assert out.path is not None
    seen = dataset_info.ColumnSeen()
    parts = None
    if out.output_parts is None:
        written = steps.write(rows(), out, seen)
    else:
        has_passthrough = bool(routed.passthrough)
        passthrough = passthrough_rows() if has_passthrough else None
        parts = _write_parts(run, out, passthrough, mosaic_rows(), unbudgeted_rows, done)
        written = sum(part.rows for part in parts)
        seen.present.update(*(part.present for part in parts))
    if out.rejects_target is not None:
        write_rejects(out.rejects_target, rejects.in_input_order(), stats, out.rejects_full, sharded)
    info = None
    if out.dataset_info is not None:
        entry = dataset_info.write_entry(out.dataset_info, out.path, shape, seen.present)
        info = DatasetInfoSummary(str(out.dataset_info), entry)
    summary = summarise(run, spec, stats, routed, rejects, done, written, info, parts, recorded)
    if out.summary_target is not None:
        with atomic_open(out.summary_target) as handle:
            json.dump(summary.to_dict(), handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    bars.close()
    return Finished(summary, None, *lengths)


def _write_parts(
    run: Run,
    out: OutputOptions,
    passthrough: Iterator[dict[str, Any]] | None,
    mosaics: Iterator[Any],
    unbudgeted: Callable[[], Iterator[dict[str, Any]]],
    done: Outcome,
) -> list[Part]:
    """Write the output as a folder of part files (``--output-parts``, :mod:`mosaicit.io.parts`):
    the passthrough part here, each compose unit's part where the unit is composed, then the
    records passed through unbudgeted, if any, here; the folder is committed with the run's
    other outputs. Returns the parts, in written order."""
    assert out.path is not None and out.output_parts is not None
    with atomic_folder(out.path) as folder:
        # absolute: a Ray task writes from its own working directory
        where = folder if is_uri(folder) else os.path.abspath(folder)
        writer = PartWriter(where, part_type(out.output_parts), out.output_format)
        parts = []
        if passthrough is not None:
            parts.append(writer.write(PASSTHROUGH, passthrough))
            writer = replace(writer, id_type=parts[0].id_type)  # every part's id column alike
        run.write_part = writer
        try:
            for part in mosaics:
                done.mosaics += part.rows
                parts.append(part)
        finally:
            run.write_part = None
        if done.unbudgeted:
            parts.append(writer.write(UNBUDGETED, unbudgeted()))
    parts = [part for part in parts if part.rows]  # no file was written for the others
    write_marker(out.path, parts, out.output_parts)
    return parts
