"""A run spread over a cluster: the records stay in the cluster's tasks; the driver holds tallies.

The same run as in one process, with the same bytes (:mod:`mosaicit.run.filerun` says why), in
these tasks, each where the cluster puts it:

The input is read in pieces (:mod:`mosaicit.io.filepieces`): a large JSONL file of the local
filesystem in pieces of about :data:`~mosaicit.io.filepieces.PIECE_BYTES`, any other file whole; each
piece is a "file" below, read where its task runs.

1. **count** (:func:`count_task`): one task per input file but the last parses it with
   mosaicit's readers (in place on a local filesystem, else fetched whole) and counts its items
   and a piece's lines (:func:`~mosaicit.io.filepieces.count_piece`), keeping nothing; the driver
   gets their numbers and the shape the items give the input: every file's first input index
   (and a piece's first row and line in its file), and the input's shape for the files after
   the first that gives one;
2. **share** (:func:`share_file`): one task per file parses it (what it keeps is records, not
   the items read: no copy of the input waits in the cluster), reads, routes, passes through
   and measures its items (:func:`~mosaicit.run.filerun.run_file`) and deals each group's usable
   records to the units (:func:`deal`, by the run's seed, which needs no other file: one block
   per (epoch, shard), or one for every epoch of an unsharded run); the driver gets its
   :class:`~mosaicit.run.filerun.FileTally`, whose system-prompt groups (their first records and
   sizes) give every group its number as a whole run numbers them, its seed, and the position
   of each file's records in it (:func:`~mosaicit.run.filerun.plan_groups`); the blocks, the rows
   passed through unbudgeted (per group), and the passthrough rows and rejects in lists of
   :data:`ROWS_PER_OBJECT` stay where they were made;
3. **compose** (:func:`compose_unit`): one task per (group, epoch, shard) unit receives exactly
   that unit's records (its blocks from every file, with where each file's records start in the
   group), composes them and writes its part file, or streams its rows back for one output file;
   the passthrough and unbudgeted parts are written by a task too (:func:`write_passthrough`,
   :func:`write_unbudgeted`).

The driver writes what comes back in order (one output file, the rejects file, the summary)
and commits the outputs; it never holds a record. A :class:`Cluster` runs the tasks: Ray's
(:mod:`mosaicit.run.executors.ray`), or :class:`InProcess`, which runs each task at once in
this process (to check the flow without a cluster).
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from copy import copy
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from mosaicit.errors import InputError
from mosaicit.io.filepieces import Piece, PieceCount, count_piece, cut, iter_piece
from mosaicit.io.parts import PASSTHROUGH, UNBUDGETED, Part, PartWriter
from mosaicit.io.sources import source_name
from mosaicit.plan.compose import Tally
from mosaicit.plan.seeds import group_seed, shard_of, shard_seed
from mosaicit.progress import Progress
from mosaicit.run.collector import collector_paused, heap_frozen
from mosaicit.run.filerun import (
    FileTally,
    GroupRecords,
    Placed,
    failure,
    local_twin,
    merge,
    plan_groups,
    run_file,
    settle,
)
from mosaicit.run.groups import Run
from mosaicit.run.passthrough import in_order
from mosaicit.run.shards import ComposeJob, ComposeUnit, FileKeys, unit_results
from mosaicit.run.spec import RunSpec
from mosaicit.run.summarise import Counted, kinds, record_uses
from mosaicit.types.records import Reject

#: Compose tasks submitted ahead, per CPU: the cluster holds only these units' results.
IN_FLIGHT = 2
#: Rows per object a task makes (the rows a compose task streams back, the passthrough rows and
#: rejects a file's share keeps): what the driver, or a task writing a part, holds of them at
#: once. It bounds the driver's memory: 4,096 rejects of long records were 40 MB.
ROWS_PER_OBJECT = 1024


class Cluster(Protocol):
    """Where a spread run's tasks run. A task is a module-level function; the references among
    its arguments are handed to it as their values (those inside a list stay references)."""

    workers: int

    def put(self, value: Any) -> Any:
        """A reference to ``value``, kept in the cluster."""

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)``: a reference to its result."""

    def stream(self, fn: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
        """Run ``fn(*args)``, a generator: a reference to each item it yields, as they come."""

    def get(self, ref: Any) -> Any:
        """The value of ``ref`` (a task's error is raised here)."""

    def shared(self, held: Held) -> Any:
        """In a task, the value of a reference that many tasks read (the run, the compose job):
        read once in each of the cluster's processes, not once per task."""

    def finished(self, refs: Sequence[Any]) -> Iterator[int]:
        """The positions in ``refs`` of tasks that have ended (waits for at least one)."""

    def node(self) -> str:
        """Where the calling task runs (a node of the cluster)."""

    def stop(self, refs: Iterable[Any]) -> None:
        """Cancel the tasks of ``refs`` and wait for them to end (an error, a signal)."""


class Held(NamedTuple):
    """A reference handed to a task as itself, for :meth:`Cluster.shared` (a reference among a
    task's own arguments is handed over as its value, read again by every task)."""

    ref: Any


# --- the tasks ------------------------------------------------------------------------------


def count_task(spec: RunSpec, fs: Any, piece: Piece) -> PieceCount:
    """A task: fetch and parse a file or a piece of one, count its items (and a piece's lines)
    and find the shape they give the input (:func:`~mosaicit.io.filepieces.count_piece`)."""
    return count_piece(fs, piece, spec.inputs.columns, spec.inputs.max_record_mb)


class Place(NamedTuple):
    """Where a file (or a piece of one) stands in the input: the input index of its first item,
    that item's row in its file and the number of its first line there, and the input's shape
    (None: found in the file)."""

    start: int
    row: int
    line: int
    shape: str | None


class Dealing(NamedTuple):
    """How every file's share deals its records to the units: the run's epochs, shards and seed."""

    epochs: int
    shards: int
    seed: int


def share_file(
    cluster: Cluster,
    spec: RunSpec,
    held: Held,
    fs: Any,
    piece: Piece,
    place: Place,
    dealing: Dealing,
) -> Iterator[Any]:
    """A task: the share of the run (``held``: :class:`~mosaicit.run.groups.Run`;
    :func:`~mosaicit.run.filerun.run_file`) of a file or a piece of one, parsed
    (:func:`~mosaicit.io.filepieces.iter_piece`), each group's records dealt to the units
    (:func:`deal`), yielded as :func:`work_refs` reads it back: each group's blocks, each
    group's rows passed through unbudgeted, the passthrough rows and the rejects in lists of up
    to :data:`ROWS_PER_OBJECT`, then the :class:`~mosaicit.run.filerun.FileTally` (with the layout)."""
    items = iter_piece(fs, piece, place.row, place.line, spec.inputs.max_record_mb)
    run = local_twin(cluster.shared(held))
    with collector_paused():  # the file's records and counts hold no cycles
        tally, work = run_file(spec, run, piece.name, place.start, place.shape, items, place.row)
    blocks: list[GroupRecords] = []
    key_of = FileKeys([(place.start - place.row, piece.name)], spec.key_names)
    for records in work.groups:
        dealt = deal(records, dealing.seed, dealing.epochs, dealing.shards, key_of)
        tally.dealt.append([len(block.positions) for block in dealt])
        blocks += dealt
    passthrough, rejects = _cut(work.passthrough), _cut(work.rejects)
    tally.layout = (len(blocks), len(work.unbudgeted), len(passthrough), len(rejects))
    for item in (*blocks, *work.unbudgeted, *passthrough, *rejects):  # noqa: UP028 (not
        yield item  # ``yield from``: Ray sends values into a task's generator)
    yield tally


def deal(records: GroupRecords, seed: int, epochs: int, shards: int, key_of: FileKeys) -> list[GroupRecords]:
    """A file's records of a group (positions among the file's records of the group) for the units
    of a run seeded with ``seed``: one block for every epoch of an unsharded run; else a block per
    (epoch, shard), epoch by epoch, dealt as :func:`~mosaicit.run.shards.plan_units` deals (a
    seeded hash of each record's stable key)."""
    if shards == 1:
        return [records]
    keys = [key_of(r.index, r.turn) for r in records.records]
    blocks = []
    for epoch in range(epochs):
        dealt: list[list[int]] = [[] for _ in range(shards)]
        for at, key in enumerate(keys):
            dealt[shard_of(seed, epoch, key, shards)].append(at)
        for members in dealt:
            blocks.append(
                GroupRecords(
                    [records.positions[i] for i in members],
                    [records.records[i] for i in members],
                    [records.counts[i] for i in members],
                )
            )
    return blocks


def _cut(items: list[Any]) -> list[list[Any]]:
    """``items`` in lists of up to :data:`ROWS_PER_OBJECT`."""
    return [items[at : at + ROWS_PER_OBJECT] for at in range(0, len(items), ROWS_PER_OBJECT)]


class WorkRefs(NamedTuple):
    """The references to a file's :class:`~mosaicit.run.filerun.FileWork`, as :func:`share_file`
    made them: each group's blocks, one after the other (see :func:`deal`); per group, its
    unbudgeted rows; the passthrough rows and the rejects, each a list of references to lists of
    up to :data:`ROWS_PER_OBJECT`."""

    blocks: list[Any]
    unbudgeted: list[Any]
    passthrough: list[Any]
    rejects: list[Any]


def work_refs(refs: list[Any], layout: tuple[int, int, int, int]) -> WorkRefs:
    """The references a :func:`share_file` task yielded, but for its tally (the last), by its layout."""
    at = [0]
    for size in layout:
        at.append(at[-1] + size)
    return WorkRefs(*(refs[a:b] for a, b in zip(at, at[1:], strict=False)))


class Chunked(Sequence[Any]):
    """Rows kept in the cluster as lists of up to :data:`ROWS_PER_OBJECT` (``refs``), fetched one
    list at a time: by position, or in order."""

    def __init__(self, cluster: Cluster, refs: list[Any], size: int) -> None:
        self.cluster, self.refs, self.size = cluster, refs, size
        self._held: tuple[int, list[Any]] = (-1, [])

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, at: Any) -> Any:
        chunk, offset = divmod(at, ROWS_PER_OBJECT)
        if self._held[0] != chunk:
            self._held = (chunk, self.cluster.get(self.refs[chunk]))
        return self._held[1][offset]

    def __iter__(self) -> Iterator[Any]:
        for ref in self.refs:
            yield from self.cluster.get(ref)


