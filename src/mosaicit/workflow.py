"""Datasets in any supported shape: mosaic them (``augment_dataset``) or only reshape them.

read (any shape, any file type) -> route (policies) -> compose each system-prompt group ->
count the passthrough conversations under the template -> write (chosen shape, by extension),
with the rejects, the summary and, if asked, the LLaMA-Factory dataset_info.json entry.
Nothing is written unless the whole run succeeds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.budget.cache import CountCache, default_cache_dir
from mosaicit.budget.tokens import load_counter
from mosaicit.config import MosaicConfig
from mosaicit.errors import InputError, MosaicitError, RecordError
from mosaicit.histogram import token_stats
from mosaicit.io import dataset_info
from mosaicit.io.atomic import atomic_open
from mosaicit.io.chats import REPAIRS
from mosaicit.io.commit import committed_together
from mosaicit.io.formats import Columns, Conversation, to_row, with_meta
from mosaicit.io.inputs import expand
from mosaicit.io.jsonstream import EncodedRow, encode_row, write_rows
from mosaicit.io.outputs import STDOUT
from mosaicit.io.paths import check_distinct
from mosaicit.io.sources import (
    MAX_BAD_SHARE,
    ReadStats,
    check_output_format,
    output_kind,
    read_conversations,
    source_name,
    write_dataset,
)
from mosaicit.io.wellformed import dumps_escaped
from mosaicit.pipeline import Run
from mosaicit.plan.plan import Plan
from mosaicit.progress import Progress
from mosaicit.records import Reject, Sample
from mosaicit.render.templates import ChatTemplate, load_template
from mosaicit.routing import Routed, check_policies, route
from mosaicit.store import RecordStore
from mosaicit.tables.loader import load_tables


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


def _check_template(run: Run, routed: Routed, name: str) -> None:
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


def check_info_target(info_path: str | Path, output_path: str | Path, shape: str) -> None:
    """A clear error, before anything is read, when no dataset_info.json entry can be written."""
    if str(output_path) == STDOUT:
        raise MosaicitError("--emit-dataset-info needs an output file, not - (stdout)")
    dataset_info.check_target(info_path, shape)


def side_paths(output: str | Path) -> tuple[Path, Path]:
    """Default summary and rejects paths beside ``output``."""
    out = Path(output)
    return out.with_name(out.name + ".summary.json"), out.with_name(out.name + ".rejects.jsonl")


def build_summary(
    run: Run, read: int, rejects: Sequence[Reject], input_path: str, output_path: str, written: int
) -> dict[str, Any]:
    """The run summary, as written beside the output; ``rejects`` are all of the run's."""
    tally = run.composer.tally
    reasons: dict[str, int] = {}
    for r in rejects:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
    cfg = run.config
    uses = sum(k * v for k, v in tally.sizes.items())
    return {
        "input": input_path,
        "output": output_path,
        "records_read": read,
        "records_used": run.usable,
        "records_rejected": len(rejects),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "epochs": cfg.epochs,
        "samples_written": written,
        "record_uses": uses,
        "records_per_sample": {str(k): v for k, v in sorted(tally.sizes.items())},
        "mean_records_per_sample": round(uses / written, 3) if written else 0,
        "strategies": dict(sorted(tally.strategies.items())),
        "rules": dict(sorted(tally.rules.items())),
        "tokens": {
            "max_length": cfg.max_length,
            "total": tally.tokens,
            "mean": round(tally.tokens / written, 1) if written else 0,
            "max": tally.max_tokens,
            **token_stats(tally.token_counts, cfg.max_length),
        },
        "budget": {
            "template": run.template.name,
            "tokenizer": run.counter.name,
            "tokenizer_fingerprint": run.counter.fingerprint,
            "composition": "exact" if run.budget.exact else "estimated, every sample verified",
            "verifications": tally.verified,
        },
        "workers": run.workers,
        "cache": run.cache.stats() if run.cache else None,
        "options": {
            "wrap_mode": cfg.wrap_mode,
            "max_num": cfg.max_num,
            "version": cfg.version,
            "weights": cfg.strategy_weights,
            "seed": cfg.seed,
            "tables": run.tables.source,
        },
    }


