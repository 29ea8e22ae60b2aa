"""The command line's option blocks, each declared once, and what they build: the run spec's parts.

``augment`` takes every block (``executor_options`` only it); ``preview`` the ones that shape what
is read and composed; ``eval build`` the strategy, budget, input and template blocks; ``convert``
the input and output blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from mosaicit.clihelp import names
from mosaicit.io.filetypes import part_types
from mosaicit.io.formats import Columns
from mosaicit.io.jsonstream import MAX_RECORD_MB
from mosaicit.io.shapes import input_formats, shape_names
from mosaicit.io.sources import MAX_BAD_SHARE
from mosaicit.plan.config import VERSIONS, WRAP_MODES, MosaicConfig, parse_weights
from mosaicit.plan.strategies import STRATEGY_NAMES
from mosaicit.plan.strategies.maskout import MASK_RULES
from mosaicit.plan.strategies.permute import PERMUTE_RULES
from mosaicit.render.templates import TEMPLATES
from mosaicit.run.executors import executor_names
from mosaicit.run.overbudget import OVER_BUDGET_POLICIES
from mosaicit.run.routing import CONVERSATION_POLICIES, SYSTEM_POLICIES
from mosaicit.run.spec import InputOptions, OutputOptions

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def block(*options: Decorator) -> Decorator:
    """One decorator applying ``options`` in the order given (as they show in --help)."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