@dataclass(frozen=True)
class UnitDone:
    """The last item of a compose task: its unit's tally, the input indices of the records it
    received (in member order), and the node it ran on."""

    unit: ComposeUnit
    tally: Tally
    records: tuple[int, ...]
    node: str


def compose_unit(
    cluster: Cluster, held: Held, unit: ComposeUnit, offsets: Sequence[int], *blocks: GroupRecords
) -> Iterator[Any]:
    """A task: compose one unit of the run's :class:`~mosaicit.run.shards.ComposeJob` (``held``)
    from its records (``blocks``, from every file holding some, in reading order; ``offsets``: the
    position in the group of each one's file's first record of it): what the unit yields (its
    rows or its part file's :class:`~mosaicit.io.parts.Part`), :data:`ROWS_PER_OBJECT` at a
    time, then :class:`UnitDone`."""
    positions, records, counts = [], [], []
    for offset, block in zip(offsets, blocks, strict=True):
        positions += [offset + p for p in block.positions]
        records += block.records
        counts += block.counts
    unit = replace(unit, members=tuple(positions))
    job: ComposeJob = cluster.shared(held)
    composer = copy(job.composer)  # its own tally
    composer.tally = Tally()
    by_position = dict(zip(positions, records, strict=True)), dict(zip(positions, counts, strict=True))
    job = replace(job, composer=composer, records=by_position[0], counts=by_position[1])
    batch: list[Any] = []
    with heap_frozen():  # the collector need not walk the unit's records while they are read
        for result in unit_results(job, unit):
            batch.append(result)
            if len(batch) == ROWS_PER_OBJECT:
                yield batch
                batch = []
    yield batch
    received = tuple(record.index for record in records)
    yield UnitDone(replace(unit, members=None), job.composer.tally, received, cluster.node())


