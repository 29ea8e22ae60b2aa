"""Check table slots: what the loader and each strategy's own tables use.

Templates are filled with :func:`~mosaicit.types.placeholders.fill` (re-exported here).
"""

from __future__ import annotations

from typing import Any

from mosaicit.errors import MosaicitError
from mosaicit.types.placeholders import PLACEHOLDER, fill

__all__ = ["PLACEHOLDER", "Checker", "fill", "short"]


class Checker:
    """Reads slots of parsed table data by dotted name; each problem is an error naming its slot."""

    def __init__(self, source: str, data: Any) -> None:
        self.source = source
        self.data = data

    def fail(self, slot: str, message: str) -> MosaicitError:
        """An error about ``slot``, naming the tables file."""
        return MosaicitError(f"{self.source}: {slot}: {message}")

    def node(self, slot: str) -> Any:
        """The data at dotted ``slot``; an error if it is missing."""
        node = self.data
        for key in slot.split("."):
            if not isinstance(node, dict) or key not in node:
                raise self.fail(slot, "missing")
            node = node[key]
        return node

    def has(self, slot: str) -> bool:
        """True when dotted ``slot`` is present."""
        try:
            self.node(slot)
        except MosaicitError:
            return False
        return True

    def strings(
        self,
        slot: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        strip: bool = True,
        optional_slot: bool = False,
    ) -> tuple[str, ...]:
        """A non-empty list of distinct strings, each with its ``required`` placeholders once
        (with ``optional_slot``, a missing slot is an empty list)."""
        if optional_slot and not self.has(slot):
            return ()
        items = self.node(slot)
        if not isinstance(items, list) or not items:
            raise self.fail(slot, "must be a non-empty list of strings")
        seen: set[str] = set()
        for i, item in enumerate(items):
            where = f"{slot}[{i}]"
            if not isinstance(item, str) or not item.strip() and strip:
                raise self.fail(where, f"must be a non-empty string, got {short(item)}")
            if strip and item != item.strip():
                raise self.fail(where, f"has whitespace at its ends: {short(item)}")
            if item in seen:
                raise self.fail(where, f"duplicate entry {short(item)}")
            seen.add(item)
            names = PLACEHOLDER.findall(item)
            for name in names:
                if name not in required + optional:
                    allowed = ", ".join("{" + n + "}" for n in required + optional) or "none"
                    raise self.fail(where, f"unknown placeholder {{{name}}} (allowed: {allowed})")
            for name in required:
                if names.count(name) != 1:
                    raise self.fail(where, f"must contain {{{name}}} exactly once: {short(item)}")
        return tuple(items)

    def pairs(self, slot: str) -> tuple[tuple[str, str], ...]:
        """A non-empty list of two different plain words each."""
        items = self.node(slot)
        if not isinstance(items, list) or not items:
            raise self.fail(slot, "must be a non-empty list of [begin, end] pairs")
        out = []
        for i, item in enumerate(items):
            ok = (
                isinstance(item, list)
                and len(item) == 2
                and all(
                    isinstance(w, str) and w.strip() == w and w and not PLACEHOLDER.search(w) for w in item
                )
            )
            if not ok or item[0] == item[1]:
                raise self.fail(f"{slot}[{i}]", f"must be two different plain words, got {short(item)}")
            out.append((item[0], item[1]))
        return tuple(out)

    def keys(self, slot: str, expected: tuple[str, ...]) -> None:
        """Check that mapping ``slot`` has no entries beyond ``expected``."""
        node = self.node(slot)
        if not isinstance(node, dict):
            raise self.fail(slot, "must be a mapping")
        extra = sorted(set(node) - set(expected))
        if extra:
            raise self.fail(slot, f"unknown entries {extra} (expected {list(expected)})")

    def separators(self, slot: str) -> tuple[str, ...]:
        """Strings of visible text on one line (spaces at their ends allowed)."""
        items = self.strings(slot, strip=False)
        for i, item in enumerate(items):
            if "\n" in item or not item.strip():
                raise self.fail(f"{slot}[{i}]", f"must be visible text on one line, got {short(item)}")
        return items


def short(value: Any) -> str:
    """``repr(value)``, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
