"""The on-disk record store behaves like a list of records, also across forked workers."""

from __future__ import annotations

import os

import pytest

from mosaicit.run import store as store_module
from mosaicit.run.store import Allowance, RecordStore, take
from mosaicit.types.records import Record


@pytest.mark.parametrize("kept", [None, 0, 40_000, 10**9])  # spooled, in part or all in memory
def test_store_round_trips_records_and_cleans_up(alpaca_eval, kept):
    records = [
        Record(
            i, r["instruction"].strip(), r["output"].strip(), id=f"r{i}", system="Be brief." if i % 2 else ""
        )
        for i, r in enumerate(alpaca_eval)
    ]
    allowance = None if kept is None else Allowance(kept)
    with RecordStore(records, allowance=allowance) as store:
        in_memory = len(store._kept)
        assert in_memory == {None: 0, 0: 0, 10**9: len(records)}.get(kept, in_memory)
        assert 0 < in_memory < len(records) or kept != 40_000  # this allowance splits the records
        assert len(store) == len(records)
        assert list(store) == records
        assert store[-1] == records[-1] and store[10:13] == records[10:13]
        assert store[:] == records and store[-5:] == records[-5:] and store[7:7] == []
        assert store[3:40:7] == records[3:40:7] and store[40:3:-9] == records[40:3:-9]
        edge = in_memory or 1  # slices across the line between memory and spool
        assert store[edge - 1 : edge + 2] == records[edge - 1 : edge + 2]
        assert all(store[i] == records[i] for i in range(-len(records), len(records)))
        with pytest.raises(IndexError):
            store[len(records)]
        store.append(Record(9999, "late", "entry"))  # kept only if nothing was spooled before it
        assert store[len(records)].index == 9999
        assert len(store._kept) == in_memory + (in_memory == len(records))
        fd = store.fileno()
        assert os.fstat(fd).st_nlink == 0  # never has a name in the temporary folder
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.parametrize("kept", [None, 40_000])
def test_take_reads_the_records_at_positions_a_window_at_a_time(alpaca_eval, kept, monkeypatch):
    """take() gives store[i] for each position, in any order, reading the spool in windows."""
    monkeypatch.setattr(store_module, "TAKE_WINDOW", 8000)  # about ten records a window
    records = [Record(i, r["instruction"].strip(), r["output"].strip()) for i, r in enumerate(alpaca_eval)]
    with RecordStore(records, allowance=None if kept is None else Allowance(kept)) as store:
        reads = []
        real_pread = os.pread
        monkeypatch.setattr(os, "pread", lambda *a: reads.append(a) or real_pread(*a))
        every_third = list(range(0, len(records), 3))
        assert list(take(store, every_third)) == [records[i] for i in every_third]
        assert 1 < len(reads) < len(every_third) / 2  # windows, not one read per record
        mixed = [50, 2, 2, len(records) - 1, 0, 49]
        assert list(take(store, mixed)) == [records[i] for i in mixed]
        assert list(take(records, mixed)) == [records[i] for i in mixed]
        with pytest.raises(IndexError):
            list(take(store, [len(records)]))


def test_forked_children_read_the_store_and_never_write_it():
    with RecordStore(Record(i, f"instruction {i}", f"output {i}") for i in range(200)) as store:
        store.flush()
        size = os.fstat(store.fileno()).st_size
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            ok = all(store[i].output == f"output {i}" for i in (199, 3, 150))
            os._exit(0 if ok else 1)
        assert store[100].instruction == "instruction 100"
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.fstat(store.fileno()).st_size == size


def test_a_forked_child_refuses_to_write_the_parents_buffer():
    with RecordStore(Record(i, f"instruction {i}", f"output {i}") for i in range(10)) as store:
        pid = os.fork()  # with records still buffered
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                store[0]
            except RuntimeError:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert [r.index for r in store] == list(range(10))
