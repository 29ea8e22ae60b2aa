"""The spread run (mosaicit.run.spread), checked without a cluster: an executor whose cluster runs
each task at once in this process (``InProcess``) must write what a local run writes, byte for
byte (rows, part files, rejects) with the same summary, over files as messy as real dumps: every
file read, routed, passed through and measured alone, then merged by tallies only. Ray runs the
same flow (tests/test_ray.py); this one runs in the light suite.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, TOKENIZERS
from formats_helpers import messy_sharegpt
from mosaicit.cli import main
from mosaicit.io import remote
from mosaicit.io.prepared import Prepare, Ready
from mosaicit.io.remote import file_items, list_remote, read_file
from mosaicit.io.sources import ReadStats, read_conversations
from mosaicit.run import executors, spread
from mosaicit.run.executors import Executor, register
from mosaicit.run.executors.base import Listed
from mosaicit.run.spread import InProcess

#: What a spread run's summary may say otherwise than a local run's.
OWN = ("executor", "workers", "cache", "output", "config")


class Here(Executor):
    """Spreads an augment run over :class:`InProcess` (each task run at once, here)."""

    name = "spread-here"
    uses_cache = False

    @classmethod
    def list_inputs(cls, source):
        found, names, local = list_remote(source)
        return Listed(source, names, local, found)

    def cluster(self):
        return InProcess()


@pytest.fixture
def here(monkeypatch):
    """``Here`` registered for one test; the files' rows kept in lists of 7, so that the rows the
    driver and the part-writing tasks fetch come in many lists."""
    monkeypatch.setattr(executors, "REGISTRY", dict(executors.REGISTRY))
    monkeypatch.setattr(spread, "ROWS_PER_OBJECT", 7)
    register(Here)


def _sharegpt(*turns):
    return {"conversations": [{"from": who, "value": text} for who, text in turns]}


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """A folder of ShareGPT files as real dumps hold them (leading model turns, aliases, empty
    and broken conversations, "continue" turns), some system prompts (two groups), conversations
    far over the budget, an empty file, and a file in another shape than the first."""
    rows, _ = messy_sharegpt(2)
    rng = random.Random(5)
    for i, row in enumerate(rows):
        if row["conversations"] and i % 9 == 0:
            row["conversations"].insert(
                0, {"from": "system", "value": ["Be brief.", "Answer in French."][i % 2]}
            )
        if row["conversations"] and i % 97 == 0:
            row["conversations"][-1]["value"] += " word" * 3000  # over the budget
    rng.shuffle(rows)
    folder = tmp_path_factory.mktemp("spread") / "in"
    (folder / "deep").mkdir(parents=True)
    alpaca = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))[:40]
    files = {
        "a.json": json.dumps(rows[:300]),
        "b.jsonl": "".join(json.dumps(r) + "\n" for r in rows[300:700]) + "[1, 2]\n",
        "c.jsonl": "",
        "deep/d.jsonl": "".join(json.dumps(r) + "\n" for r in rows[700:]),
        "deep/e.jsonl": "".join(
            json.dumps({"instruction": r["instruction"], "output": r["output"]}) + "\n" for r in alpaca
        ),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(src: Path, out: Path, executor: str, *extra: object) -> tuple[bytes, bytes, dict]:
    """One run's output, rejects and summary (less what is the executor's own)."""
    args = [
        "augment", src, "-o", out, "-q", "--no-cache", "--epochs", 2, "--max-length", 600, "--seed", 3,
        "--executor", executor, "--rejects-full", *extra,
    ]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    summary = json.loads(Path(f"{out}.summary.json").read_text(encoding="utf-8"))
    written = b"".join(p.read_bytes() for p in sorted(out.iterdir())) if out.is_dir() else out.read_bytes()
    return (
        written,
        Path(f"{out}.rejects.jsonl").read_bytes(),
        {k: v for k, v in summary.items() if k not in OWN},
    )


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--shards", 3),
        ("--conversations", "split", "--shards", 2),
        ("--conversations", "first-turn", "--over-budget", "trim"),
        ("--over-budget", "pass", "--shards", 2, "--output-format", "sharegpt"),
        ("--over-budget", "reject", "--system-policy", "passthrough", "--output-format", "messages"),
    ],
)
def test_a_spread_run_writes_the_bytes_rejects_and_summary_of_a_local_run(here, messy, tmp_path, extra):
    local = run(messy, tmp_path / "local.jsonl", "local", *extra)
    spread = run(messy, tmp_path / "spread.jsonl", "spread-here", *extra)
    assert spread[0] and spread[0] == local[0]
    assert spread[1] == local[1]
    assert spread[2] == local[2]
    assert spread[2]["records_read"] == 1000 + 1 + 40  # every item of every file, the broken one too
    accounting = spread[2]["accounting"]
    assert (
        accounting["read"] == accounting["mosaicked"] + accounting["passed_through"] + accounting["rejected"]
    )


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_a_spread_run_writes_the_part_files_of_a_local_run(here, messy, tmp_path, kind):
    extra = (
        "--shards",
        3,
        "--output-parts",
        kind,
        "--over-budget",
        "pass",
        "--tokenizer",
        TOKENIZERS / "qwen3",
    )
    local = run(messy, tmp_path / "local", "local", *extra)
    spread = run(messy, tmp_path / "spread", "spread-here", *extra)
    assert sorted(p.name for p in (tmp_path / "spread").iterdir()) == sorted(
        p.name for p in (tmp_path / "local").iterdir()
    )
    assert spread == local


def _line(src: Path, out: Path, executor: str, *extra: object) -> str:
    result = CliRunner().invoke(
        main, [str(a) for a in ("augment", src, "-o", out, "-q", "--executor", executor, *extra)]
    )
    assert result.exit_code == 1 and not out.exists(), result.output
    return result.output.strip().splitlines()[-1]


def test_a_spread_run_stops_with_the_line_of_a_local_run(here, messy, tmp_path):
    """The first error a whole run meets, as one line: a broken record with --on-bad-record error
    (a.json's, though later files fail too), too many broken records, a first item of no shape."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.json", "b.jsonl"):
        (folder / name).write_bytes((messy / name).read_bytes())
    (folder / "z.jsonl").write_text('{"instruction": "x", "output": "y"}\n[1, 2]\n', encoding="utf-8")
    for extra in (("--on-bad-record", "error"), ("--max-bad-share", "0.0001")):
        lines = {ex: _line(folder, tmp_path / f"{ex}.jsonl", ex, *extra) for ex in ("local", "spread-here")}
        assert lines["spread-here"] == lines["local"]
        assert ("a.json: record" if extra[0] == "--on-bad-record" else "rejected as broken") in lines["local"]
    (folder / "0.jsonl").write_text('{"neither": "shape"}\n', encoding="utf-8")
    lines = {ex: _line(folder, tmp_path / f"{ex}.jsonl", ex) for ex in ("local", "spread-here")}
    assert lines["spread-here"] == lines["local"] and "0.jsonl" in lines["local"]


def test_files_are_read_in_rows_of_items_with_their_count_and_shape(tmp_path, monkeypatch):
    """read_file (a cluster's reading task) cuts a file's items into rows, counts them and finds
    the file's shape; file_items hands them back in row order; a reader's error is the file's."""
    monkeypatch.setattr(remote, "ITEMS_PER_ROW", 16)
    path = tmp_path / "a.jsonl"
    items = [{"instruction": f"q {i}", "output": "x"} for i in range(40)]
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    found, _, _ = list_remote(str(path))
    ((stored, name),) = found.files
    read, rows = read_file(found.fs, stored, name, prepare=Prepare())
    assert (read.items, read.shape, read.error) == (40, "alpaca", None)
    assert [r["count"] for r in rows] == [16, 16, 8] and [r["last"] for r in rows] == [False, False, True]
    assert [
        item.raw() if isinstance(item, Ready) else item
        for _, _, item in file_items(name, iter(rows).__next__)
    ] == items
    path.write_text('{"instruction": "x", "output": "y"}\n{"broken\n', encoding="utf-8")
    read, rows = read_file(found.fs, stored, name)
    assert rows == [] and read.error is not None and name in str(read.error)


@pytest.mark.parametrize(
    ("input_format", "strict"), [("auto", False), ("auto", True), ("sharegpt", False), ("alpaca", False)]
)
def test_reading_tasks_normalise_what_they_can_and_the_reader_decides_the_rest(
    tmp_path, monkeypatch, input_format, strict
):
    """The reading tasks normalise each item they can decide alone (mosaicit.io.prepared); the
    conversations, rejects (reasons, lines), repairs and shape are those of the items read as
    they are: malformed, empty and repaired items, and a file in another shape than the first."""
    monkeypatch.setattr(remote, "ITEMS_PER_ROW", 3)
    contents = {
        "a.jsonl": [
            _sharegpt(("human", "\ud800"), ("gpt", "x")),  # malformed: a lone surrogate
            {"conversations": []},  # empty
            _sharegpt(("human", "hi"), ("gpt", "hello")),
            _sharegpt(("gpt", "first"), ("human", "q"), ("gpt", "a"), ("human", "left")),  # repaired
            {"conversations": [{"from": "human", "value": 5}, {"from": "gpt", "value": "x"}]},  # bad text
            {"instruction": "an alpaca row in a sharegpt file", "output": "o"},
            _sharegpt(("human", "q2"), ("human", "more"), ("gpt", "a2")),  # repaired
        ],
        "b.jsonl": [{"instruction": f"alpaca {i}", "output": "o"} for i in range(4)],  # another shape
        "c.jsonl": [_sharegpt(("system", "s"), ("human", "q3"), ("gpt", "a3")), {"conversations": []}],
    }
    items, handed = [], []
    prepare = Prepare(input_format, strict=strict)
    for name, rows in contents.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        items += [(name, row, item) for row, item in enumerate(rows)]
        found, _, _ = list_remote(str(tmp_path / name))
        ((stored, _),) = found.files
        _, parsed = read_file(found.fs, stored, name, prepare=prepare)
        handed += file_items(name, iter(parsed).__next__)
    assert [(f, r) for f, r, _ in handed] == [(f, r) for f, r, _ in items]
    ready = sum(type(item) is Ready for _, _, item in handed)
    assert ready >= (4 if input_format == "alpaca" else 3)  # most items arrive normalised

    def read(given):
        stats = ReadStats()
        options = {"strict": strict, "max_bad_share": 1.0, "items": given}
        return list(read_conversations("in", input_format, stats=stats, **options)), stats

    (expected, want), (got, have) = read(items), read(handed)
    assert got == expected
    assert have.rejects == want.rejects
    for kept in ("repairs", "shape", "read", "files"):
        assert getattr(have, kept) == getattr(want, kept)
    if input_format == "auto":
        assert any("mixed shapes" in r.detail for r in want.rejects)  # b.jsonl taken back as read
        assert want.repairs or strict
