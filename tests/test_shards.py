"""Sharded composition without Ray: the units, the seeds, and local = workers with groups and passthrough."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SHAREGPT
from formats_helpers import read_rows
from mosaicit.cli import main
from mosaicit.errors import ParamError
from mosaicit.io.parts import marker_path
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.seeds import shard_of, shard_seed
from mosaicit.run.api import augment_dataset
from mosaicit.run.assemble import executor_of
from mosaicit.run.shards import FileKeys, plan_units, record_key
from mosaicit.run.spec import RunSpec


def test_shard_hash_is_pinned_so_outputs_are_the_same_on_every_machine():
    """blake2b, not Python's salted hash(): these values must never change."""
    assert [shard_of(7, 0, f"f:{i}", 3) for i in range(10)] == [1, 2, 0, 2, 0, 2, 2, 0, 2, 0]
    assert shard_seed(42, 1, 4) == 8160585564969021233
    assert shard_of(42, 0, "anything", 1) == 0 and shard_seed(42, 0, 1) == 42


def test_one_shard_is_one_unit_per_epoch_with_the_group_seed():
    units = plan_units(2, 99, 3, 1, [0, 2, 5])
    assert [(u.group, u.epoch, u.shard, u.seed, u.members) for u in units] == [
        (2, e, 0, 99, (0, 2, 5)) for e in range(3)
    ]


def test_shards_partition_each_epoch_in_input_order_and_change_across_epochs():
    usable = list(range(0, 400, 2))
    keys = [record_key("part.jsonl", i) for i in usable]
    units = plan_units(0, 5, 2, 4, usable, keys, 5)
    assert [(u.epoch, u.shard) for u in units] == [(e, s) for e in range(2) for s in range(4)]
    for epoch in range(2):
        members = [u.members for u in units if u.epoch == epoch]
        assert sorted(i for m in members for i in m) == usable
        assert all(list(m) == sorted(m) and m for m in members)
    first = {i: u.shard for u in units if u.epoch == 0 for i in u.members}
    second = {i: u.shard for u in units if u.epoch == 1 for i in u.members}
    assert sum(first[i] != second[i] for i in usable) > len(usable) / 2
    assert len({u.seed for u in units}) == 4  # one seed per shard, the same in every epoch


def test_a_records_shard_depends_on_the_run_seed_and_its_key_not_on_its_group():
    """The run's seed deals every group's records (a file's records can be dealt where it is read,
    before the groups of the files before it are numbered); each unit keeps its group's seed."""
    usable = list(range(60))
    keys = [record_key("part.jsonl", i) for i in usable]

    def dealt(group, seed, run_seed):
        units = plan_units(group, seed, 2, 3, usable, keys, run_seed)
        return [(u.epoch, u.shard, u.members) for u in units], {u.seed for u in units}

    first, first_seeds = dealt(0, 42, 42)
    assert dealt(4, 42 + 4 * 7_919, 42)[0] == first  # another group's number and seed, the same deal
    assert dealt(4, 42 + 4 * 7_919, 42)[1].isdisjoint(first_seeds)
    assert dealt(0, 42, 43)[0] != first
    with pytest.raises(AssertionError, match="run's seed"):
        plan_units(0, 42, 1, 3, usable, keys)


def test_file_keys_name_files_by_row():
    keys = FileKeys(
        [(0, "/data/a.jsonl"), (3, "/data/sub/b.parquet")], {"/data/sub/b.parquet": "sub/b.parquet"}
    )
    assert keys(2, None) == "/data/a.jsonl:2"
    assert keys(3, None) == "sub/b.parquet:0" and keys(7, 1) == "sub/b.parquet:4:1"


