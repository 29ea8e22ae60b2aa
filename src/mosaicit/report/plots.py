"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes.

Figures are drawn for one run or two (overlaid histograms, grouped bars), on white with neutral
text: the page inverts them in dark mode. PNG output carries no version or date, so the same run
gives the same bytes.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mosaicit.extras import require
from mosaicit.report.cost import SCHEME_NAMES, SCHEMES, Cost
from mosaicit.report.runs import RunData

#: One colour per run, and a grey for the plain records.
RUN_COLOURS = ("#2f6db5", "#d9731f")
PLAIN_COLOURS = ("#8f98a3", "#c4975a")
BUDGET_COLOUR = "#c0392b"
TEXT = "#222222"
GRID = "#dddddd"
WIDTH_IN, DPI = 7.5, 120
#: Most categories drawn in a mix; the rest are summed into "other".
TOP = 12


def require_matplotlib() -> Any:
    """The matplotlib module set up for files (Agg), or a one-line hint naming the extra."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg", force=True)
    return matplotlib


def style() -> Any:
    """A context in which the figures are drawn, with the report's fonts and colours."""
    matplotlib = require_matplotlib()
    return matplotlib.rc_context(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9.5,
            "text.color": TEXT,
            "axes.labelcolor": TEXT,
            "axes.edgecolor": "#888888",
            "xtick.color": TEXT,
            "ytick.color": TEXT,
            "svg.hashsalt": "mosaicit",
        }
    )


