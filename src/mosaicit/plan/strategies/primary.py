"""Primary: numbered instructions and answers, with no tags and no meta-instruction."""

from __future__ import annotations

import random

from mosaicit.plan.labels import draw_numbering
from mosaicit.plan.strategies.base import Options, Strategy, register
from mosaicit.plan.tables.slots import Tables
from mosaicit.types.plan import Numbering, Tags

PRIMARY = "primary"


@register
class Primary(Strategy):
    """Always numbered; nothing else is drawn."""

    name = PRIMARY
    rank = 0
    mixes = ("primary",)

    def draw_labels(
        self, rng: random.Random, config: Options, tables: Tables
    ) -> tuple[Numbering | None, Tags | None, str | None]:
        """A numbering only."""
        return draw_numbering(rng, tables), None, None
