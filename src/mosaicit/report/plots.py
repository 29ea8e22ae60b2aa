"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes.

Figures are drawn for one run or two (overlaid histograms, grouped bars), on white with neutral
text: the page inverts them in dark mode. PNG output carries no version or date, so the same run
gives the same bytes. Every text is drawn as written (no mathtext: a ``$`` is a dollar sign), and
no two texts of a figure overlap (:func:`untangle` thins the value axis until they do not;
:func:`text_boxes` lists them, for the page and its checks).
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
#: Most categories drawn in a mix before its long tail is summed into "other" (every rule of
#: the packaged strategies fits).
TOP = 16
#: Characters of a category name drawn; a longer one is cut with an ellipsis.
LABEL_CHARS = 40


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
            "text.parse_math": False,  # names from tables, files and records are not TeX
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
    untangle(fig)
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
    """The categories drawn by name, by count over all runs (ties by name): at least the ``top``
    first, and more while the rest would sum to more than the first, so that the ``other`` bar
    of the long tail is never the largest; a tail of one is named."""
    total: Counter[str] = Counter()
    for c in counters:
        total.update(c)
    ranked = sorted(total, key=lambda k: (-total[k], k))
    shown, rest = min(top, len(ranked)), sum(total[k] for k in ranked[top:])
    while shown < len(ranked) and (rest > total[ranked[0]] or shown == len(ranked) - 1):
        rest -= total[ranked[shown]]
        shown += 1
    return ranked[:shown]


def _values(counter: Counter[str] | dict[str, int], cats: Sequence[str]) -> list[int]:
    return [int(counter.get(c, 0)) for c in cats]


def compact(value: float, scale: float | None = None, step: float | None = None) -> str:
    """A count as a short label: ``950``, ``12,500``, ``45.76M``, ``3B``. ``scale`` picks the unit
    (default: the value itself), ``step`` the decimals (a tick spacing: neighbouring ticks differ)."""
    size = abs(value if scale is None else scale)
    unit, name = next(((u, n) for u, n in ((1e9, "B"), (1e6, "M")) if size >= u), (1.0, ""))
    if not name or not value:
        return f"{value:,.0f}"
    digits = 2
    if step:
        digits = next((d for d in range(3) if abs(round(step / unit, d) - step / unit) < 1e-9), 3)
    text = f"{value / unit:,.{digits}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + name


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


#: A text of a figure and its box in PNG pixels from the top left: (x0, y0, x1, y1).
TextBox = tuple[str, tuple[float, float, float, float]]


def text_boxes(fig: Any) -> list[TextBox]:
    """Every visible, non-empty text of a drawn figure and its box, in PNG pixels from the top
    left (x0, y0, x1, y1)."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    height = fig.bbox.height
    undrawn = {  # the labels of ticks outside the view, which are not drawn
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in axis.get_major_ticks()
        if not _inside(ax, axis, tick.get_loc())
        for label in (tick.label1, tick.label2)
    }
    out = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in undrawn:
            continue
        box = text.get_window_extent(renderer)
        out.append((text.get_text(), (box.x0, height - box.y1, box.x1, height - box.y0)))
    return out


def overlaps(boxes: Sequence[TextBox], slack: float = 0.5) -> list[tuple[str, str]]:
    """The pairs of texts whose boxes overlap by more than ``slack`` pixels each way."""
    found = []
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for b, (bx0, by0, bx1, by1) in boxes[i + 1 :]:
            if min(ax1, bx1) - max(ax0, bx0) > slack and min(ay1, by1) - max(ay0, by0) > slack:
                found.append((a, b))
    return found


def untangle(fig: Any, tries: int = 8) -> None:
    """Thin the value axis of each plot until no two texts of the figure overlap (long tick
    labels at a narrow width)."""
    from matplotlib.ticker import MaxNLocator

    fig.canvas.draw()
    for _ in range(tries):
        if not overlaps(text_boxes(fig)):
            return
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                locator = axis.get_major_locator()
                if isinstance(locator, MaxNLocator):
                    ticks = [t for t in axis.get_majorticklocs() if _inside(ax, axis, t)]
                    locator.set_params(nbins=max(2, len(ticks) - 2))
        fig.canvas.draw()


def _inside(ax: Any, axis: Any, value: float) -> bool:
    low, high = sorted(ax.get_xlim() if axis is ax.xaxis else ax.get_ylim())
    return low <= value <= high


def _value_axis(axis: Any) -> None:
    """Integer ticks with compact labels (:func:`compact`) on a value axis."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))

    def label(value: float, _: Any) -> str:
        ticks = axis.get_majorticklocs()
        step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else None
        return compact(value, max(map(abs, axis.get_view_interval())), step)

    axis.set_major_formatter(FuncFormatter(label))


def bars(
    cats: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    xlabel: str,
    empty: str = "none in this run",
    horizontal: bool = True,
) -> Any:
    """Grouped bars: one group per category, one bar per (label, values, colour) series; several
    series get a legend above the plot, where it covers no bar and no label."""
    n = max(len(cats), 1)  # the figure grows with the bars: their labels never run into each other
    fig, ax = _figure(1.3 + 0.26 * n * (1 + 0.6 * (len(series) - 1)) if horizontal else 3.2)
    if not cats:
        _empty(ax, empty)
        return fig
    width = 0.8 / len(series)
    for j, (label, values, colour) in enumerate(series):
        pos = [i - 0.4 + width * (j + 0.5) for i in range(len(cats))]
        draw = ax.barh if horizontal else ax.bar
        container = draw(pos, values, width * 0.92, label=label, color=colour)
        ax.bar_label(container, labels=[compact(v) for v in values], padding=2, fontsize=8, color=TEXT)
    ticks, names = list(range(len(cats))), [_short(c) for c in cats]
    if horizontal:
        ax.set_yticks(ticks, labels=names)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        _value_axis(ax.xaxis)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.margins(x=0.12)
    else:
        ax.set_xticks(ticks, labels=names)
        ax.set_ylabel(xlabel)
        _value_axis(ax.yaxis)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.margins(y=0.12)
    ax.set_axisbelow(True)
    if len(series) > 1:
        fig.legend(frameon=False, loc="outside upper center", ncols=min(len(series), 2))
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
    """Input records by outcome: mosaicked, passed through or rejected (they add up to those read)."""
    cats = ["records mosaicked", "records passed through", "records rejected"]
    labels = run_labels(runs)
    series = []
    for i, run in enumerate(runs):
        s = run.summary
        a = s.get("accounting") or {  # a summary written before the accounting was
            "mosaicked": s["records_used"],
            "passed_through": s.get("passthrough", {}).get("written", 0),
            "rejected": s["records_rejected"],
        }
        series.append((labels[i], [a["mosaicked"], a["passed_through"], a["rejected"]], RUN_COLOURS[i]))
    return bars(cats, series, "records")


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
    return bars(cats, series, "tokens processed (padding included)")
