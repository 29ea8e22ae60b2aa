"""Progress: one bar per phase, each ending at 100%, none when stderr is not a terminal."""

from __future__ import annotations

import io
import sys

from mosaicit.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_phase_ends_at_its_total(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bars = Progress(True)
    items = list(bars.counted("reading", range(7)))
    bars.plan("reading", len(items))
    bars.plan("composing", 40)
    compose = bars.ticker("composing")
    compose(25)  # e.g. records over budget take no part in any mosaic
    bars.close()
    assert {name: (bar.n, bar.total) for name, bar in bars.bars.items()} == {
        "reading": (7, 7),
        "composing": (40, 40),
    }
    assert "100%" in sys.stderr.getvalue()


def test_no_bars_off_a_terminal_or_when_quiet(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert Progress(True).ticker("reading") is None
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert Progress(False).ticker("reading") is None
