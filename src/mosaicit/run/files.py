"""Files in, files out: the outermost orchestration. Mosaic a dataset (:func:`augment`, from a
:class:`~mosaicit.run.spec.RunSpec`; :func:`augment_dataset`, from the API's arguments) or only
reshape it (:func:`convert_dataset`).

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
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from mosaicit.budget.tokens import TokenCounter
from mosaicit.errors import InputError, MosaicitError, ParamError, RecordError
from mosaicit.histogram import token_stats
from mosaicit.io import dataset_info
from mosaicit.io.atomic import atomic_folder, atomic_open
from mosaicit.io.chats import REPAIRS
from mosaicit.io.commit import committed_together
from mosaicit.io.formats import Columns, Conversation, to_row, with_meta
from mosaicit.io.jsonstream import EncodedRow, encode_row, write_rows
from mosaicit.io.outputs import STDOUT
from mosaicit.io.parts import PASSTHROUGH, Part, PartWriter, write_marker
from mosaicit.io.sources import MAX_BAD_SHARE, ReadStats, output_kind, source_name
from mosaicit.io.wellformed import dumps_escaped
from mosaicit.plan.config import MosaicConfig
from mosaicit.progress import Progress
from mosaicit.render.templates import ChatTemplate, Template
from mosaicit.run import steps
from mosaicit.run.assemble import open_run
from mosaicit.run.groups import Run
from mosaicit.run.routing import Routed
from mosaicit.run.shards import FileKeys, KeyOf
from mosaicit.run.spec import InputOptions, OutputOptions, RunSpec
from mosaicit.run.steps import Rejects
from mosaicit.run.store import Allowance, RecordStore
from mosaicit.run.summary import (
    BudgetSummary,
    DatasetInfoSummary,
    FormatsSummary,
    OptionsSummary,
    PassthroughSummary,
    ReadingSummary,
    RunSummary,
    ShardsSummary,
    TokenSummary,
)
from mosaicit.types.plan import Plan
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


@dataclass(frozen=True)
class FormatOptions:
    """How to read the input and write the output, and the policies for conversations."""

    input_format: str = "auto"
    columns: Columns = field(default_factory=Columns)
    split: str | None = None
    output_format: str = "alpaca"
    conversations: str = "passthrough"
    system_policy: str = "group"
    template: str = "none"
    chat_template: str | None = None
    strict_conversations: bool = False
    max_bad_share: float = MAX_BAD_SHARE


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


@dataclass
class _Outcome:
    mosaics: int = 0
    passthrough: int = 0
    passthrough_tokens: int = 0
    passthrough_max: int = 0
    over_budget: list[Reject] = field(default_factory=list)
    passthrough_lengths: Counter[int] = field(default_factory=Counter)


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


def summarise(
    run: Run,
    spec: RunSpec,
    stats: ReadStats,
    routed: Routed,
    rejects: Rejects,
    done: _Outcome,
    written: int,
    info: DatasetInfoSummary | None,
    parts: list[Part] | None = None,
    recorded: dict[str, Any] | None = None,
) -> RunSummary:
    """The run's summary (see :class:`~mosaicit.run.summary.RunSummary`); ``parts``: the part
    files written (``--output-parts``); ``recorded``: the options to repeat the run with."""
    tally = run.composer.tally
    cfg = run.config
    uses = sum(k * v for k, v in tally.sizes.items())
    mosaics = done.mosaics
    composition = "exact" if run.budget.exact else "estimated, every sample verified"
    if run.budget.exact and tally.verified:
        composition = "exact; samples with special tokens or texts that do not compose verified"
    return RunSummary(
        input=source_name(spec.source),
        output="" if spec.outputs.path is None else str(spec.outputs.path),
        records_read=stats.read,
        records_used=run.usable,
        records_rejected=len(rejects),
        rejected_by_reason=rejects.by_reason(),
        epochs=cfg.epochs,
        samples_written=written,
        record_uses=uses,
        records_per_sample={str(k): v for k, v in sorted(tally.sizes.items())},
        mean_records_per_sample=round(uses / mosaics, 3) if mosaics else 0,
        strategies=dict(sorted(tally.strategies.items())),
        rules=dict(sorted(tally.rules.items())),
        tokens=TokenSummary(
            max_length=cfg.max_length,
            total=tally.tokens,
            mean=round(tally.tokens / mosaics, 1) if mosaics else 0,
            max=tally.max_tokens,
            **token_stats(tally.token_counts, cfg.max_length),
        ),
        budget=BudgetSummary(
            template=run.template.name,
            tokenizer=run.counter.name,
            tokenizer_fingerprint=run.counter.fingerprint,
            composition=composition,
            verifications=tally.verified,
        ),
        workers=getattr(run.executor, "workers", 1),
        cache=run.cache.stats() if run.cache else None,
        options=OptionsSummary(
            wrap_mode=cfg.wrap_mode,
            max_num=cfg.max_num,
            version=cfg.version,
            weights=cfg.strategy_weights,
            seed=cfg.seed,
            tables=run.tables.source,
        ),
        mosaics_written=mosaics,
        formats=FormatsSummary(
            input=stats.shape,
            output=spec.outputs.output_format,
            file=None
            if spec.outputs.path is None
            else spec.outputs.output_parts or output_kind(spec.outputs.path),
            conversations=spec.inputs.conversations,
            system_policy=spec.inputs.system_policy,
        ),
        kinds=routed.kinds,
        repairs={k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]},
        rejected_at_reading=ReadingSummary(
            records=stats.bad,
            share=round(stats.bad / stats.read, 4) if stats.read else 0,
            max_bad_share=spec.inputs.max_bad_share,
        ),
        system_groups=len(routed.groups),
        passthrough=PassthroughSummary(
            written=done.passthrough, over_budget=len(done.over_budget), max_tokens=done.passthrough_max
        ),
        dataset_info=info,
        plain_tokens={str(k): v for k, v in sorted(run.plain_tokens.items())},
        executor=spec.executor,
        shards=ShardsSummary(run.shards, "FILE:ROW[:TURN]" if run.shards > 1 else None),
        output_parts=None if parts is None else [f"{p.name}.{spec.outputs.output_parts}" for p in parts],
        config=recorded,
    )


def write_rejects(
    path: str | Path,
    rejects: Iterable[Reject],
    stats: ReadStats | None = None,
    full: bool = False,
    key_of: KeyOf | None = None,
) -> int:
    """Write rejects as JSONL: each record's input ``index``, where it was read (``file``, and
    ``row``: its position in that file, from 0), its ``id``, the ``reason`` and a ``detail``;
    its stable ``key`` with ``key_of`` (sharded runs: see :mod:`mosaicit.run.shards`); the whole
    record too when ``full``. A lone surrogate is written as a JSON escape."""
    rows = reject_rows(rejects, stats, full, key_of)
    return write_rows(path, (EncodedRow(dumps_escaped(row).encode("utf-8"), frozenset()) for row in rows))


def reject_rows(
    rejects: Iterable[Reject], stats: ReadStats | None = None, full: bool = False, key_of: KeyOf | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of the rejects file (see :func:`write_rejects`), one per reject."""
    for r in rejects:
        file, at = (stats.origin(r.index) if stats else None) or (None, None)
        out = {"index": r.index, "file": file, "row": at, "id": r.id, "reason": r.reason, "detail": r.detail}
        if key_of is not None:
            out["key"] = key_of(r.index, None)
        if full:
            out["record"] = r.raw()
        yield out


