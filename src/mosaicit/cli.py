"""The ``mosaicit`` command: a thin layer over the Python API."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from typing import Any

import click

from mosaicit import __version__
from mosaicit.cliconfig import config_option, recorded
from mosaicit.clihelp import Group, user_errors
from mosaicit.clioptions import (
    executor_options,
    mosaic_options,
    picked,
    read_options,
    routing_options,
    template_options,
    values,
    write_options,
)
from mosaicit.errors import MosaicitError, ParamError
from mosaicit.run.summary import RunSummary

output_option = click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Output file: .jsonl (one row per line), .json (an array) or .parquet; .jsonl and .json "
    "may end in .gz or .zst (compressed); - writes JSONL to stdout.",
)
augment_output_option = click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(allow_dash=True),
    default=None,
    help="Output file: .jsonl (one row per line), .json (an array) or .parquet; .jsonl and .json "
    "may end in .gz or .zst (compressed); - writes JSONL to stdout. With --output-parts: a folder. "
    "Needed unless --dry-run.",
)
input_argument = click.argument("input_path", metavar="INPUT...", nargs=-1, required=True)


class Commands(Group):
    """mosaicit's commands; ``eval``, the slowest to import, is imported when it is asked for."""

    LAZY = {"eval": ("mosaicit.eval.cli", "eval_group")}
    group_class = Group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            module, attribute = self.LAZY[name]
            return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
        return super().get_command(ctx, name)


@click.group(cls=Commands)
@click.version_option(__version__, prog_name="mosaicit")
def main() -> None:
    """Mosaic instruction tuning: compose instruction/response records into budgeted training samples."""


@main.command()
@input_argument
@augment_output_option
@config_option
@mosaic_options
@template_options
@routing_options
@picked("over_budget")
@read_options
@write_options
@picked("summary", "rejects", "rejects_full")
@executor_options
@picked("cache_dir", "use_cache")
@click.option(
    "--report",
    "report_page",
    is_flag=True,
    help="Also write the HTML report (OUTPUT.report.html, see 'mosaicit report'); needs .[report].",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary on stderr.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write nothing: print what the run would mosaic, pass through and reject, and what its "
    "samples would cost to train (the report's cost table), on stdout. It takes as long as the run.",
)
@user_errors
def augment(
    input_path: tuple[str, ...], output: str | None, report_page: bool, quiet: bool, dry_run: bool, **kw: Any
) -> None:
    """Mosaic the records in INPUT... into OUTPUT.

    Each INPUT is a JSON array, JSONL or Parquet file (JSON and JSONL may be .gz or .zst), a glob,
    a folder of such files or one saved with datasets' save_to_disk, or - for stdin; several
    are read as one dataset. INPUT may also be an s3://, gs:// or hf:// file or folder (fetched
    by the Ray tasks with --executor ray, else by this process). Records may be Alpaca, ShareGPT,
    OpenAI messages or prompt/completion.
    """
    from mosaicit.run.augment import augment as run_augment
    from mosaicit.run.spec import RunSpec

    if output is None and not dry_run:
        raise click.UsageError("Missing option '-o' / '--output' (or give --dry-run).")
    if dry_run and report_page:
        raise click.UsageError("--report writes a file; leave it out with --dry-run")
    spec = RunSpec.of(list(input_path), output, **values(kw))
    if dry_run:
        click.echo(dry_run_report(spec, progress=not quiet))
        return
    assert output is not None
    if report_page:
        if output == "-" or kw["output_parts"] or "://" in output:
            raise click.UsageError(
                "--report needs a local output file, not - (stdout), a URI or --output-parts"
            )
        from mosaicit.report.plots import require_matplotlib

        require_matplotlib()  # before the run, not after it
    summary = run_augment(spec, progress=not quiet, recorded=recorded(click.get_current_context()))
    if not quiet:
        out = spec.outputs
        click.echo(format_summary(summary, out.summary_target, out.rejects_target), err=True)
    if report_page:
        from mosaicit.report.write import write_report

        page = write_report([output], summary_paths=[kw["summary"]], rejects_paths=[kw["rejects"]])
        if not quiet:
            click.echo(f"report: {page}", err=True)


@main.command()
@input_argument
@output_option
@config_option
@read_options
@write_options
@picked("rejects_full")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@user_errors
def convert(input_path: tuple[str, ...], output: str, quiet: bool, **kw: Any) -> None:
    """Rewrite INPUT... (as for augment) in another shape or file type, one row per record, no mosaicking."""
    from mosaicit.run.convert import convert as run_convert
    from mosaicit.run.spec import RunSpec

    s = run_convert(RunSpec.of(list(input_path), output, **values(kw)))
    if not quiet:
        lines = [
            f"read {s['records_read']} {s['input_format']} records, wrote {s['records_written']} "
            f"as {s['output_format']} to {s['output']}"
        ]
        if s["repairs"]:
            lines.append("repaired: " + ", ".join(f"{k} {v}" for k, v in s["repairs"].items()))
        if s["records_rejected"]:
            share = s["records_rejected"] / s["records_read"]
            lines.append(
                f"rejected: {s['records_rejected']} ({share:.1%}) -> " + s.get("rejects", "not written")
            )
        if "dataset_info" in s:
            lines.append(
                f"dataset_info.json entry {s['dataset_info']['name']!r}: {s['dataset_info']['path']}"
            )
        click.echo("\n".join(lines), err=True)


