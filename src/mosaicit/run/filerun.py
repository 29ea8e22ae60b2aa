"""One input file's share of a run, done alone where the file is read (a cluster's file tasks).

A record is read from one file, and what happens to it before composing depends on that file
only, given two facts of the whole input: the input index of the file's first item (the items
of the files before it) and the input's shape (found in the first file that has one). So
:func:`run_file` reads one file's items, routes them, passes its conversations through (rows
counted under the template, cut to the budget) and measures its records, exactly as a whole run
does these steps (:mod:`mosaicit.run.steps`), and returns:

- a :class:`FileTally`: the few numbers the driver of a run needs (what was read, routed,
  rejected and passed through; each system-prompt group's first record and sizes), and
- a :class:`FileWork`: what stays where it was made until a task needs it: each group's usable
  records with their measures, the passthrough rows (:class:`~mosaicit.run.passthrough.PassBlock`),
  the rows of the records passed through unbudgeted, and the rejects.

:func:`plan_groups` numbers the system-prompt groups as a whole run does (by their first record)
from every file's tally, with the position of each file's records in its group: every unit then
composes the records, with the seeds, of a run that read the files together (the same bytes).
:func:`merge` sums the tallies of all files into what the summary reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any, NamedTuple

from mosaicit.budget.budget import Measured, TextCounts
from mosaicit.errors import MosaicitError
from mosaicit.io.sources import ReadStats, check_bad_share, source_name
from mosaicit.run import steps
from mosaicit.run.accounting import Accounting, summed
from mosaicit.run.collector import collector_paused
from mosaicit.run.groups import Run
from mosaicit.run.passthrough import Outcome, Passing
from mosaicit.run.shards import FileKeys
from mosaicit.run.spec import RunSpec
from mosaicit.types.features import PromptFeatures
from mosaicit.types.records import Record, Reject

#: The steps of a run whose errors a file reports, in the order a whole run meets them: it reads
#: (and routes) every file, checks the template, passes through, then measures.
STAGES = ("read", "template", "passthrough", "measure")


class GroupTally(NamedTuple):
    """One system-prompt group's records in one file: the group's ``system`` prompt, the input
    index of its ``first`` record there, and how many ``records`` and ``usable`` ones it has."""

    system: str
    first: int
    records: int
    usable: int


class GroupRecords(NamedTuple):
    """One group's usable records in one file, with their ``positions`` among the group's records
    of that file (from 0) and their measures.

    Pickled by columns (what a cluster's task sends to another): each field of the records, and
    of their counts, as one list; rebuilt with the collector paused (:mod:`~mosaicit.run.collector`).
    Pickled object by object, the blocks of a file took about 1.7 times the CPU to send."""

    positions: list[int]
    records: list[Record]
    counts: list[Measured]

    def __reduce__(self) -> tuple[Any, ...]:
        records = [list(map(attrgetter(name), self.records)) for name in _fields(Record)]
        counts = [
            [list(map(attrgetter(f"{part}.{name}"), self.counts)) for name in _fields(kind)]
            for part, kind in COUNT_PARTS
        ]
        systems = list(map(attrgetter("system"), self.counts))
        return _rebuilt, (self.positions, records, counts, systems)


#: The parts of a :class:`~mosaicit.budget.budget.Measured` but its system prompt, in the order
#: its constructor takes them, and their types.
COUNT_PARTS = (("prompt", TextCounts), ("output", TextCounts), ("features", PromptFeatures))


def _fields(kind: Any) -> list[str]:
    """The fields of a dataclass, in the order its constructor takes them."""
    return [f.name for f in fields(kind)]


def _rebuilt(
    positions: list[int], records: list[list[Any]], counts: list[list[list[Any]]], systems: list[str]
) -> GroupRecords:
    """A :class:`GroupRecords` from its columns (see its ``__reduce__``)."""
    with collector_paused():
        parts = [list(map(kind, *columns)) for (_, kind), columns in zip(COUNT_PARTS, counts, strict=True)]
        return GroupRecords(positions, list(map(Record, *records)), list(map(Measured, *parts, systems)))


@dataclass
class FileTally:
    """What a file's share of a run found, small enough for the driver to hold for every file."""

    name: str
    start: int
    read: int = 0
    #: ``(input index, file)`` of each file whose first item it read (see ``ReadStats.files``).
    files: list[tuple[int, str]] = field(default_factory=list)
    shape: str | None = None
    repairs: Counter[str] = field(default_factory=Counter)
    set_aside: Counter[str] = field(default_factory=Counter)
    first_error: str | None = None
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    accounting: Accounting | None = None
    rejected: Counter[str] = field(default_factory=Counter)
    groups: list[GroupTally] = field(default_factory=list)
    plain_tokens: Counter[int] = field(default_factory=Counter)
    done: Outcome = field(default_factory=Outcome)
    leads: tuple[int | None, ...] = ()
    #: How many passthrough rows (but for the rows passed through unbudgeted) there are.
    rows: int = 0
    unbudgeted: list[int] = field(default_factory=list)
    #: How many records each group dealt to each unit's block (see :func:`mosaicit.run.spread.deal`).
    dealt: list[list[int]] = field(default_factory=list)
    #: How a cluster's task keeps the file's work: (blocks, groups, lists of passthrough rows, of rejects).
    layout: tuple[int, int, int, int] = (0, 0, 0, 0)
    #: The error that stopped the file's share, and the stage it stopped in (see :data:`STAGES`).
    error: MosaicitError | None = None
    stage: int = len(STAGES)


@dataclass
class FileWork:
    """What a file's share made, kept where it was made: per group (in the order of
    :attr:`FileTally.groups`) its usable records and the rows of its records passed through
    unbudgeted; the passthrough rows; the rejects, in input order, each with its record."""

    groups: list[GroupRecords] = field(default_factory=list)
    passthrough: list[dict[str, Any]] = field(default_factory=list)
    unbudgeted: list[list[dict[str, Any]]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def local_twin(run: Run) -> Run:
    """A copy of ``run`` that does its units in the calling process, with fresh tallies and no
    count cache (a file's share runs in one process of a cluster)."""
    return replace(run, workers=1, cache=None)


def run_file(
    spec: RunSpec,
    run: Run,
    name: str,
    start: int,
    shape: str | None,
    items: Iterable[tuple[str, int, Any]],
    row: int = 0,
) -> tuple[FileTally, FileWork]:
    """Read, route, pass through and measure the items of the file ``name`` (``(file, row,
    item)``; its first item has input index ``start`` and, where the items are a piece of the
    file, ``row``; ``shape``: the input's, None where it is this file's own), with ``run`` (as
    :func:`local_twin` makes it). An error (one clear line) does not raise: it is the tally's,
    with its stage, and the work is empty."""
    tally, work = FileTally(name, start), FileWork()
    stats, rejects, stage = ReadStats(), steps.Rejects(), 0
    try:
        conversations = steps.read_items(spec, stats, rejects, items, start, shape, max_bad_share=1.0)
        routed = steps.route(conversations, spec, rejects, steps.raw_in(stats), list, start)
        stage = 1
        steps.check_template(run, routed, source_name(spec.source))
        stage = 2
        run.key_of = FileKeys([(start - row, name)], spec.key_names)
        split = spec.inputs.conversations == "split"
        out, policy = spec.outputs, spec.inputs.over_budget
        passing = Passing(run, out.output_format, out.with_meta, tally.done, routed.ledger, policy, split)
        block = passing.block(routed.passthrough)
        rejects.send(tally.done.rejects)
        tally.done.rejects = []
        stage = 3
        unbudgeted: list[Record] | None = [] if policy == "pass" else None
        systems = list(routed.groups)
        for measured in steps.measure(run, routed, rejects, unbudgeted=unbudgeted):
            records, usable = measured.records, measured.usable
            aside = [passing.unbudgeted(record) for record in unbudgeted or ()]
            if unbudgeted:
                unbudgeted.clear()
            tally.groups.append(
                GroupTally(systems[measured.group], records[0].index, len(records), len(usable))
            )
            tally.unbudgeted.append(len(aside))
            kept = [records[i] for i in usable]
            work.groups.append(GroupRecords(list(usable), kept, [measured.counts[i] for i in usable]))
            work.unbudgeted.append(aside)
    except MosaicitError as exc:
        tally.error, tally.stage = exc, stage
        work = FileWork()
    finally:  # what reading found counts for the whole input's checks, whatever stopped later
        tally.read, tally.shape, tally.repairs = stats.read, stats.shape, stats.repairs
        tally.files = stats.files
        tally.set_aside = Counter(r.reason for r in stats.rejects)
        tally.first_error = stats.first_error
    if tally.error is not None:
        return tally, work
    in_order = rejects.in_input_order()
    tally.kinds = routed.kinds
    tally.accounting = routed.ledger.settle(stats.read, in_order, 0, 0, 0)
    tally.rejected = Counter(r.reason for r in in_order)
    tally.plain_tokens = run.plain_tokens
    tally.leads, tally.rows = block.leads, len(block.rows)
    work.passthrough = block.rows
    work.rejects = [replace(r, record=r.raw()) for r in in_order]
    return tally, work


def failure(tallies: Sequence[FileTally], reading: bool = False) -> MosaicitError | None:
    """The error a whole run would stop with: of the earliest stage, the earliest file's (with
    ``reading``, only an error met while reading)."""
    failed = [t for t in tallies if t.error is not None and (t.stage == 0 or not reading)]
    return min(failed, key=lambda t: t.stage).error if failed else None


@dataclass
class Merged:
    """The tallies of every file of an input, summed as the summary reads them."""

    stats: ReadStats
    kinds: dict[str, dict[str, int]]
    accounting: list[Accounting]
    rejected: Counter[str]
    done: Outcome
    plain_tokens: Counter[int]
    usable: int


def merge(tallies: Sequence[FileTally], name: str, max_bad_share: float) -> Merged:
    """Sum the files' tallies (in reading order); one clear error, as a whole run gives it, when
    too many items were broken (``max_bad_share``)."""
    stats = ReadStats()
    kinds: dict[str, dict[str, int]] = {}
    rejected: Counter[str] = Counter()
    done = Outcome()
    plain: Counter[int] = Counter()
    usable = 0
    for t in tallies:
        stats.files += t.files
        stats.read += t.read
        stats.shape = stats.shape or t.shape
        stats.repairs.update(t.repairs)
        stats.elsewhere.update(t.set_aside)
        stats.first_error = stats.first_error or t.first_error
        for kind, counts in t.kinds.items():
            into = kinds.setdefault(kind, {})
            for outcome, n in counts.items():
                into[outcome] = into.get(outcome, 0) + n
        rejected.update(t.rejected)
        d = t.done
        done.passthrough += d.passthrough
        done.passthrough_tokens += d.passthrough_tokens
        done.passthrough_max = max(done.passthrough_max, d.passthrough_max)
        done.over_budget += d.over_budget
        done.passthrough_lengths.update(d.passthrough_lengths)
        plain.update(t.plain_tokens)
        usable += sum(g.usable for g in t.groups)
    check_bad_share(name, stats, max_bad_share)
    parts = [t.accounting for t in tallies if t.accounting is not None]
    return Merged(stats, kinds, parts, rejected, done, plain, usable)


def settle(merged: Merged, uses: int) -> Accounting:
    """The run's accounting, once its mosaics' record ``uses`` are known."""
    return summed(merged.accounting, merged.usable, uses, merged.done.passthrough)


class Placed(NamedTuple):
    """A system-prompt group of a run over files: its number and system prompt, and for each file
    holding records of it, ``(file number, the group's number in that file, the position of the
    file's first record of it in the group)``."""

    group: int
    system: str
    files: list[tuple[int, int, int]]


def plan_groups(groups: Sequence[Sequence[GroupTally]]) -> list[Placed]:
    """The run's system-prompt groups, from each file's (in reading order), in the order a whole
    run numbers them (by their first record), each with where its records are (:class:`Placed`)."""
    found: dict[str, tuple[int, list[tuple[int, int, int]], list[int]]] = {}
    for f, in_file in enumerate(groups):
        for g, group in enumerate(in_file):
            first, files, size = found.setdefault(group.system, (group.first, [], [0]))
            files.append((f, g, size[0]))
            size[0] += group.records
    ordered = sorted(found.items(), key=lambda item: item[1][0])
    return [Placed(n, system, files) for n, (system, (_, files, _)) in enumerate(ordered)]