def run_spec(
    source: Any,
    output_path: str | Path | None,
    config: MosaicConfig | None = None,
    formats: FormatOptions | None = None,
    on_bad: str = "skip",
    **options: Any,
) -> RunSpec:
    """The :class:`~mosaicit.run.spec.RunSpec` of the API's arguments: ``formats`` split into the
    input options, the output options and the template; ``options`` are the other
    :class:`RunSpec` fields and :class:`~mosaicit.run.spec.OutputOptions` fields."""
    fmt = formats or FormatOptions()
    output_fields = {k: options.pop(k) for k in list(options) if k in OutputOptions.__dataclass_fields__}
    return RunSpec(
        source,
        config or MosaicConfig(),
        InputOptions(
            fmt.input_format,
            fmt.columns,
            fmt.split,
            on_bad,
            fmt.max_bad_share,
            fmt.conversations,
            fmt.system_policy,
            fmt.strict_conversations,
        ),  # fmt: skip
        OutputOptions(output_path, fmt.output_format, **output_fields),
        template=fmt.template,
        chat_template=fmt.chat_template,
        **options,
    )


@committed_together()
def augment_dataset(
    source: Any,
    output_path: str | Path,
    config: MosaicConfig,
    formats: FormatOptions | None = None,
    tokenizer: str | None = None,
    tables_path: str | Path | None = None,
    with_meta: bool = True,
    summary_path: str | Path | None = None,
    rejects_path: str | Path | None = None,
    on_bad: str = "skip",
    progress: bool = False,
    dataset_info_path: str | Path | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    rejects_full: bool = False,
    executor: str = "workers",
    shards: int = 1,
    ray_address: str | None = None,
    output_parts: str | None = None,
) -> dict[str, Any]:
    """Mosaic ``source`` (a path or a ``datasets.Dataset``) into ``output_path``; returns the summary.

    Single exchanges are mosaicked within their system-prompt group; other items follow the
    policies in ``formats``. Every written sample, rendered with ``formats.template``, counts
    at most ``config.max_length`` tokens. ``workers`` (default: the CPUs other work leaves free,
    see :class:`~mosaicit.run.workers.CoreLook`) measure records and compose epochs in parallel;
    token counts are cached under ``cache_dir`` (default
    :func:`~mosaicit.budget.cache.default_cache_dir`) unless ``use_cache`` is False. Records wait in
    spool files while composing. Every output is committed together when the whole run
    succeeds (see :mod:`mosaicit.io.commit`); none of them is changed otherwise. The outputs
    must be distinct files, and none may be an input. A broken
    input record is rejected (``on_bad="skip"``) or stops the run (``"error"``); the rejects
    file holds each one's index, file, row, id, reason and detail, and the record itself when
    ``rejects_full``. ``source`` may be several paths (see :mod:`mosaicit.io.inputs`).
    ``executor`` (``local``, ``workers``, ``ray`` at ``ray_address``) and ``shards``: see
    :class:`~mosaicit.run.spec.RunSpec`; every executor writes the same bytes. With
    ``output_parts`` (``jsonl`` or ``parquet``), ``output_path`` is a folder of part files, one per
    compose unit, written where each unit is composed (:mod:`mosaicit.io.parts`).
    The same run from a :class:`~mosaicit.run.spec.RunSpec`: :func:`augment`.
    """
    spec = run_spec(
        source, output_path, config, formats, on_bad,
        tokenizer=tokenizer, tables=tables_path, with_meta=with_meta, summary=summary_path,
        rejects=rejects_path, dataset_info=dataset_info_path, rejects_full=rejects_full,
        workers=workers, cache_dir=cache_dir, use_cache=use_cache,
        executor=executor, shards=shards, ray_address=ray_address, output_parts=output_parts,
    )  # fmt: skip
    return augment(spec, progress).to_dict()


