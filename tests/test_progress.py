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


def test_a_phase_counted_by_a_running_total_ends_at_it_when_its_items_run_out(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bars = Progress(True)
    read = [0]

    def items():
        for i in range(5):
            read[0] += 2 if i == 3 else 1  # a broken row read before this item, yielded by none
            yield i

    assert list(bars.counted("reading", items(), lambda: read[0])) == list(range(5))
    reading = bars.bars["reading"]
    assert (reading.n, reading.total, reading.disable) == (6, 6, True)  # finished, not at 5 of 6
    bars.plan("reading", 99)  # a finished phase keeps its count
    assert reading.total == 6


def test_every_phase_of_a_run_moves_while_it_runs_passthrough_counting_included(monkeypatch, tmp_path):
    """The "reading" bar stood at 98% while the passthrough conversations were counted, with no
    bar moving: now reading ends at every record read (broken ones too), and the counting of
    the passthrough conversations is a phase of its own, ticked batch by batch."""
    import json

    from conftest import SHAREGPT, TOKENIZERS
    from mosaicit.plan.config import MosaicConfig
    from mosaicit.run import api, augment

    monkeypatch.setattr(sys, "stderr", _Terminal())
    ticks: list[tuple[str, int]] = []
    made: list[Progress] = []

    class Watched(Progress):
        def __init__(self, enabled: bool) -> None:
            super().__init__(enabled)
            made.append(self)

        def ticker(self, phase):
            tick = super().ticker(phase)
            return tick and (lambda n: (ticks.append((phase, n)), tick(n))[-1])

    monkeypatch.setattr(augment, "Progress", Watched)
    data = json.loads(SHAREGPT.read_text(encoding="utf-8")) + [{"conversations": "broken"}]
    source = tmp_path / "in.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    summary = api.augment_dataset(
        source, tmp_path / "out.jsonl", MosaicConfig(max_length=1024, epochs=2),
        template="vicuna_v1.1", tokenizer=str(TOKENIZERS / "llama-2"),
        progress=True, workers=1, use_cache=False,
    )  # fmt: skip
    phases = list(dict.fromkeys(phase for phase, _ in ticks))
    assert phases == ["reading", "counting passthrough", "passthrough", "counting tokens", "composing"]
    multi = summary["kinds"]["multi_turn"]["passthrough"]
    counting = [n for phase, n in ticks if phase == "counting passthrough"]
    assert multi == 333 and sum(counting) == multi and len(counting) == 2  # two batches, two moves
    done = {phase: (bar.n, bar.total) for phase, bar in made[0].bars.items()}
    assert done["reading"] == (501, 501) == (summary["records_read"],) * 2
    assert done["counting passthrough"] == (multi, multi)
