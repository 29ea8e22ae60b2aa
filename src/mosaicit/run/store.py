"""Records kept on disk, not in memory: a spool file and an offset per record.

A mosaicking run needs every record's text only twice: to count it once, and to render
the samples it ends up in. In between, the composer works from compact counts and features,
so the texts can wait in a temporary file. The file has no name (it is unlinked as soon as it
is opened), so nothing is left behind whichever way the process ends. Reads are positioned
(``os.pread``), so forked workers share the parent's file descriptor safely.

A run may let its stores keep the first records in memory, up to a shared :class:`Allowance` of
text: a small input then never waits on disk (reading a record back costs more than composing
with it), and a large one keeps only that much more in memory.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

from mosaicit.errors import MosaicitError
from mosaicit.types.records import Record

#: Bytes of spool read at once when records are taken in order (:func:`take`).
TAKE_WINDOW = 1 << 20


class Allowance:
    """Characters of record text that the stores of one run may keep in memory, together."""

    def __init__(self, characters: int) -> None:
        self.left = characters

    def take(self, characters: int) -> bool:
        """Take ``characters`` from what is left; False (nothing taken) if not that many are left."""
        if characters > self.left:
            return False
        self.left -= characters
        return True


class RecordStore(Sequence[Record]):
    """An append-only sequence of records spooled to a temporary file; the first ones stay in
    memory while ``allowance`` lasts (then every later one is spooled)."""

    def __init__(
        self, records: Iterable[Record] = (), folder: str | None = None, allowance: Allowance | None = None
    ) -> None:
        self.folder = folder or tempfile.gettempdir()
        self._allowance = allowance
        self._kept: list[Record] = []
        try:
            self._writer = tempfile.TemporaryFile(
                prefix="mosaicit-records-", suffix=".spool", dir=self.folder
            )
        except OSError as exc:
            raise self._cannot_write(exc) from None
        self._offsets = array("q", [0])
        self._unflushed = False
        self._owner = os.getpid()
        for record in records:
            self.append(record)

    def append(self, record: Record) -> None:
        """Add a record at the end."""
        if self._allowance is not None and len(self._offsets) == 1:  # nothing spooled yet
            size = len(record.instruction) + len(record.output) + len(record.input) + len(record.system)
            if self._allowance.take(size):
                self._kept.append(record)
                return
            self._allowance = None
        data = pickle.dumps(
            (
                record.index,
                record.instruction,
                record.output,
                record.input,
                record.id,
                record.system,
                record.turn,
            ),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        try:
            self._writer.write(data)
        except OSError as exc:
            raise self._cannot_write(exc) from None
        self._offsets.append(self._offsets[-1] + len(data))
        self._unflushed = True

    def flush(self) -> None:
        """Write out what is buffered; call it before forking processes that read the store."""
        if self._unflushed:
            if os.getpid() != self._owner:  # a forked copy of the buffer would be written twice
                raise RuntimeError("RecordStore: flush() before forking readers")
            try:
                self._writer.flush()
            except OSError as exc:
                raise self._cannot_write(exc) from None
            self._unflushed = False

    def _cannot_write(self, exc: OSError) -> MosaicitError:
        return MosaicitError(f"{self.folder}: cannot write the records' spool file: {exc.strerror or exc}")

    def __len__(self) -> int:
        return len(self._kept) + len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> Record: ...

    @overload
    def __getitem__(self, i: slice) -> list[Record]: ...

    def __getitem__(self, i: int | slice) -> Record | list[Record]:
        kept = len(self._kept)
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1 or stop <= start:
                return [self[j] for j in range(start, stop, step)]
            return self._kept[start:stop] + self._spooled(max(start, kept) - kept, max(stop, kept) - kept)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i < kept:
            return self._kept[i]
        i -= kept
        self.flush()
        start = self._offsets[i]
        return Record(*pickle.loads(os.pread(self._writer.fileno(), self._offsets[i + 1] - start, start)))

    def _spooled(self, start: int, stop: int) -> list[Record]:
        """Spooled records ``start:stop`` (positions in the spool file): one read."""
        if stop <= start:
            return []
        self.flush()
        offsets, first = self._offsets, self._offsets[start]
        data = memoryview(os.pread(self._writer.fileno(), offsets[stop] - first, first))
        pieces = (data[offsets[j] - first : offsets[j + 1] - first] for j in range(start, stop))
        return [Record(*pickle.loads(piece)) for piece in pieces]

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self[i]

    def take(self, positions: Iterable[int]) -> Iterator[Record]:
        """The records at ``positions``: in input order, the spooled ones are read a window of
        :data:`TAKE_WINDOW` bytes at a time, not one read each."""
        kept, offsets = len(self._kept), self._offsets
        self.flush()
        low = high = 0
        data = memoryview(b"")
        for i in positions:
            if i < kept:
                yield self._kept[i]
                continue
            if not kept <= i < len(self):
                raise IndexError(i)
            start, stop = offsets[i - kept], offsets[i - kept + 1]
            if not (low <= start and stop <= high):
                low, high = start, min(max(stop, start + TAKE_WINDOW), offsets[-1])
                data = memoryview(os.pread(self._writer.fileno(), high - low, low))
            yield Record(*pickle.loads(data[start - low : stop - low]))

    def fileno(self) -> int:
        """The spool file's descriptor (it has no name: it is unlinked as soon as it is opened)."""
        return self._writer.fileno()

    def close(self) -> None:
        """Close, and so delete, the spool file (what is still buffered is dropped)."""
        with contextlib.suppress(OSError):
            self._writer.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def take(records: Sequence[Record] | Mapping[int, Record], positions: Iterable[int]) -> Iterator[Record]:
    """The records at ``positions`` of ``records``, a store's read a window at a time
    (:meth:`RecordStore.take`)."""
    if isinstance(records, RecordStore):
        return records.take(positions)
    return (records[i] for i in positions)
