"""mosaicit.run.executors: every executor yields the units' results in the order of the units given."""

from __future__ import annotations

import os

import pytest

from conftest import SAMPLE
from mosaicit import MosaicConfig, load_counter, load_tables
from mosaicit.io.sources import read_conversations
from mosaicit.run.counting import measure_range
from mosaicit.run.executors import (
    ComposeJob,
    ComposeUnit,
    LocalExecutor,
    MeasureUnit,
    WorkersExecutor,
    executor_for,
)
from mosaicit.run.groups import Run
from mosaicit.run.routing import route
from mosaicit.run.workers import can_fork

RECORDS = route(read_conversations(SAMPLE)).records


def composed(executor, units):
    run = Run(MosaicConfig(epochs=3, seed=9), load_counter(), load_tables(), workers=executor)
    counts, usable, _ = run.measure(RECORDS)
    return [s.mosaic for s in run.executor.compose(ComposeJob(run.composer, RECORDS, counts, usable, units))]


@pytest.mark.skipif(not can_fork(), reason="the workers executor forks")
def test_workers_compose_units_in_the_order_given():
    units = [ComposeUnit(0, 2), ComposeUnit(0, 0), ComposeUnit(0, 1)]
    local = composed(LocalExecutor(), units)
    assert [m["epoch"] for m in local[:1] + local[-1:]] == [2, 1]
    assert sorted({m["epoch"] for m in local}) == [0, 1, 2]
    assert composed(WorkersExecutor(2), units) == local


@pytest.mark.skipif(not can_fork(), reason="the workers executor forks")
def test_workers_measure_units_in_the_order_given():
    run = Run(MosaicConfig(), load_counter(), load_tables())
    units = [MeasureUnit(60, 120), MeasureUnit(0, 60)]

    def measure(start: int, end: int):
        return measure_range(run.budget, RECORDS, start, end).measured

    local = list(LocalExecutor().measure(measure, units))
    assert [len(part) for part in local] == [60, 60]
    assert list(WorkersExecutor(2).measure(measure, units)) == local
    assert WorkersExecutor(2).runs_elsewhere(2) and not WorkersExecutor(2).runs_elsewhere(1)


def test_executor_for_a_number_of_workers():
    assert isinstance(executor_for(1), LocalExecutor)
    three = executor_for(3)
    assert isinstance(three, WorkersExecutor) and three.workers == 3
    free = executor_for(None)  # the free CPUs, found when first needed
    assert isinstance(free, WorkersExecutor) and 1 <= free.workers <= (os.cpu_count() or 1)
    mine = LocalExecutor()
    assert executor_for(mine) is mine


def test_ray_takes_the_clusters_cpus_unless_workers_are_given(monkeypatch):
    """Without --workers, a Ray run is as wide as the cluster it joins (its CPUs), not as the
    driver's free cores; a local instance is started with the driver's free cores. The address
    is the ray executor's own option, given by its API keyword ``ray_address``."""
    from types import SimpleNamespace

    from mosaicit.run.assemble import executor_of
    from mosaicit.run.executors import ray as ray_executor
    from mosaicit.run.spec import RunSpec

    joined: list[tuple[str | None, int, int]] = []

    def connect(address, workers, store_mb):
        joined.append((address, workers, store_mb))
        return SimpleNamespace(cluster_resources=lambda: {"CPU": 12.0}, remote=lambda **_: lambda task: task)

    monkeypatch.setattr(ray_executor, "connect", connect)
    monkeypatch.setattr(ray_executor, "free_cores", lambda: 3)
    for workers, width in ((None, 12), (5, 5)):
        spec = RunSpec.of(
            [str(SAMPLE)], executor="ray", ray_address="head:6379", workers=workers, ray_object_store_mb=300
        )
        assert spec.executor_settings == ray_executor.RayOptions(
            ray_address="head:6379", ray_object_store_mb=300
        )
        assert executor_of(spec).workers == width
    assert joined == [("head:6379", 3, 300), ("head:6379", 5, 300)]
