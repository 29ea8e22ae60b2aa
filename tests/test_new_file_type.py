"""A file type and a record shape defined in this module, and registered, work end to end: they are
read, mosaicked within the budget and written, as one file and as part files, by the API and by the
CLI. They are the worked examples of docs/architecture.md ("Where a new thing goes")."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest

from conftest import ROOT, SAMPLE, TOKENIZERS
from formats_helpers import raw_rows, row_messages
from mosaicit import MosaicConfig
from mosaicit.errors import MosaicitError
from mosaicit.io import filetypes, shapes
from mosaicit.io.atomic import atomic_open
from mosaicit.io.filetypes import FileType
from mosaicit.io.formats import Columns, Conversation, kept, text
from mosaicit.io.shapes import RecordShape
from mosaicit.io.streams import open_text
from mosaicit.run.api import augment_dataset

pytest.importorskip("transformers")
MAX_LENGTH = 256
QWEN3 = TOKENIZERS / "qwen3"

# ----------------------------------------------------------------------------- a file type: CSV


def read_csv(path: str | Path, max_record_mb: int) -> Iterator[tuple[int, Any]]:
    """``(row, item)`` of a CSV file with a header line; every value is text."""
    with open_text(path) as handle:  # so .csv.gz and .csv.zst are read too
        yield from enumerate(csv.DictReader(handle))


def cell(value: Any) -> str:
    """A column's value in a CSV cell: text as it is, null as nothing, anything else as JSON."""
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def _write(out: IO[bytes], rows: Iterable[dict[str, Any]]) -> int:
    buffer, writer, n = io.StringIO(), None, 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow({key: cell(value) for key, value in row.items()})
        n += 1
    out.write(buffer.getvalue().encode("utf-8"))
    return n


def write_csv(path: str | Path, rows: Iterable[dict[str, Any]], shape: str) -> int:
    with atomic_open(path, "wb") as out:
        return _write(out, rows)


def write_csv_part(path: str, rows: Iterable[dict[str, Any]], shape: str, hint: Any) -> tuple[int, Any]:
    with open(path, "wb") as out:
        return _write(out, rows), None


CSV = FileType("csv", (".csv",), read_csv, write_csv, write_csv_part, title="CSV")

# ----------------------------------------------------------------------------- a record shape: question/answer


def qa_detect(item: Mapping[str, Any], cols: Columns) -> int:
    return 3 if "question" in item and "answer" in item else 0


def qa_normalise(
    item: Mapping[str, Any], cols: Columns, path: str, index: int, repairs: Counter[str] | None
) -> Conversation:
    question = text(item.get("question"), "field 'question'", path, index)
    answer = text(item.get("answer"), "field 'answer'", path, index)
    system = text(item.get(cols.system), f"field {cols.system!r}", path, index, required=False)
    return Conversation(index, ((question, answer),), system, "", kept(item, cols, path, index))


def qa_row(conv: Conversation) -> dict[str, Any]:
    if conv.multi_turn:
        raise MosaicitError("a question/answer row holds one exchange")
    return {"question": conv.user_text(0), "answer": conv.turns[0][1]}


QA = RecordShape(
    "qa",
    "question/answer",
    qa_detect,
    qa_normalise,
    qa_row,
    ("id", "system", "question", "answer"),
    lambda present: {"formatting": "alpaca", "columns": {"prompt": "question", "response": "answer"}},
)


def register_all() -> None:
    filetypes.register(CSV)
    shapes.register(QA)


@pytest.fixture
def registered(monkeypatch):
    """CSV and question/answer registered for one test (the registries as they were afterwards)."""
    monkeypatch.setattr(filetypes, "FILE_TYPES", dict(filetypes.FILE_TYPES))
    monkeypatch.setattr(shapes, "SHAPES", dict(shapes.SHAPES))
    register_all()


# ----------------------------------------------------------------------------- helpers


def sample_items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def qa_items() -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "question": r["instruction"] + (f"\n{r['input']}" if r["input"] else ""),
            "answer": r["output"],
        }
        for r in sample_items()
    ]


def write_csv_file(path: Path, items: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, items, "")
    return path


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def qa_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    system = [{"role": "system", "content": row["system"]}] if row["system"] else []
    return [
        *system,
        {"role": "user", "content": row["question"]},
        {"role": "assistant", "content": row["answer"]},
    ]


def assert_within_budget(rows: list[dict[str, Any]], messages: Any) -> None:
    """Every row, rendered as the trainer renders it (ChatML, Qwen3's tokenizer), fits the budget,
    and counts what its provenance says; the budget was used."""
    from test_formats_budget import trainer_count

    counts = [trainer_count("chatml", "qwen3", messages(row)) for row in rows]
    assert counts == [json.loads(row["mosaic"])["tokens"] for row in rows]
    assert max(counts) <= MAX_LENGTH
    assert max(counts) > MAX_LENGTH * 0.75


def run(source: Any, out: Path, output_format: str = "alpaca", **kw: Any) -> dict[str, Any]:
    config = MosaicConfig(epochs=2, max_length=MAX_LENGTH, seed=5)
    return augment_dataset(
        source, out, config, template="chatml", output_format=output_format, tokenizer=str(QWEN3),
        use_cache=False, executor="local", **kw,
    )  # fmt: skip


