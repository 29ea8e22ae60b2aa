"""The Format layer every strategy lays over its records: numbering labels, answer tags and the
format meta-instruction, drawn from the shared slots of the tables (``numbering``, ``tags``,
``format``)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mosaicit.plan.tables.slots import Tables
from mosaicit.types.placeholders import fill
from mosaicit.types.plan import Numbering, Tags


def draw_numbering(rng: random.Random, tables: Tables) -> Numbering:
    """Draw a label style, its punctuation, and whether a newline follows the label."""
    return Numbering(
        style=rng.choice(tables.numbering_styles),
        punctuation=rng.choice(tables.punctuation),
        newline=rng.random() < 0.5,
    )


def draw_tags(rng: random.Random, tables: Tables) -> Tags:
    """Draw a begin/end word pair (lower-cased half the time) inside a bracket style."""
    begin, end = rng.choice(tables.tag_words)
    if rng.random() < 0.5:
        begin, end = begin.lower(), end.lower()
    bracket = rng.choice(tables.tag_brackets)
    return Tags(begin=fill(bracket, w=begin), end=fill(bracket, w=end), newline=rng.random() < 0.5)


def draw_format_meta(
    rng: random.Random,
    choices: tuple[Sequence[str], Sequence[str]],
    tags: Tags | None,
    generic_rate: float,
) -> str | None:
    """The meta-instruction that states the tags, a generic one, or none, drawn from ``choices``
    (the tagged and the generic wordings this mosaic's strategy allows, see
    :meth:`~mosaicit.plan.tables.slots.Tables.format_choices`; with no generic one, none)."""
    tagged, generic = choices
    if tags is not None:
        return fill(rng.choice(tagged), begin=tags.begin, end=tags.end)
    if rng.random() < generic_rate and generic:
        return rng.choice(generic)
    return None
