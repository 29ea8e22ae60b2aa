"""The ``mosaicit`` command: a thin layer over the Python API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mosaicit import __version__
from mosaicit.clihelp import names, user_errors
from mosaicit.config import VERSIONS, WRAP_MODES, MosaicConfig, parse_weights
from mosaicit.errors import MosaicitError
from mosaicit.io.formats import INPUT_SHAPES, SHAPES
from mosaicit.io.sources import MAX_BAD_SHARE
from mosaicit.plan.strategies import STRATEGY_NAMES
from mosaicit.plan.strategies.maskout import MASK_RULES
from mosaicit.plan.strategies.permute import PERMUTE_RULES
from mosaicit.render.templates import TEMPLATES
from mosaicit.routing import CONVERSATION_POLICIES, SYSTEM_POLICIES


def mosaic_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape the mosaics, shared by ``augment`` and ``preview``."""
    options = [
        click.option(
            "--epochs",
            "--epo-num",
            "epochs",
            type=int,
            default=4,
            show_default=True,
            help="Shuffled passes over the data; each record appears once per pass.",
        ),
        click.option(
            "--wrap-mode",
            type=click.Choice(WRAP_MODES),
            default="uniform",
            show_default=True,
            help="How the target number of records per mosaic is drawn.",
        ),
        click.option(
            "--max-num",
            "--wrap-max-num",
            "max_num",
            type=int,
            default=10,
            show_default=True,
            help="Most records in one mosaic.",
        ),
        click.option(
            "--mix",
            "--version",
            "version",
            type=click.Choice(tuple(VERSIONS)),
            default="both",
            show_default=True,
            help="Strategy mix: format, order (+permute), mask (+maskout), both, or primary. "
            "--version is the research script's name for it.",
        ),
        click.option(
            "--weights",
            default=None,
            help=f"Relative strategy weights, e.g. 'format=2,permute=1'; overrides --mix. "
            f"Strategies: {', '.join(STRATEGY_NAMES)}.",
        ),
        click.option(
            "--orderings",
            default=None,
            help=f"Comma-separated permute orderings to use (default all: {', '.join(PERMUTE_RULES)}).",
        ),
        click.option(
            "--mask-rules",
            default=None,
            help=f"Comma-separated maskout rules to use (default all: {', '.join(MASK_RULES)}).",
        ),
        click.option(
            "--max-length",
            type=int,
            default=2000,
            show_default=True,
            help="Token budget per sample, inclusive: no sample counts more.",
        ),
        click.option(
            "--tokenizer",
            "--model-name-or-path",
            "tokenizer",
            default=None,
            help="tokenizer.json, tokenizer.model, *.tiktoken, a folder holding one, or a hub id "
            "already in the local Hugging Face cache. Default: the bundled Mistral-7B v0.1.",
        ),
        click.option(
            "--tables",
            "tables",
            type=click.Path(dir_okay=False),
            default=None,
            help="Template tables (YAML/JSON) to use instead of the packaged ones.",
        ),
        click.option(
            "--seed",
            type=int,
            default=42,
            show_default=True,
            help="Random seed; the same input, options and seed give the same bytes.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_config(**kw: Any) -> MosaicConfig:
    """Build a :class:`MosaicConfig` from the shared options."""
    return MosaicConfig(
        epochs=kw["epochs"],
        wrap_mode=kw["wrap_mode"],
        max_num=kw["max_num"],
        version=kw["version"],
        weights=parse_weights(kw["weights"]) if kw["weights"] else None,
        max_length=kw["max_length"],
        seed=kw["seed"],
        orderings=names(kw["orderings"], PERMUTE_RULES),
        mask_rules=names(kw["mask_rules"], MASK_RULES),
    )


def format_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how to read the input and write the output (``augment``, ``convert``)."""
    keys = [
        ("instruction", "instruction", "Alpaca: the instruction column"),
        ("input", "input", "Alpaca: the input (context) column"),
        ("output", "output", "Alpaca: the output column"),
        ("system", "system", "the system prompt column"),
        ("history", "history", "Alpaca: the history column ([instruction, output] pairs)"),
        ("messages", None, "ShareGPT/messages: the message-list column [default: conversations or messages]"),
        ("role", None, "ShareGPT/messages: the role key of a message [default: from or role]"),
        ("content", None, "ShareGPT/messages: the text key of a message [default: value or content]"),
        ("prompt", "prompt", "prompt/completion: the prompt column"),
        ("completion", "completion", "prompt/completion: the completion column"),
        ("id", "id", "the id column, kept in the output"),
    ]
    options = [
        click.option(
            "--input-format",
            type=click.Choice(INPUT_SHAPES),
            default="auto",
            show_default=True,
            help="The input's shape; auto detects it from the first record.",
        ),
        click.option("--split", default=None, help="The split to read from a saved DatasetDict folder."),
        *[
            click.option(
                f"--{name}-key",
                f"{name}_key",
                default=default,
                metavar="KEY",
                help=text + (f" [default: {default}]" if default else "") + ".",
            )
            for name, default, text in keys
        ],
        click.option(
            "--output-format",
            type=click.Choice(SHAPES),
            default="alpaca",
            show_default=True,
            help="The output's shape; the file type follows OUTPUT's extension (.json, .jsonl, .parquet).",
        ),
        click.option("--no-meta", is_flag=True, help="Leave out the 'mosaic' provenance column."),
        click.option(
            "--strict-conversations",
            is_flag=True,
            help="Take ShareGPT/messages lists as they are: no repairs (dropping leading model turns "
            "and a trailing user turn, merging repeated roles); a list that needs one is malformed.",
        ),
        click.option(
            "--max-bad-share",
            type=click.FloatRange(0, 1),
            default=MAX_BAD_SHARE,
            show_default=True,
            help="Stop when more than this share of the records are rejected as broken "
            "(the input is likely in another shape than assumed).",
        ),
        click.option(
            "--emit-dataset-info",
            "dataset_info",
            is_flag=False,
            flag_value="",
            default=None,
            metavar="[PATH]",
            help="Add the output's LLaMA-Factory entry to PATH [default: dataset_info.json beside OUTPUT].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_formats(output: str, **kw: Any) -> tuple[Any, str | None]:
    """The :class:`FormatOptions` of the shared options, and the dataset_info.json path if asked."""
    from mosaicit.io.dataset_info import default_path
    from mosaicit.io.formats import Columns
    from mosaicit.workflow import FormatOptions

    columns = Columns(**{f: kw[f"{f}_key"] for f in Columns.__dataclass_fields__})
    formats = FormatOptions(
        input_format=kw["input_format"],
        columns=columns,
        split=kw["split"],
        output_format=kw["output_format"],
        conversations=kw.get("conversations", "passthrough"),
        system_policy=kw.get("system_policy", "group"),
        template=kw.get("template", "none"),
        chat_template=kw.get("chat_template"),
        strict_conversations=kw["strict_conversations"],
        max_bad_share=kw["max_bad_share"],
    )
    info = kw["dataset_info"]
    return formats, (str(default_path(output)) if info == "" else info)


output_option = click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Output file: .jsonl (one row per line), .json (an array) or .parquet; .jsonl and .json "
    "may end in .gz or .zst (compressed); - writes JSONL to stdout.",
)
on_bad_option = click.option(
    "--on-bad-record",
    type=click.Choice(("error", "skip")),
    default="skip",
    show_default=True,
    help="A malformed record is set aside in the rejects file (skip; see --max-bad-share) "
    "or stops the run (error).",
)
rejects_full_option = click.option(
    "--rejects-full", is_flag=True, help="Copy each rejected record in full into the rejects file."
)
input_argument = click.argument("input_path", metavar="INPUT...", nargs=-1, required=True)
CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="mosaicit")
def main() -> None:
    """Mosaic instruction tuning: compose instruction/response records into budgeted training samples."""


@main.command()
@input_argument
@output_option
@mosaic_options
@click.option(
    "--template",
    type=click.Choice(TEMPLATES),
    default="none",
    show_default=True,
    help="What the budget counts: none (bare instruction+output), vicuna_v1.1 (FastChat), chatml, "
    "or chat (the --tokenizer folder's own chat template); special tokens and system prompt included.",
)
@click.option(
    "--chat-template",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A Jinja chat template file to use with --template chat instead of the tokenizer's.",
)
@click.option(
    "--conversations",
    type=click.Choice(CONVERSATION_POLICIES),
    default="passthrough",
    show_default=True,
    help="Multi-turn conversations: pass through unchanged, mosaic their first exchange, "
    "or split them into one record per exchange.",
)
@click.option(
    "--system-policy",
    type=click.Choice(SYSTEM_POLICIES),
    default="group",
    show_default=True,
    help="Records with a system prompt: mosaic them only with records of the same system prompt "
    "(group), or pass them through unchanged.",
)
@format_options
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Run summary path [default: OUTPUT.summary.json].",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Rejected records path [default: OUTPUT.rejects.jsonl].",
)
@on_bad_option
@rejects_full_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that measure records and compose epochs in parallel [default: the number of CPUs]. "
    "The output is the same for any value.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where token counts are kept between runs [default: $MOSAICIT_CACHE_DIR, "
    "else $XDG_CACHE_HOME/mosaicit, else ~/.cache/mosaicit]. Entries are keyed by a private "
    "per-user secret ($XDG_CACHE_HOME/mosaicit.key, else ~/.cache/mosaicit.key) and spot-checked "
    "against the tokenizer.",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the token-count cache.")
@click.option(
    "--report",
    "report_page",
    is_flag=True,
    help="Also write the HTML report (OUTPUT.report.html, see 'mosaicit report'); needs .[report].",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary on stderr.")
@user_errors
def augment(
    input_path: tuple[str, ...],
    output: str,
    no_meta: bool,
    summary_path: str | None,
    rejects_path: str | None,
    on_bad_record: str,
    rejects_full: bool,
    workers: int | None,
    cache_dir: str | None,
    no_cache: bool,
    report_page: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Mosaic the records in INPUT... into OUTPUT.

    Each INPUT is a JSON array, JSONL or Parquet file (JSON and JSONL may be .gz or .zst), a glob,
    a folder of such files or one saved with datasets' save_to_disk, or - for stdin; several
    are read as one dataset. Records may be Alpaca, ShareGPT, OpenAI messages or prompt/completion.
    """
    from mosaicit.workflow import augment_dataset

    if report_page:
        if output == "-":
            raise click.UsageError("--report needs an output file, not - (stdout)")
        from mosaicit.report.plots import require_matplotlib

        require_matplotlib()  # before the run, not after it
    formats, info = make_formats(output, **kw)
    summary = augment_dataset(
        list(input_path),
        output,
        make_config(**kw),
        formats,
        tokenizer=kw["tokenizer"],
        tables_path=kw["tables"],
        with_meta=not no_meta,
        summary_path=summary_path,
        rejects_path=rejects_path,
        on_bad=on_bad_record,
        progress=not quiet,
        workers=workers,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        dataset_info_path=info,
        rejects_full=rejects_full,
    )
    if not quiet:
        from mosaicit.workflow import side_targets

        click.echo(format_summary(summary, *side_targets(output, summary_path, rejects_path)), err=True)
    if report_page:
        from mosaicit.report.write import write_report

        page = write_report([output], summary_paths=[summary_path], rejects_paths=[rejects_path])
        if not quiet:
            click.echo(f"report: {page}", err=True)


@main.command()
@input_argument
@output_option
@format_options
@on_bad_option
@rejects_full_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@user_errors
def convert(
    input_path: tuple[str, ...],
    output: str,
    no_meta: bool,
    on_bad_record: str,
    rejects_full: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Rewrite INPUT... (as for augment) in another shape or file type, one row per record, no mosaicking."""
    from mosaicit.workflow import convert_dataset

    formats, info = make_formats(output, **kw)
    s = convert_dataset(
        list(input_path),
        output,
        formats,
        with_meta=not no_meta,
        on_bad=on_bad_record,
        dataset_info_path=info,
        rejects_full=rejects_full,
    )
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


def format_summary(s: dict[str, Any], summary_path: Any, rejects_path: Any) -> str:
    """A few human lines from the summary dict."""
    sizes = ", ".join(f"{k}:{v}" for k, v in s["records_per_sample"].items())
    mix = ", ".join(f"{k} {v}" for k, v in s["strategies"].items())
    dropped = ", ".join(f"{k} {v}" for k, v in s["rejected_by_reason"].items()) or "none"
    tok = s["tokens"]
    return "\n".join(
        [
            f"read {s['records_read']} records, used {s['records_used']} x {s['epochs']} epochs; "
            f"wrote {s['samples_written']} samples to {s['output']}",
            f"records per sample: {sizes} (mean {s['mean_records_per_sample']})",
            f"strategies: {mix}",
            f"tokens per mosaic: mean {tok['mean']}, p50 {tok['p50']}, p90 {tok['p90']}, p99 {tok['p99']}, "
            f"max {tok['max']} <= {tok['max_length']} "
            f"({s['budget']['tokenizer']}, {s['budget']['composition']})",
            f"budget fill: mean {tok['fill']['mean']:.1%}, p50 {tok['fill']['p50']:.1%}, "
            f"p90 {tok['fill']['p90']:.1%}",
            f"rejected: {s['records_rejected']} ({_share(s['records_rejected'], s['records_read'])}): "
            f"{dropped} -> {rejects_path or 'not written (give --rejects)'}",
            *_format_kinds(s),
            f"summary: {summary_path or 'not written (give --summary)'}",
        ]
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def _format_kinds(s: dict[str, Any]) -> list[str]:
    """Lines on what happened to each kind of input item, when the summary has them."""
    if "kinds" not in s:
        return []
    kinds = "; ".join(
        f"{kind}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) for kind, counts in s["kinds"].items()
    )
    p = s["passthrough"]
    repairs = ", ".join(f"{k} {v}" for k, v in s.get("repairs", {}).items()) or "none"
    bad = s.get("rejected_at_reading", {})
    lines = [
        f"input ({s['formats']['input']}): {kinds}",
        f"repaired conversations: {repairs}; broken records: {bad.get('records', 0)} "
        f"({bad.get('share', 0):.1%}, the run stops above --max-bad-share {bad.get('max_bad_share')})",
        f"mosaics {s['mosaics_written']} in {s['system_groups']} system-prompt group(s); passed through "
        f"{p['written']} unchanged (max {p['max_tokens']} tokens), {p['over_budget']} over budget",
    ]
    if "dataset_info" in s:
        lines.append(f"dataset_info.json entry {s['dataset_info']['name']!r}: {s['dataset_info']['path']}")
    return lines


@main.command()
@input_argument
@click.option("-n", "--count", "count", type=int, default=3, show_default=True, help="Mosaics to show.")
@mosaic_options
@click.option("--plain", is_flag=True, help="No colours, even on a terminal.")
@user_errors
def preview(input_path: tuple[str, ...], count: int, plain: bool, **kw: Any) -> None:
    """Print a few mosaics from INPUT... (anything augment reads) with their parts marked; write nothing."""
    from itertools import islice

    from mosaicit.budget.tokens import load_counter
    from mosaicit.io.sources import read_conversations
    from mosaicit.pipeline import Run
    from mosaicit.preview import show
    from mosaicit.routing import route
    from mosaicit.tables.loader import load_tables

    routed = route(read_conversations(list(input_path), on_bad="skip"))
    run = Run(make_config(**kw), load_counter(kw["tokenizer"]), load_tables(kw["tables"]))
    by_index = {r.index: r for r in routed.records}
    for number, sample in enumerate(islice(run.grouped(routed.groups.values()), count), 1):
        click.echo(show(number, sample, by_index), color=None if not plain else False)


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
    type=click.IntRange(min=1),
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
    """Validate the tables and list how many variants each slot holds."""
    from mosaicit.tables.loader import load_tables

    loaded = load_tables(path)
    click.echo(f"{loaded.source}: valid")
    for slot, n in loaded.counts().items():
        click.echo(f"  {slot:<36} {n}")


@tables.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@user_errors
def tables_validate(path: str) -> None:
    """Check a tables file; exit 1 with the first problem found."""
    from mosaicit.tables.loader import load_tables

    load_tables(path)
    click.echo(f"{path}: valid")


@tables.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@user_errors
def tables_export(path: str) -> None:
    """Copy the packaged tables to PATH, to edit and pass back with --tables."""
    from importlib import resources

    from mosaicit.io.atomic import atomic_open

    text = resources.files("mosaicit.tables").joinpath("default.yaml").read_text(encoding="utf-8")
    if Path(path).exists():
        raise MosaicitError(f"{path}: already exists; not overwritten")
    with atomic_open(path) as out:
        out.write(text)
    click.echo(f"wrote {path}")


from mosaicit.eval.cli import eval_group  # noqa: E402

main.add_command(eval_group, "eval")


if __name__ == "__main__":  # pragma: no cover
    main()