def in_parts(folder: Path, summary: dict[str, Any], suffix: str) -> list[Path]:
    names = summary["output_parts"]
    assert names and all(name.endswith(suffix) for name in names)
    assert sorted(p.name for p in folder.iterdir()) == names
    return [folder / name for name in names]


# ----------------------------------------------------------------------------- the tests


def test_a_file_type_defined_here_is_read_and_written_as_one_file_and_as_parts(tmp_path, registered):
    data = write_csv_file(tmp_path / "in" / "data.csv", sample_items())
    reference = tmp_path / "out.jsonl"
    run(SAMPLE, reference)  # the same records, read from JSONL and written as JSONL
    expected = [{key: cell(value) for key, value in row.items()} for row in raw_rows(reference)]

    one = tmp_path / "out.csv"
    summary = run(data.parent, one)  # a folder: its .csv files are data files now
    assert summary["formats"] == {**summary["formats"], "input": "alpaca", "file": "csv"}
    assert csv_rows(one) == expected
    assert_within_budget(csv_rows(one), row_messages)

    parts = tmp_path / "parts"
    summary = run(data, parts, output_parts="csv")
    assert summary["formats"]["file"] == "csv"
    assert [row for part in in_parts(parts, summary, ".csv") for row in csv_rows(part)] == expected


def test_a_record_shape_defined_here_is_detected_and_written_in_every_file_type(tmp_path, registered):
    pytest.importorskip("pyarrow")
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in qa_items()), encoding="utf-8")
    one, info = tmp_path / "out.jsonl", tmp_path / "dataset_info.json"
    summary = run(data, one, "qa", dataset_info_path=info)
    assert summary["formats"]["input"] == summary["formats"]["output"] == "qa"  # detected
    rows = raw_rows(one)
    assert all(list(row) == ["id", "system", "question", "answer", "mosaic"] for row in rows)
    assert_within_budget(rows, qa_messages)
    entry = {
        "file_name": "out.jsonl",
        "formatting": "alpaca",
        "columns": {"prompt": "question", "response": "answer"},
    }
    assert json.loads(info.read_text(encoding="utf-8")) == {"out": entry}

    for kind, suffix in (("jsonl", ".jsonl"), ("parquet", ".parquet"), ("csv", ".csv")):
        folder = tmp_path / f"{kind}-parts"
        files = in_parts(folder, run(data, folder, "qa", output_parts=kind), suffix)
        if kind == "jsonl":  # JSONL parts concatenate to the one-file output
            assert b"".join(f.read_bytes() for f in files) == one.read_bytes()
        elif kind == "parquet":  # the shape's columns are text in Parquet
            assert [row for f in files for row in raw_rows(f)] == rows
        else:
            expected = [{key: cell(value) for key, value in row.items()} for row in rows]
            assert [row for f in files for row in csv_rows(f)] == expected


def test_the_cli_reads_and_writes_them_once_registered(tmp_path, registered):
    """A process that registers them before the CLI loads offers them as choices."""
    data = write_csv_file(tmp_path / "qa.csv", qa_items())
    one = tmp_path / "api.csv"
    run(data, one, "qa")
    driver = "import sys, test_new_file_type as t; t.register_all(); from mosaicit.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}

    def cli(*args: Any) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", driver, *map(str, args)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    shown = cli("augment", "--help")
    assert "[jsonl|parquet|csv]" in shown.stdout and "qa" in shown.stdout
    folder = tmp_path / "parts"
    done = cli(
        "augment", data, "-o", folder, "--output-parts", "csv", "--output-format", "qa", "--template", "chatml",
        "--tokenizer", QWEN3, "--max-length", MAX_LENGTH, "--epochs", 2, "--seed", 5, "--no-cache", "-q",
        "--executor", "local",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = sorted(folder.iterdir())
    assert files and [row for f in files for row in csv_rows(f)] == csv_rows(one)


def test_the_worked_example_in_the_docs_is_this_file_type():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    example = next(block for block in doc.split("```python\n")[1:] if "FileType(" in block).split("```")[0]
    declared = next(line for line in Path(__file__).read_text().splitlines() if line.startswith("CSV = "))
    assert declared.removeprefix("CSV = ") in example


def test_a_file_type_or_shape_whose_name_or_suffix_is_taken_is_refused(registered):
    with pytest.raises(MosaicitError, match="'tsv': its suffix .csv is another file type's already"):
        filetypes.register(FileType("tsv", (".tsv", ".csv"), read_csv, write_csv))
    with pytest.raises(MosaicitError, match="'csv': its name is another file type's already"):
        filetypes.register(FileType("csv", (".tab",), read_csv, write_csv))
    with pytest.raises(MosaicitError, match="record shape 'qa': the name is taken already"):
        shapes.register(QA)
    assert filetypes.part_types() == ("jsonl", "parquet", "csv")
    assert filetypes.output_type("x.csv.gz") is CSV  # may be compressed: it is text
    with pytest.raises(
        MosaicitError, match=r"must end in \.json, \.jsonl, \.parquet or \.csv \(\.json, \.jsonl"
    ):
        filetypes.output_type("x.tsv")
