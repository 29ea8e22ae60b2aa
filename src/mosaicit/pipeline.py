"""Read -> count -> compose -> write, with a summary and a side file of rejected records."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.budget import Budget, Measured
from mosaicit.cache import CountCache, default_cache_dir
from mosaicit.compose import Composer, split_usable
from mosaicit.config import MosaicConfig
from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.alpaca import iter_json_objects, sample_to_alpaca, to_record, write_rows
from mosaicit.io.atomic import atomic_open
from mosaicit.parallel import can_fork, compose_parallel
from mosaicit.records import Record, Reject, Sample
from mosaicit.store import RecordStore
from mosaicit.strategies.features import PromptFeatures
from mosaicit.tables.loader import Tables, load_tables
from mosaicit.templates import BareTemplate, Template
from mosaicit.tokens import TokenCounter, load_counter

BAD_RECORD_POLICIES = ("error", "skip")
COUNT_BATCH = 4096


@dataclass
class Prepared:
    """Records ready to compose: the usable ones and everything set aside, with reasons."""

    records: list[Record] | RecordStore
    rejects: list[Reject] = field(default_factory=list)
    read: int = 0


def check_records(
    items: Iterable[tuple[int, Any]],
    path: str,
    on_bad: str = "error",
    into: list[Record] | RecordStore | None = None,
) -> Prepared:
    """Turn raw items into records; malformed ones raise (``error``) or are set aside (``skip``).

    Records with an empty instruction or output are always set aside with their reason.
    Good records are appended to ``into`` (a new list by default).
    """
    if on_bad not in BAD_RECORD_POLICIES:
        raise MosaicitError(f"--on-bad-record must be one of {', '.join(BAD_RECORD_POLICIES)}")
    out = Prepared(records=[] if into is None else into)
    for index, item in items:
        out.read += 1
        try:
            record = item if isinstance(item, Record) else to_record(index, item, path)
        except InputError as exc:
            if on_bad == "error":
                raise
            raw = item if isinstance(item, dict) else {"value": item}
            out.rejects.append(Reject(index, "malformed", raw, exc.reason))
            continue
        if not record.instruction:
            out.rejects.append(Reject(index, "empty_instruction", item if isinstance(item, dict) else {}))
        elif not record.output:
            out.rejects.append(Reject(index, "empty_output", item if isinstance(item, dict) else {}))
        else:
            out.records.append(record)
    return out


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

    def samples(
        self,
        records: Sequence[Record],
        on_count: Callable[[int], None] | None = None,
        on_compose: Callable[[int], None] | None = None,
    ) -> Iterator[Sample]:
        """Count, set aside what cannot fit alone, then yield every epoch's mosaics.

        ``records`` are indexed by position: a record's ``index`` is its input position,
        which provenance reports. With ``workers`` > 1, epochs are composed in parallel
        processes; the samples and their order are the same.
        """
        counts = count_records(self.budget, records, on_count, self.cache)
        usable, over = split_usable(self.composer, records, counts)
        self.rejects.extend(over)
        self.usable = len(usable)
        if self.workers > 1 and self.config.epochs > 1 and can_fork():
            yield from compose_parallel(self.composer, records, counts, usable, self.workers, on_compose)
        else:
            yield from self.composer.compose(records, counts, usable, on_compose)


def mosaic(
    records: Iterable[Record | dict[str, Any]],
    config: MosaicConfig | None = None,
    tokenizer: str | TokenCounter | None = None,
    tables: Tables | str | Path | None = None,
) -> Iterator[Sample]:
    """Mosaic an iterable of records (dicts in Alpaca shape or :class:`Record`) into samples.

    Raises :class:`~mosaicit.errors.InputError` on a malformed record; records that are
    empty or do not fit the budget alone are skipped (use :class:`Run` to see them).
    """
    prepared = check_records(enumerate(records), "<records>")
    counter = tokenizer if hasattr(tokenizer, "count_many") else load_counter(tokenizer)  # type: ignore[arg-type]
    loaded = tables if isinstance(tables, Tables) else load_tables(tables)
    run = Run(config or MosaicConfig(), counter, loaded)  # type: ignore[arg-type]
    yield from run.samples(prepared.records)


def side_paths(output: str | Path) -> tuple[Path, Path]:
    """Default summary and rejects paths beside ``output``."""
    out = Path(output)
    return out.with_name(out.name + ".summary.json"), out.with_name(out.name + ".rejects.jsonl")


def build_summary(
    run: Run, prepared: Prepared, input_path: str, output_path: str, written: int
) -> dict[str, Any]:
    """The run summary, as written beside the output."""
    tally = run.composer.tally
    rejects = prepared.rejects + run.rejects
    reasons: dict[str, int] = {}
    for r in rejects:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
    cfg = run.config
    uses = sum(k * v for k, v in tally.sizes.items())
    return {
        "input": input_path,
        "output": output_path,
        "records_read": prepared.read,
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


def augment_file(
    input_path: str | Path,
    output_path: str | Path,
    config: MosaicConfig,
    tokenizer: str | None = None,
    tables_path: str | Path | None = None,
    with_meta: bool = True,
    summary_path: str | Path | None = None,
    rejects_path: str | Path | None = None,
    on_bad: str = "error",
    progress: bool = False,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Mosaic the file at ``input_path`` into ``output_path``; write the summary and rejects.

    ``workers`` defaults to the number of CPUs; token counts are cached under ``cache_dir``
    (default :func:`~mosaicit.cache.default_cache_dir`) unless ``use_cache`` is False.
    Nothing is written unless the whole run succeeds. Returns the summary.
    """
    tables = load_tables(tables_path)
    counter = load_counter(tokenizer)
    store = RecordStore()  # texts wait on disk while the composer works from counts
    try:
        prepared = check_records(iter_json_objects(input_path), str(input_path), on_bad, store)
        if prepared.read == 0:
            raise InputError(str(input_path), "no records")
        cache = CountCache(cache_dir or default_cache_dir(), counter.fingerprint) if use_cache else None
        run = Run(config, counter, tables, workers=workers or os.cpu_count() or 1, cache=cache)
        default_summary, default_rejects = side_paths(output_path)
        bar = _progress_bar(progress, len(prepared.records) * (config.epochs + 1))
        samples = run.samples(prepared.records, bar.update if bar else None, bar.update if bar else None)
        try:
            written = write_rows(output_path, (sample_to_alpaca(s, with_meta) for s in samples))
        finally:
            if bar:
                bar.close()
            if cache:
                cache.close()
        rejects = sorted(prepared.rejects + run.rejects, key=lambda r: r.index)
        write_rows(
            rejects_path or default_rejects,
            ({"index": r.index, "reason": r.reason, "detail": r.detail, "record": r.record} for r in rejects),
        )
        summary = build_summary(run, prepared, str(input_path), str(output_path), written)
        with atomic_open(summary_path or default_summary) as out:
            json.dump(summary, out, indent=2, ensure_ascii=False)
            out.write("\n")
        return summary
    finally:
        store.close()


def _progress_bar(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="rec", file=sys.stderr, dynamic_ncols=True, leave=False)
