"""Build a held-out evaluation set: mosaic prompts with their plans and reference answers.

Prompts come from the same composer as training samples (:class:`mosaicit.pipeline.Run`), with
``wrap_mode="uniform"`` and ``max_num`` = the largest size wanted, so group sizes are drawn
uniformly in 1..max. Groups smaller than the smallest size wanted (drawn small, or cut short
by the budget) are set aside and counted; passes over the data continue, each reshuffled,
until ``size`` prompts are found. A prompt is set aside when one of its reference answers
holds a line that looks like the plan's own labels, or its tags (``marks_in_answer_text``), or
when the checker cannot read its reference back exactly (``ambiguous_reference``), so every
reference answer scores 100% by construction.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.budget.tokens import load_counter
from mosaicit.config import MosaicConfig
from mosaicit.errors import InputError, MosaicitError
from mosaicit.eval.checks import Options, check_response
from mosaicit.eval.evalset import EvalItem, Source
from mosaicit.eval.parse import find_labels, find_tags
from mosaicit.io.atomic import atomic_open
from mosaicit.io.formats import Columns
from mosaicit.io.sources import ReadStats, read_conversations, source_name
from mosaicit.pipeline import Run
from mosaicit.plan.plan import Plan
from mosaicit.records import Record, Sample
from mosaicit.render.templates import load_template
from mosaicit.routing import route
from mosaicit.tables.loader import load_tables

MAX_PASSES = 50


@dataclass
class BuildResult:
    """The prompts built and a summary of how they were drawn."""

    items: list[EvalItem]
    summary: dict[str, Any] = field(default_factory=dict)


def markers(plan: Plan) -> str:
    """Which answer markers a plan asks for: ``numbers+tags``, ``numbers``, ``tags`` or ``none``."""
    parts = [name for name, on in (("numbers", plan.numbering), ("tags", plan.tags)) if on]
    return "+".join(parts) or "none"


def rule_key(plan: Plan) -> str:
    """``strategy.rule`` for permute and maskout prompts, else ``none``."""
    return f"{plan.strategy}.{plan.rule}" if plan.rule else "none"


def to_item(number: int, sample: Sample, by_index: dict[int, Record]) -> EvalItem:
    """An eval item from a composed sample (its mosaic dict holds input indices)."""
    plan = Plan.from_dict(sample.mosaic)
    sources = tuple(
        Source(i, n, by_index[i].prompt, by_index[i].output) for n, i in enumerate(plan.sources, 1)
    )
    messages = [{"role": "system", "content": sample.system}] if sample.system else []
    messages.append({"role": "user", "content": sample.instruction})
    return EvalItem(
        id=f"mosaic-{number:05d}",
        prompt=sample.instruction,
        messages=messages,
        plan=plan,
        reference=sample.output,
        sources=sources,
        tokens=sample.mosaic.get("tokens"),
    )


def marks_in_answers(item: EvalItem) -> bool:
    """True if a source's answer text holds a line-start label or a tag of the plan (ambiguous to check)."""
    plan = item.plan
    for source in item.sources:
        if plan.numbering and find_labels(source.output, plan.numbering, item.size):
            return True
        if plan.tags and (
            find_tags(source.output, plan.tags.begin) or find_tags(source.output, plan.tags.end)
        ):
            return True
    return False


