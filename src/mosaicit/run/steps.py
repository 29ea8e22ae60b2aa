"""The steps of a run, outermost orchestration: read -> route -> measure -> compose -> write.

Each step takes what the step before it yields and yields in turn (``route`` and the groups it
makes are the one barrier: records are grouped by system prompt before any is measured). Every
step sends what it drops to the run's one :class:`Rejects` channel, with a reason, so that no
record is lost without being counted. Within a group, measuring and composing are handed as
units of work to the run's executor (:mod:`mosaicit.run.executors`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mosaicit.io.formats import Conversation
from mosaicit.io.sources import ReadStats, read_conversations
from mosaicit.records import Record, Reject, Sample
from mosaicit.run.groups import Run
from mosaicit.run.routing import Routed
from mosaicit.run.routing import route as route_conversations
from mosaicit.run.spec import RunSpec
from mosaicit.store import RecordStore


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


def read(spec: RunSpec, stats: ReadStats, rejects: Rejects) -> Iterator[Conversation]:
    """The read step: the spec's input as conversations; broken records go to ``rejects``."""
    i = spec.inputs
    yield from read_conversations(
        spec.source, i.input_format, i.columns, i.on_bad, stats, i.split,
        i.strict_conversations, i.max_bad_share,
    )  # fmt: skip
    rejects.send(stats.rejects)


def route(
    conversations: Iterable[Conversation],
    spec: RunSpec,
    rejects: Rejects,
    raw: Callable[[Conversation], dict[str, Any]] | None = None,
    new_group: Callable[[], list[Record] | RecordStore] = list,
) -> Routed:
    """The route step: system-prompt groups of records to mosaic and conversations to pass
    through, by the spec's policies (:mod:`mosaicit.run.routing`); what is dropped goes to ``rejects``."""
    routed = route_conversations(
        conversations, spec.inputs.conversations, spec.inputs.system_policy, raw, new_group
    )
    rejects.send(routed.rejects)
    return routed


def mosaics(
    run: Run,
    routed: Routed,
    rejects: Rejects,
    on_count: Callable[[int], None] | None = None,
    on_compose: Callable[[int], None] | None = None,
    finish: Callable[[Sample], Any] = lambda sample: sample,
) -> Iterator[Any]:
    """The measure and compose steps, group by group: ``finish(sample)`` for every mosaic; a record
    that cannot fit the budget alone goes to ``rejects`` (``over_budget``)."""
    for group, records in enumerate(routed.groups.values()):
        counts = run.measure(records, on_count)
        usable, over = run.keep_usable(records, counts, on_compose)
        rejects.send(over)
        yield from run.compose(records, counts, usable, group, on_compose, finish)
