"""Large JSONL files read in pieces: each piece's items, rows and error lines are those of the
whole file's reading, and a run spread over pieces writes a local run's bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaicit.errors import InputError
from mosaicit.io import filepieces
from mosaicit.io.filepieces import Piece, count_piece, cut, iter_piece
from mosaicit.io.jsonstream import iter_json
from mosaicit.run.spec import RunSpec
from test_spread import _line, here, messy, run  # noqa: F401 (here, messy: fixtures)

LOCAL = pafs.LocalFileSystem()


def _read_in_pieces(path: Path, size: int) -> list[tuple[str, int, object]]:
    """Every item of the file, its pieces (of ``size`` bytes) read one after the other, each given
    the rows and lines the pieces before it counted, as a cluster reads them."""
    spec = RunSpec.of(str(path), path.with_suffix(".out.jsonl"))
    found = cut(LOCAL, [(str(path), path.name)])
    assert all(p.end is not None for p in found) and len(found) >= size and found[0].begin == 0
    items, row, line = [], 0, 1
    for piece in found:
        items += iter_piece(LOCAL, piece, row, line)
        counted = count_piece(LOCAL, piece, spec.inputs.columns)
        row, line = row + counted.items, line + counted.lines
    return items


def _whole(path: Path) -> list[tuple[str, int, object]]:
    return [(path.name, row, item) for row, item in iter_json(path)]


LINE_ENDS = ["\n", "\r\n", "\r"]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"instruction": st.text(min_size=0, max_size=40), "output": st.text(max_size=40)}
        ),
        min_size=1,
        max_size=25,
    ),
    ends=st.lists(st.sampled_from(LINE_ENDS), min_size=25, max_size=25),
    blanks=st.lists(st.sampled_from(["", " ", "\t", "\ufeff"]), min_size=25, max_size=25),
    bom=st.booleans(),
    parts=st.integers(2, 9),
)
def test_a_files_pieces_read_one_after_the_other_are_the_whole_files_items(
    tmp_path_factory, rows, ends, blanks, bom, parts
):
    """Any JSONL (odd Unicode, CRLF and lone CR line ends, blank lines, a byte order mark) cut at
    any byte, even inside a character or a line end: the pieces' items, with their rows, are the
    whole file's, each once, in order."""
    path = tmp_path_factory.mktemp("p") / "a.jsonl"
    text = "\ufeff" if bom else ""
    for row, end, blank in zip(rows, ends, blanks, strict=False):
        text += json.dumps(row, ensure_ascii=False) + end + (blank + end if blank else "")
    path.write_bytes(text.encode("utf-8"))
    size = max(1, len(text.encode("utf-8")) // parts)
    filepieces.PIECE_BYTES, was = size, filepieces.PIECE_BYTES
    try:
        assert _read_in_pieces(path, 2) == _whole(path)
    finally:
        filepieces.PIECE_BYTES = was


def test_an_error_in_a_piece_names_the_line_and_record_of_the_whole_file(tmp_path, monkeypatch):
    """A broken line, or one over --max-record-mb, in a later piece: the error of the whole file's
    reading, with its line (blank lines counted) and record numbers."""
    monkeypatch.setattr(filepieces, "PIECE_BYTES", 300)
    good = [json.dumps({"instruction": f"q {i}", "output": "a"}) for i in range(60)]
    for broken in ('{"broken', '{"instruction": "' + "x" * (1 << 20) + '", "output": "o"}'):
        path = tmp_path / "a.jsonl"
        path.write_text("\n\n".join(good[:40] + [broken] + good[40:]) + "\n", encoding="utf-8")
        with pytest.raises(InputError) as whole:
            list(iter_json(path, max_record_mb=1))
        found = cut(LOCAL, [(str(path), str(path))])
        row, line, errors = 0, 1, []
        spec = RunSpec.of(str(path), tmp_path / "o.jsonl")
        for piece in found:
            try:
                list(iter_piece(LOCAL, piece, row, line, max_record_mb=1))
            except InputError as exc:
                errors.append(str(exc))
            counted = count_piece(LOCAL, piece, spec.inputs.columns, max_record_mb=1)
            row, line = row + counted.items, line + counted.lines
        assert errors[:1] == [str(whole.value)] and "line 81" in errors[0] and "record 40" in errors[0]


def test_only_large_plain_jsonl_files_of_the_local_filesystem_are_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(filepieces, "PIECE_BYTES", 100)
    lines = "".join(json.dumps({"instruction": f"q {i}", "output": "a"}) + "\n" for i in range(20))
    files = {
        "a.jsonl": lines,
        "b.json": lines,  # JSONL in a .json file: cut
        "c.json": json.dumps([{"instruction": "q", "output": "a" * 300}]),  # an array: whole
        "d.jsonl": lines[:90],  # small: whole
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "e.jsonl.gz").write_bytes(b"\x1f\x8b" + b"0" * 400)  # compressed: whole
    found = cut(LOCAL, [(str(tmp_path / n), n) for n in [*files, "e.jsonl.gz"]])
    counts = {n: sum(p.name == n for p in found) for n in [*files, "e.jsonl.gz"]}
    assert counts == {
        "a.jsonl": -(-len(lines) // 100),
        "b.json": -(-len(lines) // 100),
        "c.json": 1,
        "d.jsonl": 1,
        "e.jsonl.gz": 1,
    }
    whole = [p for p in found if p.name in ("c.json", "d.jsonl", "e.jsonl.gz")]
    assert all(p == Piece(str(tmp_path / p.name), p.name) for p in whole)
    cuts = [p for p in found if p.name == "a.jsonl"]
    assert cuts[0].begin == 0 and cuts[-1].end == len(lines)
    assert all(a.end == b.begin for a, b in zip(cuts, cuts[1:], strict=False))
    subtree = pafs.SubTreeFileSystem(str(tmp_path), LOCAL)
    assert cut(subtree, [("a.jsonl", "a.jsonl")]) == [Piece("a.jsonl", "a.jsonl")]  # not local: whole


@pytest.mark.parametrize(
    "extra",
    [(), ("--shards", 3), ("--conversations", "split", "--shards", 2, "--over-budget", "pass")],
)
@pytest.mark.usefixtures("here")
def test_a_run_spread_over_pieces_writes_the_bytes_rejects_and_summary_of_a_local_run(
    messy,  # noqa: F811
    tmp_path,
    monkeypatch,
    extra,  # noqa: F811
):
    """The messy ShareGPT dumps (broken and empty conversations, system prompts, a line that is
    not a record) cut in pieces of 20 kB: a local run's rows, rejects (rows and keys) and summary."""
    monkeypatch.setattr(filepieces, "PIECE_BYTES", 20_000)
    found = cut(LOCAL, [(str(p), p.name) for p in sorted(messy.rglob("*.jsonl"))])
    assert len(found) > 10
    local = run(messy, tmp_path / "local.jsonl", "local", *extra)
    spread = run(messy, tmp_path / "spread.jsonl", "spread-here", *extra)
    assert spread[0] and spread == local


@pytest.mark.usefixtures("here")
def test_a_run_spread_over_pieces_stops_with_the_line_of_a_local_run(tmp_path, monkeypatch):
    """A broken line far into a file cut in pieces, and a record of no known shape there with
    --on-bad-record error: the line a local run stops with, naming the file, record and line."""
    monkeypatch.setattr(filepieces, "PIECE_BYTES", 4_000)
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [
        json.dumps({"conversations": [{"from": "human", "value": f"q {i}"}, {"from": "gpt", "value": "a"}]})
        + "\n"
        for i in range(400)
    ]
    (folder / "a.jsonl").write_text("".join(rows[:150]), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(rows[:300] + ["\n", '{"broken\n'] + rows[300:]), encoding="utf-8")
    assert len(cut(LOCAL, [(str(folder / "b.jsonl"), "b.jsonl")])) > 5
    said = {ex: _line(folder, tmp_path / f"{ex}.jsonl", ex) for ex in ("local", "spread-here")}
    assert (
        said["spread-here"] == said["local"]
        and "b.jsonl: record 300: invalid JSON on line 302" in said["local"]
    )
    (folder / "b.jsonl").write_text(
        "".join(rows[:300] + ['{"neither": "shape"}\n'] + rows[300:]), encoding="utf-8"
    )
    said = {
        ex: _line(folder, tmp_path / f"e-{ex}.jsonl", ex, "--on-bad-record", "error")
        for ex in ("local", "spread-here")
    }
    assert said["spread-here"] == said["local"] and "b.jsonl: record 300" in said["local"]
