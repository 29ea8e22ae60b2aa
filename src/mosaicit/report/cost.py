"""What a set of samples costs to train under the three ways trainers batch them.

Lengths are token counts as the budget counts them, kept as ``Counter({tokens: samples})``.
- pad to max length: every sample is padded to ``max_length``;
- pad to the longest in the batch: every sample is padded to the longest of its batch of
  ``batch_size``, batches drawn at random (the exact expectation over shuffles);
- packing: all samples are concatenated and cut into rows of ``max_length`` (the last row padded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

SCHEMES = ("pad_max", "pad_longest", "packing")
SCHEME_NAMES = {
    "pad_max": "pad to max length",
    "pad_longest": "pad to longest in batch",
    "packing": "packing",
}


@dataclass(frozen=True)
class Cost:
    """Samples, real tokens, and the tokens a trainer processes (padding included) per scheme."""

    samples: int
    tokens: int
    pad_max: int
    pad_longest: float
    packed_rows: int
    packing: int

    def padded(self, scheme: str) -> float:
        """The tokens processed under ``scheme`` (one of :data:`SCHEMES`)."""
        return float(getattr(self, scheme))


def expected_batch_max(lengths: Counter[int], size: int) -> float:
    """The expected longest length in a batch of ``size`` drawn without replacement from ``lengths``."""
    n = sum(lengths.values())
    if size <= 0 or n == 0:
        return 0.0
    size = min(size, n)

    def none_above(m: int) -> float:  # P(all `size` picks come from the m shortest): C(m,size)/C(n,size)
        p = 1.0
        for i in range(size):
            p *= max(m - i, 0) / (n - i)
        return p

    expected, below, before = 0.0, 0, 0.0
    for value in sorted(lengths):
        below += lengths[value]
        at_most = none_above(below)
        expected += value * (at_most - before)
        before = at_most
    return expected


def pad_longest(lengths: Counter[int], batch_size: int) -> float:
    """Expected tokens processed when each random batch is padded to its longest sample."""
    n = sum(lengths.values())
    full, rest = divmod(n, batch_size)
    total = full * batch_size * expected_batch_max(lengths, batch_size)
    return total + (rest * expected_batch_max(lengths, rest) if rest else 0.0)


def cost_of(lengths: Counter[int], max_length: int, batch_size: int) -> Cost:
    """The :class:`Cost` of samples with these ``lengths``."""
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    samples = sum(lengths.values())
    tokens = sum(k * v for k, v in lengths.items())
    rows = -(-tokens // max_length)
    return Cost(
        samples, tokens, samples * max_length, pad_longest(lengths, batch_size), rows, rows * max_length
    )


def saving(plain: float, mosaics: float) -> float | None:
    """The share of ``plain`` that ``mosaics`` saves (negative when it costs more); None without plain."""
    return 1 - mosaics / plain if plain else None
