"""The record and sample types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """One single-turn input record.

    ``index`` is the 0-based position in the input; ``instruction``, ``input`` and ``output``
    have their surrounding whitespace removed when read. ``turn`` is the exchange's position
    in its conversation when conversations are split into exchanges (else None).
    """

    index: int
    instruction: str
    output: str
    input: str = ""
    id: Any = None
    system: str = ""
    turn: int | None = None

    @property
    def prompt(self) -> str:
        """The full instruction: the instruction, then the input (context) on the next line."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction


@dataclass(frozen=True)
class Sample:
    """One mosaicked training sample: a joined instruction, a joined output and its provenance."""

    instruction: str
    output: str
    count: int
    mosaic: dict[str, Any] = field(default_factory=dict)
    system: str = ""


@dataclass(frozen=True)
class Reject:
    """An input record that was not used, with the reason why.

    ``record`` is the record as a dict, or a function that reads it back when it is needed
    (so that large rejected records need not stay in memory); :meth:`raw` gives the dict.
    ``id`` is the record's ``id`` when it has one; ``turn`` the exchange it concerns, when the
    reject is one exchange of a conversation (else None: the whole record).
    """

    index: int
    reason: str
    record: dict[str, Any] | Callable[[], dict[str, Any]]
    detail: str = ""
    id: Any = None
    turn: int | None = None

    def raw(self) -> dict[str, Any]:
        """The rejected record, as a dict."""
        return self.record() if callable(self.record) else self.record
