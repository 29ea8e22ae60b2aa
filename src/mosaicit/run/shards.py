"""Sharded composition, defined once for every executor (``local``, ``workers``, ``ray``).

With ``--shards S`` each epoch deals every usable record of a system-prompt group to one of S
shards by a seeded hash of (run seed, epoch, the record's stable key), so a record meets
other partners in every epoch; each (group, epoch, shard) *unit* is then composed alone, with
its own seed (:func:`mosaicit.plan.seeds.shard_seed`) and its records in input order before the
unit's seeded shuffle. What a run writes is defined by this alone, so every executor writes
the same samples, in the same order: group, then epoch, then shard, each ascending. With one
shard (the default) the unit of an epoch holds every usable record and keeps the group seed:
the bytes of an unsharded run.

A record's **stable key** is ``FILE:ROW`` (``FILE:ROW:TURN`` for the exchanges of a split
conversation): FILE is the input file as given, or its path below the folder given as input
(so that the same folder gives the same keys on a laptop and in a bucket), and ROW its item's
position in that file, from 0. Sharded runs write the keys into the provenance (``keys``, with
``shard``), the rejects (``key``) and the summary (``shards``), beside today's ``index``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mosaicit.budget.budget import PieceCounts
from mosaicit.plan.compose import Composer
from mosaicit.plan.seeds import shard_of, shard_seed
from mosaicit.types.records import Record, Sample

#: A record's stable key from its input ``index`` and its exchange number (None if not split).
KeyOf = Callable[[int, "int | None"], str]


def record_key(file: str, row: int, turn: int | None = None) -> str:
    """The stable key of the item at ``row`` of ``file`` (and of its exchange ``turn``)."""
    return f"{file}:{row}" if turn is None else f"{file}:{row}:{turn}"


@dataclass(frozen=True)
class ComposeUnit:
    """One (group, epoch, shard) to compose: its ``seed`` and its ``members`` (record positions, in
    input order); None for either means the group's seed and all its usable records (unsharded)."""

    group: int
    epoch: int
    shard: int = 0
    seed: int | None = None
    members: tuple[int, ...] | None = None


def plan_units(
    group: int,
    seed: int,
    epochs: int,
    shards: int,
    usable: Sequence[int],
    keys: Sequence[str] | None = None,
    run_seed: int | None = None,
) -> list[ComposeUnit]:
    """The units of one group seeded with ``seed``, in writing order (epoch, then shard); a shard
    dealt no record has none.

    ``keys`` are the stable keys of the ``usable`` records and ``run_seed`` the run's seed, which
    deals them (both needed when ``shards`` > 1; see :func:`~mosaicit.plan.seeds.shard_of`).
    """
    units = []
    for epoch in range(epochs):
        dealt: list[list[int]] = [[] for _ in range(shards)]
        if shards == 1:
            dealt[0] = list(usable)
        else:
            assert keys is not None and len(keys) == len(usable), "sharding needs every record's key"
            assert run_seed is not None, "sharding needs the run's seed"
            for position, key in zip(usable, keys, strict=True):
                dealt[shard_of(run_seed, epoch, key, shards)].append(position)
        for shard, members in enumerate(dealt):
            if members or shards == 1:  # a shard dealt no record has nothing to compose
                unit_seed = shard_seed(seed, shard, shards)
                units.append(ComposeUnit(group, epoch, shard, unit_seed, tuple(members)))
    return units


def compose_unit(
    composer: Composer,
    unit: ComposeUnit,
    records: Sequence[Record] | Mapping[int, Record],
    counts: PieceCounts | Mapping[int, Any],
    usable: Sequence[int] = (),
    progress: Callable[[int], None] | None = None,
    key_of: KeyOf | None = None,
) -> Iterator[Sample]:
    """The samples of one unit, composed by :meth:`Composer.compose_epoch` with the unit's seed.

    ``records`` and ``counts`` are indexed by record position (a mapping holding only the
    unit's members will do); ``usable`` are the members of a unit that names none. With
    ``key_of`` (sharded runs), each sample's provenance also names its ``shard`` and its
    records' stable ``keys``.
    """
    members = usable if unit.members is None else unit.members
    samples = composer.compose_epoch(unit.epoch, records, counts, members, progress, unit.seed)  # type: ignore[arg-type]
    for sample in samples:
        if key_of is not None:
            mosaic = sample.mosaic
            turns = mosaic.get("turns") or [None] * len(mosaic["sources"])
            mosaic["shard"] = unit.shard
            mosaic["keys"] = [key_of(i, t) for i, t in zip(mosaic["sources"], turns, strict=True)]
        yield sample


def _same(sample: Sample) -> Any:
    return sample


#: Writes one unit's finished rows as its part file, where the unit is composed; returns what the
#: driver needs to know of it (see :class:`mosaicit.io.parts.PartWriter`).
WritePart = Callable[[ComposeUnit, Iterable[Any]], Any]


@dataclass(frozen=True)
class ComposeJob:
    """One group's compose step, as every executor receives it: the ``composer``, the group's
    ``records`` and ``counts`` (indexed by position; a mapping holding only some units' members
    will do), its ``usable`` positions, the ``units`` to compose in order, ``finish`` (a sample
    to what is yielded: an encoded row, say; it runs where the unit is composed), ``key_of``
    (sharded runs: provenance keys) and ``write_part`` (sharded output: each unit writes its own
    part file, and yields only what :data:`WritePart` returns)."""

    composer: Composer
    records: Sequence[Record] | Mapping[int, Record]
    counts: PieceCounts | Mapping[int, Any]
    usable: Sequence[int]
    units: Sequence[ComposeUnit]
    finish: Callable[[Sample], Any] = _same
    key_of: KeyOf | None = None
    write_part: WritePart | None = None


def unit_results(
    job: ComposeJob, unit: ComposeUnit, progress: Callable[[int], None] | None = None
) -> Iterator[Any]:
    """What one unit of ``job`` yields: ``finish(sample)`` for each of its samples, or, with
    ``write_part``, the one result of writing them as the unit's part file."""
    samples = compose_unit(job.composer, unit, job.records, job.counts, job.usable, progress, job.key_of)
    rows = map(job.finish, samples)
    if job.write_part is None:
        yield from rows
    else:
        yield job.write_part(unit, rows)


@dataclass
class FileKeys:
    """The stable key of a record from its input index: :data:`KeyOf` for a run's reading.

    ``files`` is ``[(index of the file's first item, file name)]`` in reading order (the list
    that :class:`mosaicit.io.sources.ReadStats` fills while reading); ``names`` maps a file
    name to its name in keys (see :attr:`mosaicit.io.inputs.Expanded.keys`). Small to pickle.
    """

    files: list[tuple[int, str]]
    names: dict[str, str]

    def __call__(self, index: int, turn: int | None = None) -> str:
        """The key of the item at input ``index`` (of its exchange ``turn``)."""
        starts = self.__dict__.get("_starts")
        if starts is None or len(starts) != len(self.files):
            starts = self.__dict__["_starts"] = [start for start, _ in self.files]
        at = bisect.bisect_right(starts, index) - 1
        start, file = self.files[at] if at >= 0 else (0, "<input>")
        return record_key(self.names.get(file, file), index - start, turn)
