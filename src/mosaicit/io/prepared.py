"""Items normalised where they are read (the Ray executor's reading tasks:
:func:`mosaicit.io.remote.parse_file`), so that the process they are handed to receives
conversations, not items to normalise.

A reading task knows one file, not the whole input, so it normalises only what it can decide
alone: an item that is well formed, not empty, and in the file's shape (the one ``--input-format``
names, or with ``auto`` the shape of the file's first item that has one) becomes a :class:`Ready`
conversation, with the repairs made to it. Every other item (malformed, empty, of no or another
shape, or failing to normalise) stays as it was read, and the reader on the receiving side
(:func:`mosaicit.io.sources.read_conversations`) decides it with the whole input's state, as for
any item: the reject, its reason and the error line are those of a local run. So is a
:class:`Ready` item whose shape turns out not to be the input's (files of different shapes):
it is taken back as it was read (:meth:`Ready.raw`).
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mosaicit.io.formats import MESSAGE_LIST_KEYS, Columns, Conversation
from mosaicit.io.shapes import detect, normalise
from mosaicit.io.wellformed import problem


@dataclass(frozen=True)
class Prepare:
    """What a reading task needs to normalise items as the run would: the shape (``auto``: each
    file's first), the key names, and whether repairs are off (``strict``)."""

    input_format: str = "auto"
    columns: Columns = field(default_factory=Columns)
    strict: bool = False


def empty_chat(item: Any, cols: Columns) -> bool:
    """True for an item whose message list holds no message at all."""
    if not isinstance(item, dict):
        return False
    keys = [cols.messages] if cols.messages else MESSAGE_LIST_KEYS
    return any(isinstance(item.get(k), list) and not item[k] for k in keys)


class Preparer:
    """Normalises one file's items in reading order (:meth:`__call__` once per run of items):
    remembers the file's shape from its first item that has one."""

    def __init__(self, how: Prepare, name: str) -> None:
        self.how = how
        self.name = name
        self.auto = how.input_format == "auto"
        self.shape: str | None = None if self.auto else how.input_format
        self.row = 0

    def __call__(self, items: list[Any]) -> bytes:
        """The items' conversations (their fields after ``index``; None for an item left as
        read) and repairs, pickled (:func:`ready_items` unpickles them beside the items)."""
        cols = self.how.columns
        convs: list[tuple[Any, ...] | None] = []
        repairs: dict[int, dict[str, int]] = {}
        for at, item in enumerate(items):
            row, self.row = self.row, self.row + 1
            convs.append(None)
            if problem(item) is not None or empty_chat(item, cols):
                continue
            if self.auto:
                found = detect(item, cols)
                if found is None:
                    continue
                if self.shape is None:
                    self.shape = found
                elif found != self.shape:
                    continue
            assert self.shape is not None
            made: Counter[str] | None = None if self.how.strict else Counter()
            try:
                conv = normalise(item, self.shape, cols, self.name, row, made)
            except Exception:  # decided again where the input's state is known, with its error line
                continue
            convs[-1] = (conv.turns, conv.system, conv.input, conv.meta)
            if made:
                repairs[at] = dict(made)
        return pickle.dumps((self.shape, convs, repairs), protocol=pickle.HIGHEST_PROTOCOL)


class Ready(NamedTuple):
    """An item normalised where it was read: its conversation but for its input position
    (:meth:`at_index`), the shape it was read in, the repairs made (None: none), and how to
    take the item back as it was read (:meth:`raw`)."""

    fields: tuple[Any, ...]
    shape: str
    repairs: dict[str, int] | None
    row: RawRow
    at: int

    def at_index(self, index: int) -> Conversation:
        """The conversation, as the item at input position ``index``."""
        return Conversation(index, *self.fields)

    def raw(self) -> Any:
        """The item as it was read."""
        return self.row.items()[self.at]


class RawRow:
    """A run of items as read, unpickled only if one of them is asked for."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self._items: list[Any] | None = None

    def items(self) -> list[Any]:
        """The items, unpickled the first time."""
        if self._items is None:
            self._items = pickle.loads(self.blob)
        return self._items


def ready_items(items: bytes, ready: bytes) -> Iterable[Any]:
    """Each item of a run: :class:`Ready` where it was normalised (``ready``, from a
    :class:`Preparer`; empty: none was), else the item as read (``items``, unpickled only then)."""
    if not ready:
        return pickle.loads(items)  # type: ignore[no-any-return]
    return _ready(items, ready)


def _ready(items: bytes, ready: bytes) -> Iterator[Any]:
    shape, convs, repairs = pickle.loads(ready)
    row = RawRow(items)
    for at, conv in enumerate(convs):
        yield row.items()[at] if conv is None else Ready(conv, shape, repairs.get(at), row, at)