def write_rejects(
    path: str | Path, rejects: Iterable[Reject], stats: ReadStats | None = None, full: bool = False
) -> int:
    """Write rejects as JSONL: each record's input ``index``, where it was read (``file``, and
    ``row``: its position in that file, from 0), its ``id``, the ``reason`` and a ``detail``;
    the whole record too when ``full``. A lone surrogate is written as a JSON escape."""

    def row(r: Reject) -> dict[str, Any]:
        file, at = (stats.origin(r.index) if stats else None) or (None, None)
        out = {"index": r.index, "file": file, "row": at, "id": r.id, "reason": r.reason, "detail": r.detail}
        if full:
            out["record"] = r.raw()
        return out

    return write_rows(path, (EncodedRow(dumps_escaped(row(r)), frozenset()) for r in rejects))


def _read(source: Any, fmt: FormatOptions, on_bad: str, stats: ReadStats) -> Iterator[Conversation]:
    """The conversations of ``source`` as ``fmt`` says to read them."""
    return read_conversations(
        source, fmt.input_format, fmt.columns, on_bad, stats, fmt.split,
        fmt.strict_conversations, fmt.max_bad_share,
    )  # fmt: skip


def side_targets(
    output_path: str | Path, summary_path: str | Path | None, rejects_path: str | Path | None
) -> tuple[str | Path | None, str | Path | None]:
    """Where the summary and the rejects go: as given, else beside the output (nowhere for stdout)."""
    if str(output_path) == STDOUT:
        return summary_path, rejects_path
    default_summary, default_rejects = side_paths(output_path)
    return summary_path or default_summary, rejects_path or default_rejects


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
) -> dict[str, Any]:
    """Mosaic ``source`` (a path or a ``datasets.Dataset``) into ``output_path``; returns the summary.

    Single exchanges are mosaicked within their system-prompt group; other items follow the
    policies in ``formats``. Every written sample, rendered with ``formats.template``, counts
    at most ``config.max_length`` tokens. ``workers`` (default: the number of CPUs) measure
    records and compose epochs in parallel; token counts are cached under ``cache_dir`` (default
    :func:`~mosaicit.cache.default_cache_dir`) unless ``use_cache`` is False. Records wait in
    spool files while composing. Every output is committed together when the whole run
    succeeds (see :mod:`mosaicit.io.commit`); none of them is changed otherwise. The outputs
    must be distinct files, and none may be an input. A broken
    input record is rejected (``on_bad="skip"``) or stops the run (``"error"``); the rejects
    file holds each one's index, file, row, id, reason and detail, and the record itself when
    ``rejects_full``. ``source`` may be several paths (see :mod:`mosaicit.io.inputs`).
    """
    fmt = formats or FormatOptions()
    shape = check_output_format(fmt.output_format)
    output_kind(output_path)
    check_policies(fmt.conversations, fmt.system_policy)
    summary_target, rejects_target = side_targets(output_path, summary_path, rejects_path)
    check_distinct(
        {
            "INPUT": expand(source) if isinstance(source, str | Path | list | tuple) else source,
            "--tables": tables_path,
            "--tokenizer": tokenizer if tokenizer and os.path.isfile(tokenizer) else None,
            "--chat-template": fmt.chat_template,
        },
        {
            "--output": output_path,
            "--rejects": rejects_target,
            "--summary": summary_target,
            "--emit-dataset-info": dataset_info_path,
        },
    )
    if dataset_info_path is not None:
        check_info_target(dataset_info_path, output_path, shape)
    name = source_name(source)
    tables = load_tables(tables_path)
    template, chat_counter = load_template(fmt.template, tokenizer, fmt.chat_template)
    counter = chat_counter or load_counter(tokenizer)

    stats = ReadStats()
    bars = Progress(progress)
    conversations = bars.counted("reading", _read(source, fmt, on_bad, stats))
    stores: list[RecordStore] = []

    def new_group() -> RecordStore:
        stores.append(RecordStore())
        return stores[-1]

    cache = CountCache(cache_dir or default_cache_dir(), counter.fingerprint) if use_cache else None
    try:
        return _augment(
            route(conversations, fmt.conversations, fmt.system_policy, _raw_in(stats), new_group),
            Run(config, counter, tables, template, workers=workers or os.cpu_count() or 1, cache=cache),
            stats, name, shape, fmt, output_path, with_meta, summary_path, rejects_path, bars,
            dataset_info_path, rejects_full,
        )  # fmt: skip
    except RecordError as exc:
        raise InputError(name, exc.reason, exc.record) from None
    finally:
        bars.close(completed=False)
        if cache:
            cache.close()
        for store in stores:
            store.close()


