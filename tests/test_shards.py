"""Sharded composition without Ray: the units, the seeds, and local = workers with groups and passthrough."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import SHAREGPT
from formats_helpers import read_rows
from mosaicit.cli import main
from mosaicit.seeds import shard_of, shard_seed
from mosaicit.shards import FileKeys, plan_units, record_key


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
    units = plan_units(0, 5, 2, 4, usable, keys)
    assert [(u.epoch, u.shard) for u in units] == [(e, s) for e in range(2) for s in range(4)]
    for epoch in range(2):
        members = [u.members for u in units if u.epoch == epoch]
        assert sorted(i for m in members for i in m) == usable
        assert all(list(m) == sorted(m) and m for m in members)
    first = {i: u.shard for u in units if u.epoch == 0 for i in u.members}
    second = {i: u.shard for u in units if u.epoch == 1 for i in u.members}
    assert sum(first[i] != second[i] for i in usable) > len(usable) / 2
    assert len({u.seed for u in units}) == 4  # one seed per shard, the same in every epoch


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