@committed_together()
def augment(spec: RunSpec, progress: bool = False, recorded: dict[str, Any] | None = None) -> RunSummary:
    """Run ``spec``: read -> route -> measure -> compose -> write (:mod:`mosaicit.run.steps`), with
    the rejects, the summary and the dataset_info.json entry the spec asks for; see
    :func:`augment_dataset`. ``recorded``: the options that repeat the run, kept in the summary
    (its ``config``). Returns the summary."""
    if spec.outputs.path is None:
        raise ParamError("output", "is needed to augment")
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
            conversations = bars.counted("reading", steps.read(spec, stats, rejects), lambda: stats.read)
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
    done = _Outcome()
    bars.plan("counting passthrough", len(routed.passthrough))
    bars.plan("passthrough", len(routed.passthrough))
    bars.plan("counting tokens", routed.record_count)
    bars.plan("composing", routed.record_count * config.epochs)
    as_dicts = sink is not None or (out.output_parts or output_kind(out.path or STDOUT)) == "parquet"

    def finish(sample: Sample) -> Any:  # runs in the worker processes too
        row = to_row(sample_conversation(sample), shape, out.with_meta)
        return row if as_dicts else encode_row(row)

    def passthrough_rows() -> Iterator[dict[str, Any]]:
        split = spec.inputs.conversations == "split"
        counting = bars.ticker("counting passthrough")
        passthrough = _passthrough_rows(run, routed.passthrough, shape, out.with_meta, done, split, counting)
        yield from bars.counted("passthrough", passthrough)

    def mosaic_rows() -> Iterator[Any]:
        rejects.send(done.over_budget)
        counting, composing = bars.ticker("counting tokens"), bars.ticker("composing")
        yield from steps.mosaics(run, routed, rejects, counting, composing, finish)

    def rows() -> Iterator[Any]:
        yield from passthrough_rows()
        for row in mosaic_rows():
            done.mosaics += 1
            yield row

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
        parts = _write_parts(run, out, passthrough_rows() if has_passthrough else None, mosaic_rows(), done)
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
    done: _Outcome,
) -> list[Part]:
    """Write the output as a folder of part files (``--output-parts``, :mod:`mosaicit.io.parts`):
    the passthrough part here, each compose unit's part where the unit is composed; the folder
    is committed with the run's other outputs. Returns the parts, in written order."""
    assert out.path is not None and out.output_parts is not None
    with atomic_folder(out.path) as folder:
        # absolute: a Ray task writes from its own working directory
        writer = PartWriter(os.path.abspath(folder), out.output_parts, out.output_format)
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
    parts = [part for part in parts if part.rows]  # no file was written for the others
    write_marker(out.path, parts, out.output_parts)
    return parts


