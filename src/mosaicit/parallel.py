"""Measure and compose in parallel processes; the results and their order stay those of one process.

Records are measured in batches by a pool of forked workers (:func:`map_parallel`).

Each epoch has its own seeded random stream, so epochs are independent. Worker processes are
forked after the records are read and counted, so they share them without copying; each
composes whole epochs into a temporary file, and the parent yields the epochs in order. A
``finish`` function (a sample to its output row, say) runs in the workers too.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from mosaicit.budget import PieceCounts
from mosaicit.compose import Composer, Tally
from mosaicit.records import Record, Sample

BATCH = 256
_STATE: dict[str, Any] = {}
T = TypeVar("T")


def can_fork() -> bool:
    """True where worker processes can be forked (Linux and other POSIX systems)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _call(args: tuple[Any, ...]) -> Any:
    return _STATE["function"](*args)


def map_parallel(function: Callable[..., T], calls: Sequence[tuple[Any, ...]], workers: int) -> Iterator[T]:
    """Yield ``function(*args)`` for each ``args`` in ``calls``, in order, computed by up to
    ``workers`` forked processes (which share the caller's memory as it was at the call)."""
    ctx = multiprocessing.get_context("fork")
    _STATE["function"] = function
    gc.freeze()  # see compose_parallel
    try:
        with ctx.Pool(min(workers, len(calls)), initializer=_quiet_tokenizers) as pool:
            yield from pool.imap(_call, calls)
    finally:
        gc.unfreeze()
        _STATE.clear()


def _quiet_tokenizers() -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # a forked child must not use the parent's pool


def _compose_epoch(epoch: int, folder: str) -> tuple[str, Tally]:
    _quiet_tokenizers()
    composer: Composer = _STATE["composer"]
    composer.tally = Tally()
    done, finish = _STATE["done"], _STATE["finish"]
    path = os.path.join(folder, f"epoch-{epoch}.pickle")

    def progress(n: int) -> None:
        with done.get_lock():
            done.value += n

    with open(path, "wb") as out:
        batch: list[Any] = []
        records, counts, usable = _STATE["args"]
        for sample in composer.compose_epoch(epoch, records, counts, usable, progress):
            batch.append(finish(sample))
            if len(batch) == BATCH:
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                batch = []
        if batch:
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    return path, composer.tally


def _read(path: str) -> Iterator[Any]:
    with open(path, "rb") as handle:
        while True:
            try:
                yield from pickle.load(handle)
            except EOFError:
                return


def compose_parallel(
    composer: Composer,
    records: Sequence[Record],
    counts: PieceCounts,
    usable: Sequence[int],
    workers: int,
    progress: Callable[[int], None] | None,
    finish: Callable[[Sample], T],
) -> Iterator[T]:
    """Yield ``finish(sample)`` for every epoch's samples, in epoch order, composed by up to
    ``workers`` processes."""
    ctx = multiprocessing.get_context("fork")
    done = ctx.Value("q", 0)
    _STATE.update(composer=composer, args=(records, counts, usable), done=done, finish=finish)
    folder = tempfile.mkdtemp(prefix="mosaicit-")
    reported = 0
    gc.freeze()  # the collector would otherwise touch, and so copy, every shared object in each worker
    try:
        with ctx.Pool(min(workers, composer.config.epochs)) as pool:
            pending = [pool.apply_async(_compose_epoch, (e, folder)) for e in range(composer.config.epochs)]
            for result in pending:
                while not result.ready():
                    result.wait(0.2)
                    if progress and done.value > reported:
                        progress(done.value - reported)
                        reported = done.value
                path, tally = result.get()
                composer.tally.merge(tally)
                yield from _read(path)
                os.unlink(path)
        if progress and done.value > reported:
            progress(done.value - reported)
    finally:
        gc.unfreeze()
        _STATE.clear()
        shutil.rmtree(folder, ignore_errors=True)
