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
from mosaicit.io.parts import PASSTHROUGH, UNBUDGETED, Part, PartWriter, write_marker
from mosaicit.io.sources import MAX_BAD_SHARE, ReadStats, output_kind, source_name
from mosaicit.io.wellformed import dumps_escaped
from mosaicit.plan.config import MosaicConfig
from mosaicit.progress import Progress
from mosaicit.render.templates import ChatTemplate, Template
from mosaicit.run import steps
from mosaicit.run.accounting import Ledger
from mosaicit.run.assemble import open_run
from mosaicit.run.groups import AtLeast, Run
from mosaicit.run.overbudget import cut
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
from mosaicit.types.records import Record, Reject, Sample

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
    over_budget: str = "split"


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
    """What writing found: mosaics and passthrough rows written, the conversations over the
    budget, the rejects made while passing through, and the records to pass through unbudgeted."""

    mosaics: int = 0
    passthrough: int = 0
    passthrough_tokens: int = 0
    passthrough_max: int = 0
    over_budget: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unbudgeted: list[Record] = field(default_factory=list)
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
        accounting=routed.ledger.settle(
            stats.read, rejects.in_input_order(), run.usable, uses, done.passthrough
        ),
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
        kinds=_kinds(routed, stats),
        repairs={k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]},
        rejected_at_reading=ReadingSummary(
            records=stats.bad,
            share=round(stats.bad / stats.read, 4) if stats.read else 0,
            max_bad_share=spec.inputs.max_bad_share,
            empty_conversations=stats.empty,
        ),
        system_groups=len(routed.groups),
        passthrough=PassthroughSummary(
            written=done.passthrough,
            over_budget=done.over_budget,
            max_tokens=done.passthrough_max,
            over_budget_policy=spec.inputs.over_budget,
        ),
        dataset_info=info,
        plain_tokens={str(k): v for k, v in sorted(run.plain_tokens.items())},
        executor=spec.executor,
        shards=ShardsSummary(run.shards, "FILE:ROW[:TURN]" if run.shards > 1 else None),
        output_parts=None if parts is None else [f"{p.name}.{spec.outputs.output_parts}" for p in parts],
        config=recorded,
    )


def _kinds(routed: Routed, stats: ReadStats) -> dict[str, dict[str, int]]:
    """What happened to each kind of record read: the routed kinds, then the empty conversations
    and the broken records set aside while reading, each a kind of its own."""
    kinds = dict(routed.kinds)
    for kind, reason, n in (("empty", "empty_conversation", stats.empty), ("broken", "malformed", stats.bad)):
        if n:
            kinds[kind] = {"read": n, reason: n}
    return kinds


