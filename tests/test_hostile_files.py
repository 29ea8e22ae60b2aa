"""Hostile input, files and bounds (issue 31): no output over a file the run reads or the user owns,
no truncated or non-standard input read as a shorter run, no option that a typo turns into
millions of files. Each case is a row of docs/hostile-input.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, TOKENIZERS
from mosaicit.cli import main

BIG = 2**70  # beyond 64 bits
TWO_TURNS = [
    {"from": "human", "value": "Name a colour."},
    {"from": "gpt", "value": "Blue."},
    {"from": "human", "value": "Another one?"},
    {"from": "gpt", "value": "Green."},
]


def alpaca(n: int = 20, **extra) -> list[dict]:
    return [{"instruction": f"Say the number {i}.", "output": f"{i}.", **extra} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cli(*args: object, input: str | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def augment(src: object, out: object, *extra: object, input: str | None = None):
    return cli("augment", src, "-o", out, "-q", "--no-cache", "--max-length", 300, *extra, input=input)


def one_line(result, says: str) -> None:
    """Exit 1 with one ``mosaicit: error:`` line that holds ``says``, and no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mosaicit: error: "), result.stderr
    assert says in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def data(tmp_path) -> Path:
    return write_jsonl(tmp_path / "in.jsonl", alpaca())


@pytest.fixture
def tok(tmp_path) -> Path:
    """A copy of a real tokenizer folder with a chat template (Qwen3)."""
    return Path(shutil.copytree(TOKENIZERS / "qwen3", tmp_path / "tok"))


# --- no output over anything the run reads -------------------------------------------------------


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
@pytest.mark.parametrize("option", ["-o", "--rejects", "--summary"])
def test_no_output_over_a_file_of_the_tokenizer_folder(tmp_path, data, tok, name, option):
    before = snapshot(tok)
    out = ["-o", tmp_path / "out.jsonl"] if option != "-o" else []
    result = augment(data, tok / name, "--tokenizer", tok) if option == "-o" else None
    if result is None:
        result = cli("augment", data, *out, option, tok / name, "-q", "--no-cache", "--tokenizer", tok)
    one_line(
        result, f"{tok / name}: {'--output' if option == '-o' else option} and --tokenizer name the same file"
    )
    assert snapshot(tok) == before and not (tmp_path / "out.jsonl").exists()


def test_no_output_over_the_chat_template_source_or_a_link_to_it(tmp_path, data, tok):
    before = snapshot(tok)
    chat = ["--template", "chat", "--tokenizer", tok / "tokenizer.json"]  # the template: the folder's
    one_line(
        augment(data, tok / "tokenizer_config.json", *chat), "--output and --tokenizer name the same file"
    )
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m.content }}{% endfor %}", encoding="utf-8")
    one_line(
        augment(data, tmp_path / "o.jsonl", *chat, "--chat-template", template, "--summary", template),
        "--summary and --chat-template name the same file",
    )
    link = tmp_path / "link.json"
    link.symlink_to(tok / "tokenizer.json")
    one_line(augment(data, link, "--tokenizer", tok), "--output and --tokenizer name the same file")
    hard = tmp_path / "hard.json"
    os.link(tok / "tokenizer_config.json", hard)
    one_line(
        augment(data, tmp_path / "o.jsonl", "--tokenizer", tok, "--rejects", hard),
        "--rejects and --tokenizer name the same file",
    )
    tables = tmp_path / "tables.yaml"
    tables.write_bytes((ROOT / "src/mosaicit/plan/tables/default.yaml").read_bytes())
    result = augment(data, tmp_path / "o.jsonl", "--tables", tables, "--summary", tables)
    one_line(result, "--summary and --tables name the same file")
    assert snapshot(tok) == before and template.read_text().startswith("{% for")
    assert tables.read_bytes() == (ROOT / "src/mosaicit/plan/tables/default.yaml").read_bytes()


