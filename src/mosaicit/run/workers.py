"""The fork pool behind :class:`~mosaicit.run.executors.WorkersExecutor` (innermost orchestration):
measure and compose in forked processes; the results and their order stay those of one process.

Records are measured in batches by a pool of forked workers (:func:`map_parallel`). A worker
that dies ends the run with one error within a moment (:func:`worker_pool`), and a run that
stops (an error, a signal) stops its workers.

Each unit of composition (an epoch, or an epoch's shard: see :mod:`mosaicit.run.shards`) has its own
seeded random stream, so units are independent. Worker processes are
forked after the records are read and counted, so they share them without copying; each
composes whole units into a temporary file, and the parent yields the units in order. The
job's ``finish`` function (a sample to its output row, say) runs in the workers too, and so
does its ``write_part`` (``--output-parts``): a worker then writes its unit's part file itself
and hands the parent only what the write returns (:mod:`mosaicit.io.parts`).
"""

from __future__ import annotations

import concurrent.futures.process
import contextlib
import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from mosaicit.errors import MosaicitError
from mosaicit.exits import check_stop, leave_signals_to_parent, signals_held, stopped_at_exit
from mosaicit.plan.compose import Tally
from mosaicit.run.collector import heap_frozen
from mosaicit.run.shards import ComposeJob, unit_results
from mosaicit.tempfiles import LIVE, owned_prefix, remove_stale

BATCH = 256
#: Seconds between checks of the workers' progress (and of a stop signal).
POLL = 0.2
_STATE: dict[str, Any] = {}
T = TypeVar("T")


#: How long :func:`free_cores` watches the CPUs.
CORE_WINDOW = 0.05


def free_ticks(stat: str, niced_is_free: bool) -> tuple[int, int] | None:
    """(ticks the CPUs were free, all ticks) from the ``cpu`` line of Linux's ``/proc/stat``,
    or None if it is not one. Free: idle or waiting for I/O, and running niced work when
    ``niced_is_free`` (niced work yields the CPU to a process that is not niced)."""
    try:
        fields = [int(x) for x in stat.split()[1:9]]
    except ValueError:
        return None
    if len(fields) < 5:
        return None
    return fields[3] + fields[4] + (fields[1] if niced_is_free else 0), sum(fields)


def _cpu_ticks() -> tuple[int, int] | None:
    """:func:`free_ticks` of this machine now, for this process, or None (no ``/proc/stat``)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            line = stat.readline()
    except OSError:
        return None
    return free_ticks(line, os.getpriority(os.PRIO_PROCESS, 0) <= 0)


def _own_seconds() -> float:
    """CPU seconds this process (all its threads) has used."""
    times = os.times()
    return times.user + times.system


class CoreLook:
    """How many CPUs other work leaves free, watched from this object's creation until its first
    :meth:`free` (at least :data:`CORE_WINDOW` seconds), with this process's own use left out, so
    that a run can look while it starts up instead of waiting."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._ticks = _cpu_ticks()
        self._own = _own_seconds()
        self._free: int | None = None

    def free(self) -> int:
        """The CPUs this process may use that other work is not keeping busy, at least 1 (found
        once). Other work is what the CPUs did during the look, less this process (niced work
        does not count); where ``/proc/stat`` is missing, the one-minute load average."""
        if self._free is None:
            self._free = self._look()
        return self._free

    def _look(self) -> int:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
        after = None
        if self._ticks is not None:
            time.sleep(max(0.0, CORE_WINDOW - (time.monotonic() - self._start)))
            after = _cpu_ticks()
        if self._ticks is not None and after is not None and after[1] > self._ticks[1]:
            ticks = after[1] - self._ticks[1]
            own = (_own_seconds() - self._own) * os.sysconf("SC_CLK_TCK")
            other = max(0.0, ticks - (after[0] - self._ticks[0]) - own)
            busy = (os.cpu_count() or cpus) * other / ticks
        else:
            try:
                busy = os.getloadavg()[0]
            except OSError:  # no load average either
                busy = 0.0
        return max(1, min(cpus, round(cpus - busy)))


def free_cores() -> int:
    """The CPUs this process may use that other work is not keeping busy, at least 1 (a look of
    :data:`CORE_WINDOW` seconds: see :class:`CoreLook`). A worker beyond the free cores only slows
    a run down, and the output is the same for any count."""
    return CoreLook().free()


