"""Write the report of one run, or of two side by side: the HTML page and a PNG per figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mosaicit.errors import MosaicitError
from mosaicit.io.atomic import atomic_open
from mosaicit.io.paths import check_distinct
from mosaicit.report import plots
from mosaicit.report.cost import Cost, cost_of
from mosaicit.report.page import Figure, render
from mosaicit.report.runs import RunData, load_run
from mosaicit.run.spec import side_paths

#: Samples per batch assumed for "pad to the longest in the batch".
DEFAULT_BATCH_SIZE = 8


def default_report_path(outputs: Sequence[str | Path]) -> Path:
    """``OUTPUT.report.html`` beside the output; ``A.vs.B.report.html`` beside A for two runs."""
    first = Path(outputs[0])
    name = first.name if len(outputs) == 1 else f"{first.name}.vs.{Path(outputs[1]).name}"
    return first.with_name(name + ".report.html")


def figures_dir(html_path: Path) -> Path:
    """Where the PNG copies of the figures go: the page's path without ``.html``."""
    return html_path.with_name(
        html_path.name[: -len(".html")] if html_path.name.endswith(".html") else html_path.name + ".d"
    )


def run_costs(run: RunData, batch_size: int) -> tuple[Cost | None, Cost]:
    """The cost of the run's data as plain records (None if unknown) and as written."""
    plain = run.plain_lengths()
    budget = run.max_length
    return (cost_of(plain, budget, batch_size) if plain is not None else None), cost_of(
        run.row_lengths(), budget, batch_size
    )


def draw(runs: Sequence[RunData], costs: Sequence[tuple[Cost | None, Cost]], batch_size: int) -> list[Figure]:
    """Every figure of the report, as PNG."""
    labels = plots.run_labels(runs)
    summaries = [run.summary for run in runs]
    plain = "the same records unmosaicked (each used record once per epoch, plus the passthrough rows)"
    mix = plots.mix
    specs = [
        ("tokens", "Tokens per sample", lambda: plots.tokens_histogram(runs),
         "Every output row's token count as the budget counts it (template included); the dashed line "
         "is the budget. The fuller the samples, the less a trainer pads."),
        ("records", "Records per sample", lambda: plots.records_per_sample(runs),
         "How many input records each mosaic holds."),
        ("strategies", "Strategy mix", lambda: mix([s["strategies"] for s in summaries], labels, "mosaics"),
         "The auxiliary strategy of each mosaic (format, permute, maskout, primary)."),
        ("rules", "Rule mix", lambda: mix([s["rules"] for s in summaries], labels, "mosaics"),
         "The answer-order (permute) and skip (maskout) rules used."),
        ("numbering", "Numbering mix", lambda: mix([r.numbering for r in runs], labels, "mosaics", top=20),
         "How the instructions and answers are numbered: the label style, as the first label looks."),
        ("tags", "Tag mix", lambda: mix([r.tags for r in runs], labels, "mosaics"),
         "The word pairs of the tags that enclose each answer (begin … end, bracket styles merged)."),
        ("kinds", "Passthrough and mosaics", lambda: plots.kinds(runs),
         "Every input record in one outcome: mosaicked (used once per epoch), passed through "
         "(multi-turn, system-prompt and --over-budget policies; each row used once) or rejected. "
         "The three add up to the records read."),
        ("rejects", "Rejects by reason", lambda: plots.rejects(runs),
         "Input records that no sample holds, by reason; the rejects file lists every one."),
        ("cost", "Training cost", lambda: plots.cost(runs, costs),
         f"Tokens a trainer processes, padding included, for {plain} and for the mosaics: padding every "
         f"sample to the budget, padding each batch of {batch_size} to its longest sample (the expectation "
         "over random batches), and packing samples into rows of the budget. Counts are the budget's "
         "(no special tokens beyond the template). Saving = 1 − mosaics / plain."),
    ]  # fmt: skip
    out = []
    with plots.style():
        for slug, title, make, caption in specs:
            fig = make()
            png = plots.to_png(fig)
            out.append(Figure(slug, title, png, caption, [box for _, box in plots.text_boxes(fig)]))
    return out


def write_report(
    outputs: Sequence[str | Path],
    html_path: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    summary_paths: Sequence[str | Path | None] | None = None,
    rejects_paths: Sequence[str | Path | None] | None = None,
) -> Path:
    """Write the report of one or two runs (their outputs); returns the page's path.

    Side files default to the ones beside each output. Same runs, same bytes.
    """
    if not 1 <= len(outputs) <= 2:
        raise MosaicitError("report takes one run output, or two to compare")
    if batch_size < 1:
        raise MosaicitError(f"--batch-size must be at least 1, got {batch_size}")
    plots.require_matplotlib()
    summaries = list(summary_paths or [None] * len(outputs))
    rejects = list(rejects_paths or [None] * len(outputs))
    page = Path(html_path) if html_path else default_report_path(outputs)
    read: dict[str, list[str | Path]] = {"RUN_OUTPUT": [], "a run's summary": [], "a run's rejects": []}
    for i, output in enumerate(outputs):
        beside = side_paths(output)
        read["RUN_OUTPUT"].append(output)
        read["a run's summary"].append(summaries[i] or beside[0])
        read["a run's rejects"].append(rejects[i] or beside[1])
    check_distinct(read, {"--output": page})
    runs = [load_run(o, summaries[i], rejects[i]) for i, o in enumerate(outputs)]
    read["INPUT"] = [  # the inputs that rejected records were read back from
        ex["file"]
        for run in runs
        for shown in run.reject_examples.values()
        for ex in shown
        if ex.get("read_back")
    ]
    check_distinct(read, {"--output": page})
    costs = [run_costs(run, batch_size) for run in runs]
    figures = draw(runs, costs, batch_size)
    folder = figures_dir(page)
    folder.mkdir(parents=True, exist_ok=True)
    for fig in figures:
        with atomic_open(folder / f"{fig.slug}.png", "wb") as out:
            out.write(fig.png)
    html = render(runs, plots.run_labels(runs), figures, costs, batch_size, folder.name + "/")
    with atomic_open(page) as out:
        out.write(html)
    return page