def test_eval_build_writes_over_no_tokenizer_file(tmp_path, data, tok):
    before = snapshot(tok)
    result = cli("eval", "build", data, "-o", tok / "tokenizer_config.json", "--tokenizer", tok, "--size", 2)
    one_line(result, "--output and --tokenizer name the same file")
    assert snapshot(tok) == before


def test_stdin_file_is_compared_with_the_outputs(data):
    """``augment - -o in.jsonl < in.jsonl``: standard input's file is known by its inode."""
    before = data.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "mosaicit", "augment", "-", "-o", str(data), "-q", "--no-cache"]
    with data.open("rb") as stdin:
        done = subprocess.run(command, stdin=stdin, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f"mosaicit: error: {data}: --output and INPUT (standard input) name the same file; "
        "nothing was read or written"
    ]
    with data.open("ab") as stdout:  # ``-o - >> in.jsonl`` would read what it appends
        command = [*command[:4], str(data), "-o", "-", "-q", "--no-cache"]
        done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "--output and INPUT name the same file" in done.stderr
    assert data.read_bytes() == before


def test_the_report_writes_over_no_file_it_reads(tmp_path):
    """``report RUN -o X``: X is neither the run's output, summary or rejects, nor an input that
    a rejected record is read back from (each was overwritten with the HTML page, exit 0)."""
    pytest.importorskip("matplotlib")
    rows = [json.dumps(r) for r in alpaca(12)] + ['{"instruction": 5, "output": "x"}']
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert augment(src, out).exit_code == 0
    before = snapshot(tmp_path)
    for target, label in [
        (out, "RUN_OUTPUT"),
        (tmp_path / "o.jsonl.summary.json", "a run's summary"),
        (tmp_path / "o.jsonl.rejects.jsonl", "a run's rejects"),
        (src, "INPUT"),
    ]:
        one_line(cli("report", out, "-o", target), f"{target}: --output and {label} name the same file")
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(before)
    assert cli("report", out, "-o", tmp_path / "page.html").exit_code == 0


# --- part folders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"],  # Hugging Face style shards
        ["part-0-passthrough.jsonl", "part-g00000-e00000-s00000.jsonl"],  # mosaicit's names, the user's files
        ["notes.txt"],
    ],
)
def test_a_part_folder_of_the_users_own_files_is_refused_whatever_the_names(tmp_path, data, names):
    folder = tmp_path / "out"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("mine\n", encoding="utf-8")
    for kind in ("jsonl", "parquet"):
        one_line(
            augment(data, folder, "--output-parts", kind),
            f"{folder}: --output-parts replaces this folder, but it holds files that mosaicit did not write",
        )
    assert snapshot(folder) == {name: b"mine\n" for name in names}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out"]


def test_a_part_folder_that_mosaicit_wrote_is_replaced_and_one_file_added_is_refused(tmp_path, data):
    folder = tmp_path / "out"
    assert augment(data, folder, "--output-parts", "jsonl", "--shards", 3).exit_code == 0
    first = snapshot(folder)
    assert augment(data, folder, "--output-parts", "jsonl", "--shards", 2, "--seed", 7).exit_code == 0
    second = snapshot(folder)
    assert second and second.keys() != first.keys()  # replaced, not merged
    (folder / "part-g00000-e00009-s00000.jsonl").write_text("mine\n", encoding="utf-8")
    one_line(augment(data, folder, "--output-parts", "jsonl"), "(part-g00000-e00009-s00000.jsonl)")
    (folder / "part-g00000-e00009-s00000.jsonl").unlink()
    name = next(iter(second))
    (folder / name).unlink()
    (folder / name).symlink_to(data)  # a listed name, but a link now
    one_line(augment(data, folder, "--output-parts", "jsonl"), f"({name})")
    assert data.read_bytes() == "".join(json.dumps(r) + "\n" for r in alpaca()).encode()


