"""What the budget counts around a sample: the bare texts, or a trainer's chat rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mosaicit.strategies.render import Segment


class Template(Protocol):
    """Frames a sample's instruction and output the way the trainer will tokenize them."""

    name: str

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """The separately tokenized texts, as layouts, whose counts add up to the sample's."""
        ...

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The same texts, rendered."""
        ...


class BareTemplate:
    """Counts the instruction and the output as two plain texts, as the research script did."""

    name = "none"

    def frame(
        self, instruction: Sequence[Segment], output: Sequence[Segment], system: str
    ) -> list[list[Segment]]:
        """The instruction and the output, each tokenized alone."""
        return [list(instruction), list(output)]

    def texts(self, instruction: str, output: str, system: str) -> list[str]:
        """The instruction and the output."""
        return [instruction, output]