def format_summary(s: RunSummary, summary_path: Any, rejects_path: Any, dry_run: bool = False) -> str:
    """A few human lines from the run's summary (``dry_run``: of a run that wrote nothing)."""
    sizes = ", ".join(f"{k}:{v}" for k, v in s.records_per_sample.items())
    mix = ", ".join(f"{k} {v}" for k, v in s.strategies.items())
    a, tok, bad, p = s.accounting, s.tokens, s.rejected_at_reading, s.passthrough
    dropped = ", ".join(f"{k} {v}" for k, v in a.rejected_by_reason.items()) or "none"
    passed = ", ".join(f"{k} {v}" for k, v in a.passed_by_kind.items()) or "none"
    parts = ", ".join(f"{k} {v}" for k, v in a.parts_rejected.items())
    kinds = "; ".join(
        f"{kind}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) for kind, counts in s.kinds.items()
    )
    repairs = ", ".join(f"{k} {v}" for k, v in s.repairs.items()) or "none"
    wrote = "would write" if dry_run else "wrote"
    lines = [
        f"read {a.read} records: {a.mosaicked} mosaicked, {a.passed_through} passed through "
        f"({passed}), {a.rejected} rejected",
        f"{wrote} {s.samples_written} samples to {s.output or '(no --output)'}: {s.mosaics_written} "
        f"mosaics of {a.mosaic_records} records used {s.epochs} times each ({a.mosaic_record_uses} "
        f"uses), {a.passthrough_rows} passthrough rows used once",
        f"records per sample: {sizes} (mean {s.mean_records_per_sample})",
        f"strategies: {mix}",
        f"tokens per mosaic: mean {tok.mean}, p50 {tok.p50}, p90 {tok.p90}, p99 {tok.p99}, "
        f"max {tok.max} <= {tok.max_length} ({s.budget.tokenizer}, {s.budget.composition})",
        f"budget fill: mean {tok.fill['mean']:.1%}, p50 {tok.fill['p50']:.1%}, p90 {tok.fill['p90']:.1%}",
        *_answer_share(s),
        f"rejected: {a.rejected} records ({_share(a.rejected, a.read)}): {dropped}"
        + (f"; and parts of records used: {parts}" if parts else "")
        + f" -> {rejects_path or 'not written (give --rejects)'} ({s.records_rejected} lines)",
        f"input ({s.formats.input}): {kinds}",
        f"repaired conversations: {repairs}; empty conversations: {bad.empty_conversations}; broken "
        f"records: {bad.records} ({bad.share:.1%}, the run stops above --max-bad-share {bad.max_bad_share})",
        f"mosaics in {s.system_groups} system-prompt group(s); passthrough rows max {p.max_tokens} "
        f"tokens; over budget, to pass through: {p.over_budget} (--over-budget {p.over_budget_policy})",
    ]
    if s.dataset_info is not None:
        lines.append(f"dataset_info.json entry {s.dataset_info.name!r}: {s.dataset_info.path}")
    lines.append(f"summary: {summary_path or 'not written (give --summary)'}")
    return "\n".join(lines)


def _answer_share(s: RunSummary) -> list[str]:
    """The answer-share line (with ``--answer-share`` only)."""
    h = s.answer_share
    if h is None:
        return []
    return [
        f"answer share: min {h.min:.3f}, p50 {h.p50:.3f}, max {h.max:.3f}, all mosaics {h.overall:.3f} "
        f"(--answer-share {h.bound[0]:g}:{h.bound[1]:g}; {h.records_set_aside} records set aside)"
    ]


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


#: Rejected records named per reason by ``augment --dry-run``.
DRY_RUN_EXAMPLES = 3


