"""One per-answer rule of a plan (the ``rules`` strategy): which answer, which rule, its parameter.

The rules themselves (the rewrite and the check of each) are in :mod:`mosaicit.render.edits`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A rule's parameter: the text of a prefix or suffix, a count of sentences or bullets, or none.
Param = str | int | None


@dataclass(frozen=True, slots=True)
class Edit:
    """One rule applied to one answer: the record (source index), the rule, its parameter."""

    source: int
    rule: str
    param: Param = None

    def to_dict(self) -> dict[str, Param]:
        """JSON-ready: ``{"source", "rule", "param"}``."""
        return {"source": self.source, "rule": self.rule, "param": self.param}
