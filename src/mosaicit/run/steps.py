"""The steps of a run, outermost orchestration: read -> route -> measure -> compose -> write.

Each step takes what the step before it yields and yields in turn (``route`` and the groups it
makes are the one barrier: records are grouped by system prompt before any is measured). Every
step sends what it drops to the run's one :class:`Rejects` channel, with a reason, so that no
record is lost without being counted. Within a group, measuring and composing are handed as
units of work to the run's executor (:mod:`mosaicit.run.executors`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from mosaicit.budget.budget import PieceCounts
from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.dataset_info import ColumnSeen
from mosaicit.io.formats import Conversation
from mosaicit.io.shapes import to_row
from mosaicit.io.sources import ReadStats, read_conversations, write_dataset
from mosaicit.plan.compose import OVER_BUDGET
from mosaicit.render.templates import ChatTemplate
from mosaicit.run.executors import Executor
from mosaicit.run.groups import Run
from mosaicit.run.routing import Routed
from mosaicit.run.routing import route as route_conversations
from mosaicit.run.spec import OutputOptions, RunSpec
from mosaicit.run.store import RecordStore
from mosaicit.types.records import Record, Reject, Sample


class Rejects:
    """The one channel that every step sends what it drops to, each item with its reason."""

    def __init__(self) -> None:
        self._items: list[Reject] = []

    def send(self, rejects: Iterable[Reject]) -> None:
        """Take ``rejects``, in the order sent."""
        self._items.extend(rejects)

    def __len__(self) -> int:
        return len(self._items)

    def in_input_order(self) -> list[Reject]:
        """Every reject, by input index (stable: items of one record stay in the order sent)."""
        return sorted(self._items, key=lambda r: r.index)

    def by_reason(self) -> dict[str, int]:
        """How many rejects each reason has, by reason name."""
        return dict(sorted(Counter(r.reason for r in self._items).items()))


def read(spec: RunSpec, stats: ReadStats, rejects: Rejects, executor: Executor) -> Iterator[Conversation]:
    """The read step: the spec's input, as ``executor`` reads it, as conversations; broken records
    go to ``rejects``."""
    i = spec.inputs
    yield from read_items(spec, stats, rejects, executor.read(spec.listed, i.split, i.max_record_mb))


def read_items(
    spec: RunSpec,
    stats: ReadStats,
    rejects: Rejects,
    items: Iterable[tuple[str, int, Any]],
    start: int = 0,
    shape: str | None = None,
    max_bad_share: float | None = None,
) -> Iterator[Conversation]:
    """The read step over ``items`` (``(file, row, item)``): all the input's, or one file's, whose
    first item has input index ``start``, in the input's ``shape`` when known (see
    :func:`~mosaicit.io.sources.read_conversations`); ``max_bad_share`` stands in for the spec's."""
    i = spec.inputs
    bad_share = i.max_bad_share if max_bad_share is None else max_bad_share
    yield from read_conversations(
        spec.source, i.input_format, i.columns, i.on_bad, stats, i.split,
        i.strict_conversations, bad_share, items, i.max_record_mb, start, shape,
    )  # fmt: skip
    rejects.send(stats.rejects)


def route(
    conversations: Iterable[Conversation],
    spec: RunSpec,
    rejects: Rejects,
    raw: Callable[[Conversation], dict[str, Any]] | None = None,
    new_group: Callable[[], list[Record] | RecordStore] = list,
    first: int = 0,
) -> Routed:
    """The route step: system-prompt groups of records to mosaic and conversations to pass
    through, by the spec's policies (:mod:`mosaicit.run.routing`); what is dropped goes to
    ``rejects``. ``first``: the input index of the first conversation."""
    routed = route_conversations(
        conversations, spec.inputs.conversations, spec.inputs.system_policy, raw, new_group, first
    )
    rejects.send(routed.rejects)
    return routed


def raw_in(stats: ReadStats) -> Callable[[Conversation], dict[str, Any]]:
    """How a reject keeps a conversation: as a row of the input's shape."""
    return lambda conv: to_row(conv, stats.shape or "messages")


def check_template(run: Run, routed: Routed, name: str) -> None:
    """Render the chat template once for each shape in use, naming the first record that needs it."""
    if not isinstance(run.template, ChatTemplate):
        return
    for records in routed.groups.values():
        try:
            run.template.shape(bool(records[0].system))
        except MosaicitError as exc:
            raise InputError(name, str(exc), records[0].index) from None


def measure(
    run: Run,
    routed: Routed,
    rejects: Rejects,
    on_count: Callable[[int], None] | None = None,
    on_compose: Callable[[int], None] | None = None,
    unbudgeted: list[Record] | None = None,
) -> Iterator[Measured]:
    """The measure step, group by group: each group's records with their counts and the ones that
    fit the budget alone; a record that cannot is ticked as composed (``on_compose``, once per
    epoch) and goes to ``rejects`` (``over_budget``), or to ``unbudgeted`` when given (to be
    passed through unbudgeted: ``--over-budget pass``). A record whose answer share alone is
    outside ``--answer-share`` goes to ``rejects`` (``answer_share``) either way."""
    for group, records in enumerate(routed.groups.values()):
        counts, usable, over = run.measure(records, on_count, on_compose)
        for reject in over:
            routed.ledger.set_aside(reject.index)
        if unbudgeted is None:
            rejects.send(over)
        elif over:  # only the records over the budget pass through; the others stay rejects
            rejects.send(r for r in over if r.reason != OVER_BUDGET)
            aside = {(r.index, r.turn) for r in over if r.reason != OVER_BUDGET}
            kept = set(usable)
            unbudgeted.extend(
                r for i, r in enumerate(records) if i not in kept and (r.index, r.turn) not in aside
            )
        yield Measured(group, records, counts, usable)


def compose(
    run: Run,
    measured: Iterable[Measured],
    on_compose: Callable[[int], None] | None = None,
    finish: Callable[[Sample], Any] = lambda sample: sample,
) -> Iterator[Any]:
    """The compose step: ``finish(sample)`` for every mosaic of each measured group, in order."""
    for m in measured:
        yield from run.compose(m.records, m.counts, m.usable, m.group, on_compose, finish)


def mosaics(
    run: Run,
    routed: Routed,
    rejects: Rejects,
    on_count: Callable[[int], None] | None = None,
    on_compose: Callable[[int], None] | None = None,
    finish: Callable[[Sample], Any] = lambda sample: sample,
    unbudgeted: list[Record] | None = None,
) -> Iterator[Any]:
    """measure -> compose: ``finish(sample)`` for every mosaic of every group (progress: ``on_count``
    ticks records measured, ``on_compose`` records composed; ``unbudgeted``: see :func:`measure`)."""
    measured = measure(run, routed, rejects, on_count, on_compose, unbudgeted)
    yield from compose(run, measured, on_compose, finish)


class Measured(NamedTuple):
    """One measured system-prompt group: its number, records, counts and usable record positions."""

    group: int
    records: Sequence[Record]
    counts: PieceCounts
    usable: list[int]


def write(rows: Iterable[Any], outputs: OutputOptions, seen: ColumnSeen) -> int:
    """The write step: every row to the output, atomically, in the file type its name asks for
    (``seen`` notes the columns present); returns how many rows were written."""
    assert outputs.path is not None
    return write_dataset(outputs.path, seen.watch(rows), outputs.output_format)