strategy_options = block(
    click.option(
        "--mix",
        "--version",
        "version",
        type=click.Choice(tuple(VERSIONS)),
        default="both",
        show_default=True,
        help="Strategy mix: format, order (+permute), mask (+maskout), both, primary, or rules (+rules). "
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
)
"""Which strategies the mosaics use: ``augment``, ``preview`` and ``eval build``."""

budget_options = block(
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
)
"""The budget, its tokenizer, the tables and the seed: ``augment``, ``preview`` and ``eval build``."""


def mosaic_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape the mosaics, shared by ``augment`` and ``preview``: the epochs and
    group sizes, then :data:`strategy_options` and :data:`budget_options`."""
    return block(
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
            "--answer-share",
            default=None,
            metavar="MIN:MAX",
            help="Bound the share of each mosaic's tokens that its output text takes (e.g. 0.3:0.7; "
            "either side may be left empty): groups are cut back to one within it, and a record "
            "outside it alone is rejected (answer_share). The summary reports the shares. "
            "[default: no bound]",
        ),
        strategy_options,
        budget_options,
    )(func)


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
        answer_share=kw["answer_share"],
    )


template_options = block(
    click.option(
        "--template",
        type=click.Choice(TEMPLATES),
        default="none",
        show_default=True,
        help="What the budget counts: none (bare instruction+output), vicuna_v1.1 (FastChat), chatml, "
        "or chat (the --tokenizer folder's own chat template); special tokens and system prompt included.",
    ),
    click.option(
        "--chat-template",
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        help="A Jinja chat template file to use with --template chat instead of the tokenizer's.",
    ),
)

routing_options = block(
    click.option(
        "--conversations",
        type=click.Choice(CONVERSATION_POLICIES),
        default="passthrough",
        show_default=True,
        help="Multi-turn conversations: pass through unchanged, mosaic their first exchange, "
        "or split them into one record per exchange.",
    ),
    click.option(
        "--system-policy",
        type=click.Choice(SYSTEM_POLICIES),
        default="group",
        show_default=True,
        help="Records with a system prompt: mosaic them only with records of the same system prompt "
        "(group), or pass them through unchanged.",
    ),
)

over_budget_option = click.option(
    "--over-budget",
    type=click.Choice(OVER_BUDGET_POLICIES),
    default="split",
    show_default=True,
    help="A conversation over the budget: split it into runs of whole exchanges that each fit, "
    "trim it to its first exchanges that fit, pass it through unbudgeted (flagged in its mosaic "
    "column), or reject it. A single exchange over the budget is rejected unless 'pass'.",
)

KEYS = [
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

read_options = block(
    click.option(
        "--input-format",
        type=click.Choice(input_formats()),
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
        for name, default, text in KEYS
    ],
    click.option(
        "--strict-conversations",
        is_flag=True,
        help="Take ShareGPT/messages lists as they are: no repairs (dropping leading model turns "
        "and a trailing user turn, merging repeated roles); a list that needs one is malformed.",
    ),
    click.option(
        "--max-bad-share",
        type=float,
        default=MAX_BAD_SHARE,
        show_default=True,
        help="Stop when more than this share of the records are rejected as broken "
        "(the input is likely in another shape than assumed).",
    ),
    click.option(
        "--max-record-mb",
        type=int,
        default=MAX_RECORD_MB,
        show_default=True,
        help="Stop with an error at a JSON record (a JSONL line, an array item) longer than this "
        "many MiB of text: the bound that stops a decompression bomb or a file without line breaks.",
    ),
    click.option(
        "--on-bad-record",
        type=click.Choice(("error", "skip")),
        default="skip",
        show_default=True,
        help="A malformed record is set aside in the rejects file (skip; see --max-bad-share) "
        "or stops the run (error).",
    ),
)

write_options = block(
    click.option(
        "--output-format",
        type=click.Choice(shape_names()),
        default="alpaca",
        show_default=True,
        help="The output's shape; the file type follows OUTPUT's extension (.json, .jsonl, .parquet).",
    ),
    click.option("--no-meta", is_flag=True, help="Leave out the 'mosaic' provenance column."),
    click.option(
        "--emit-dataset-info",
        "dataset_info",
        is_flag=False,
        flag_value="",
        default=None,
        metavar="[PATH]",
        help="Add the output's LLaMA-Factory entry to PATH (no PATH: dataset_info.json beside OUTPUT).",
    ),
)


def make_inputs(**kw: Any) -> InputOptions:
    """The :class:`InputOptions` of the read (and, if given, routing) options."""
    return InputOptions(
        input_format=kw["input_format"],
        columns=Columns(**{f: kw[f"{f}_key"] for f in Columns.__dataclass_fields__}),
        split=kw["split"],
        on_bad=kw["on_bad_record"],
        max_bad_share=kw["max_bad_share"],
        conversations=kw.get("conversations", "passthrough"),
        system_policy=kw.get("system_policy", "group"),
        strict_conversations=kw["strict_conversations"],
        over_budget=kw.get("over_budget", "split"),
        max_record_mb=kw["max_record_mb"],
    )


def make_outputs(output: str | None, **kw: Any) -> OutputOptions:
    """The :class:`OutputOptions` of ``-o`` and the write options (and ``--summary``, ``--rejects``,
    ``--rejects-full`` where the command has them); no output (``augment --dry-run``) writes nothing."""
    from mosaicit.io.dataset_info import default_path

    info = kw["dataset_info"]
    if output is None:
        info = None
    elif info == "":
        info = str(default_path(output))
    return OutputOptions(
        path=output,
        output_format=kw["output_format"],
        with_meta=not kw["no_meta"],
        summary=kw.get("summary_path"),
        rejects=kw.get("rejects_path"),
        dataset_info=info,
        rejects_full=kw.get("rejects_full", False),
        output_parts=kw.get("output_parts"),
    )


class RegisteredChoice(click.Choice):  # type: ignore[type-arg]
    """A choice among the names a registry holds when the command runs (so that one registered
    after this module is imported, as a test or plugin does, is offered too)."""

    def __init__(self, registered: Callable[[], Sequence[str]]) -> None:
        self._registered = registered
        super().__init__(registered())

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        """The names registered now."""
        return tuple(self._registered())

    @choices.setter
    def choices(self, _: Sequence[str]) -> None:
        """Set by click's constructor: the names come from the registry instead."""


executor_options = block(
    click.option(
        "--workers",
        type=int,
        default=None,
        help="Processes that measure records and compose epochs (or shards) in parallel, and the CPUs "
        "of a local Ray instance [default: the CPUs that other work is not keeping busy while the run "
        "starts up (niced work counts as free), at least 1; on a Ray cluster (--ray-address, "
        "$RAY_ADDRESS), its CPUs]. The output is the same for any value.",
    ),
    click.option(
        "--executor",
        type=RegisteredChoice(executor_names),
        default="workers",
        show_default=True,
        help="Where records are counted and composed: this process (local), --workers forked "
        "processes (workers), or a Ray cluster (ray; needs .[ray]). The output is the same for each.",
    ),
    click.option(
        "--shards",
        type=int,
        default=1,
        show_default=True,
        help="Compose each epoch as this many shards, dealt by a seeded hash of each record's FILE:ROW "
        "key (new partners every epoch); 1 is an unsharded run. The output depends on it, not on --executor.",
    ),
    click.option(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="The Ray cluster for --executor ray (HOST:PORT, ray://HOST:PORT or auto) "
        "[default: $RAY_ADDRESS, else a local Ray instance with --workers CPUs].",
    ),
    click.option(
        "--output-parts",
        type=click.Choice(part_types()),
        default=None,
        help="Make --output a folder of part files of this type, one per (group, epoch, shard), each "
        "written where it is composed (a Ray task, a worker); names sort in the written order, and "
        "the summary and rejects go beside the folder. [default: one output file]",
    ),
)


def make_execution(**kw: Any) -> dict[str, Any]:
    """The :class:`~mosaicit.run.spec.RunSpec` fields of the executor options."""
    return {
        "workers": kw["workers"],
        "executor": kw["executor"],
        "shards": kw["shards"],
        "ray_address": kw["ray_address"],
    }
