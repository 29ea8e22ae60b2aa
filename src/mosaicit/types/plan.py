"""The plan of one mosaic: every choice made, as plain serializable data.

A :class:`Style` holds the random draws made before the mosaic's records are known; a
:class:`Plan` is the complete, replayable description of one finished mosaic. Rendering a
plan is a pure function (:mod:`mosaicit.render.layout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mosaicit.types.edits import Edit
from mosaicit.types.placeholders import fill


@dataclass(frozen=True)
class Numbering:
    """How each instruction and its answer are labelled: ``style`` filled with the number,
    then ``punctuation``, then a newline or a space."""

    style: str
    punctuation: str
    newline: bool

    def label(self, number: int) -> str:
        """The label text for ``number``, including its trailing space or newline."""
        return _label(self.style, self.punctuation, self.newline, number)


@lru_cache(maxsize=65536)
def _label(style: str, punctuation: str, newline: bool, number: int) -> str:
    return fill(style, n=str(number)) + punctuation + ("\n" if newline else " ")


@dataclass(frozen=True)
class Tags:
    """The begin and end tags put around each answer, with a newline or a space inside them."""

    begin: str
    end: str
    newline: bool


@dataclass(frozen=True)
class Style:
    """Every random choice for one mosaic that does not depend on which records it holds."""

    strategy: str
    numbering: Numbering | None
    tags: Tags | None
    format_meta: str | None
    instruction_joiner: str
    format_meta_first: bool
    format_meta_sep: str
    rule: str | None
    rule_meta_first: bool
    rule_meta_sep: str
    mask_ratio: float
    detail_seed: int


@dataclass(frozen=True)
class Plan:
    """A complete mosaic: which records, in which order, answered how, and every text used.

    ``sources`` are input record indices in the order their instructions appear;
    ``answer_order`` lists the answered ones in the order the output answers them;
    ``skipped`` are the ones left unanswered. Labels number instructions from 1 in
    ``sources`` order, and each answer keeps its instruction's number. ``edits`` are the
    per-answer rules (the ``rules`` strategy): each names a record whose answer is rewritten
    to obey it; the key is left out of :meth:`to_dict` when there are none.
    """

    sources: tuple[int, ...]
    strategy: str
    rule: str | None
    answer_order: tuple[int, ...]
    skipped: tuple[int, ...]
    numbering: Numbering | None
    tags: Tags | None
    instruction_joiner: str
    format_meta: str | None
    format_meta_first: bool
    format_meta_sep: str
    rule_meta: str | None
    rule_meta_first: bool
    rule_meta_sep: str
    edits: tuple[Edit, ...] = ()

    def number_of(self, source: int) -> int:
        """The 1-based label number of a source record."""
        return self.sources.index(source) + 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.edits:
            data["edits"] = [e.to_dict() for e in self.edits]
        else:
            del data["edits"]
        for key in ("sources", "answer_order", "skipped"):
            data[key] = list(data[key])
        for key in ("numbering", "tags"):
            if data[key] is not None:
                data[key] = dict(vars(data[key]))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` output (extra keys are ignored)."""
        numbering = data.get("numbering")
        tags = data.get("tags")
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields.update(
            sources=tuple(data["sources"]),
            answer_order=tuple(data["answer_order"]),
            skipped=tuple(data["skipped"]),
            numbering=Numbering(**numbering) if numbering else None,
            tags=Tags(**tags) if tags else None,
            edits=tuple(Edit(e["source"], e["rule"], e.get("param")) for e in data.get("edits") or ()),
        )
        return cls(**fields)

    def edit_of(self, source: int) -> Edit | None:
        """The rule the answer to ``source`` obeys, if any."""
        return next((e for e in self.edits if e.source == source), None)