def dry_run_report(spec: Any, progress: bool = False) -> str:
    """What ``augment --dry-run`` prints: the run's summary lines, a few rejects of each reason,
    and the cost table of ``mosaicit report``; the run writes nothing."""
    from mosaicit.report.page import cost_head, cost_rows
    from mosaicit.report.runs import RunData
    from mosaicit.report.write import DEFAULT_BATCH_SIZE, run_costs
    from mosaicit.run.augment import augment_rows

    done = augment_rows(spec, lambda rows: sum(1 for _ in rows), progress)
    s, nothing = done.summary, "not written (dry run)"
    lines = ["dry run: nothing written", format_summary(s, nothing, nothing, dry_run=True)]
    if done.rejects:
        lines.append(f"rejects (the first {DRY_RUN_EXAMPLES} of each reason):")
    shown: Counter[str] = Counter()
    for r in done.rejects or []:
        shown[r["reason"]] += 1
        if shown[r["reason"]] <= DRY_RUN_EXAMPLES:
            name = f" (id {r['id']})" if r["id"] is not None else ""
            detail = f": {r['detail']}" if r["detail"] else ""
            turn = f":{r['turn']}" if r["turn"] is not None else ""
            lines.append(f"  {r['reason']}: {r['file']}:{r['row']}{turn}{name}{detail}")
    run = RunData(Path(s.output), s.to_dict(), done.mosaic_lengths, done.passthrough_lengths)
    plain, mosaics = run_costs(run, DEFAULT_BATCH_SIZE)
    lines += [
        "training cost, in tokens processed:",
        text_table(cost_head(DEFAULT_BATCH_SIZE), cost_rows(plain, mosaics)),
    ]
    return "\n".join(lines)


def text_table(head: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [head, *rows]
    )


@main.command()
@input_argument
@click.option("-n", "--count", "count", type=int, default=3, show_default=True, help="Mosaics to show.")
@config_option
@mosaic_options
@template_options
@routing_options
@read_options
@click.option("--plain", is_flag=True, help="No colours, even on a terminal.")
@user_errors
def preview(input_path: tuple[str, ...], count: int, plain: bool, **kw: Any) -> None:
    """Print the first mosaics that augment writes from INPUT... with the same options, with their
    parts marked; write nothing."""
    from itertools import islice

    from mosaicit.preview import show
    from mosaicit.run.memory import Mosaics, members
    from mosaicit.run.spec import RunSpec

    if count < 0:
        raise ParamError("count", f"must be 0 or more, got {count}")
    # in this process, leaving the token-count cache alone
    mosaics = Mosaics(RunSpec.of(list(input_path), **values(kw), workers=1, use_cache=False))
    for number, sample in enumerate(islice(mosaics, count), 1):
        click.echo(show(number, sample, members(sample, mosaics.records)), color=None if not plain else False)


@main.command()
@click.argument("outputs", metavar="RUN_OUTPUT [RUN_OUTPUT2]", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="The HTML page [default: RUN_OUTPUT.report.html; RUN_OUTPUT.vs.RUN_OUTPUT2.report.html for two].",
)
@click.option(
    "--batch-size",
    type=int,
    default=8,
    show_default=True,
    help="Samples per batch for the cost of padding each batch to its longest sample.",
)
@user_errors
def report(outputs: tuple[str, ...], html_path: str | None, batch_size: int) -> None:
    """Write an HTML report of a run (or two side by side) from its output, summary and rejects.

    The page is self-contained (it opens offline); the figures are also written as PNG files in
    a folder named like the page without .html. Needs matplotlib: pip install 'mosaicit[report]'.
    """
    from mosaicit.report.write import write_report

    if len(outputs) > 2:
        raise click.UsageError("give one run output, or two to compare")
    if batch_size < 1:
        raise ParamError("batch_size", f"must be at least 1, got {batch_size}")
    click.echo(f"wrote {write_report(outputs, html_path, batch_size)}", err=True)


@main.group()
def tables() -> None:
    """List, check and export the template tables."""


@tables.command("list")
@click.option(
    "--tables",
    "path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A tables file to check instead of the packaged one.",
)
@user_errors
def tables_list(path: str | None) -> None:
    """Validate the tables and list how many variants each slot holds, then the strategies
    (with the package of each from another one, and each such package that did not load)."""
    from mosaicit.plan.strategies import BROKEN, STRATEGIES
    from mosaicit.plan.strategies.plugins import ORIGINS
    from mosaicit.plan.tables.loader import load_tables

    loaded = load_tables(path)
    click.echo(f"{loaded.source}: valid")
    for slot, n in loaded.counts().items():
        click.echo(f"  {slot:<36} {n}")
    click.echo("strategies:")
    for name, strategy in STRATEGIES.items():
        click.echo(f"  {name:<36} rank {strategy.rank}" + (f", {ORIGINS[name]}" if name in ORIGINS else ""))
    for name, problem in BROKEN.items():
        click.echo(f"  {name:<36} not loaded: {problem}")


@tables.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@user_errors
def tables_validate(path: str) -> None:
    """Check a tables file; exit 1 with the first problem found."""
    from mosaicit.plan.tables.loader import load_tables

    load_tables(path)
    click.echo(f"{path}: valid")


@tables.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@user_errors
def tables_export(path: str) -> None:
    """Copy the packaged tables to PATH, to edit and pass back with --tables."""
    from importlib import resources

    from mosaicit.io.atomic import atomic_open

    text = resources.files("mosaicit.plan.tables").joinpath("default.yaml").read_text(encoding="utf-8")
    if Path(path).exists():
        raise MosaicitError(f"{path}: already exists; not overwritten")
    with atomic_open(path) as out:
        out.write(text)
    click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
