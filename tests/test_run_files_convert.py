"""Every reader/writer pair on real data: convert, read back, convert back; outputs load with datasets."""

from __future__ import annotations

import json

import pytest

from conftest import ALPACA_EVAL, SHAREGPT
from formats_helpers import read_rows, row_messages
from mosaicit.io.shapes import SHAPES
from mosaicit.io.sources import read_conversations
from mosaicit.run.api import convert_dataset

pytest.importorskip("pyarrow")
SOURCES = {"sharegpt": SHAREGPT, "alpaca": ALPACA_EVAL}
EXTENSIONS = ("json", "jsonl", "parquet")


def _messages(path):
    return [c.messages() for c in read_conversations(path)]


@pytest.fixture(scope="module")
def originals():
    return {name: _messages(path) for name, path in SOURCES.items()}


@pytest.mark.parametrize("ext", EXTENSIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_round_trip(tmp_path, originals, source, shape, ext):
    out = tmp_path / f"out.{ext}"
    summary = convert_dataset(SOURCES[source], out, output_format=shape)
    n = len(originals[source])
    assert summary["records_read"] == summary["records_written"] == n
    assert summary["input_format"] == source and summary["output_format"] == shape

    back = list(read_conversations(out))
    assert [c.messages() for c in back] == originals[source]
    assert all(c.index == i for i, c in enumerate(back))
    assert [row_messages(r) for r in read_rows(out)] == originals[source]

    # and back to the original shape, as a JSON array: the same rows as the input file had
    again = tmp_path / "again.json"
    convert_dataset(out, again, output_format=source)
    original_rows = json.loads(SOURCES[source].read_text(encoding="utf-8"))
    rows = json.loads(again.read_text(encoding="utf-8"))
    if source == "sharegpt":  # the same rows, with every column of the shape
        assert rows == [r | {"system": "", "mosaic": None} for r in original_rows]
    else:
        assert [(r["instruction"], r["input"], r["output"]) for r in rows] == [
            (r["instruction"], "", r["output"]) for r in original_rows
        ]


@pytest.mark.parametrize("ext", EXTENSIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_outputs_load_with_datasets(tmp_path, shape, ext):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / f"mixed.{ext}"
    convert_dataset(SHAREGPT, out, output_format=shape)
    builder = "parquet" if ext == "parquet" else "json"
    ds = datasets.load_dataset(builder, data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    rows = read_rows(out)
    assert ds.num_rows == len(rows)
    assert [row_messages(dict(r)) for r in ds] == [row_messages(r) for r in rows]


def test_provenance_survives_conversion(tmp_path):
    """A mosaicked file converted to another shape and file type keeps its mosaic objects and ids."""
    from mosaicit import MosaicConfig
    from mosaicit.run.api import augment_dataset

    first = tmp_path / "m.jsonl"
    augment_dataset(ALPACA_EVAL, first, MosaicConfig(epochs=1, max_length=1000))
    mosaics = [r["mosaic"] for r in read_rows(first)]
    assert len(mosaics) > 100 and all(m["sources"] for m in mosaics)
    for ext in EXTENSIONS:
        out = tmp_path / f"m2.{ext}"
        convert_dataset(first, out, output_format="messages")
        assert [r["mosaic"] for r in read_rows(out)] == mosaics
        stripped = tmp_path / f"m3.{ext}"
        convert_dataset(out, stripped, output_format="sharegpt", with_meta=False)
        assert all(r.get("mosaic") is None for r in read_rows(stripped))
