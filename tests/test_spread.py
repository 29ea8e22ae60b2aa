"""The spread run (mosaicit.run.spread), checked without a cluster: an executor whose cluster runs
each task at once in this process (``InProcess``) must write what a local run writes, byte for
byte (rows, part files, rejects) with the same summary, over files as messy as real dumps: every
file read, routed, passed through and measured alone, then merged by tallies only. Ray runs the
same flow (tests/test_ray.py); this one runs in the light suite.
"""

from __future__ import annotations

import gc
import gzip
import json
import pickle
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, TOKENIZERS
from formats_helpers import messy_sharegpt
from mosaicit.budget.budget import Measured, TextCounts
from mosaicit.cli import main
from mosaicit.errors import InputError
from mosaicit.io.filepieces import Piece, count_piece
from mosaicit.io.remote import iter_file, list_remote
from mosaicit.run import executors, spread
from mosaicit.run.assemble import open_run
from mosaicit.run.executors import Executor, register
from mosaicit.run.executors.base import Listed
from mosaicit.run.filerun import GroupRecords, local_twin, run_file
from mosaicit.run.spec import RunSpec
from mosaicit.run.spread import InProcess
from mosaicit.types.features import PromptFeatures
from mosaicit.types.records import Record
from test_templates import NO_SYSTEM, _tokenizer_copy

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


@pytest.mark.parametrize(
    "extra",
    [(), ("--shards", 3), ("--conversations", "split", "--shards", 2, "--over-budget", "pass")],
)
def test_a_spread_run_counts_every_file_but_the_last_and_reads_each_once(
    here, messy, tmp_path, monkeypatch, extra
):
    """The files before the last are counted (their items and the shape they give the input),
    nothing more; an input of one file is not counted at all. The rows, rejects and summary are
    a local run's: three system-prompt groups, the later two first seen after many records."""
    counted: list = []
    count_task = spread.count_task
    monkeypatch.setattr(spread, "count_task", lambda *args: counted.append(args[-1]) or count_task(*args))
    one = tmp_path / "one.jsonl"
    one.write_text((messy / "b.jsonl").read_text() + (messy / "deep" / "d.jsonl").read_text())
    local = run(one, tmp_path / "local.jsonl", "local", *extra)
    alone = run(one, tmp_path / "spread.jsonl", "spread-here", *extra)
    assert alone[0] and alone == local and counted == []
    assert alone[2]["system_groups"] == 3
    run(messy, tmp_path / "spread-all.jsonl", "spread-here", *extra)
    assert [Path(piece.name).name for piece in counted] == ["a.json", "b.jsonl", "c.jsonl", "d.jsonl"]


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
    (a.json's, though later files fail too), too many broken records, a chat template that cannot
    render a system prompt (naming the first record that has one), a first item of no shape."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.json", "b.jsonl"):
        (folder / name).write_bytes((messy / name).read_bytes())
    (folder / "z.jsonl").write_text('{"instruction": "x", "output": "y"}\n[1, 2]\n', encoding="utf-8")
    for extra in (("--on-bad-record", "error"), ("--max-bad-share", "0.0001")):
        lines = {ex: _line(folder, tmp_path / f"{ex}.jsonl", ex, *extra) for ex in ("local", "spread-here")}
        assert lines["spread-here"] == lines["local"]
        assert ("a.json: record" if extra[0] == "--on-bad-record" else "rejected as broken") in lines["local"]
    no_system = ("--template", "chat", "--tokenizer", _tokenizer_copy(tmp_path / "tok", "qwen3", NO_SYSTEM))
    lines = {ex: _line(messy, tmp_path / f"t-{ex}.jsonl", ex, *no_system) for ex in ("local", "spread-here")}
    assert lines["spread-here"] == lines["local"] and "System role not supported" in lines["local"]
    (folder / "0.jsonl").write_text('{"neither": "shape"}\n', encoding="utf-8")
    lines = {ex: _line(folder, tmp_path / f"{ex}.jsonl", ex) for ex in ("local", "spread-here")}
    assert lines["spread-here"] == lines["local"] and "0.jsonl" in lines["local"]


def test_a_files_count_finds_what_its_share_reads_keeping_nothing(tmp_path):
    """count_piece (a cluster's first task per file) counts every item a file's share reads (the
    broken and empty ones too) and finds the shape they give the input: that of the first item
    that is well formed, not empty and of a known shape; a reader's error ends the count."""
    path = tmp_path / "a.jsonl"
    items = [{"conversations": []}, [1, 2], {"neither": "shape"}]
    items += [
        _sharegpt(*([("system", "Be brief.")] if i % 3 else []), ("human", f"q {i}"), ("gpt", "a"))
        for i in range(40)
    ]
    items += [{"instruction": "an alpaca row", "output": "o"}]
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    found, _, _ = list_remote(str(path))
    ((stored, name),) = found.files
    spec = RunSpec.of(str(path), tmp_path / "out.jsonl")
    counted = count_piece(found.fs, Piece(stored, name), spec.inputs.columns)
    with open_run(spec) as run:
        tally, _ = run_file(spec, local_twin(run), name, 5, None, iter_file(found.fs, stored, name))
    assert counted == (44, "sharegpt", 0) and counted[:2] == (tally.read, tally.shape)
    assert [(g.system, g.first, g.records) for g in tally.groups] == [("", 8, 14), ("Be brief.", 9, 26)]
    assert [item for _, _, item in iter_file(found.fs, stored, name)] == items
    path.write_text(
        '{"conversations": []}\n{"instruction": "x", "output": "y"}\n{"broken\n', encoding="utf-8"
    )
    assert count_piece(found.fs, Piece(stored, name), spec.inputs.columns) == (2, "alpaca", 0)


