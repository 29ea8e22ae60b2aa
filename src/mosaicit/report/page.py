"""The report page: one self-contained HTML file (inline CSS, figures as base64 PNG, no scripts)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from mosaicit import __version__
from mosaicit.report.cost import SCHEME_NAMES, SCHEMES, Cost, saving
from mosaicit.report.runs import RunData

#: Summary keys left out of the differences table (they have their own figures, or say nothing
#: about the samples).
NOT_COMPARED = (
    "plain_tokens",
    "records_per_sample",
    "strategies",
    "rules",
    "rejected_by_reason",
    "kinds",
    "cache",
)

CSS = """
:root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--fg:#1c1d21;--muted:#5b616b;--line:#e1e3e7;
--accent:#2f6db5}
@media (prefers-color-scheme:dark){:root{--bg:#0a0a0b;--card:#141414;--fg:#e6e7ea;--muted:#a3a9b3;
--line:#2b2e34;--accent:#86b4ee}img.plot{filter:invert(.92) hue-rotate(180deg)}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:980px;margin:0 auto;padding:20px 16px 40px}
h1{font-size:1.6rem;margin:.2rem 0}
h2{font-size:1.2rem;margin:0 0 .4rem}h3{font-size:1rem;margin:.8rem 0 .3rem}
.sub,.note,footer{color:var(--muted)}.note{font-size:.9rem}
nav{display:flex;flex-wrap:wrap;gap:.3rem .9rem;font-size:.9rem;margin:.6rem 0}
a{color:var(--accent)}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:14px 18px;margin:14px 0}
img.plot{display:block;width:100%;max-width:900px;height:auto;margin:6px auto}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.n,td:first-child{white-space:nowrap}
.rejects td:first-child{white-space:nowrap}.rejects td:last-child{overflow-wrap:anywhere;min-width:12em}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,400px),1fr));gap:14px}
code{font-size:.85em}
"""


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its file stem, section title, PNG bytes, a caption (plain text), and the
    boxes of its texts in PNG pixels (:func:`mosaicit.report.plots.text_boxes`)."""

    slug: str
    title: str
    png: bytes
    caption: str
    boxes: Sequence[tuple[float, float, float, float]] = ()


