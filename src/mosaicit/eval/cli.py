"""``mosaicit eval build | score | generate``: a thin layer over :mod:`mosaicit.eval`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mosaicit.cliconfig import config_option
from mosaicit.clihelp import Group, names, user_errors
from mosaicit.clioptions import (
    budget_options,
    picked,
    read_options,
    routing_options,
    strategy_options,
    template_options,
    values,
)


@click.group("eval", cls=Group)
def eval_group() -> None:
    """Build held-out mosaic prompts, answer them with a local model, and score answers by rules."""


@eval_group.command("build")
@click.argument("input_path", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Eval set to write (JSONL)."
)
@config_option
@click.option("--size", type=int, default=100, show_default=True, help="Number of prompts.")
@click.option("--min-records", type=int, default=2, show_default=True, help="Fewest instructions per prompt.")
@click.option("--max-records", type=int, default=5, show_default=True, help="Most instructions per prompt.")
@strategy_options
@budget_options
@template_options
@routing_options
@read_options
@picked("tag_rate", "no_numbering_rate")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@user_errors
def build_command(
    input_path: tuple[str, ...],
    output: str,
    size: int,
    min_records: int,
    max_records: int,
    quiet: bool,
    **kw: Any,
) -> None:
    """Draw --size mosaic prompts from INPUT, with their plans and reference answers.

    INPUT... is anything 'mosaicit augment' reads (JSON, JSONL, Parquet, .gz/.zst, globs, folders,
    -; Alpaca, ShareGPT, messages or prompt/completion records); single exchanges are used.
    """
    from mosaicit.budget.tokens import tokenizer_files
    from mosaicit.eval.build import build_evalset, write_evalset
    from mosaicit.io.inputs import expand
    from mosaicit.io.paths import check_distinct

    options = values(kw)
    source = expand(list(input_path))  # once: the build reads these very files
    tokenizer = tokenizer_files(options.get("tokenizer"), with_folder=options.get("template") == "chat")
    read = {
        "INPUT": source,
        "--tables": options.get("tables"),
        "--chat-template": options.get("chat_template"),
        "--tokenizer": tokenizer,
    }
    check_distinct(read, {"--output": output})
    result = build_evalset(source, size=size, min_records=min_records, max_records=max_records, **options)
    write_evalset(output, result.items)
    if not quiet:
        s = result.summary
        shown = ", ".join(f"{k} {v}" for k, v in s["strategies"].items())
        aside = ", ".join(f"{k} {v}" for k, v in s["set_aside"].items()) or "none"
        click.echo(
            f"wrote {s['prompts']} prompts to {output} ({min_records}..{max_records} instructions each; "
            f"{s['records_used']} of {s['records_read']} records used, {s['passes']} pass(es))\n"
            f"strategies: {shown}\nmarkers: {', '.join(f'{k} {v}' for k, v in s['markers'].items())}\n"
            f"set aside: {aside}",
            err=True,
        )


@eval_group.command("score")
@click.argument("evalset", type=click.Path(dir_okay=False))
@click.argument("answers", type=click.Path(dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(("strict", "loose", "both")),
    default="both",
    show_default=True,
    help="Judge labels and tags exactly (strict), forgiving case/emphasis/whitespace and a short "
    "preamble and sign-off (loose), or both.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the report as JSON."
)
@click.option(
    "--details", type=click.Path(dir_okay=False), default=None, help="Write each prompt's checks as JSONL."
)
@click.option("--id-key", default="id", show_default=True, help="Field of ANSWERS holding the prompt id.")
@click.option(
    "--response-key", default="response", show_default=True, help="Field of ANSWERS holding the answer."
)
@click.option(
    "--leftover",
    type=int,
    default=0,
    show_default=True,
    help="Characters (not counting whitespace) allowed outside the answers.",
)
@click.option(
    "--rouge",
    is_flag=True,
    help="Also score content: ROUGE-L F1 (rouge-score) of the response and of each answer vs the references.",
)
@click.option("--checks", default=None, help="Comma-separated checks to run (default: all registered).")
@user_errors
def score_command(
    evalset: str,
    answers: str,
    mode: str,
    json_path: str | None,
    details: str | None,
    id_key: str,
    response_key: str,
    leftover: int,
    rouge: bool,
    checks: str | None,
) -> None:
    """Check each answer in ANSWERS ({id, response} JSONL) against its prompt's plan in EVALSET."""
    from mosaicit.eval.checks import MODES, REGISTRY
    from mosaicit.eval.score import format_report, score_answers
    from mosaicit.io.atomic import atomic_open
    from mosaicit.io.commit import committed_together
    from mosaicit.io.paths import check_distinct

    check_distinct({"EVALSET": evalset, "ANSWERS": answers}, {"--json": json_path, "--details": details})
    report = score_answers(
        evalset,
        answers,
        id_key=id_key,
        response_key=response_key,
        modes=MODES if mode == "both" else (mode,),
        leftover=leftover,
        content=rouge,
        checks=names(checks, tuple(REGISTRY)),
    )
    click.echo(format_report(report))
    with committed_together():
        if json_path:
            with atomic_open(json_path) as out:
                json.dump(report.to_dict(), out, indent=2, ensure_ascii=False)
                out.write("\n")
        if details:
            with atomic_open(details) as out:
                for row in report.details():
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")


@eval_group.command("generate")
@click.argument("evalset", type=click.Path(dir_okay=False))
@click.option(
    "--model", "model_dir", required=True, type=click.Path(file_okay=False), help="Local model folder."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Answers to write (JSONL)."
)
@click.option("--gguf-file", default=None, help="GGUF file inside --model to load (default: the only one).")
@click.option("--max-new-tokens", type=int, default=256, show_default=True, help="Longest answer, in tokens.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Prompts generated together.")
@click.option("--limit", type=int, default=None, help="Answer only the first N prompts.")
@click.option(
    "--device", default="auto", show_default=True, help="cpu, cuda, cuda:1, ... (auto: cuda if available)."
)
@click.option(
    "--dtype",
    type=click.Choice(("auto", "float32", "bfloat16", "float16")),
    default="auto",
    show_default=True,
    help="Weights dtype (auto: bfloat16 on GPU, float32 on CPU).",
)
@click.option(
    "--temperature", type=float, default=0.0, show_default=True, help="0 is greedy; above 0 samples."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for sampling.")
@click.option("--no-chat-template", is_flag=True, help="Feed the bare prompt instead of the chat template.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@user_errors
def generate_command(
    evalset: str,
    model_dir: str,
    output: str,
    gguf_file: str | None,
    max_new_tokens: int,
    batch_size: int,
    limit: int | None,
    device: str,
    dtype: str,
    temperature: float,
    seed: int,
    no_chat_template: bool,
    threads: int | None,
    quiet: bool,
) -> None:
    """Answer the prompts of EVALSET with a local Hugging Face causal LM; write {id, response} JSONL."""
    from mosaicit.eval.evalset import read_evalset
    from mosaicit.eval.generate import generate_answers

    items = read_evalset(evalset)
    total = min(limit, len(items)) if limit else len(items)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="prompt", file=sys.stderr, dynamic_ncols=True, leave=False)
    try:
        rows = generate_answers(
            items,
            model_dir,
            output,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            limit=limit,
            gguf_file=gguf_file,
            device=device,
            dtype=dtype,
            temperature=temperature,
            seed=seed,
            chat_template=not no_chat_template,
            threads=threads,
            progress=bar.update if bar else None,
        )
    finally:
        if bar:
            bar.close()
    if not quiet:
        click.echo(f"wrote {len(rows)} answers to {output}", err=True)
