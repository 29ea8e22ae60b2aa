"""``mosaicit.augment()``: a run in memory gives the CLI's rows, rejects and summary; ``mosaic()``
reports what it leaves out."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mosaicit
from conftest import SAMPLE, SHAREGPT, TOKENIZERS
from mosaicit.cli import main

LLAMA2 = str(TOKENIZERS / "llama-2")
#: Summary keys that say where or how a run was done, not what it made.
WHERE = ("input", "output", "workers", "cache", "executor", "config")


def cli_run(tmp_path, source, name, *options):
    """Run ``mosaicit augment`` in-process; returns the output path."""
    out = tmp_path / name
    args = ["augment", str(source), "-o", str(out), "-q", "--rejects-full", "--executor", "local", *options]
    result = CliRunner().invoke(main, [*args, "--tokenizer", LLAMA2], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def comparable(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k not in WHERE}
    out["formats"] = {k: v for k, v in out["formats"].items() if k != "file"}
    return out


CASES = [
    # ShareGPT with multi-turn conversations (passed through, some over budget: trimmed), split or not
    (
        SHAREGPT,
        dict(max_length=60, seed=11, epochs=2, over_budget="trim"),
        "--max-length 60 --seed 11 --epochs 2 --over-budget trim",
    ),
    pytest.param(
        SHAREGPT,
        dict(max_length=40, seed=3, conversations="split", output_format="messages", shards=2),
        "--max-length 40 --seed 3 --conversations split --output-format messages --shards 2",
        marks=pytest.mark.slow,
    ),
    (
        SAMPLE,
        dict(max_length=300, seed=5, mask_rules=("odd", "even"), weights={"format": 1, "maskout": 2}),
        "--max-length 300 --seed 5 --mask-rules odd,even --weights format=1,maskout=2",
    ),
]


@pytest.mark.parametrize(("source", "kwargs", "flags"), CASES)
def test_augment_gives_the_rows_rejects_and_summary_of_the_cli(tmp_path, source, kwargs, flags):
    import datasets
    import pyarrow.parquet as pq

    dataset = datasets.Dataset.from_list(
        json.loads(source.read_text()) if source.suffix == ".json" else jsonl(source)
    )
    # a sharded run deals records by their FILE:ROW keys, so it is given the file the CLI reads
    given = str(source) if "shards" in kwargs else dataset
    result = mosaicit.augment(given, tokenizer=LLAMA2, executor="local", **kwargs)
    assert isinstance(result.dataset, datasets.Dataset)

    out = cli_run(tmp_path, source, "out.jsonl", *flags.split())
    assert result.dataset.to_list() == jsonl(out)
    table = pq.read_table(cli_run(tmp_path, source, "out.parquet", *flags.split()))
    assert result.dataset.data.table.equals(table)  # the Parquet output's very types and values
    assert result.dataset.features == datasets.Features.from_arrow_schema(table.schema)

    written = jsonl(out.with_name("out.jsonl.rejects.jsonl"))
    assert len(written) == result.summary.records_rejected > 0
    assert [{**r, "file": None} for r in result.rejects] == [{**r, "file": None} for r in written]
    summary = json.loads(out.with_name("out.jsonl.summary.json").read_text())
    assert comparable(result.summary.to_dict()) == comparable(summary)
    assert result.summary.output == "" and result.summary.formats.file is None


def test_augment_takes_a_list_of_dicts_or_a_path_and_writes_no_file(tmp_path, monkeypatch):
    cache_home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.chdir(tmp_path)
    records = jsonl(SAMPLE)
    options = dict(tokenizer=LLAMA2, max_length=350, seed=2, epochs=1, executor="local")
    from_path = mosaicit.augment(str(SAMPLE), **options)
    from_list = mosaicit.augment(records, mosaicit.MosaicConfig(max_length=350, seed=2, epochs=1), **options)
    assert from_path.dataset.to_list() == from_list.dataset.to_list()
    assert [r["row"] for r in from_path.rejects] == [r["row"] for r in from_list.rejects]
    assert {r["file"] for r in from_path.rejects} == {str(SAMPLE)}
    assert os.listdir(tmp_path) == []  # no output, no side file, no token-count cache
    assert "Augmented(dataset=Dataset(" in repr(from_list)
    assert f"{from_list.summary.records_read} records read" in repr(from_list)


def test_augment_options_go_over_config_and_unknown_ones_fail():
    records = jsonl(SAMPLE)[:20]
    result = mosaicit.augment(
        records,
        mosaicit.MosaicConfig(seed=9, epochs=3),
        output_format="sharegpt",
        epochs=1,
        with_meta=False,
        executor="local",
    )
    assert result.summary.epochs == 1 and result.summary.options.seed == 9
    assert result.dataset.column_names == ["id", "system", "conversations"]
    with pytest.raises(TypeError, match="max_lenght"):
        mosaicit.augment(records, max_lenght=100)
    with pytest.raises(mosaicit.MosaicitError, match="empty dataset"):
        mosaicit.augment([], executor="local")


def test_augment_dataset_of_no_rows_keeps_the_columns():
    records = jsonl(SAMPLE)[:3]
    result = mosaicit.augment(records, tokenizer=LLAMA2, max_length=20, executor="local")
    assert result.dataset.num_rows == 0 and len(result.rejects) == 3
    assert result.dataset.column_names == [
        "id",
        "instruction",
        "input",
        "output",
        "system",
        "history",
        "count",
        "mosaic",
    ]


@pytest.fixture(scope="module")
def sharegpt():
    return json.loads(SHAREGPT.read_text(encoding="utf-8"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 400), size=st.integers(1, 80), max_length=st.integers(60, 700))
def test_mosaic_reports_every_record_it_leaves_out(counters, sharegpt, start, size, max_length):
    records = sharegpt[start : start + size]
    config = mosaicit.MosaicConfig(epochs=1, max_length=max_length, seed=start)
    rejects: list[mosaicit.Reject] = []
    samples = list(mosaicit.mosaic(records, config, counters("llama-2"), rejects=rejects))
    assert samples == list(mosaicit.mosaic(records, config, counters("llama-2")))  # the same mosaics
    used = {i for s in samples for i in s.mosaic["sources"]}
    left = [r.index for r in rejects]
    assert sorted(left) == left and not used & set(left)
    assert used | set(left) == set(range(len(records)))  # every record used or reported
    for r in rejects:
        multi = len(records[r.index]["conversations"]) > 2
        assert r.reason == ("multi_turn" if multi else "over_budget"), r
        assert r.id == records[r.index]["id"] and r.raw()