def _n(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{round(value):,}" if isinstance(value, float) else f"{value:,}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _table(
    head: Sequence[str], rows: Iterator[Sequence[str]] | list[list[str]], numeric_from: int = 1
) -> str:
    """A table of escaped cells; columns from ``numeric_from`` are right-aligned."""
    cls = [' class="n"' if i >= numeric_from else "" for i in range(len(head))]
    out = ["<div class=scroll><table><thead><tr>"]
    out += [f"<th{cls[i]}>{escape(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls[i]}>{escape(c)}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _fill(run: RunData) -> float:
    lengths = run.row_lengths()
    rows = sum(lengths.values())
    return sum(k * v for k, v in lengths.items()) / (rows * run.max_length) if rows else 0.0


def facts(run: RunData) -> list[tuple[str, str]]:
    """The run's settings and headline counts, as (label, value) rows."""
    s = run.summary
    o, b, t = s.get("options", {}), s.get("budget", {}), s["tokens"]
    mix = o.get("weights") or {}
    return [
        ("input", str(s.get("input", ""))),
        ("output", str(s.get("output", run.output))),
        ("tokenizer", str(b.get("tokenizer", ""))),
        ("template", str(b.get("template", ""))),
        ("budget (--max-length)", _n(t["max_length"])),
        ("epochs, seed", f"{s['epochs']}, {o.get('seed')}"),
        ("wrap mode, max per mosaic", f"{o.get('wrap_mode')}, {o.get('max_num')}"),
        ("strategy mix", ", ".join(f"{k}={v:g}" for k, v in mix.items()) or str(o.get("version"))),
        _outcomes(s),
        ("uses: mosaicked records x epochs, passthrough rows x 1", _uses(s)),
        ("samples written", _n(s["samples_written"])),
        ("mean records per mosaic", str(s["mean_records_per_sample"])),
        ("tokens per mosaic: mean, max", f"{t['mean']:,}, {t['max']:,}"),
        ("mean fill of the budget (all rows)", _pct(_fill(run))),
    ]


def _outcomes(s: dict[str, Any]) -> tuple[str, str]:
    """Records read, mosaicked, passed through and rejected (read as used for older summaries)."""
    a = s.get("accounting")
    if a is None:
        return (
            "records read / used / rejected",
            f"{s['records_read']:,} / {s['records_used']:,} / {s['records_rejected']:,}",
        )
    counts = (a["read"], a["mosaicked"], a["passed_through"], a["rejected"])
    return "records read / mosaicked / passed through / rejected", " / ".join(f"{n:,}" for n in counts)


def _uses(s: dict[str, Any]) -> str:
    a = s.get("accounting")
    if a is None:
        return f"{s['records_used']:,} x {s['epochs']}"
    mosaicked = f"{a['mosaic_records']:,} x {s['epochs']} = {a['mosaic_record_uses']:,}"
    return f"{mosaicked}; {a['passthrough_rows']:,} x 1"


def _facts_table(runs: Sequence[RunData], labels: Sequence[str]) -> str:
    per_run = [facts(run) for run in runs]
    rows = [[label, *(f[i][1] for f in per_run)] for i, (label, _) in enumerate(per_run[0])]
    return _table(["", *labels], rows, numeric_from=99)


def _img(fig: Figure) -> str:
    """The figure's ``img``; ``data-text-boxes`` lists where its texts are, in PNG pixels
    (``x0 y0 x1 y1`` separated by ``;``), for checks of the page's layout."""
    data = base64.b64encode(fig.png).decode("ascii")
    boxes = ";".join(" ".join(f"{v:.1f}" for v in box) for box in fig.boxes)
    return (
        f'<img class=plot alt="{escape(fig.title)}" data-text-boxes="{boxes}" '
        f'src="data:image/png;base64,{data}">'
    )


def cost_head(batch_size: int) -> list[str]:
    """The head of the cost table."""
    return [
        "",
        "samples",
        "tokens",
        "pad to max length",
        f"pad to longest (batch {batch_size})",
        "packed rows",
        "packing",
    ]


def cost_rows(plain: Cost | None, mosaics: Cost, prefix: str = "") -> list[list[str]]:
    """Rows of the cost table for one run: plain records, mosaics and the saving."""

    def row(name: str, c: Cost) -> list[str]:
        return [
            prefix + name,
            _n(c.samples),
            _n(c.tokens),
            _n(c.pad_max),
            _n(c.pad_longest),
            _n(c.packed_rows),
            _n(c.packing),
        ]

    if plain is None:
        return [row("mosaics", mosaics)]
    ratio = [
        saving(plain.samples, mosaics.samples),
        saving(plain.tokens, mosaics.tokens),
        *(saving(plain.padded(s), mosaics.padded(s)) for s in SCHEMES[:2]),
        saving(plain.packed_rows, mosaics.packed_rows),
        saving(plain.packing, mosaics.packing),
    ]
    return [row("plain records", plain), row("mosaics", mosaics), [prefix + "saving", *map(_pct, ratio)]]


def _cost_table(
    runs: Sequence[RunData], labels: Sequence[str], costs: Sequence[tuple[Cost | None, Cost]], batch_size: int
) -> str:
    head = cost_head(batch_size)
    rows = []
    for i, (plain, mosaics) in enumerate(costs):
        rows += cost_rows(plain, mosaics, f"{labels[i].split(':')[0]}: " if len(runs) > 1 else "")
    note = ""
    if any(plain is None for plain, _ in costs):
        note = "<p class=note>No plain-record cost: the summary has no <code>plain_tokens</code>.</p>"
    return _table(head, rows) + note


def _examples(run: RunData) -> str:
    if not run.rejects_found:
        return "<p class=note>No rejects file beside the output.</p>"
    if not run.reject_examples:
        return "<p class=note>No record was rejected.</p>"
    rows = [
        [reason, str(ex["index"]), str(ex["detail"]), str(ex["excerpt"])]
        for reason, shown in sorted(run.reject_examples.items())
        for ex in shown
    ]
    note = ""
    if any(ex.get("read_back") for shown in run.reject_examples.values() for ex in shown):
        note = (
            "<p class=note>The rejects file holds no records (augment keeps them with "
            "<code>--rejects-full</code>): they were read back from the input by file and row, "
            "as the input is now.</p>"
        )
    return (
        "<div class=rejects>"
        + _table(["reason", "input index", "detail", "record"], rows, numeric_from=99)
        + note
        + "</div>"
    )


def _per_run(runs: Sequence[RunData], labels: Sequence[str], body: Any) -> str:
    if len(runs) == 1:
        return body(0)
    return (
        "<div class=cols>"
        + "".join(f"<div><h3>{escape(labels[i])}</h3>{body(i)}</div>" for i in range(len(runs)))
        + "</div>"
    )


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested summary as ``{"a.b": leaf}``."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: value}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The summary fields (dotted keys) whose values differ between two runs."""
    keep = {k: v for k, v in a.items() if k not in NOT_COMPARED}
    other = {k: v for k, v in b.items() if k not in NOT_COMPARED}
    fa, fb = flatten(keep), flatten(other)
    keys = list(fa) + [k for k in fb if k not in fa]
    return [(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def _diff_section(runs: Sequence[RunData], costs: Sequence[tuple[Cost | None, Cost]]) -> str:
    a, b = runs

    def figures(i: int) -> list[float | None]:
        run, (plain, mosaics) = runs[i], costs[i]
        s = run.summary
        sav = [saving(plain.padded(x), mosaics.padded(x)) if plain else None for x in SCHEMES]
        return [
            s["samples_written"],
            s["mean_records_per_sample"],
            s["tokens"]["mean"],
            _fill(run),
            s["records_rejected"],
            *sav,
        ]

    names = [
        "samples written",
        "mean records per mosaic",
        "mean tokens per mosaic",
        "mean fill of the budget",
        "records rejected",
    ]
    names += [f"saving, {SCHEME_NAMES[x]}" for x in SCHEMES]
    fa, fb = figures(0), figures(1)
    pct = {3, 5, 6, 7}
    rows = []
    for i, name in enumerate(names):
        va, vb = fa[i], fb[i]
        show = _pct if i in pct else (lambda v: "—" if v is None else f"{v:,}")
        delta = (
            "—"
            if va is None or vb is None
            else (f"{(vb - va) * 100:+.1f} pts" if i in pct else f"{vb - va:+,.4g}")
        )
        rows.append([name, show(va), show(vb), delta])
    body = "<h3>Key figures</h3>" + _table(["", "A", "B", "B − A"], rows)
    diff = [[k, _short(va), _short(vb)] for k, va, vb in differences(a.summary, b.summary)]
    body += "<h3>Summary fields that differ</h3>"
    body += _table(["field", "A", "B"], diff, numeric_from=99) if diff else "<p class=note>None.</p>"
    return _section("differences", "Differences between the runs", body)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 120 else text[:119] + "…"


def _section(slug: str, title: str, body: str) -> str:
    return f'<section id="{slug}"><h2>{escape(title)}</h2>{body}</section>'


def render(
    runs: Sequence[RunData],
    labels: Sequence[str],
    figures: Sequence[Figure],
    costs: Sequence[tuple[Cost | None, Cost]],
    batch_size: int,
    figures_dir: str,
) -> str:
    """The whole page, for one run or two side by side."""
    title = "mosaicit report: " + " vs ".join(run.output.name for run in runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main class=wrap>",
        f"<h1>{escape(title)}</h1>",
        "<nav>" + "".join(f'<a href="#{f.slug}">{escape(f.title)}</a>' for f in figures)
        + ('<a href="#differences">Differences</a>' if len(runs) > 1 else "") + "</nav>",
        _section("run", "Runs" if len(runs) > 1 else "Run", _facts_table(runs, labels)),
    ]  # fmt: skip
    for fig in figures:
        body = _img(fig) + f"<p class=note>{escape(fig.caption)}</p>"
        if fig.slug == "rejects":
            body += "<h3>Examples</h3>" + _per_run(runs, labels, lambda i: _examples(runs[i]))
        if fig.slug == "cost":
            body += _cost_table(runs, labels, costs, batch_size)
        parts.append(_section(fig.slug, fig.title, body))
    if len(runs) > 1:
        parts.append(_diff_section(runs, costs))
    parts.append(
        f"<footer>Made by mosaicit {escape(__version__)} from the output, its summary and its rejects. "
        f"The figures are also saved as PNG files in <code>{escape(figures_dir)}</code>.</footer>"
    )
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