def _augment(
    routed: Routed,
    run: Run,
    stats: ReadStats,
    name: str,
    shape: str,
    fmt: FormatOptions,
    output_path: str | Path,
    with_meta: bool,
    summary_path: str | Path | None,
    rejects_path: str | Path | None,
    bars: Progress,
    dataset_info_path: str | Path | None,
    rejects_full: bool,
) -> dict[str, Any]:
    """Compose, write and summarise a routed dataset (see :func:`augment_dataset`)."""
    config = run.config
    if stats.read == 0:
        raise InputError(name, "empty dataset: no records")
    _check_template(run, routed, name)
    done = _Outcome()
    bars.plan("reading", stats.read)
    bars.plan("passthrough", len(routed.passthrough))
    bars.plan("counting tokens", routed.record_count)
    bars.plan("composing", routed.record_count * config.epochs)

    def finish(sample: Sample) -> Any:  # runs in the worker processes too
        row = to_row(sample_conversation(sample), shape, with_meta)
        return row if as_parquet else encode_row(row)

    as_parquet = output_kind(output_path) == "parquet"

    def rows() -> Iterator[Any]:
        split = fmt.conversations == "split"
        yield from bars.counted(
            "passthrough", _passthrough_rows(run, routed.passthrough, name, shape, with_meta, done, split)
        )
        counting, composing = bars.ticker("counting tokens"), bars.ticker("composing")
        for row in run.grouped(routed.groups.values(), counting, composing, finish):
            done.mosaics += 1
            yield row

    seen = dataset_info.ColumnSeen()
    written = write_dataset(output_path, seen.watch(rows()), shape)
    summary_target, rejects_target = side_targets(output_path, summary_path, rejects_path)
    rejects = sorted(stats.rejects + routed.rejects + done.over_budget + run.rejects, key=lambda r: r.index)
    if rejects_target is not None:
        write_rejects(rejects_target, rejects, stats, rejects_full)
    summary = build_summary(run, stats.read, rejects, name, str(output_path), done.mosaics)
    summary["samples_written"] = written
    if run.budget.exact and run.composer.tally.verified:
        summary["budget"]["composition"] = (
            "exact; samples with special tokens or texts that do not compose verified"
        )
    summary["mosaics_written"] = done.mosaics
    summary["formats"] = {
        "input": stats.shape,
        "output": shape,
        "file": output_kind(output_path),
        "conversations": fmt.conversations,
        "system_policy": fmt.system_policy,
    }
    summary["kinds"] = routed.kinds
    summary["repairs"] = {k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]}
    summary["rejected_at_reading"] = {
        "records": stats.bad,
        "share": round(stats.bad / stats.read, 4) if stats.read else 0,
        "max_bad_share": fmt.max_bad_share,
    }
    summary["system_groups"] = len(routed.groups)
    summary["passthrough"] = {
        "written": done.passthrough,
        "over_budget": sum(1 for r in done.over_budget),
        "max_tokens": done.passthrough_max,
    }
    if dataset_info_path is not None:
        summary["dataset_info"] = {
            "path": str(dataset_info_path),
            "name": dataset_info.write_entry(dataset_info_path, output_path, shape, seen.present),
        }
    summary["plain_tokens"] = {str(k): v for k, v in sorted(run.plain_tokens.items())}
    if summary_target is not None:
        with atomic_open(summary_target) as out:
            json.dump(summary, out, indent=2, ensure_ascii=False)
            out.write("\n")
    bars.close()
    return summary


