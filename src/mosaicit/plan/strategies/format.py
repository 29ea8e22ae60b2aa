"""Format: answer every instruction in the order shown, with the labels and tags drawn."""

from __future__ import annotations

from mosaicit.plan.strategies.base import Strategy, register

FORMAT = "format"


@register
class Format(Strategy):
    """The Format layer alone (its slots are the shared ``numbering``, ``tags`` and ``format``)."""

    name = FORMAT
    rank = 1
    mixes = ("format", "order", "mask", "both", "rules")
