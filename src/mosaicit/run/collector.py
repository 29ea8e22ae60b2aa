"""Python's cyclic garbage collector around bulk work with many objects that hold no cycles.

A run builds millions of small objects that live long (records, their counts). Each time the
collector's oldest generation runs, it walks every object still alive: building 250k records
with it running costs about four times as much as building them without it. Records and counts
hold no reference cycles, so they are freed by reference counting alone; the collector is kept
away from them while they are built (:func:`collector_paused`) or while they are only read
(:func:`heap_frozen`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (it runs again after it, if it ran before). For a
    block that builds many objects and does not yield: a suspended generator would keep it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Every object alive on entry is left out of the collector's passes until the block ends
    (:func:`gc.freeze`): work on a large heap that it only reads, such as a unit composed from
    records, or forked workers (whose collections would otherwise touch, and so copy, every
    object they share with their parent). Frozen objects are still freed when no longer used."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