def can_fork() -> bool:
    """True where worker processes can be forked (Linux and other POSIX systems)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _call(args: tuple[Any, ...]) -> Any:
    return _STATE["function"](*args)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` forked processes. A worker that dies (killed, out of memory) ends the
    run with one error; leaving the block early (an error, a signal) stops the workers at once."""
    pool = ProcessPoolExecutor(
        workers, multiprocessing.get_context("fork"), initializer=_worker_start, initargs=(os.getpid(),)
    )
    try:
        with stopped_at_exit(lambda: _stop(pool)):
            yield pool
            pool.shutdown(wait=True)  # (a signal while the workers end stops them too)
    except BrokenProcessPool:
        _stop(pool)
        raise MosaicitError(
            "a worker process died (killed, or out of memory); the run stopped and wrote nothing"
        ) from None
    except BaseException:
        _stop(pool)
        raise


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the running workers."""
    # the executor keeps its processes private; Python 3.14's terminate_workers() does the same
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # (shutdown forgets it)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(5)
    # Let the pool's manager thread see its workers gone and finish before the interpreter's exit
    # hook runs: otherwise that hook can write to the wakeup pipe the thread has already closed,
    # and a "Bad file descriptor" traceback follows the one-line message (CPython 3.11).
    # A pool still referenced at exit (from a generator left suspended by a signal: see
    # exits.stop_running) keeps its thread's entry in the table that hook wakes: drop it.
    if manager is not None:
        manager.join(5)
        if not manager.is_alive():
            getattr(concurrent.futures.process, "_threads_wakeups", {}).pop(manager, None)


def _worker_start(parent: int) -> None:
    leave_signals_to_parent(parent)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # a forked child must not use the parent's pool


def _result(future: Future[T]) -> T:
    """The future's result, waiting in short steps (so that a signal is handled promptly)."""
    while True:
        try:
            return future.result(timeout=POLL)
        except TimeoutError:
            check_stop()


def map_parallel(function: Callable[..., T], calls: Sequence[tuple[Any, ...]], workers: int) -> Iterator[T]:
    """Yield ``function(*args)`` for each ``args`` in ``calls``, in order, computed by up to
    ``workers`` forked processes (which share the caller's memory as it was at the call)."""
    _STATE["function"] = function
    try:
        with heap_frozen(), worker_pool(min(workers, len(calls))) as pool:
            with signals_held():  # the workers are forked here, where a signal's exception is lost
                futures = [pool.submit(_call, args) for args in calls]
            for future in futures:
                yield _result(future)
    finally:
        _STATE.clear()


def _compose_unit(number: int, folder: str) -> tuple[str, Tally]:
    job: ComposeJob = _STATE["job"]
    job.composer.tally = Tally()
    done = _STATE["done"]
    path = os.path.join(folder, f"unit-{number}.pickle")

    def progress(n: int) -> None:
        with done.get_lock():
            done.value += n

    try:
        with open(path, "wb") as out:
            batch: list[Any] = []
            for result in unit_results(job, job.units[number], progress):
                batch.append(result)
                if len(batch) == BATCH:
                    pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                    batch = []
            if batch:
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        raise MosaicitError(f"{path}: cannot write a temporary file: {exc.strerror or exc}") from None
    return path, job.composer.tally


def _read(path: str) -> Iterator[Any]:
    """The items pickled in batches at ``path``; the file is removed as soon as it is open."""
    with open(path, "rb") as handle:
        os.unlink(path)
        while True:
            try:
                yield from pickle.load(handle)
            except EOFError:
                return


def compose_parallel(
    job: ComposeJob, workers: int, progress: Callable[[int], None] | None = None
) -> Iterator[Any]:
    """Yield what each of ``job.units`` yields (:func:`mosaicit.run.shards.unit_results`), in that
    order, the units composed by up to ``workers`` processes.

    Each unit waits in a file of a temporary folder (``mosaicit-<pid>-*``, removed at the end;
    a killed run's folder is removed by the next run) until its turn comes.
    """
    ctx = multiprocessing.get_context("fork")
    done = ctx.Value("q", 0)
    _STATE.update(job=job, done=done)
    remove_stale(tempfile.gettempdir())
    with signals_held():
        folder = tempfile.mkdtemp(prefix=owned_prefix())
        LIVE.add(folder)
    reported = 0
    try:
        with heap_frozen(), worker_pool(min(workers, len(job.units))) as pool:
            with signals_held():  # see map_parallel
                pending = [pool.submit(_compose_unit, n, folder) for n in range(len(job.units))]
            for future in pending:
                while not future.done():
                    with contextlib.suppress(TimeoutError):
                        future.exception(timeout=POLL)
                    check_stop()
                    if progress and done.value > reported:
                        progress(done.value - reported)
                        reported = done.value
                path, tally = future.result()
                job.composer.tally.merge(tally)
                yield from _read(path)
        if progress and done.value > reported:
            progress(done.value - reported)
    finally:
        _STATE.clear()
        shutil.rmtree(folder, ignore_errors=True)
        LIVE.discard(folder)
