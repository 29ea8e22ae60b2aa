"""The summary of an augment run (:class:`~mosaicit.run.summary.RunSummary`) from what it read,
routed, composed and wrote."""

from __future__ import annotations

from typing import Any, NamedTuple

from mosaicit.histogram import token_stats
from mosaicit.io.chats import REPAIRS
from mosaicit.io.parts import Part
from mosaicit.io.sources import ReadStats, source_name
from mosaicit.plan.compose import Tally
from mosaicit.run.accounting import Accounting
from mosaicit.run.groups import Run
from mosaicit.run.passthrough import Outcome
from mosaicit.run.spec import RunSpec
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
    answer_share_summary,
)


class Counted(NamedTuple):
    """What a run counted of its records' outcomes, for its summary: the accounting, the rejects by
    reason, what happened to each kind of record (:func:`kinds`) and how many system-prompt
    groups there were."""

    accounting: Accounting
    rejected_by_reason: dict[str, int]
    kinds: dict[str, dict[str, int]]
    system_groups: int


def record_uses(tally: Tally) -> int:
    """How many times records were used in the mosaics a tally counted."""
    return sum(k * v for k, v in tally.sizes.items())


def summarise(
    run: Run,
    spec: RunSpec,
    stats: ReadStats,
    counted: Counted,
    done: Outcome,
    written: int,
    info: DatasetInfoSummary | None,
    parts: list[Part] | None = None,
    recorded: dict[str, Any] | None = None,
) -> RunSummary:
    """The run's summary (see :class:`~mosaicit.run.summary.RunSummary`); ``parts``: the part
    files written (``--output-parts``); ``recorded``: the options to repeat the run with."""
    tally = run.composer.tally
    cfg = run.config
    uses = record_uses(tally)
    mosaics = done.mosaics
    composition = "exact" if run.budget.exact else "estimated, every sample verified"
    if run.budget.exact and tally.verified:
        composition = "exact; samples with special tokens or texts that do not compose verified"
    return RunSummary(
        input=source_name(spec.source),
        output="" if spec.outputs.path is None else str(spec.outputs.path),
        records_read=stats.read,
        records_used=run.usable,
        records_rejected=sum(counted.rejected_by_reason.values()),
        rejected_by_reason=counted.rejected_by_reason,
        accounting=counted.accounting,
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
        workers=run.executor.workers,
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
            file=None if (kind := spec.outputs.file_type) is None else kind.name,
            conversations=spec.inputs.conversations,
            system_policy=spec.inputs.system_policy,
        ),
        kinds=counted.kinds,
        repairs={k: stats.repairs[k] for k in REPAIRS if stats.repairs[k]},
        rejected_at_reading=ReadingSummary(
            records=stats.bad,
            share=round(stats.bad / stats.read, 4) if stats.read else 0,
            max_bad_share=spec.inputs.max_bad_share,
            empty_conversations=stats.empty,
        ),
        system_groups=counted.system_groups,
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
        answer_share=answer_share_summary(cfg.answer_share, tally, counted.rejected_by_reason),
        output_parts=None if parts is None else [f"{p.name}.{spec.outputs.output_parts}" for p in parts],
        config=recorded,
    )


def kinds(routed: dict[str, dict[str, int]], stats: ReadStats) -> dict[str, dict[str, int]]:
    """What happened to each kind of record read: the ``routed`` kinds, then the empty
    conversations and the broken records set aside while reading, each a kind of its own."""
    kinds = dict(routed)
    for kind, reason, n in (("empty", "empty_conversation", stats.empty), ("broken", "malformed", stats.bad)):
        if n:
            kinds[kind] = {"read": n, reason: n}
    return kinds
