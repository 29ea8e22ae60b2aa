"""Percentiles of token counts kept as a histogram (count -> how many samples)."""

from __future__ import annotations

from collections import Counter
from typing import Any

PERCENTILES = (50, 90, 99)


def percentile(counts: Counter[int], q: float) -> int:
    """The nearest-rank ``q``-th percentile of the values counted in ``counts`` (0 when empty)."""
    total = sum(counts.values())
    if not total:
        return 0
    rank = max(1, -(-total * q // 100))  # ceil(total * q / 100), at least the first value
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)  # pragma: no cover - rank <= total


def token_stats(counts: Counter[int], max_length: int) -> dict[str, Any]:
    """``p50``/``p90``/``p99`` of the token counts, and the budget fill (tokens / max_length)
    as its mean and the same percentiles."""
    total = sum(counts.values())
    tokens = sum(value * n for value, n in counts.items())
    marks = {f"p{q}": percentile(counts, q) for q in PERCENTILES}
    fill = {"mean": round(tokens / total / max_length, 3) if total else 0}
    fill.update({k: round(v / max_length, 3) for k, v in marks.items()})
    return {**marks, "fill": fill}
