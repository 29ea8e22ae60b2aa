"""The typed summary of an ``augment`` run: what the CLI formats and the summary JSON file holds
(:meth:`RunSummary.to_dict`, the file's keys in the file's order)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mosaicit.histogram import percentile
from mosaicit.plan.compose import ANSWER_SHARE, Tally
from mosaicit.run.accounting import Accounting


@dataclass(frozen=True)
class TokenSummary:
    """Tokens per mosaic: the budget, the total, mean and max, percentiles and the budget fill."""

    max_length: int
    total: int
    mean: float
    max: int
    p50: int
    p90: int
    p99: int
    fill: dict[str, float]


@dataclass(frozen=True)
class AnswerShareSummary:
    """With ``--answer-share``: the bound, then the share of each mosaic's tokens that its output
    text takes (smallest, percentiles, largest, mean), the share of all the mosaics' tokens, and
    the records set aside because their answer share alone is outside the bound."""

    bound: list[float]
    min: float
    p10: float
    p50: float
    p90: float
    max: float
    mean: float
    overall: float
    records_set_aside: int


def answer_share_summary(
    bound: tuple[float, float] | None, tally: Tally, rejected: dict[str, int]
) -> AnswerShareSummary | None:
    """The answer-share section from the composers' ``tally`` and the rejects by reason (None
    without a bound)."""
    if bound is None:
        return None
    low, high = tally.share_range or (0.0, 0.0)
    samples = sum(tally.shares.values())
    mean = sum(k * n for k, n in tally.shares.items()) / samples / 1000 if samples else 0.0
    return AnswerShareSummary(
        bound=list(bound),
        min=low,
        p10=percentile(tally.shares, 10) / 1000,
        p50=percentile(tally.shares, 50) / 1000,
        p90=percentile(tally.shares, 90) / 1000,
        max=high,
        mean=round(mean, 3),
        overall=round(tally.answer_tokens / tally.tokens, 4) if tally.tokens else 0.0,
        records_set_aside=rejected.get(ANSWER_SHARE, 0),
    )


@dataclass(frozen=True)
class BudgetSummary:
    """What the budget counted with, and how compositions were checked."""

    template: str
    tokenizer: str
    tokenizer_fingerprint: str
    composition: str
    verifications: int


@dataclass(frozen=True)
class OptionsSummary:
    """The options that shaped the mosaics."""

    wrap_mode: str
    max_num: int
    version: str
    weights: dict[str, float]
    seed: int
    tables: str


@dataclass(frozen=True)
class FormatsSummary:
    """The input's and the output's shapes, the output's file type (None when no file was written)
    and the routing policies."""

    input: str | None
    output: str
    file: str | None
    conversations: str
    system_policy: str


@dataclass(frozen=True)
class ReadingSummary:
    """The records set aside as broken (malformed) while reading, their share and the share that
    stops a run, and the empty conversations set aside (a kind of their own, not broken)."""

    records: int
    share: float
    max_bad_share: float
    empty_conversations: int


@dataclass(frozen=True)
class PassthroughSummary:
    """The passthrough rows written and their largest count, the conversations over the budget
    among those to pass through, and what was done with them (``--over-budget``)."""

    written: int
    over_budget: int
    max_tokens: int
    over_budget_policy: str


@dataclass(frozen=True)
class DatasetInfoSummary:
    """The LLaMA-Factory dataset_info.json written, and the entry's name."""

    path: str
    name: str


@dataclass(frozen=True)
class ShardsSummary:
    """How many shards each epoch was composed as, and the stable record key (sharded runs)."""

    count: int
    record_key: str | None


@dataclass(frozen=True)
class RunSummary:
    """Everything an ``augment`` run reports. ``records_used`` counts the records of the mosaics
    (exchanges, with ``--conversations split``), ``records_rejected`` and ``rejected_by_reason``
    the rejects file's lines; ``accounting`` sorts the records read into outcomes."""

    input: str
    output: str
    records_read: int
    records_used: int
    records_rejected: int
    rejected_by_reason: dict[str, int]
    #: Every record read in one outcome: mosaicked + passed through + rejected == read.
    accounting: Accounting
    epochs: int
    samples_written: int
    record_uses: int
    records_per_sample: dict[str, int]
    mean_records_per_sample: float
    strategies: dict[str, int]
    rules: dict[str, int]
    tokens: TokenSummary
    budget: BudgetSummary
    workers: int
    cache: dict[str, Any] | None
    options: OptionsSummary
    mosaics_written: int
    formats: FormatsSummary
    kinds: dict[str, dict[str, int]]
    repairs: dict[str, int]
    rejected_at_reading: ReadingSummary
    system_groups: int
    passthrough: PassthroughSummary
    dataset_info: DatasetInfoSummary | None
    plain_tokens: dict[str, int]
    executor: str
    shards: ShardsSummary
    #: With ``--answer-share``: the answer share of the mosaics and its bound; None without it.
    answer_share: AnswerShareSummary | None = None
    #: The part files written (``--output-parts``: their names, in written order); None for one file.
    output_parts: list[str] | None = None
    #: The command's options, as ``--config`` reads them back to repeat the run (a CLI run's summary).
    config: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as the JSON file holds it (no ``dataset_info`` key when none was written,
        no ``answer_share`` key without the bound, no ``output_parts`` key for a one-file output,
        no ``config`` key outside the CLI)."""
        out = asdict(self)
        for key in ("dataset_info", "answer_share", "output_parts", "config"):
            if out[key] is None:
                del out[key]
        return out