def _passthrough_rows(
    run: Run,
    items: list[tuple[Conversation, str]],
    name: str,
    shape: str,
    meta: bool,
    done: _Outcome,
    split: bool,
) -> Iterator[dict[str, Any]]:
    """The passthrough rows, in input order, except that the first row holding a ``history`` (Alpaca)
    and the first holding an ``id`` lead, so that the file's first rows show every column's
    type (see :mod:`mosaicit.io.schema`); over-budget conversations become rejects."""
    made: dict[int, dict[str, Any] | None] = {}

    def row_at(i: int) -> dict[str, Any] | None:
        if i not in made:
            conv, why = items[i]
            made[i] = _passthrough_row(run, conv, why, name, shape, meta, done, split)
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


def _passthrough_row(
    run: Run, conv: Conversation, why: str, name: str, shape: str, meta: bool, done: _Outcome, split: bool
) -> dict[str, Any] | None:
    """The row of a conversation passed through unchanged, or None (a reject) if over budget."""
    turns = [(conv.user_text(i), answer) for i, (_, answer) in enumerate(conv.turns)]
    try:
        tokens = run.budget.count_texts(run.template.conversation(conv.system, turns))
    except MosaicitError as exc:
        raise InputError(name, str(exc), conv.index) from None
    if not run.budget.fits(tokens):
        detail = f"{tokens} tokens > max_length {run.budget.max_length}"
        reject = Reject(conv.index, "over_budget", to_row(conv, "messages"), detail)
        done.over_budget.append(reject)
        return None
    done.passthrough += 1
    done.passthrough_tokens += tokens
    done.passthrough_max = max(done.passthrough_max, tokens)
    provenance = passthrough_provenance(conv, why, tokens, split)
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
    fmt = formats or FormatOptions()
    shape = check_output_format(fmt.output_format)
    output_kind(output_path)
    rejects_target = side_targets(output_path, None, rejects_path)[1]
    check_distinct(
        {"INPUT": expand(source) if isinstance(source, str | Path | list | tuple) else source},
        {"--output": output_path, "--rejects": rejects_target, "--emit-dataset-info": dataset_info_path},
    )
    if dataset_info_path is not None:
        check_info_target(dataset_info_path, output_path, shape)
    name = source_name(source)
    stats = ReadStats()

    def rows() -> Iterator[dict[str, Any]]:
        for conv in _read(source, fmt, on_bad, stats):
            yield to_row(conv, shape, with_meta)
        if stats.read == 0:
            raise InputError(name, "empty dataset: no records")

    seen = dataset_info.ColumnSeen()
    written = write_dataset(output_path, seen.watch(rows()), shape)
    summary: dict[str, Any] = {
        "input": name,
        "output": str(output_path),
        "input_format": stats.shape,
        "output_format": shape,
        "records_read": stats.read,
        "records_written": written,
        "records_rejected": len(stats.rejects),
        "repairs": {k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]},
    }
    if stats.rejects and rejects_target is not None:
        write_rejects(rejects_target, stats.rejects, stats, rejects_full)
        summary["rejects"] = str(rejects_target)
    if dataset_info_path is not None:
        summary["dataset_info"] = {
            "path": str(dataset_info_path),
            "name": dataset_info.write_entry(dataset_info_path, output_path, shape, seen.present),
        }
    return summary
