"""Draw a mosaic's style, then turn a style and its records into a plan.

``draw_style`` makes every random choice that does not depend on the records; ``make_plan``
is deterministic given the style and the records, so the composer can try a growing group
without redrawing anything.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.seeds import detail_rng, draw_detail_seed
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.strategies.format import FORMAT
from mosaicit.plan.tables.loader import Tables
from mosaicit.render.edits import AnswerFacts
from mosaicit.types.edits import Edit
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Plan, Style

LINE_BREAKS = ("\n", "\n\n")


def draw_style(rng: random.Random, config: MosaicConfig, tables: Tables) -> Style:
    """Draw the strategy and every record-independent choice of one mosaic.

    A strategy with rules becomes Format when none of its rules is allowed (they all need the
    numbering that was not drawn).
    """
    weights = config.strategy_weights
    names = [n for n in STRATEGIES if weights.get(n, 0) > 0]
    strategy = rng.choices(names, weights=[weights[n] for n in names])[0]
    numbering, tags, meta = STRATEGIES[strategy].draw_labels(rng, config, tables)
    rules = STRATEGIES[strategy].allowed_rules(numbering is not None, config)
    rule = rng.choice(rules) if rules else None
    if STRATEGIES[strategy].rules and rule is None:
        strategy = FORMAT
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


def _marks(style: Style) -> str:
    """The text of the labels and tags a style puts around the answers."""
    label = style.numbering.label(1) if style.numbering else ""
    return label + (style.tags.begin + style.tags.end if style.tags else "")


def base_style() -> Style:
    """The plainest style: Format with no numbering, tags or meta-instruction."""
    return Style(FORMAT, None, None, None, "\n", True, "\n", None, True, "\n", 0.0, 0)


def make_plan(
    style: Style,
    sources: Sequence[int],
    prompts: Sequence[PromptFeatures],
    tables: Tables,
    answers: Sequence[AnswerFacts] | None = None,
) -> Plan:
    """The plan for ``sources`` (record indices, in instruction order) under ``style``.

    ``prompts`` are the features of those records' full instructions; ``answers`` what a strategy
    that edits answers knows of their outputs (needed for such a strategy only). A one-record
    mosaic gets no auxiliary strategy, nor does a mosaic whose answers take no rule.
    Deterministic: the same inputs give the same plan.
    """
    strategy, rule = style.strategy, style.rule
    if len(sources) == 1 and STRATEGIES[strategy].rules:
        strategy, rule = FORMAT, None
    answer = list(range(len(sources)))
    skipped: list[int] = []
    rule_meta = None
    edits: tuple[Edit, ...] = ()
    if rule:
        chosen = STRATEGIES[strategy]
        rng = detail_rng(style.detail_seed)
        table = tables.section(strategy)
        if chosen.edits_answers:
            if answers is None:
                raise ValueError(f"strategy {strategy} needs the answers' facts")
            drawn, rule_meta = chosen.edit(rule, answers, _marks(style), rng, table)
            edits = tuple(replace(e, source=sources[i]) for i, e in drawn)
            if not edits:
                strategy, rule = FORMAT, None
        else:
            answer, skipped, rule_meta = chosen.apply(rule, prompts, style.mask_ratio, rng, table)
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
        edits=edits,
    )