def test_sharded_groups_and_passthrough_are_the_same_locally_and_on_workers(tmp_path):
    """System-prompt groups, split and passed-through conversations: local = workers, with keys."""
    items = json.loads(SHAREGPT.read_text(encoding="utf-8"))[:150]
    for i, item in enumerate(items[:60]):
        if i % 3 == 0:  # single exchanges with one of two system prompts
            system = {"from": "system", "value": f"You are helper {i % 2}."}
            item["conversations"] = [system, *item["conversations"][:2]]
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.json").write_text(json.dumps(items[:70]), encoding="utf-8")
    (src / "b.json").write_text(json.dumps(items[70:]), encoding="utf-8")
    outs = {}
    for executor in ("local", "workers"):
        outs[executor] = tmp_path / f"{executor}.jsonl"
        result = CliRunner().invoke(
            main,
            ["augment", str(src), "-o", str(outs[executor]), "-q", "--no-cache", "--epochs", "2",
             "--max-length", "600", "--shards", "3", "--executor", executor, "--workers", "2",
             "--template", "vicuna_v1.1"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    assert outs["local"].read_bytes() == outs["workers"].read_bytes()
    rows = read_rows(outs["local"])
    passthrough = [r["mosaic"] for r in rows if r["mosaic"]["strategy"] == "passthrough"]
    mosaics = [r["mosaic"] for r in rows if r["mosaic"]["strategy"] != "passthrough"]
    assert passthrough and all(p["shard"] is None and len(p["keys"]) == 1 for p in passthrough)
    assert {m["shard"] for m in mosaics} == {0, 1, 2}
    assert all(k.startswith(("a.json:", "b.json:")) for m in mosaics for k in m["keys"])
    summary = json.loads((tmp_path / "local.jsonl.summary.json").read_text())
    assert summary["system_groups"] == 3
    assert summary["record_uses"] == summary["records_used"] * 2 == sum(len(m["keys"]) for m in mosaics)


def test_run_spec_checks_executor_and_shards_and_names_keys_below_a_folder(tmp_path):
    """The spec validates the new options with the parameter's name, and keys name files below
    the folder given as input (the same on a laptop and in a bucket)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jsonl").write_text('{"instruction": "a", "output": "b"}\n', encoding="utf-8")
    with pytest.raises(ParamError, match="shards must be at least 1, got 0"):
        RunSpec(str(tmp_path), shards=0)
    with pytest.raises(ParamError, match="executor must be one of local, workers, ray, got 'spark'"):
        RunSpec(str(tmp_path), executor="spark")
    with pytest.raises(ParamError, match="executor ray reads files"):
        RunSpec([{"instruction": "a", "output": "b"}], executor="ray")
    spec = RunSpec(str(tmp_path), executor="local", workers=4, shards=2)
    assert executor_of(spec).workers == 1 and spec.key_names == {
        str(tmp_path / "sub" / "a.jsonl"): "sub/a.jsonl"
    }


def test_sharded_api_run_writes_keys_in_rejects_and_summary(tmp_path):
    """augment_dataset(shards=...): rejects carry stable keys; the summary names executor and shards."""
    items = json.loads(SHAREGPT.read_text(encoding="utf-8"))[:80]
    items[5] = {"conversations": "not a list"}
    src = tmp_path / "in.json"
    src.write_text(json.dumps(items), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = augment_dataset(
        str(src), out, MosaicConfig(max_length=600, epochs=2), use_cache=False, executor="local", shards=2
    )
    assert summary["executor"] == "local" and summary["workers"] == 1
    assert summary["shards"] == {"count": 2, "record_key": "FILE:ROW[:TURN]"}
    rejects = [json.loads(line) for line in (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()]
    assert {"index": 5, "key": f"{src}:5"}.items() <= next(r for r in rejects if r["index"] == 5).items()
    unsharded = augment_dataset(
        str(src), tmp_path / "one.jsonl", MosaicConfig(max_length=600), use_cache=False
    )
    assert unsharded["shards"] == {"count": 1, "record_key": None} and unsharded["executor"] == "workers"
    assert "key" not in json.loads((tmp_path / "one.jsonl.rejects.jsonl").read_text().splitlines()[0])


def sharegpt_folder(tmp_path):
    """Two files of real ShareGPT items: system-prompt groups, single exchanges, passed-through chats."""
    items = json.loads(SHAREGPT.read_text(encoding="utf-8"))[:150]
    for i, item in enumerate(items[:60]):
        if i % 3 == 0:
            system = {"from": "system", "value": f"You are helper {i % 2}."}
            item["conversations"] = [system, *item["conversations"][:2]]
    items[100] = {"conversations": "not a list"}  # a reject
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.json").write_text(json.dumps(items[:70]), encoding="utf-8")
    (src / "b.json").write_text(json.dumps(items[70:]), encoding="utf-8")
    return src


def augment_cli(src, out, *extra):
    result = CliRunner().invoke(
        main,
        ["augment", str(src), "-o", str(out), "-q", "--no-cache", "--epochs", "2", "--max-length", "600",
         "--shards", "3", "--workers", "2", "--template", "vicuna_v1.1", *map(str, extra)],
    )  # fmt: skip
    return result


def comparable(summary_path):
    summary = json.loads(summary_path.read_text())
    for varies in ("executor", "workers", "output", "cache", "output_parts", "config"):
        summary.pop(varies, None)
    return summary


def test_part_files_are_the_same_locally_and_on_workers_and_concatenate_to_the_one_file_output(tmp_path):
    src = sharegpt_folder(tmp_path)
    one = tmp_path / "one.jsonl"
    assert augment_cli(src, one, "--executor", "local").exit_code == 0
    folders = {}
    for executor in ("local", "workers"):
        folders[executor] = tmp_path / f"{executor}-parts"
        result = augment_cli(src, f"{folders[executor]}/", "--executor", executor, "--output-parts", "jsonl")
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folders["local"].iterdir())
    assert names == sorted(p.name for p in folders["workers"].iterdir())
    for folder in folders.values():  # what mosaicit wrote there, so that a rerun may replace it
        assert json.loads(marker_path(folder).read_text())["files"] == names
    assert names[0] == "part-0-passthrough.jsonl"
    assert names[1:] == [
        f"part-g{g:05d}-e{e:05d}-s{s:05d}.jsonl" for g in range(3) for e in range(2) for s in range(3)
    ]
    for name in names:
        assert (folders["local"] / name).read_bytes() == (folders["workers"] / name).read_bytes(), name
    joined = b"".join((folders["local"] / name).read_bytes() for name in names)
    assert joined and joined == one.read_bytes()
    rejects = one.with_name("one.jsonl.rejects.jsonl").read_bytes()
    assert b'"key": "b.json:30"' in rejects
    for folder in folders.values():
        assert folder.with_name(folder.name + ".rejects.jsonl").read_bytes() == rejects
        summary = json.loads(folder.with_name(folder.name + ".summary.json").read_text())
        assert summary["output_parts"] == names and summary["formats"]["file"] == "jsonl"
        assert summary["samples_written"] == len(joined.splitlines())
        assert comparable(folder.with_name(folder.name + ".summary.json")) == comparable(
            one.with_name("one.jsonl.summary.json")
        )
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == sorted(marker_path(folder).name for folder in folders.values())  # no temporary file


def test_parquet_parts_load_with_datasets_and_pyarrow_and_hold_the_one_file_rows(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pads = pytest.importorskip("pyarrow.dataset")
    datasets = pytest.importorskip("datasets")
    src = sharegpt_folder(tmp_path)
    one, folder = tmp_path / "one.parquet", tmp_path / "parts"
    assert augment_cli(src, one, "--executor", "local", "--output-format", "alpaca").exit_code == 0
    result = augment_cli(
        src, folder, "--executor", "workers", "--output-parts", "parquet", "--output-format", "alpaca"
    )
    assert result.exit_code == 0, result.output
    expected = pq.read_table(one).to_pylist()
    assert len(expected) > 50
    by_files = pads.dataset(str(folder), format="parquet")
    assert by_files.count_rows() == len(expected)
    files = sorted(by_files.files)
    assert [row for f in files for row in pq.read_table(f).to_pylist()] == expected
    loaded = datasets.load_dataset("parquet", data_dir=str(folder), split="train")
    assert loaded.num_rows == len(expected)
    assert sorted(json.dumps(r, sort_keys=True) for r in loaded) == sorted(
        json.dumps(r, sort_keys=True) for r in expected
    )


class Interrupting:
    """A stand-in for the progress bars: the composing ticker raises KeyboardInterrupt (Ctrl-C)
    once some records are composed, noting the part files then in the temporary folders of ``at``."""

    at: Path
    seen: list[str] = []

    def __init__(self, enabled: bool) -> None:
        self.composed = 0

    def ticker(self, phase: str):
        def tick(n: int) -> None:
            if phase != "composing":
                return
            self.composed += n
            if self.composed > 60:
                Interrupting.seen += [p.name for p in self.at.glob(".*.part/part-*")]
                raise KeyboardInterrupt

        return tick

    def counted(self, phase, items, done=None):
        return iter(items)

    def plan(self, phase, total):
        pass

    def close(self, completed=True):
        pass


@pytest.mark.parametrize("executor", ["local", "workers"])
def test_a_run_stopped_mid_compose_leaves_no_part_folder_and_keeps_the_previous_one(
    tmp_path, monkeypatch, executor
):
    src = sharegpt_folder(tmp_path)
    config = MosaicConfig(max_length=600, epochs=2)
    previous = tmp_path / "previous"
    augment_dataset(
        str(src), previous, config, use_cache=False, shards=3, executor="local", output_parts="jsonl"
    )
    before = {p.name: p.read_bytes() for p in previous.iterdir()}
    monkeypatch.setattr("mosaicit.run.augment.Progress", Interrupting)
    monkeypatch.setattr(Interrupting, "at", tmp_path, raising=False)
    listing = sorted(p.name for p in tmp_path.iterdir())
    for target in (tmp_path / "fresh", previous):
        Interrupting.seen = []
        with pytest.raises(KeyboardInterrupt):
            augment_dataset(
                str(src), target, config, use_cache=False, shards=3, executor=executor, output_parts="jsonl",
                workers=2, summary_path=tmp_path / f"{target.name}-new.summary.json",
            )  # fmt: skip
        assert Interrupting.seen  # stopped with part files written
        assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no folder, no temporary one
    assert {p.name: p.read_bytes() for p in previous.iterdir()} == before


def test_part_folder_errors_are_one_line_and_read_nothing(tmp_path):
    src = sharegpt_folder(tmp_path)
    parts = tmp_path / "parts"  # a previous run's part folder, read again as the input
    parts.mkdir()
    (parts / "part-0-passthrough.jsonl").write_text('{"instruction": "a", "output": "b"}\n', encoding="utf-8")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    cases = [
        (
            (busy, "--output-parts", "jsonl"),
            f"{busy}: --output-parts replaces this folder, but it holds files",
        ),
        ((busy,), f"--output: {busy} is a folder; add --output-parts jsonl or parquet"),
        (("-", "--output-parts", "jsonl"), "--output-parts needs an output folder, not - (stdout)"),
        (
            (parts, "--output-parts", "jsonl"),
            f"--output: {parts}: INPUT ({parts / 'part-0-passthrough.jsonl'}) lies in this folder",
        ),
    ]
    for (out, *extra), says in cases:
        result = augment_cli(parts if out == parts else src, out, *extra)
        assert result.exit_code == 1 and result.stderr.startswith(f"mosaicit: error: {says}"), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
