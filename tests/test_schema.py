"""One schema per output file: mosaics and passthrough rows in any mix load with datasets' JSON and
Parquet loaders, also when the file spans many Arrow blocks."""

from __future__ import annotations

import json

import pytest

from formats_helpers import raw_rows, read_rows, write_mixed
from mosaicit import MosaicConfig
from mosaicit.io.shapes import SHAPES, columns
from mosaicit.run.api import augment_dataset

datasets = pytest.importorskip("datasets")
pytest.importorskip("pyarrow")
SMALL_BLOCKS = 1 << 15  # 32 KB blocks: a few-MB file spans a hundred of them


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return write_mixed(tmp_path_factory.mktemp("mixed") / "mixed.jsonl")


def _load(path, **kw):
    builder = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(path.parent / "hf-cache"), **kw
    )


@pytest.mark.slow
def test_multi_megabyte_alpaca_output_loads_at_the_default_block_size(tmp_path, mixed):
    """Bigger than datasets' 10 MB JSON block: the file is read in several blocks, cast to the first."""
    summaries = {}
    for ext in ("jsonl", "parquet"):
        out = tmp_path / f"train.{ext}"
        summaries[ext] = augment_dataset(mixed, out, MosaicConfig(epochs=24), use_cache=False)
        ds = _load(out)
        assert ds.num_rows == summaries[ext]["samples_written"] > 3_000
        assert ds.features["mosaic"] == datasets.Value("string")
        assert ds.features["history"] == datasets.List(datasets.List(datasets.Value("string")))
    assert (tmp_path / "train.jsonl").stat().st_size > 10 << 20
    passed = summaries["jsonl"]["passthrough"]["written"]
    assert passed > 100 and summaries["jsonl"]["mosaics_written"] > 10 * passed


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("system_policy", ["group", "passthrough"])
def test_every_shape_and_file_type_loads_across_many_blocks(tmp_path, mixed, shape, system_policy):
    formats = {"output_format": shape, "system_policy": system_policy}
    for ext in ("jsonl", "json", "parquet"):
        out = tmp_path / f"o.{ext}"
        summary = augment_dataset(mixed, out, MosaicConfig(epochs=1), **formats, use_cache=False)
        ds = _load(out) if ext == "parquet" else _load(out, chunksize=SMALL_BLOCKS)
        assert ds.num_rows == summary["samples_written"] == len(raw_rows(out))
        assert list(ds.features) == list(columns(shape))
        assert all(list(row) == list(columns(shape)) for row in raw_rows(out)), "same columns, same order"
        assert ds.features["mosaic"] == datasets.Value("string")
    jsonl, parquet = read_rows(tmp_path / "o.jsonl"), read_rows(tmp_path / "o.parquet")
    assert jsonl == parquet, "the same rows and types in JSONL and Parquet"
    kinds = {r["mosaic"]["strategy"] == "passthrough" for r in jsonl}
    assert kinds == {True, False}
    # the passthrough rows come first; the first conversation with an id (and a history) leads,
    # before the single exchanges with a system prompt that come first in the input
    assert jsonl[0]["id"] is not None and jsonl[0]["mosaic"]["rule"] == "multi_turn"
    if system_policy == "passthrough":
        assert jsonl[1]["mosaic"]["rule"] == "with_system"


def test_a_shape_whose_multi_turn_rows_hold_a_column_more_leads_with_one(tmp_path):
    """Alpaca's multi-turn rows hold ``history`` (``RecordShape.multi_turn_column``): the first
    such passthrough row is written first, so that a file's first rows show the column's type;
    a shape without the property (ShareGPT) keeps the input order."""

    def turns(*texts):
        return [{"from": ("human", "gpt")[k % 2], "value": text} for k, text in enumerate(texts)]

    system = [{"from": "system", "value": "s"}]
    items = [{"conversations": system + turns(f"q{i}", f"a{i}")} for i in range(3)]
    items.append({"conversations": turns("h1", "g1", "h2", "g2")})
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    firsts = {}
    for shape in ("alpaca", "sharegpt"):
        out = tmp_path / f"{shape}.jsonl"
        augment_dataset(str(source), out, use_cache=False, system_policy="passthrough", output_format=shape)
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        firsts[shape] = [row.get("instruction") or row["conversations"][0]["value"] for row in rows]
    assert SHAPES["alpaca"].multi_turn_column and not SHAPES["sharegpt"].multi_turn_column
    assert firsts == {"alpaca": ["h2", "q0", "q1", "q2"], "sharegpt": ["q0", "q1", "q2", "h1"]}
