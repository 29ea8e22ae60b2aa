"""A laid-out text: fixed strings and the record pieces between them."""

from __future__ import annotations

from typing import NamedTuple


class Piece(NamedTuple):
    """A record's text inside a layout: its source index and which field (prompt or output)."""

    source: int
    field: str


Segment = str | Piece