def test_side_outputs_inside_the_part_folder_and_dot_are_refused(tmp_path, data, monkeypatch):
    folder = tmp_path / "out"
    for option in ("--summary", "--rejects"):
        result = augment(data, folder, "--output-parts", "jsonl", option, folder / "side.json")
        one_line(result, f"--output: {folder}: {option} ({folder / 'side.json'}) lies in this folder")
    monkeypatch.chdir(tmp_path)
    for target in (".", "./", ".."):
        one_line(
            augment(data, target, "--output-parts", "jsonl"), "--output-parts needs a folder by its name"
        )
    folder.mkdir()
    monkeypatch.chdir(folder)
    one_line(augment(data, "../out", "--output-parts", "jsonl"), "the current folder lies in it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out"]


def test_many_shards_write_no_empty_part_file(tmp_path, data):
    folder = tmp_path / "out"
    assert augment(data, folder, "--output-parts", "jsonl", "--shards", 1000, "--epochs", 2).exit_code == 0
    parts = sorted(folder.iterdir())
    assert 0 < len(parts) <= 2 * 20 and all(p.stat().st_size > 0 for p in parts)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["output_parts"] == [p.name for p in parts]
    assert sum(len(p.read_bytes().splitlines()) for p in parts) == summary["samples_written"]


# --- the shared cache ------------------------------------------------------------------------------


def test_a_link_planted_in_a_shared_cache_folder_is_never_written_through(tmp_path, data):
    from mosaicit.budget.tokens import load_counter

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone may create a file here
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    fingerprint = load_counter(None).fingerprint
    (shared / f"counts-{fingerprint[:24]}.sqlite3").symlink_to(victim)
    run = ["augment", data, "-o", tmp_path / "o.jsonl", "-q", "--cache-dir", shared]
    result = cli(*run)
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious\n"
    own = shared / f"user-{os.getuid()}"
    assert list(own.glob("counts-*.sqlite3"))  # the cache lives in this user's private folder
    assert oct(own.stat().st_mode & 0o777) == "0o700"
    # in a private folder, a link where the cache file should be is never written through either
    (own / f"counts-{fingerprint[:24]}.sqlite3").unlink()
    (own / f"counts-{fingerprint[:24]}.sqlite3").symlink_to(victim)
    result = cli(*run)
    assert result.exit_code == 0 and victim.read_text() == "precious\n"
    assert result.stderr.count("not using the count cache") == 1 and "is a link" in result.stderr
    # and a link planted where the private folder should be
    other = tmp_path / "other"
    other.mkdir()
    other.chmod(0o1777)
    (other / f"user-{os.getuid()}").symlink_to(own)
    result = cli(*run[:-1], other)
    assert result.exit_code == 0 and "is not a private folder of yours" in result.stderr


# --- truncated and non-standard input --------------------------------------------------------------