def write_rejects(
    path: str | Path,
    rejects: Iterable[Reject],
    stats: ReadStats | None = None,
    full: bool = False,
    key_of: KeyOf | None = None,
) -> int:
    """Write rejects as JSONL: each record's input ``index``, where it was read (``file``, and
    ``row``: its position in that file, from 0), the exchange it concerns (``turn``, null for the
    whole record), its ``id``, the ``reason`` and a ``detail``;
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
        out = {"index": r.index, "file": file, "row": at, "turn": r.turn, "id": r.id}
        out.update(reason=r.reason, detail=r.detail)
        if key_of is not None:
            out["key"] = key_of(r.index, r.turn)
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
            fmt.over_budget,
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
    at most ``config.max_length`` tokens, except rows passed through unbudgeted as
    ``formats.over_budget="pass"`` asks (:mod:`mosaicit.run.overbudget`). ``workers``
    (default: the CPUs other work leaves free, see :class:`~mosaicit.run.workers.CoreLook`)
    measure records and compose epochs in parallel; token counts are cached under ``cache_dir`` (default
    :func:`~mosaicit.budget.cache.default_cache_dir`) unless ``use_cache`` is False. Records wait in
    spool files while composing. Every output is committed together when the whole run
    succeeds (see :mod:`mosaicit.io.commit`); none of them is changed otherwise. The outputs
    must be distinct files, and none may be an input. A broken
    input record is rejected (``on_bad="skip"``) or stops the run (``"error"``); the rejects
    file holds each one's index, file, row, turn, id, reason and detail, and the record itself when
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

    split = spec.inputs.conversations == "split"
    passing = _Passing(run, shape, out.with_meta, done, routed.ledger, spec.inputs.over_budget, split)

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
    done: _Outcome,
) -> list[Part]:
    """Write the output as a folder of part files (``--output-parts``, :mod:`mosaicit.io.parts`):
    the passthrough part here, each compose unit's part where the unit is composed, then the
    records passed through unbudgeted, if any, here; the folder is committed with the run's
    other outputs. Returns the parts, in written order."""
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
        if done.unbudgeted:
            parts.append(writer.write(UNBUDGETED, unbudgeted()))
    parts = [part for part in parts if part.rows]  # no file was written for the others
    write_marker(out.path, parts, out.output_parts)
    return parts


@dataclass
class _Passing:
    """The rows of what is passed through, with their token counts; what is over the budget
    follows ``policy`` (``--over-budget``, :mod:`mosaicit.run.overbudget`), its rejects go to
    ``done.rejects`` and each record's outcome to ``ledger``; ``split``: ``--conversations split``."""

    run: Run
    shape: str
    meta: bool
    done: _Outcome
    ledger: Ledger
    policy: str
    split: bool

    def rows(
        self, items: list[tuple[Conversation, str]], on_count: Callable[[int], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The passthrough rows, in input order, except that the first row holding a ``history``
        (Alpaca) and the first holding an ``id`` lead, so that the file's first rows show every
        column's type (see :mod:`mosaicit.io.schema`). Every conversation is counted first,
        through the count cache (``on_count`` ticks them)."""
        render = partial(passthrough_texts, self.run.template)
        tokens = self.run.count_conversations([conv for conv, _ in items], render, on_count)
        made: dict[int, list[tuple[Conversation, dict[str, Any]]]] = {}

        def rows_at(i: int) -> list[tuple[Conversation, dict[str, Any]]]:
            if i not in made:
                made[i] = self.of(*items[i], tokens[i])
            return made[i]

        wanted = [lambda c: self.shape == "alpaca" and c.multi_turn, lambda c: c.meta.get("id") is not None]
        lead: list[tuple[int, int]] = []
        for wants in wanted:
            found = next(
                ((i, k) for i, (c, _) in enumerate(items) if wants(c)
                 for k, (part, _) in enumerate(rows_at(i)) if wants(part)),
                None,
            )  # fmt: skip
            if found is not None and found not in lead:
                lead.append(found)
        for i, k in lead:
            yield made[i][k][1]
        for i in range(len(items)):
            rows = made.pop(i) if i in made else rows_at(i)
            made.pop(i, None)
            yield from (row for k, (_, row) in enumerate(rows) if (i, k) not in lead)

    def count(self, conv: Conversation, start: int = 0, end: int | None = None) -> int:
        """The real count of exchanges ``start`` to ``end - 1`` of ``conv``, rendered as one conversation."""
        try:
            return self.run.budget.count_texts(passthrough_texts(self.run.template, _part(conv, start, end)))
        except MosaicitError as exc:
            raise RecordError(conv.index, str(exc)) from None

    def of(self, conv: Conversation, why: str, tokens: int) -> list[tuple[Conversation, dict[str, Any]]]:
        """The rows of one conversation passed through (``tokens``: its count), each with the part
        of it that it holds: the whole conversation when it fits the budget, else what the policy
        makes of it."""
        if self.run.budget.fits(tokens):
            self.ledger.passed(conv.index, "whole")
            return [self.row(conv, why, tokens)]
        self.done.over_budget += 1
        limit = self.run.budget.max_length
        if self.policy == "pass":
            self.ledger.passed(conv.index, "unbudgeted")
            exact = self.count(conv) if isinstance(tokens, AtLeast) else tokens  # (its row says it)
            return [self.row(conv, why, exact, over="pass")]
        if self.policy == "reject" or not conv.multi_turn:
            least = "at least " if isinstance(tokens, AtLeast) else ""
            detail = f"{least}{tokens} tokens > max_length {limit}"
            self.reject(conv, "over_budget", detail)
            return []
        alone = [self.count(conv, i, i + 1) for i in range(len(conv.turns))]
        users = [user for user, _ in conv.turns]
        cuts = cut(users, partial(self.count, conv), limit, alone, trim=self.policy == "trim")
        for turn, reason, detail in cuts.rejected:
            self.reject(conv, reason, detail, turn)
        rows = []
        for start, end, run_tokens in cuts.runs:
            part = _part(conv, start, end)
            rows.append(self.row(part, why, run_tokens, self.policy, list(range(start, end))))
        if rows:
            self.ledger.passed(conv.index, "split" if self.policy == "split" else "trimmed")
        return rows

    def unbudgeted(self, record: Record) -> dict[str, Any]:
        """The row of a record that cannot fit the budget alone, passed through (``--over-budget pass``)."""
        meta = {} if record.id is None else {"id": record.id}
        conv = Conversation(
            record.index, ((record.instruction, record.output),), record.system, record.input, meta
        )
        why = "multi_turn" if record.turn is not None else "with_system" if record.system else "single_turn"
        self.ledger.passed(record.index, "unbudgeted")
        turns = None if record.turn is None else [record.turn]
        return self.row(conv, why, self.count(conv), "pass", turns)[1]

    def reject(self, conv: Conversation, reason: str, detail: str, turn: int | None = None) -> None:
        """Reject ``conv`` (or its exchange ``turn``) for ``reason``."""
        raw = to_row(conv, "messages")
        self.done.rejects.append(Reject(conv.index, reason, raw, detail, conv.meta.get("id"), turn))

    def row(
        self,
        conv: Conversation,
        why: str,
        tokens: int,
        over: str | None = None,
        turns: list[int] | None = None,
    ) -> tuple[Conversation, dict[str, Any]]:
        """``conv`` as an output row with its provenance (see :func:`passthrough_provenance`)."""
        done, run = self.done, self.run
        done.passthrough += 1
        done.passthrough_tokens += tokens
        done.passthrough_max = max(done.passthrough_max, tokens)
        done.passthrough_lengths[tokens] += 1
        provenance = passthrough_provenance(conv, why, tokens, self.split)
        if turns is not None:
            provenance["turns"] = turns
        if over is not None:
            provenance["over_budget"] = over
        if run.shards > 1 and run.key_of is not None:  # the same keys as a sharded run's mosaics
            first = turns[0] if turns else 0
            provenance.update(
                shard=None, keys=[run.key_of(conv.index, first if self.split or first else None)]
            )
        row = to_row(
            with_meta(conv, mosaic=provenance, count=conv.meta.get("count", 1)), self.shape, self.meta
        )
        return conv, row


def _part(conv: Conversation, start: int = 0, end: int | None = None) -> Conversation:
    """Exchanges ``start`` to ``end - 1`` of ``conv`` as a conversation (the Alpaca context kept
    with the last exchange)."""
    stop = len(conv.turns) if end is None else end
    if (start, stop) == (0, len(conv.turns)):
        return conv
    return replace(conv, turns=conv.turns[start:stop], input=conv.input if stop == len(conv.turns) else "")


def passthrough_texts(template: Template, conv: Conversation) -> list[str]:
    """The texts a passthrough conversation counts under ``template`` (their counts are summed)."""
    turns = [(conv.user_text(i), answer) for i, (_, answer) in enumerate(conv.turns)]
    return template.conversation(conv.system, turns)


def passthrough_provenance(conv: Conversation, why: str, tokens: int, split: bool) -> dict[str, Any]:
    """The ``mosaic`` object of a passthrough row: the same keys and types as a mosaic's.

    ``strategy`` is ``"passthrough"`` and ``rule`` says why (``multi_turn``, ``with_system``);
    the other plan fields are null. A row that the budget touched (:mod:`mosaicit.run.overbudget`)
    also has ``over_budget`` (``split``, ``trim`` or ``pass``: what was done) and ``turns`` (the
    conversation's exchanges it holds). Same keys as the mosaics, so that loaders which fix a
    schema from the first rows (``datasets.load_dataset("json")``) read the whole file.
    """
    # a plan's keys as Plan.to_dict writes them: no ``edits`` (only a rules mosaic has them)
    provenance: dict[str, Any] = dict.fromkeys(k for k in Plan.__dataclass_fields__ if k != "edits")
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
