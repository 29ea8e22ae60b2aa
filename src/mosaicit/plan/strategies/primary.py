"""Primary: numbered instructions and answers, with no tags and no meta-instruction."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from mosaicit.plan.labels import draw_numbering
from mosaicit.plan.strategies.base import Strategy, register
from mosaicit.types.plan import Numbering, Tags

if TYPE_CHECKING:  # both import the registry
    from mosaicit.config import MosaicConfig
    from mosaicit.tables.loader import Tables

PRIMARY = "primary"


@register
class Primary(Strategy):
    """Always numbered; nothing else is drawn."""

    name = PRIMARY
    rank = 0

    def draw_labels(
        self, rng: random.Random, config: MosaicConfig, tables: Tables
    ) -> tuple[Numbering | None, Tags | None, str | None]:
        """A numbering only."""
        return draw_numbering(rng, tables), None, None