def test_a_zst_stream_cut_on_a_line_boundary_is_an_error(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    lines = [json.dumps(r) + "\n" for r in alpaca(200)]
    packer = zstandard.ZstdCompressor()
    for cut in (10, 50, 150):
        stream = packer.compressobj()
        data = stream.compress("".join(lines[:cut]).encode()) + stream.flush(
            zstandard.COMPRESSOBJ_FLUSH_BLOCK
        )
        path = tmp_path / f"cut{cut}.jsonl.zst"
        path.write_bytes(data)  # every line up to the cut is there, but the frame never ends
        one_line(
            augment(path, tmp_path / "o.jsonl"), f"{path}: cannot read: the .zst stream ends inside a frame"
        )
        one_line(cli("convert", path, "-o", tmp_path / "c.jsonl"), "the .zst stream ends inside a frame")
    whole = packer.compress("".join(lines).encode())
    for cut in (len(whole) // 3, len(whole) - 1):
        (tmp_path / "bytes.jsonl.zst").write_bytes(whole[:cut])
        one_line(augment(tmp_path / "bytes.jsonl.zst", tmp_path / "o.jsonl"), "ends inside a frame")
    assert not (tmp_path / "o.jsonl").exists()
    frames = packer.compress("".join(lines[:70]).encode()) + packer.compress("".join(lines[70:]).encode())
    (tmp_path / "frames.jsonl.zst").write_bytes(frames)  # two whole frames: one stream, all read
    result = cli("convert", tmp_path / "frames.jsonl.zst", "-o", tmp_path / "c.jsonl")
    assert result.exit_code == 0 and len((tmp_path / "c.jsonl").read_text().splitlines()) == 200


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_on_every_reader(tmp_path, constant):
    rows = [json.dumps(r) for r in alpaca(6)]
    rows[3] = rows[3][:-1] + f', "id": {constant}}}'
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(rows) + "\n", encoding="utf-8")
    array = tmp_path / "in.json"
    array.write_text("[" + ",\n".join(rows) + "]", encoding="utf-8")
    chats = [json.dumps({"id": i, "conversations": TWO_TURNS[:2]}) for i in range(4)]
    chats[2] = chats[2].replace('"id": 2', f'"id": {constant}')
    sharegpt = tmp_path / "sharegpt.json"
    sharegpt.write_text("[" + ",".join(chats) + "]", encoding="utf-8")
    says = f"{constant} is not JSON"
    one_line(augment(jsonl, tmp_path / "o.jsonl"), f"{jsonl}: record 3: invalid JSON on line 4: {says}")
    one_line(
        augment("-", tmp_path / "o.jsonl", input=jsonl.read_text()),
        f"-: record 3: invalid JSON on line 4: {says}",
    )
    one_line(augment(array, tmp_path / "o.jsonl"), f"{array}: record 3: invalid JSON in the record at line 4")
    one_line(augment(sharegpt, tmp_path / "o.jsonl"), f"{sharegpt}: record 2: invalid JSON")
    one_line(cli("convert", jsonl, "-o", tmp_path / "c.jsonl"), says)
    one_line(cli("preview", array, "-n", 1), says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json", "in.jsonl", "sharegpt.json"]


def test_a_number_beyond_a_float_is_not_read_as_infinity(tmp_path):
    rows = [json.dumps(r) for r in alpaca(6)]
    rows[2] = rows[2][:-1] + ', "id": 1e400}'  # Python reads it as inf, written as null
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(rows) + "\n", encoding="utf-8")
    array = tmp_path / "in.json"
    array.write_text("[" + ",\n".join(rows).replace("1e400", "-1E+999") + "]", encoding="utf-8")
    says = "is beyond the range of a 64-bit float"
    one_line(
        augment(jsonl, tmp_path / "o.jsonl"),
        f"{jsonl}: record 2: invalid JSON on line 3: the number 1e400 {says}",
    )
    one_line(augment(array, tmp_path / "o.jsonl"), f"the number -1E+999 {says}")
    one_line(cli("convert", jsonl, "-o", tmp_path / "c.jsonl"), says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json", "in.jsonl"]


# --- very large integers ---------------------------------------------------------------------------


def big_inputs(tmp_path: Path) -> dict[str, Path]:
    """The same records with an id beyond 64 bits in each reader's form (multi-turn: passed through)."""
    rows = [{"id": BIG + i, "conversations": TWO_TURNS} for i in range(3)] + [
        {"id": i, "conversations": TWO_TURNS[:2]} for i in range(12)
    ]
    jsonl = write_jsonl(tmp_path / "big.jsonl", rows)
    array = tmp_path / "big.json"
    array.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return {"jsonl": jsonl, "array": array}


@pytest.mark.parametrize("how", ["jsonl", "array", "stdin", "workers"])
def test_integers_beyond_64_bits_are_kept_exactly(tmp_path, how):
    src = big_inputs(tmp_path)["array" if how == "array" else "jsonl"]
    out = tmp_path / "out.jsonl"
    extra = ("--workers", 2, "--executor", "workers") if how == "workers" else ("--executor", "local")
    if how == "stdin":
        result = augment("-", out, *extra, input=src.read_text())
    else:
        result = augment(src, out, *extra)
    assert result.exit_code == 0, result.output
    ids = [row["id"] for row in map(json.loads, out.read_text().splitlines()) if row["id"] is not None]
    assert sorted(ids) == [BIG, BIG + 1, BIG + 2]  # ints, exact (json reads them back as they were)
    assert all(type(i) is int for i in ids)


def test_large_integers_in_mosaics_convert_preview_and_eval_build(tmp_path):
    src = big_inputs(tmp_path)["jsonl"]
    result = cli("convert", src, "-o", tmp_path / "c.jsonl", "--output-format", "sharegpt")
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["id"] for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert ids[:3] == [BIG, BIG + 1, BIG + 2]
    single = write_jsonl(tmp_path / "single.jsonl", [dict(r, id=BIG + i) for i, r in enumerate(alpaca(12))])
    assert augment(single, tmp_path / "m.jsonl", "--epochs", 1).exit_code == 0
    mosaics = [
        json.loads(json.loads(line)["mosaic"]) for line in (tmp_path / "m.jsonl").read_text().splitlines()
    ]
    assert sorted(i for m in mosaics for i in m["ids"]) == [BIG + i for i in range(12)]
    result = cli("preview", single, "-n", 1)
    assert result.exit_code == 0 and "Say the number" in result.stdout, result.output
    result = cli("eval", "build", single, "-o", tmp_path / "e.jsonl", "--size", 2)
    assert result.exit_code == 0 and len((tmp_path / "e.jsonl").read_text().splitlines()) == 2, result.output


@pytest.mark.parametrize("run", ["augment", "parts", "convert"])
@pytest.mark.parametrize("ids", ["big", "mixed"])
def test_parquet_output_refuses_ids_its_column_cannot_hold_in_one_line(tmp_path, run, ids):
    pytest.importorskip("pyarrow")
    first = BIG if ids == "big" else "a"
    rows = [{"id": first, "conversations": TWO_TURNS}, {"id": 7, "conversations": TWO_TURNS}]
    src = write_jsonl(tmp_path / "in.jsonl", rows + [{"conversations": TWO_TURNS[:2]}] * 4)
    says = (
        "does not fit the id column (int64)"
        if ids == "big"
        else "(int) does not match the id column (string)"
    )
    row = 0 if ids == "big" else 1
    if run == "convert":
        result = cli("convert", src, "-o", tmp_path / "o.parquet")
    elif run == "parts":
        result = augment(src, tmp_path / "o", "--output-parts", "parquet")
    else:
        result = augment(src, tmp_path / "o.parquet")
    one_line(result, f"Parquet output: row {row}: id {BIG if row == 0 else 7} {says}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_a_parquet_timestamp_id_column_is_read_and_written(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import datetime

    stamps = [datetime.datetime(2024, 1, 1 + i) for i in range(6)]
    table = pa.table(
        {
            "id": pa.array(stamps, pa.timestamp("us")),
            "instruction": [f"Say {i}." for i in range(6)],
            "output": [f"{i}." for i in range(6)],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    assert cli("convert", tmp_path / "in.parquet", "-o", tmp_path / "o.parquet").exit_code == 0
    assert pq.read_table(tmp_path / "o.parquet").column("id").to_pylist() == stamps
    assert cli("convert", tmp_path / "in.parquet", "-o", tmp_path / "o.jsonl").exit_code == 0
    written = [json.loads(line)["id"] for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert written == [s.isoformat() for s in stamps]
    assert augment(tmp_path / "in.parquet", tmp_path / "a.parquet").exit_code == 0


def parquet_ids(pa, path: Path, ids) -> Path:
    n = len(ids)
    table = pa.table({"id": ids, "instruction": [f"Say {i}." for i in range(n)], "output": ["Yes."] * n})
    pa.parquet.write_table(table, path)
    return path


def test_parquet_timestamps_in_nanoseconds_or_with_a_time_zone_are_written_as_iso_text(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("pyarrow.parquet")
    import datetime

    stamps = [datetime.datetime(2024, 1, 1, 0, 0, i) for i in range(6)]
    for unit, tz in (("ns", None), ("us", "UTC"), ("ns", "UTC")):
        src = parquet_ids(pa, tmp_path / "in.parquet", pa.array(stamps, pa.timestamp(unit, tz=tz)))
        assert cli("convert", src, "-o", tmp_path / "o.jsonl").exit_code == 0
        written = [json.loads(line)["id"] for line in (tmp_path / "o.jsonl").read_text().splitlines()]
        zone = "+00:00" if tz else ""
        assert written == [s.isoformat() + zone for s in stamps], (unit, tz)
        result = augment(src, tmp_path / "a.parquet")
        assert result.exit_code == 0, result.output
    nanos = pa.array([1_704_067_200_000_000_001], pa.timestamp("ns"))  # kept to the nanosecond
    assert (
        cli("convert", parquet_ids(pa, tmp_path / "in.parquet", nanos), "-o", tmp_path / "o.jsonl").exit_code
        == 0
    )
    assert json.loads((tmp_path / "o.jsonl").read_text())["id"] == "2024-01-01T00:00:00.000000001"


def test_a_parquet_id_with_no_json_form_is_a_broken_record_and_the_rejects_file_stays_json(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("pyarrow.parquet")
    import datetime
    import decimal

    columns = {
        "decimal": (pa.array([decimal.Decimal("1.50")] * 6, pa.decimal128(5, 2)), "a Decimal (1.50)", "1.50"),
        "bytes": (pa.array([b"\xff"] * 6), "a bytes (b'\\xff')", "b'\\xff'"),
        "duration": (
            pa.array([datetime.timedelta(seconds=1)] * 6, pa.duration("us")),
            "a timedelta",
            "0:00:01",
        ),
        "nan": (pa.array([1.5] * 5 + [float("nan")]), "nan has no JSON form", None),
    }
    for name, (ids, says, written) in columns.items():
        src = parquet_ids(pa, tmp_path / f"{name}.parquet", ids)
        out = tmp_path / f"{name}.jsonl"
        result = augment(src, out, "--max-bad-share", 1, "--rejects", tmp_path / "r.jsonl", "--rejects-full")
        assert result.exit_code == 0, result.output  # before: a traceback (TypeError) when written
        rejects = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
        assert len(rejects) == (1 if name == "nan" else 6), name
        assert says in rejects[-1]["detail"] and rejects[-1]["id"] == written, rejects[-1]
        if name != "nan":
            one_line(cli("convert", src, "-o", tmp_path / "c.jsonl"), f"record 0: field 'id': {says}")


# --- option bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-length", 2**63], f"--max-length must be at most 2147483647, got {2**63}"),
        (["--shards", 0], "--shards must be at least 1, got 0"),
        (["--shards", 1_000_000], "--shards must be at most 100000, got 1000000"),
        (["--workers", 0], "--workers must be at least 1, got 0"),
        (["--workers", 100_000], "--workers must be at most 1024, got 100000"),
        (["--epochs", 10**6], "--epochs must be at most 100000, got 1000000"),
        (["--max-bad-share", 2], "--max-bad-share must be between 0 and 1, got 2.0"),
        (["--max-bad-share", "nan"], "--max-bad-share must be between 0 and 1, got nan"),
    ],
)
def test_option_bounds_are_one_line(tmp_path, data, args, says):
    one_line(augment(data, tmp_path / "o.jsonl", *args), says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