def compose_part(
    cluster: Cluster, held: Held, unit: ComposeUnit, offsets: Sequence[int], *blocks: GroupRecords
) -> tuple[list[Part], UnitDone]:
    """A task: :func:`compose_unit` writing its part file; its part and its :class:`UnitDone`."""
    *results, done = compose_unit(cluster, held, unit, offsets, *blocks)
    return [part for batch in results for part in batch], done


def write_passthrough(writer: PartWriter, blocks: list[Chunked], leads: list[Any]) -> Part:
    """A task: write the passthrough part from every file's rows (``blocks``), in the order of
    :func:`~mosaicit.run.passthrough.in_order`."""
    return writer.write(PASSTHROUGH, in_order(leads, blocks.__getitem__))


def write_unbudgeted(cluster: Cluster, writer: PartWriter, refs: list[Any]) -> Part:
    """A task: write the part of the records passed through unbudgeted (``refs``: references to
    each file's rows of a group, in writing order), fetching one at a time."""
    return writer.write(UNBUDGETED, (row for ref in refs for row in cluster.get(ref)))


# --- the driver -------------------------------------------------------------------------------


class SpreadOutput:
    """The :class:`~mosaicit.run.augment.Output` of a spread run, from its files' tallies and the
    references to their work (see the module's docstring)."""

    def __init__(
        self,
        cluster: Cluster,
        run: Run,
        spec: RunSpec,
        tallies: list[FileTally],
        works: list[WorkRefs],
        groups: list[Placed],
        bars: Progress,
        finish: Callable[[Any], Any],
    ) -> None:
        self.cluster, self.run, self.tallies, self.works = cluster, run, tallies, works
        self.bars, self.groups = bars, groups
        self.merged = merge(tallies, source_name(spec.source), spec.inputs.max_bad_share)
        self.done = self.merged.done  # the passthrough tallies; the mosaics are counted as written
        self.key_of = FileKeys(self.merged.stats.files, spec.key_names)
        run.key_of = self.key_of
        run.usable, run.plain_tokens = self.merged.usable, self.merged.plain_tokens
        self.job = ComposeJob(run.composer, {}, {}, (), (), finish, self.key_of if run.shards > 1 else None)
        bars.plan("composing", self.merged.usable * run.config.epochs)

    @property
    def stats(self) -> Any:
        """The input's reading statistics, summed over the files."""
        return self.merged.stats

    # -- the units -------------------------------------------------------------------------

    def units(self) -> Iterator[tuple[ComposeUnit, list[int], list[Any]]]:
        """Each unit to compose, in writing order, with its blocks (one per file holding some of
        its records) and where each one's file's records start in the group. The references are
        let go as the units are handed out, so that the cluster keeps no record longer than its
        compose task needs it."""
        config, shards = self.run.config, self.run.shards
        per_group = 1 if shards == 1 else config.epochs * shards
        for placed in self.groups:
            seed = group_seed(config.seed, placed.group)
            refs = [self.works[f].blocks[g * per_group : (g + 1) * per_group] for f, g, _ in placed.files]
            sizes = [self.tallies[f].dealt[g] for f, g, _ in placed.files]
            offsets = [offset for _, _, offset in placed.files]
            for f, g, _ in placed.files:
                self.works[f].blocks[g * per_group : (g + 1) * per_group] = [None] * per_group
            for epoch in range(config.epochs):
                for shard in range(shards):
                    at = 0 if shards == 1 else epoch * shards + shard
                    having = [k for k, size in enumerate(sizes) if size[at]]
                    if having:
                        unit = ComposeUnit(placed.group, epoch, shard, shard_seed(seed, shard, shards), None)
                        yield unit, [offsets[k] for k in having], [refs[k][at] for k in having]
                    if shards > 1:
                        for file_refs in refs:
                            file_refs[at] = None

    def _composed(self, done: UnitDone) -> None:
        self.run.composer.tally.merge(done.tally)
        tick = self.bars.ticker("composing")
        if tick:
            tick(len(done.records))

    def _mosaics(self) -> Iterator[Any]:
        """Every unit's rows, in the units' order, at most :data:`IN_FLIGHT` units per CPU ahead."""
        units = iter(self.units())
        pending: deque[Any] = deque()
        job = Held(self.cluster.put(self.job))

        def submit() -> None:
            following = next(units, None)
            if following is not None:
                unit, offsets, blocks = following
                pending.append(self.cluster.stream(compose_unit, self.cluster, job, unit, offsets, *blocks))

        for _ in range(max(2, IN_FLIGHT * self.cluster.workers)):
            submit()
        try:
            while pending:
                for ref in pending[0]:
                    item = self.cluster.get(ref)
                    if isinstance(item, UnitDone):
                        self._composed(item)
                    else:
                        yield from item
                pending.popleft()
                submit()
        except BaseException:  # an error, a signal, or the caller stopped reading: stop the rest
            self.cluster.stop(pending)
            raise

    # -- the Output ------------------------------------------------------------------------

    def _passthrough_blocks(self) -> list[Chunked]:
        """Each file's passthrough rows (fetched as they are reached)."""
        return [
            Chunked(self.cluster, w.passthrough, t.rows)
            for w, t in zip(self.works, self.tallies, strict=True)
        ]

    def _passthrough(self) -> Iterator[dict[str, Any]]:
        return in_order([t.leads for t in self.tallies], self._passthrough_blocks().__getitem__)

    def _unbudgeted_refs(self) -> list[Any]:
        """The rows passed through unbudgeted, in writing order: group by group, file by file."""
        return [
            self.works[f].unbudgeted[g]
            for placed in self.groups
            for f, g, _ in placed.files
            if self.tallies[f].unbudgeted[g]
        ]

    def _unbudgeted(self) -> Iterator[dict[str, Any]]:
        for ref in self._unbudgeted_refs():
            yield from self.cluster.get(ref)

    def rows(self) -> Iterator[Any]:
        yield from self.bars.counted("passthrough", self._passthrough())
        for row in self._mosaics():
            self.done.mosaics += 1
            yield row
        yield from self._unbudgeted()

    def parts(self, writer: PartWriter) -> list[Part]:
        cluster, parts = self.cluster, []
        if any(t.rows for t in self.tallies):
            leads = [t.leads for t in self.tallies]
            task = cluster.call(write_passthrough, writer, self._passthrough_blocks(), leads)
            parts.append(cluster.get(task))
            writer = replace(writer, id_type=parts[0].id_type)  # every part's id column alike
        parts += self._parts(Held(cluster.put(replace(self.job, write_part=writer))))
        unbudgeted = self._unbudgeted_refs()
        if unbudgeted:
            parts.append(cluster.get(cluster.call(write_unbudgeted, cluster, writer, unbudgeted)))
        return parts

    def _parts(self, job: Held) -> list[Part]:
        """Every unit's part, composed and written by its task: the tasks end in any order, at most
        :data:`IN_FLIGHT` per CPU running; the parts are returned in the units' order."""
        units = iter(enumerate(self.units()))
        running: list[Any] = []
        at: list[int] = []
        found: dict[int, list[Part]] = {}

        def submit() -> None:
            following = next(units, None)
            if following is not None:
                n, (unit, offsets, blocks) = following
                running.append(self.cluster.call(compose_part, self.cluster, job, unit, offsets, *blocks))
                at.append(n)

        for _ in range(max(2, IN_FLIGHT * self.cluster.workers)):
            submit()
        try:
            while running:
                for i in self.cluster.finished(running):
                    ref, n = running.pop(i), at.pop(i)
                    written, done = self.cluster.get(ref)
                    self._composed(done)
                    self.done.mosaics += sum(part.rows for part in written)
                    found[n] = written
                    submit()
                    break
        except BaseException:
            self.cluster.stop(running)
            raise
        return [part for n in sorted(found) for part in found[n]]

    def rejects(self) -> Iterable[Reject]:
        for work in self.works:
            for ref in work.rejects:
                yield from self.cluster.get(ref)

    def counted(self) -> Counted:
        accounting = settle(self.merged, record_uses(self.run.composer.tally))
        by_reason = dict(sorted(self.merged.rejected.items()))
        return Counted(accounting, by_reason, kinds(self.merged.kinds, self.merged.stats), len(self.groups))