def _passthrough_rows(
    run: Run,
    items: list[tuple[Conversation, str]],
    shape: str,
    meta: bool,
    done: _Outcome,
    split: bool,
    on_count: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The passthrough rows, in input order, except that the first row holding a ``history`` (Alpaca)
    and the first holding an ``id`` lead, so that the file's first rows show every column's
    type (see :mod:`mosaicit.io.schema`); over-budget conversations become rejects. Every
    conversation is counted first, through the count cache (``on_count`` ticks them)."""
    render = partial(passthrough_texts, run.template)
    tokens = run.count_conversations([conv for conv, _ in items], render, on_count)
    made: dict[int, dict[str, Any] | None] = {}

    def row_at(i: int) -> dict[str, Any] | None:
        if i not in made:
            conv, why = items[i]
            made[i] = _passthrough_row(run, conv, why, tokens[i], shape, meta, done, split)
        return made[i]

    wanted = [lambda c: shape == "alpaca" and c.multi_turn, lambda c: c.meta.get("id") is not None]
    lead: list[int] = []
    for wants in wanted:
        first = next((i for i, (c, _) in enumerate(items) if wants(c) and row_at(i) is not None), None)
        if first is not None and first not in lead:
            lead.append(first)
    for i in lead:
        yield made[i]  # type: ignore[misc]
    for i in range(len(items)):
        if i not in lead:
            row = made.pop(i) if i in made else row_at(i)
            made.pop(i, None)
            if row is not None:
                yield row


def passthrough_texts(template: Template, conv: Conversation) -> list[str]:
    """The texts a passthrough conversation counts under ``template`` (their counts are summed)."""
    turns = [(conv.user_text(i), answer) for i, (_, answer) in enumerate(conv.turns)]
    return template.conversation(conv.system, turns)


def _passthrough_row(
    run: Run, conv: Conversation, why: str, tokens: int, shape: str, meta: bool, done: _Outcome, split: bool
) -> dict[str, Any] | None:
    """The row of a conversation passed through unchanged (``tokens``: its count), or None (a
    reject) if over budget."""
    if not run.budget.fits(tokens):
        detail = f"{tokens} tokens > max_length {run.budget.max_length}"
        reject = Reject(conv.index, "over_budget", to_row(conv, "messages"), detail)
        done.over_budget.append(reject)
        return None
    done.passthrough += 1
    done.passthrough_tokens += tokens
    done.passthrough_max = max(done.passthrough_max, tokens)
    done.passthrough_lengths[tokens] += 1
    provenance = passthrough_provenance(conv, why, tokens, split)
    if run.shards > 1 and run.key_of is not None:  # the same keys as a sharded run's mosaics
        provenance.update(shard=None, keys=[run.key_of(conv.index, 0 if split else None)])
    return to_row(with_meta(conv, mosaic=provenance, count=conv.meta.get("count", 1)), shape, meta)


def passthrough_provenance(conv: Conversation, why: str, tokens: int, split: bool) -> dict[str, Any]:
    """The ``mosaic`` object of a passthrough row: the same keys and types as a mosaic's.

    ``strategy`` is ``"passthrough"`` and ``rule`` says why (``multi_turn``, ``with_system``);
    the other plan fields are null. Same keys as the mosaics, so that loaders which fix a
    schema from the first rows (``datasets.load_dataset("json")``) read the whole file.
    """
    provenance: dict[str, Any] = dict.fromkeys(Plan.__dataclass_fields__)
    provenance.update(strategy="passthrough", rule=why, sources=[conv.index])
    provenance.update(answer_order=[conv.index], skipped=[])
    if conv.meta.get("id") is not None:
        provenance["ids"] = [conv.meta["id"]]
    if split:
        provenance["turns"] = [0]
    provenance.update(tokens=tokens, epoch=None)
    return provenance


@committed_together()
def convert_dataset(
    source: Any,
    output_path: str | Path,
    formats: FormatOptions | None = None,
    with_meta: bool = True,
    on_bad: str = "skip",
    rejects_path: str | Path | None = None,
    dataset_info_path: str | Path | None = None,
    rejects_full: bool = False,
) -> dict[str, Any]:
    """Rewrite ``source`` in another shape or file type, one row per item, streaming; no mosaicking.

    Kept keys (``id``, ``count``, ``mosaic``) follow each row, in input order. Conversations are
    repaired and broken records rejected as in :func:`augment_dataset`. The output, the rejects
    and the dataset_info.json are committed together, or none is changed. Returns a small summary.
    """
    spec = run_spec(
        source, output_path, None, formats, on_bad, with_meta=with_meta, rejects=rejects_path,
        dataset_info=dataset_info_path, rejects_full=rejects_full,
    )  # fmt: skip
    return convert(spec)


@committed_together()
def convert(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec`` as a conversion: read -> write, one row per item (see :func:`convert_dataset`)."""
    out = spec.outputs
    if out.path is None:
        raise ParamError("output", "is needed to convert")
    shape = out.output_format
    name = source_name(spec.source)
    stats = ReadStats()
    rejects = Rejects()

    def rows() -> Iterator[dict[str, Any]]:
        for conv in steps.read(spec, stats, rejects):
            yield to_row(conv, shape, out.with_meta)
        if stats.read == 0:
            raise InputError(name, "empty dataset: no records")

    seen = dataset_info.ColumnSeen()
    written = steps.write(rows(), out, seen)
    summary: dict[str, Any] = {
        "input": name,
        "output": str(out.path),
        "input_format": stats.shape,
        "output_format": shape,
        "records_read": stats.read,
        "records_written": written,
        "records_rejected": len(rejects),
        "repairs": {k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]},
    }
    if len(rejects) and out.rejects_target is not None:
        write_rejects(out.rejects_target, rejects.in_input_order(), stats, out.rejects_full)
        summary["rejects"] = str(out.rejects_target)
    if out.dataset_info is not None:
        summary["dataset_info"] = {
            "path": str(out.dataset_info),
            "name": dataset_info.write_entry(out.dataset_info, out.path, shape, seen.present),
        }
    return summary
