"""Worker processes never change the output."""

from __future__ import annotations

import pytest

from conftest import augment_alpaca_llama2

augment = augment_alpaca_llama2


@pytest.mark.parametrize("epochs", ["1", "3"])
def test_workers_give_the_same_bytes(tmp_path, epochs):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    augment(one, "--workers", "1", "--no-cache", "--epochs", epochs)
    augment(two, "--workers", "2", "--no-cache", "--epochs", epochs)
    assert one.read_bytes() == two.read_bytes()
    summary = (tmp_path / "two.jsonl.summary.json").read_text()
    assert (
        summary.replace('"workers": 2', '"workers": 1').replace("two.jsonl", "one.jsonl")
        == (tmp_path / "one.jsonl.summary.json").read_text()
    )


def test_the_default_worker_count_leaves_out_busy_cores(monkeypatch):
    """Workers default to the CPUs other work is not using (niced work yields, so it is free)."""
    import os

    from mosaicit.run import workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(workers, "CORE_WINDOW", 0)

    def ticks(*samples):
        it = iter(samples)
        monkeypatch.setattr(workers, "_cpu_ticks", lambda: next(it))

    ticks((0, 0), (400, 400))  # every CPU free
    assert workers.free_cores() == 4
    ticks((0, 0), (100, 400))  # three CPUs busy with other work
    assert workers.free_cores() == 1
    ticks((0, 0), (0, 400))  # all busy: still one worker
    assert workers.free_cores() == 1
    ticks(None)  # no /proc/stat: the load average decides
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert workers.free_cores() == 3


def test_the_look_at_the_cores_leaves_out_this_process(monkeypatch):
    """A run looks while it starts up: the CPU time it uses itself meanwhile is not other work."""
    import os

    from mosaicit.run import workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sysconf", lambda name: 100)
    own = iter([1.0, 1.5])  # this process: 0.5 s of CPU, 50 ticks
    monkeypatch.setattr(workers, "_own_seconds", lambda: next(own))
    samples = iter([(0, 0), (50, 100)])  # 100 ticks over two CPUs, 50 of them busy
    monkeypatch.setattr(workers, "_cpu_ticks", lambda: next(samples))
    look = workers.CoreLook()
    assert look.free() == 2  # the busy ticks were this process's own: both CPUs are free
    assert look.free() == 2  # found once
    own = iter([1.0, 1.0])  # the same busy ticks, none of them this process's
    samples = iter([(0, 0), (50, 100)])
    assert workers.CoreLook().free() == 1


def test_niced_work_counts_as_free_for_a_process_that_is_not_niced():
    from mosaicit.run.workers import _cpu_ticks, free_ticks

    line = "cpu  100 50 30 800 20 0 0 0 0 0"  # user, nice, system, idle, iowait, ...
    assert free_ticks(line, niced_is_free=True) == (870, 1000)
    assert free_ticks(line, niced_is_free=False) == (820, 1000)
    assert free_ticks("intr 1 2 3", True) is None and free_ticks("cpu 1 2", True) is None
    now = _cpu_ticks()  # this machine (Linux in CI): a sane reading
    assert now is None or 0 <= now[0] <= now[1]
