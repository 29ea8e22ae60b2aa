"""A multi-node Ray run simulated on one machine: a head with no CPU and three nodes of one CPU
each (``ray.cluster_utils.Cluster``). The cluster's size sets the run's parallelism, the units
spread across the nodes (the node each compose task ran on), the driver puts no record in the
object store, each task receives only its own unit's records, and the output is the local run's,
byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT
from formats_helpers import read_rows
from mosaicit.run.executors.ray import RayExecutor
from mosaicit.run.ray_reaper import end_session
from mosaicit.run.shards import ComposeJob
from mosaicit.run.spread import SpreadOutput, UnitDone
from test_ray import EPOCHS, MAX_LENGTH, augment, invoke, shards_input  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.heavy, pytest.mark.slow]
ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

NODES = 3
SHARDS = 6
NODE_STORE = 80 * 1024 * 1024  # bytes of object store per node


@pytest.fixture(scope="module")
def nodes():
    """The simulated cluster, joined by this process; its workers run this checkout's code."""
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cluster = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False, "object_store_memory": NODE_STORE},
    )
    for _ in range(NODES):
        cluster.add_node(num_cpus=1, object_store_memory=NODE_STORE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, runtime_env={"env_vars": env})
    session = ray._private.worker._global_node.get_session_dir_path()
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    end_session(session)  # its lingering agents and its session folder


def test_units_spread_across_nodes_with_their_own_records_and_the_local_bytes(
    nodes,
    shards_input,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    puts = []  # what the driver put in the object store
    units: list[UnitDone] = []  # what each compose task reported
    executors = []  # the run's Ray executor
    real_open, real_put, real_composed = RayExecutor.open.__func__, ray.put, SpreadOutput._composed

    def put(value, *args, **kwargs):
        puts.append(value)
        return real_put(value, *args, **kwargs)

    def open_(cls, workers, options):
        executors.append(real_open(cls, workers, options))
        return executors[-1]

    def composed(self, done):
        units.append(done)
        return real_composed(self, done)

    monkeypatch.setattr(ray, "put", put)
    monkeypatch.setattr(RayExecutor, "open", classmethod(open_))
    monkeypatch.setattr(SpreadOutput, "_composed", composed)
    out = tmp_path / "ray.jsonl"
    result = invoke(
        "augment", shards_input, "-o", out, "-q", "--no-cache", "--epochs", EPOCHS, "--max-length", MAX_LENGTH,
        "--seed", 3, "--executor", "ray", "--shards", SHARDS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    local = augment(shards_input, tmp_path / "local.jsonl", "--executor", "local", "--shards", SHARDS)
    assert out.read_bytes() and out.read_bytes() == local.read_bytes()

    (executor,) = executors
    assert executor.workers == NODES  # no --workers: the cluster's CPUs, not this machine's 2
    workers = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU"))
    assert len(workers) == NODES
    assert sorted({done.node for done in units}) == workers  # every node with a CPU composed units
    assert len(units) == EPOCHS * SHARDS

    # The driver put no record: the spec, the run and the compose job (which holds none).
    assert {type(value).__name__ for value in puts} == {"RunSpec", "Run", "ComposeJob"}
    assert all(not value.records for value in puts if isinstance(value, ComposeJob))
    # Each task received exactly its unit's members, in input order: the records its samples use.
    samples = [row["mosaic"] for row in read_rows(out)]
    used: dict[tuple[int, int], set[int]] = {}
    for m in samples:
        used.setdefault((m["epoch"], m["shard"]), set()).update(m["sources"])
    for done in units:
        assert list(done.records) == sorted(done.records)
        assert set(done.records) == used[(done.unit.epoch, done.unit.shard)]
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["workers"] == NODES
