"""What became of each input record: mosaicked, passed through or rejected, and how many times used.

A :class:`Ledger` follows every record by its input index while a run routes, measures and
writes it. At the end, :meth:`Ledger.settle` sorts each record read into exactly one outcome:

- **mosaicked**: at least one of its exchanges is a record of the mosaics (used ``--epochs``
  times, once per epoch);
- **passed through**: otherwise, at least one row of the output holds it or a part of it, by
  kind (:data:`PASSED_KINDS`): ``whole`` (within the budget), ``split`` (cut into runs of whole
  exchanges that each fit), ``trimmed`` (its first exchanges that fit; the rest dropped) or
  ``unbudgeted`` (over the budget, passed through as asked); each row is used once;
- **rejected**: nothing of it was written; it is counted under the reason of its first reject.

So ``read == mosaicked + passed_through + rejected`` by construction of the three sets, and the
rejects that concern records counted as used (an exchange of a split conversation, a trimmed
tail) are counted apart, by reason, as ``parts_rejected``.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from mosaicit.types.records import Reject

#: How a record passed through is written, as :attr:`Ledger.passed` takes it.
PASSED_KINDS = ("whole", "split", "trimmed", "unbudgeted")


@dataclass(frozen=True)
class Accounting:
    """Every record read, in exactly one outcome, and the uses of what was written."""

    read: int
    mosaicked: int
    passed_through: int
    rejected: int
    rejected_by_reason: dict[str, int]
    passed_by_kind: dict[str, int]
    parts_rejected: dict[str, int]
    mosaic_records: int
    mosaic_record_uses: int
    passthrough_rows: int

    @classmethod
    def of(
        cls,
        read: int,
        mosaicked: int,
        rejected: int,
        by_reason: Counter[str],
        passed: Counter[str],
        parts: Counter[str],
        mosaic_records: int,
        mosaic_uses: int,
        rows: int,
    ) -> Accounting:
        """The accounting of these counts: rejects ``by_reason``, records ``passed`` through by
        kind, rejected ``parts`` of used records by reason (each listed in a fixed order)."""
        return cls(
            read=read,
            mosaicked=mosaicked,
            passed_through=sum(passed.values()),
            rejected=rejected,
            rejected_by_reason=dict(sorted(by_reason.items())),
            passed_by_kind={k: passed[k] for k in PASSED_KINDS if passed[k]},
            parts_rejected=dict(sorted(parts.items())),
            mosaic_records=mosaic_records,
            mosaic_record_uses=mosaic_uses,
            passthrough_rows=rows,
        )


class Ledger:
    """Per input record: how many of its exchanges wait to be mosaicked, and how it was passed
    through. ``first``: the input index of the first record it follows (one file's ledger, where
    a cluster routes its files apart, follows that file's records only)."""

    def __init__(self, first: int = 0) -> None:
        self._mosaic = array("I")
        self._passed = bytearray()
        self.first = first

    def _grow(self, index: int) -> None:
        if index >= len(self._mosaic):
            more = index + 1 - len(self._mosaic)
            self._mosaic.extend([0] * more)
            self._passed.extend(bytes(more))

    def to_mosaic(self, index: int) -> None:
        """One exchange of record ``index`` became a record to mosaic."""
        index -= self.first
        self._grow(index)
        self._mosaic[index] += 1

    def set_aside(self, index: int) -> None:
        """One exchange of record ``index`` that was to be mosaicked cannot fit the budget alone."""
        self._mosaic[index - self.first] -= 1

    def mosaicked(self, index: int) -> bool:
        """True when record ``index`` has an exchange in the mosaics (final once its group is measured)."""
        index -= self.first
        return 0 <= index < len(self._mosaic) and self._mosaic[index] > 0

    def passed(self, index: int, kind: str) -> None:
        """Record ``index`` (or a part of it) was written as passthrough rows, as ``kind``."""
        index -= self.first
        self._grow(index)
        self._passed[index] = PASSED_KINDS.index(kind) + 1

    def settle(
        self, read: int, rejects: Iterable[Reject], mosaic_records: int, mosaic_uses: int, rows: int
    ) -> Accounting:
        """The outcome of each of the ``read`` records (see the module's docstring), from every
        reject of the run; ``mosaic_records`` exchanges were used ``mosaic_uses`` times in all,
        and ``rows`` passthrough rows written."""
        mosaicked = len(self._mosaic) - self._mosaic.count(0)
        passed = Counter(PASSED_KINDS[c - 1] for i, c in enumerate(self._passed) if c and not self._mosaic[i])
        first: dict[int, Reject] = {}
        parts: Counter[str] = Counter()
        for reject in rejects:
            i = reject.index
            at = i - self.first
            if self.mosaicked(i) or (0 <= at < len(self._passed) and self._passed[at]):
                parts[reject.reason] += 1
            elif i not in first or (reject.turn or 0) < (first[i].turn or 0):
                first[i] = reject
        by_reason = Counter(r.reason for r in first.values())
        return Accounting.of(
            read, mosaicked, len(first), by_reason, passed, parts, mosaic_records, mosaic_uses, rows
        )


def summed(parts: Iterable[Accounting], mosaic_records: int, mosaic_uses: int, rows: int) -> Accounting:
    """The accounting of a whole input from that of its parts (its files, each settled alone:
    a record is read in one file only), with the run's mosaic records, their uses and the
    passthrough rows written."""
    read = mosaicked = rejected = 0
    by_reason: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    in_parts: Counter[str] = Counter()
    for part in parts:
        read, mosaicked = read + part.read, mosaicked + part.mosaicked
        rejected += part.rejected
        by_reason.update(part.rejected_by_reason)
        by_kind.update(part.passed_by_kind)
        in_parts.update(part.parts_rejected)
    return Accounting.of(
        read, mosaicked, rejected, by_reason, by_kind, in_parts, mosaic_records, mosaic_uses, rows
    )