def _figure(height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, facecolor="white", layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def to_png(fig: Any) -> bytes:
    """The figure as PNG bytes, without the software/date metadata (deterministic)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def run_labels(runs: Sequence[RunData]) -> list[str]:
    """How the figures name each run: its output file, prefixed A/B when there are two."""
    if len(runs) == 1:
        return [runs[0].output.name]
    return [f"{'AB'[i]}: {run.output.name}" for i, run in enumerate(runs)]


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=TEXT, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def top_categories(counters: Sequence[Counter[str]], top: int = TOP) -> list[str]:
    """The ``top`` categories by count over all runs (ties by name), plus ``other (k kinds)``."""
    total: Counter[str] = Counter()
    for c in counters:
        total.update(c)
    ranked = sorted(total, key=lambda k: (-total[k], k))
    return ranked if len(ranked) <= top + 1 else ranked[:top]


def _values(counter: Counter[str] | dict[str, int], cats: Sequence[str]) -> list[int]:
    return [int(counter.get(c, 0)) for c in cats]


def _thousands(v: float, _: Any) -> str:
    return f"{v:,.0f}"


def bars(
    cats: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    xlabel: str,
    empty: str = "none in this run",
    horizontal: bool = True,
) -> Any:
    """Grouped bars: one group per category, one bar per (label, values, colour) series."""
    from matplotlib.ticker import MaxNLocator

    n = max(len(cats), 1)
    height = 1.3 + 0.26 * n * (1 + 0.6 * (len(series) - 1)) if horizontal else 3.2
    fig, ax = _figure(min(height, 9.0))
    if not cats:
        _empty(ax, empty)
        return fig
    width = 0.8 / len(series)
    for j, (label, values, colour) in enumerate(series):
        pos = [i - 0.4 + width * (j + 0.5) for i in range(len(cats))]
        draw = ax.barh if horizontal else ax.bar
        container = draw(pos, values, width * 0.92, label=label, color=colour)
        ax.bar_label(container, labels=[f"{v:,.0f}" for v in values], padding=2, fontsize=8, color=TEXT)
    ticks = list(range(len(cats)))
    if horizontal:
        ax.set_yticks(ticks, labels=list(cats))
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(_thousands)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.margins(x=0.12)
    else:
        ax.set_xticks(ticks, labels=list(cats))
        ax.set_ylabel(xlabel)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.margins(y=0.12)
    ax.set_axisbelow(True)
    if len(series) > 1:
        ax.legend(frameon=False, loc="best")
    return fig


def mix(
    counters: Sequence[Counter[str] | dict[str, int]], labels: Sequence[str], xlabel: str, top: int = TOP
) -> Any:
    """Bars of a categorical mix for each run (the ``top`` categories, the rest as ``other``)."""
    counts = [Counter(dict(c)) for c in counters]
    cats = top_categories(counts, top)
    shown = list(cats)
    series = []
    for i, c in enumerate(counts):
        values = _values(c, cats)
        rest = sum(c.values()) - sum(values)
        series.append((labels[i], values, RUN_COLOURS[i], rest))
    if any(s[3] for s in series):
        kinds = len({k for c in counts for k in c} - set(cats))
        shown.append(f"other ({kinds} kinds)")
        return bars(shown, [(label, [*v, rest], col) for label, v, col, rest in series], xlabel)
    return bars(shown, [(label, v, col) for label, v, col, _ in series], xlabel)


def tokens_histogram(runs: Sequence[RunData]) -> Any:
    """Tokens per output row, with the budget line; runs overlaid."""
    fig, ax = _figure(3.4)
    budget = max(run.max_length for run in runs)
    top = max([budget, *(max(run.row_lengths(), default=0) for run in runs)])
    edges = [top * i / 40 for i in range(41)]
    labels = run_labels(runs)
    for i, run in enumerate(runs):
        lengths = run.row_lengths()
        values, weights = sorted(lengths), [lengths[v] for v in sorted(lengths)]
        kind = "bar" if len(runs) == 1 else "stepfilled"
        alpha = 1.0 if len(runs) == 1 else 0.35
        ax.hist(
            values,
            bins=edges,
            weights=weights,
            color=RUN_COLOURS[i],
            alpha=alpha,
            histtype=kind,
            label=labels[i],
        )
        if len(runs) > 1:
            ax.hist(values, bins=edges, weights=weights, color=RUN_COLOURS[i], histtype="step", linewidth=1.4)
    for run in runs[: 1 if len({r.max_length for r in runs}) == 1 else 2]:
        ax.axvline(run.max_length, color=BUDGET_COLOUR, linestyle="--", linewidth=1.3)
        ax.annotate(
            f"budget {run.max_length:,}", (run.max_length, 1), xycoords=("data", "axes fraction"),
            xytext=(-4, -2), textcoords="offset points", ha="right", va="top", color=BUDGET_COLOUR,
        )  # fmt: skip
    ax.set_xlabel("tokens per sample")
    ax.set_ylabel("samples")
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    if len(runs) > 1:
        ax.legend(frameon=False, loc="upper left")
    return fig


def records_per_sample(runs: Sequence[RunData]) -> Any:
    """Mosaics by the number of records they hold."""
    sizes = [{int(k): v for k, v in run.summary["records_per_sample"].items()} for run in runs]
    cats = sorted({k for s in sizes for k in s})
    labels = run_labels(runs)
    series = [(labels[i], [s.get(k, 0) for k in cats], RUN_COLOURS[i]) for i, s in enumerate(sizes)]
    fig = bars([str(k) for k in cats], series, "mosaics", horizontal=False)
    fig.axes[0].set_xlabel("records per mosaic")
    return fig


def kinds(runs: Sequence[RunData]) -> Any:
    """Output rows that are mosaics or passthrough, and the input records rejected."""
    cats = ["mosaics", "passthrough rows", "records rejected"]
    labels = run_labels(runs)
    series = []
    for i, run in enumerate(runs):
        s = run.summary
        mosaics = s.get("mosaics_written", s["samples_written"])
        passthrough = s.get("passthrough", {}).get("written", 0)
        series.append((labels[i], [mosaics, passthrough, s["records_rejected"]], RUN_COLOURS[i]))
    return bars(cats, series, "count")


def rejects(runs: Sequence[RunData]) -> Any:
    """Rejected input records by reason."""
    return mix([run.summary.get("rejected_by_reason", {}) for run in runs], run_labels(runs), "records")


def cost(runs: Sequence[RunData], costs: Sequence[tuple[Cost | None, Cost]]) -> Any:
    """Tokens processed per batching scheme: plain records beside the mosaics, per run."""
    cats = [SCHEME_NAMES[s] for s in SCHEMES]
    labels = run_labels(runs)
    series = []
    for i, (plain, mosaics) in enumerate(costs):
        tag = f" ({labels[i]})" if len(runs) > 1 else ""
        if plain is not None:
            series.append((f"plain records{tag}", [plain.padded(s) for s in SCHEMES], PLAIN_COLOURS[i]))
        series.append((f"mosaics{tag}", [mosaics.padded(s) for s in SCHEMES], RUN_COLOURS[i]))
    fig = bars(cats, series, "tokens processed (padding included)")
    fig.axes[0].legend(frameon=False, loc="lower right")
    return fig
