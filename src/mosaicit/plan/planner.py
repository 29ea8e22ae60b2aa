"""Draw a mosaic's style, then turn a style and its records into a plan.

``draw_style`` makes every random choice that does not depend on the records; ``make_plan``
is deterministic given the style and the records, so the composer can try a growing group
without redrawing anything.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from mosaicit.config import MosaicConfig
from mosaicit.plan.features import PromptFeatures
from mosaicit.plan.plan import Numbering, Plan, Style
from mosaicit.plan.strategies import maskout as mask_mod
from mosaicit.plan.strategies import permute as permute_mod
from mosaicit.plan.strategies.format import draw_format_meta, draw_numbering, draw_tags
from mosaicit.seeds import detail_rng, draw_detail_seed
from mosaicit.tables.loader import Tables

LINE_BREAKS = ("\n", "\n\n")


def allowed_rules(strategy: str, numbered: bool, config: MosaicConfig) -> list[str]:
    """The rules a strategy may use: numbered rules only when labels are visible."""
    if strategy == "permute":
        chosen, needs = config.orderings, permute_mod.NEEDS_NUMBERS
    elif strategy == "maskout":
        chosen, needs = config.mask_rules, mask_mod.NEEDS_NUMBERS
    else:
        return []
    return [r for r in chosen if numbered or r not in needs]


def draw_style(rng: random.Random, config: MosaicConfig, tables: Tables) -> Style:
    """Draw the strategy and every record-independent choice of one mosaic."""
    weights = config.strategy_weights
    names = [n for n in ("primary", "format", "permute", "maskout") if weights.get(n, 0) > 0]
    strategy = rng.choices(names, weights=[weights[n] for n in names])[0]
    numbering: Numbering | None
    if strategy == "primary":
        numbering, tags, meta = draw_numbering(rng, tables), None, None
    else:
        numbering = None if rng.random() < config.no_numbering_rate else draw_numbering(rng, tables)
        tags = draw_tags(rng, tables) if rng.random() < config.tag_rate else None
        meta = draw_format_meta(rng, tables, tags, config.generic_meta_rate)
    rules = allowed_rules(strategy, numbering is not None, config)
    rule = rng.choice(rules) if rules else None
    if strategy in ("permute", "maskout") and rule is None:
        strategy = "format"
    return Style(
        strategy=strategy,
        numbering=numbering,
        tags=tags,
        format_meta=meta,
        instruction_joiner=rng.choice(LINE_BREAKS),
        format_meta_first=rng.random() < 0.5,
        format_meta_sep=rng.choice(LINE_BREAKS),
        rule=rule,
        rule_meta_first=rng.random() < 0.5,
        rule_meta_sep=rng.choice(LINE_BREAKS),
        mask_ratio=rng.uniform(0.1, 0.5),
        detail_seed=draw_detail_seed(rng),
    )


def base_style() -> Style:
    """The plainest style: Format with no numbering, tags or meta-instruction."""
    return Style("format", None, None, None, "\n", True, "\n", None, True, "\n", 0.0, 0)


def make_plan(
    style: Style, sources: Sequence[int], prompts: Sequence[PromptFeatures], tables: Tables
) -> Plan:
    """The plan for ``sources`` (record indices, in instruction order) under ``style``.

    ``prompts`` are the features of those records' full instructions. A one-record mosaic gets no
    auxiliary strategy. Deterministic: the same inputs give the same plan.
    """
    strategy, rule = style.strategy, style.rule
    if len(sources) == 1 and strategy in ("permute", "maskout"):
        strategy, rule = "format", None
    answer = list(range(len(sources)))
    skipped: list[int] = []
    rule_meta = None
    if strategy == "permute" and rule:
        rng = detail_rng(style.detail_seed)
        answer, rule_meta = permute_mod.permute(rule, prompts, rng, tables)
    elif strategy == "maskout" and rule:
        rng = detail_rng(style.detail_seed)
        skipped, rule_meta = mask_mod.maskout(rule, prompts, style.mask_ratio, rng, tables)
        answer = [i for i in answer if i not in set(skipped)]
    return Plan(
        sources=tuple(sources),
        strategy=strategy,
        rule=rule,
        answer_order=tuple(sources[i] for i in answer),
        skipped=tuple(sources[i] for i in skipped),
        numbering=style.numbering,
        tags=style.tags,
        instruction_joiner=style.instruction_joiner,
        format_meta=style.format_meta,
        format_meta_first=style.format_meta_first,
        format_meta_sep=style.format_meta_sep,
        rule_meta=rule_meta,
        rule_meta_first=style.rule_meta_first,
        rule_meta_sep=style.rule_meta_sep,
    )
