"""The mosaic strategies (Primary, Format, Permute, Maskout): draw a style, plan, render."""

from mosaicit.strategies.plan import Numbering, Plan, Style, Tags
from mosaicit.strategies.planner import base_style, draw_style, make_plan
from mosaicit.strategies.render import Piece, layout, render

__all__ = [
    "Numbering",
    "Piece",
    "Plan",
    "Style",
    "Tags",
    "base_style",
    "draw_style",
    "layout",
    "make_plan",
    "render",
]