def spread(
    spec: RunSpec, run: Run, cluster: Cluster, bars: Progress, finish: Callable[[Any], Any]
) -> SpreadOutput:
    """Count, then read, route, pass through and measure every input file in the cluster's tasks
    (see the module's docstring), and the :class:`SpreadOutput` that composes and writes the rest.
    One clear error line, as a run in one process gives it, for what stops the run."""
    fs, files = spec.listed.found
    pieces = cut(fs, files)
    shared_spec, shared_run = cluster.put(spec), Held(cluster.put(local_twin(run)))
    counts = cluster_map(cluster, [(count_task, shared_spec, fs, piece) for piece in pieces[:-1]])
    dealing = Dealing(run.config.epochs, run.shards, run.config.seed)
    place = Place(0, 0, 1, None if spec.inputs.input_format == "auto" else spec.inputs.input_format)
    shares = []
    for k, piece in enumerate(pieces):
        if piece.begin == 0:  # a file's first piece, or the whole file
            place = place._replace(row=0, line=1)
        shares.append(cluster.stream(share_file, cluster, shared_spec, shared_run, fs, piece, place, dealing))
        if k < len(counts):
            n = counts[k]
            shape = place.shape or n.shape
            place = Place(place.start + n.items, place.row + n.items, place.line + n.lines, shape)
    tallies: list[FileTally] = []
    works: list[WorkRefs] = []
    tick = bars.ticker("reading")
    for started in shares:
        refs = list(started)
        tallies.append(cluster.get(refs[-1]))
        works.append(work_refs(refs, tallies[-1].layout))
        if tick:
            tick(tallies[-1].read)
    error = failure(tallies, reading=True)
    if error is not None:
        raise error
    groups = plan_groups([tally.groups for tally in tallies])
    output = SpreadOutput(cluster, run, spec, tallies, works, groups, bars, finish)
    if output.stats.read == 0:
        raise InputError(source_name(spec.source), "empty dataset: no records")
    error = failure(tallies)
    if error is not None:
        raise error
    return output


def cluster_map(cluster: Cluster, calls: list[tuple[Any, ...]]) -> list[Any]:
    """The results of ``fn(*args)`` for each ``(fn, *args)`` of ``calls``, run as the cluster's tasks."""
    return [cluster.get(ref) for ref in [cluster.call(*call) for call in calls]]


class InProcess:
    """A :class:`Cluster` that runs each task at once, in this process: a spread run without a
    cluster, with the bytes of the spread run on one (which are those of a local run). What a
    task returns or yields is pickled and read back, as a cluster sends it between processes."""

    workers = 1

    def put(self, value: Any) -> Any:
        return value

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return _sent(fn(*args))

    def stream(self, fn: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
        return iter([_sent(item) for item in fn(*args)])

    def get(self, ref: Any) -> Any:
        return ref

    def shared(self, held: Held) -> Any:
        return held.ref

    def finished(self, refs: Sequence[Any]) -> Iterator[int]:
        return iter(range(len(refs)))

    def node(self) -> str:
        return "here"

    def stop(self, refs: Iterable[Any]) -> None:
        return None


def _sent(value: Any) -> Any:
    """``value`` as another process receives it: pickled and read back."""
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
