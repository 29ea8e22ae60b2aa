"""A laid-out text: fixed strings and the record pieces between them."""

from __future__ import annotations

from typing import NamedTuple

from mosaicit.types.edits import Edit


class Piece(NamedTuple):
    """A record's text inside a layout: its source index and which field (prompt or output);
    an output with an ``edit`` stands for that output rewritten by the rule (field ``edited``)."""

    source: int
    field: str
    edit: Edit | None = None


#: The field of a :class:`Piece` that is an output rewritten by its edit.
EDITED = "edited"


def edited_piece(edit: Edit) -> Piece:
    """The piece that stands for the output of ``edit.source`` rewritten by ``edit``."""
    return Piece(edit.source, EDITED, edit)


Segment = str | Piece
