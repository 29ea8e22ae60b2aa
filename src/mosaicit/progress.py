"""Progress on stderr, one bar per long phase of a run, each ending at 100% (tqdm)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Progress:
    """Bars for the phases of a run (reading, counting tokens, composing, passthrough, writing).

    Disabled when ``enabled`` is False or stderr is not a terminal. A phase's bar is made the
    first time it is ticked, and :meth:`close` fills every bar to its total before closing it,
    so a finished run shows each phase at 100%.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bars: dict[str, Any] = {}
        self.totals: dict[str, int | None] = {}

    def plan(self, phase: str, total: int | None) -> None:
        """Set the total of ``phase`` (in records), before or after it started (not once finished)."""
        self.totals[phase] = total
        if phase in self.bars and not self.bars[phase].disable:
            self.bars[phase].total = total
            self.bars[phase].refresh()

    def ticker(self, phase: str) -> Callable[[int], None] | None:
        """A function that advances ``phase`` by n records, or None when disabled."""
        if not self.enabled:
            return None
        return lambda n: self._bar(phase).update(n)

    def counted(self, phase: str, items: Iterable[T], done: Callable[[], int] | None = None) -> Iterator[T]:
        """Yield ``items``, advancing ``phase`` by one for each, or by what ``done()`` grew by (say,
        records read, broken ones included); when the items run out, the phase is finished."""
        tick = self.ticker(phase)
        seen = 0
        for item in items:
            if tick:
                now = done() if done else seen + 1
                tick(now - seen)
                seen = now
            yield item
        if tick and done:
            tick(done() - seen)
        self.finish(phase)

    def _bar(self, phase: str) -> Any:
        if phase not in self.bars:
            from tqdm import tqdm

            self.bars[phase] = tqdm(
                total=self.totals.get(phase), desc=phase, unit="rec", file=sys.stderr, dynamic_ncols=True
            )
        return self.bars[phase]

    def finish(self, phase: str) -> None:
        """Fill ``phase`` to its total (its count so far when it has none) and close its bar."""
        bar = self.bars.get(phase)
        if bar is None or bar.disable:
            return
        if bar.total is not None and bar.n < bar.total:
            bar.update(bar.total - bar.n)
        elif bar.total is None:
            bar.total = bar.n
        bar.close()
        bar.disable = True

    def close(self, completed: bool = True) -> None:
        """Close every bar; filled to 100% when the run ``completed``."""
        for phase, bar in self.bars.items():
            if completed:
                self.finish(phase)
            else:
                bar.close()