def test_a_block_of_records_is_sent_by_columns_and_read_back_as_it_was():
    """The records a file's share sends a unit (pickled by columns: each field of the records and
    of their counts as one list) are read back equal, field for field and type for type, with
    every kind of value a record holds (ids of any JSON type, split exchanges, a system prompt,
    counts with the tails of a pre-token-exact tokenizer); the collector runs again afterwards."""
    ids = [None, 7, "a-1", 2.5, {"k": [1, "x"]}, True]
    records = [
        Record(i, f"instr {i} \u00e9\U0001f600", f"out {i}", "" if i % 3 else "ctx", ids[i % 6],
               "Be brief." if i % 2 else "", None if i % 4 else i % 5)
        for i in range(50)
    ]  # fmt: skip
    texts = [
        TextCounts(i % 4, i % 4 + 1, bool(i % 3), "" if i % 2 else ".\n", " x" if i % 5 else "")
        for i in range(9)
    ]
    counts = [
        Measured(texts[i % 9], texts[(i * 7) % 9], PromptFeatures("abc"[i % 3], i % 6, i), r.system)
        for i, r in enumerate(records)
    ]
    block = GroupRecords(list(range(3, 53)), records, counts)
    back = pickle.loads(pickle.dumps(block, protocol=5))
    assert type(back) is GroupRecords and back == block
    assert [type(r.id) for r in back.records] == [type(r.id) for r in records]
    assert all(type(m.prompt) is TextCounts and type(m.features) is PromptFeatures for m in back.counts)
    assert gc.isenabled()
    assert pickle.loads(pickle.dumps(GroupRecords([], [], []))) == GroupRecords([], [], [])


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_a_fetched_file_leaves_no_temporary_copy_however_its_reading_ends(tmp_path, monkeypatch, suffix):
    """A file fetched whole (from any filesystem but the local one, which is read in place) is
    read from a temporary copy that is gone once its reader has it open: reading abandoned after
    one item (a generator never closed, as in a task that is killed or whose error keeps its
    frames), stopped by a broken record, or read to the end leaves no file in the temporary
    folder, and the items are those of the file on disk, read in place."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    rows = [{"instruction": f"q {i}", "output": "a"} for i in range(3000)]
    path = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        text = "".join(json.dumps(r) + "\n" for r in rows) + '{"broken\n'
        path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    fetched = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    name = path.name
    abandoned = iter_file(fetched, name, name)
    assert next(abandoned)[2] == rows[0] and list(scratch.iterdir()) == []
    read: dict[str, list] = {}
    stopped: dict[str, str] = {}
    for fs, stored in ((fetched, name), (pafs.LocalFileSystem(), str(path))):
        items = read.setdefault(fs.type_name, [])
        try:
            for _, _, item in iter_file(fs, stored, name):
                items.append(item)
        except InputError as exc:
            stopped[fs.type_name] = str(exc)
    assert read == {"subtree": rows, "local": rows} and list(scratch.iterdir()) == []
    broken = f"{name}: record 3000: invalid JSON on line 3001: Invalid control character at"
    assert stopped == ({} if suffix == ".parquet" else {"subtree": broken, "local": broken})
    del abandoned


def test_a_file_whose_first_item_is_in_another_shape_keeps_its_groups_in_input_order(here, tmp_path):
    """A file whose first item is in another shape than the input's is read in the input's (found
    by counting the files before it); a system prompt that first appears there is numbered (and
    seeded) by its record's place in the input, before one that first appears in a later file:
    a local run's bytes."""
    folder = tmp_path / "in"
    folder.mkdir()
    alpaca = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))
    pairs = [(r["instruction"], r["output"][:400]) for r in alpaca[:90]]

    def chats(system, some):
        return [_sharegpt(("system", system), ("human", q), ("gpt", a)) for q, a in some]

    files = {
        "a.jsonl": chats("Be brief.", pairs[:50]),
        "b.jsonl": [
            {"instruction": "an alpaca row first", "output": "o"},
            *chats("Answer in French.", pairs[50:60]),
        ],
        "c.jsonl": chats("Speak plainly.", pairs[60:90]),
    }
    for name, rows in files.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    local = run(folder, tmp_path / "local.jsonl", "local", "--shards", 2)
    spread_run = run(folder, tmp_path / "spread.jsonl", "spread-here", "--shards", 2)
    assert spread_run == local and spread_run[2]["system_groups"] == 3
