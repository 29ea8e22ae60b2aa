"""Build a held-out evaluation set: mosaic prompts with their plans and reference answers.

Prompts come from the same run as training samples (:class:`mosaicit.run.memory.Mosaics`), with
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError, MosaicitError, ParamError
from mosaicit.eval.checks import Options, check_response
from mosaicit.eval.evalset import EvalItem, Source
from mosaicit.eval.parse import find_labels, find_tags
from mosaicit.io.atomic import atomic_open
from mosaicit.io.sources import source_name
from mosaicit.plan.config import MosaicConfig
from mosaicit.render.edits import edit_answer
from mosaicit.run.groups import Run
from mosaicit.run.memory import Mosaics, members
from mosaicit.run.spec import RunSpec
from mosaicit.types.plan import Plan
from mosaicit.types.records import Record, Sample

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


def reference(plan: Plan, record: Record) -> str:
    """A record's reference answer in a plan: its output, rewritten by its rule if it has one."""
    edit = plan.edit_of(record.index)
    return record.output if edit is None else edit_answer(edit, record.output, record.prompt)


def to_item(number: int, sample: Sample, records: Sequence[Record]) -> EvalItem:
    """An eval item from a composed sample and its records, in the order of its sources."""
    plan = Plan.from_dict(sample.mosaic)
    sources = tuple(Source(r.index, n, r.prompt, reference(plan, r)) for n, r in enumerate(records, 1))
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
    source: Any, size: int = 100, min_records: int = 2, max_records: int = 5, **options: Any
) -> BuildResult:
    """Draw ``size`` mosaic prompts of ``min_records``..``max_records`` records each.

    ``source`` is anything mosaicit reads: one or several JSON/JSONL/Parquet paths (globs,
    folders, .gz/.zst, ``-``), a saved dataset folder, a ``datasets.Dataset`` or a list of dicts
    (Alpaca, ShareGPT, messages, prompt/completion), read as for ``augment``. Single exchanges
    are used, grouped by system prompt as in ``augment``; multi-turn conversations are left out
    and counted. ``options`` are those of ``augment`` by name (see
    :meth:`~mosaicit.run.spec.RunSpec.of`: ``seed``, ``version``, ``weights``, ``orderings``,
    ``mask_rules``, ``max_length``, ``tag_rate``, ``no_numbering_rate``, ``tokenizer``,
    ``template``, ``tables``, ``input_format``, ``columns``, ``on_bad``...), except ``epochs``,
    ``wrap_mode`` and ``max_num``, which the build sets; it runs in this process, without the
    token-count cache, unless ``workers`` and ``use_cache`` say otherwise.
    """
    if size < 1:
        raise ParamError("size", f"must be at least 1, got {size}")
    if not 1 <= min_records <= max_records:
        raise MosaicitError(f"need 1 <= --min-records <= --max-records, got {min_records}..{max_records}")
    for fixed in ("epochs", "wrap_mode", "max_num"):
        if fixed in options:
            raise MosaicitError(f"eval build sets {fixed} itself")
    settings = {"workers": 1, "use_cache": False, **options}
    spec = RunSpec.of(source, epochs=MAX_PASSES, wrap_mode="uniform", max_num=max_records, **settings)
    mosaics = Mosaics(spec)
    items: list[EvalItem] = []
    set_aside: Counter[str] = Counter()
    passes = 0
    for sample in mosaics:
        passes = max(passes, sample.mosaic["epoch"] + 1)
        if not min_records <= sample.count <= max_records:
            set_aside["outside_size_range"] += 1
            continue
        item = to_item(len(items) + 1, sample, members(sample, mosaics.records))
        if marks_in_answers(item):
            set_aside["marks_in_answer_text"] += 1
            continue
        if not check_response(item, item.reference, Options("strict")).passed:
            set_aside["ambiguous_reference"] += 1
            continue
        items.append(item)
        if len(items) == size:
            break
    routed = mosaics.routed
    if not routed.records:
        raise InputError(
            source_name(spec.source), "no single-exchange records with an instruction and an output"
        )
    if len(items) < size:
        raise MosaicitError(
            f"found only {len(items)} of {size} prompts with {min_records}..{max_records} records in "
            f"{MAX_PASSES} passes over {routed.record_count} usable records; lower --min-records "
            f"or --size, or raise --max-length"
        )
    unused = {
        "multi_turn_conversations": len(routed.passthrough),
        "rejected": len(mosaics.stats.rejects + routed.rejects),
    }
    over = sum(1 for r in mosaics.rejects.in_input_order() if r.reason == "over_budget")
    return BuildResult(
        items, _summary(items, mosaics.stats.read, unused, over, mosaics.run, passes, set_aside, spec.config)
    )


def _summary(
    items: list[EvalItem],
    read: int,
    unused: dict[str, int],
    over_budget: int,
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
        "records_over_budget": over_budget,
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