def build_evalset(
    source: Any,
    size: int = 100,
    seed: int = 42,
    min_records: int = 2,
    max_records: int = 5,
    tokenizer: str | None = None,
    tables: str | Path | None = None,
    template: str = "none",
    chat_template: str | None = None,
    input_format: str = "auto",
    columns: Columns | None = None,
    split: str | None = None,
    on_bad: str = "skip",
    **options: Any,
) -> BuildResult:
    """Draw ``size`` mosaic prompts of ``min_records``..``max_records`` records each.

    ``source`` is anything mosaicit reads: one or several JSON/JSONL/Parquet paths (globs,
    folders, .gz/.zst, ``-``), a saved dataset folder, a ``datasets.Dataset`` or a list of dicts
    (Alpaca, ShareGPT, messages, prompt/completion).
    Single exchanges are used, grouped by system prompt as in ``augment``; multi-turn
    conversations are left out and counted. ``template`` is what the budget counts, as in
    ``augment``. ``options`` are :class:`~mosaicit.config.MosaicConfig` fields (``version``,
    ``weights``, ``orderings``, ``mask_rules``, ``max_length``, ``tag_rate``,
    ``no_numbering_rate``).
    """
    if size < 1:
        raise MosaicitError(f"--size must be at least 1, got {size}")
    if not 1 <= min_records <= max_records:
        raise MosaicitError(f"need 1 <= --min-records <= --max-records, got {min_records}..{max_records}")
    for fixed in ("epochs", "wrap_mode", "max_num"):
        if fixed in options:
            raise MosaicitError(f"eval build sets {fixed} itself")
    config = MosaicConfig(epochs=MAX_PASSES, wrap_mode="uniform", max_num=max_records, seed=seed, **options)
    name = source_name(source)
    stats = ReadStats()
    routed = route(read_conversations(source, input_format, columns, on_bad, stats, split))
    if not routed.records:
        raise InputError(name, "no single-exchange records with an instruction and an output")
    chat, chat_counter = load_template(template, tokenizer, chat_template)
    run = Run(config, chat_counter or load_counter(tokenizer), load_tables(tables), chat)
    by_index = {r.index: r for r in routed.records}
    items: list[EvalItem] = []
    set_aside: Counter[str] = Counter()
    passes = 0
    for sample in run.grouped(list(members) for members in routed.groups.values()):
        passes = max(passes, sample.mosaic["epoch"] + 1)
        if not min_records <= sample.count <= max_records:
            set_aside["outside_size_range"] += 1
            continue
        item = to_item(len(items) + 1, sample, by_index)
        if marks_in_answers(item):
            set_aside["marks_in_answer_text"] += 1
            continue
        if not check_response(item, item.reference, Options("strict")).passed:
            set_aside["ambiguous_reference"] += 1
            continue
        items.append(item)
        if len(items) == size:
            break
    if len(items) < size:
        raise MosaicitError(
            f"found only {len(items)} of {size} prompts with {min_records}..{max_records} records in "
            f"{MAX_PASSES} passes over {routed.record_count} usable records; lower --min-records "
            f"or --size, or raise --max-length"
        )
    unused = {
        "multi_turn_conversations": len(routed.passthrough),
        "rejected": len(stats.rejects + routed.rejects),
    }
    return BuildResult(items, _summary(items, stats.read, unused, run, passes, set_aside, config))


def _summary(
    items: list[EvalItem],
    read: int,
    unused: dict[str, int],
    run: Run,
    passes: int,
    set_aside: Counter[str],
    config: MosaicConfig,
) -> dict[str, Any]:
    uses = Counter(i for item in items for i in item.plan.sources)

    def tally(key: Any) -> dict[str, int]:
        counts = Counter(key(item) for item in items)
        return {str(k): counts[k] for k in sorted(counts)}

    return {
        "prompts": len(items),
        "records_read": read,
        "records_over_budget": len(run.rejects),
        **unused,
        "records_used": len(uses),
        "records_used_twice_or_more": sum(1 for n in uses.values() if n > 1),
        "passes": passes,
        "set_aside": dict(sorted(set_aside.items())),
        "strategies": tally(lambda item: item.plan.strategy),
        "rules": tally(lambda item: rule_key(item.plan)),
        "instructions": tally(lambda item: item.size),
        "markers": tally(lambda item: markers(item.plan)),
        "options": {
            "seed": config.seed,
            "max_length": config.max_length,
            "weights": config.strategy_weights,
            "orderings": list(config.orderings),
            "mask_rules": list(config.mask_rules),
            "tokenizer": run.counter.name,
            "template": run.template.name,
            "tables": run.tables.source,
        },
    }


def write_evalset(path: str | Path, items: Iterable[EvalItem]) -> int:
    """Write eval items as JSONL, one prompt a line (atomically); return how many."""
    n = 0
    with atomic_open(path) as out:
        for item in items:
            out.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n
