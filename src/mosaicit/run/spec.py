"""The run spec: everything one run needs, validated once and frozen, built from CLI options or API
arguments; :func:`mosaicit.run.assemble.open_run` opens a run from it.

Errors name the spec's parameters (``input_format``, ``output_format``...), as the library's
callers know them; the CLI maps them to its options (:func:`mosaicit.clihelp.user_errors`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mosaicit.budget.tokens import tokenizer_files
from mosaicit.errors import ParamError, listed
from mosaicit.io import dataset_info
from mosaicit.io.filetypes import FileType, output_type, part_type, part_types
from mosaicit.io.formats import Columns
from mosaicit.io.jsonstream import MAX_RECORD_MB
from mosaicit.io.outputs import STDOUT
from mosaicit.io.parts import check_part_folder
from mosaicit.io.paths import check_distinct
from mosaicit.io.shapes import input_formats, shape_names
from mosaicit.io.sources import BAD_RECORD_POLICIES, MAX_BAD_SHARE
from mosaicit.io.store import is_uri
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.tables.loader import Tables
from mosaicit.render.templates import TEMPLATES
from mosaicit.run.executors import Listed, executor_named, executor_names, executor_options
from mosaicit.run.overbudget import OVER_BUDGET_POLICIES
from mosaicit.run.routing import CONVERSATION_POLICIES, SYSTEM_POLICIES
from mosaicit.types.options import between, check_options, count, declared, flag_off, nested, option


@dataclass(frozen=True, kw_only=True)
class InputOptions:
    """How to read the input and what to do with each kind of item read."""

    input_format: str = option(
        "auto",
        help="The input's shape; auto detects it from the first record.",
        block="read",
        choices=input_formats,
    )
    split: str | None = option(None, help="The split to read from a saved DatasetDict folder.", block="read")
    columns: Columns = field(default_factory=Columns)
    strict_conversations: bool = option(
        False,
        help="Take ShareGPT/messages lists as they are: no repairs (dropping leading model turns "
        "and a trailing user turn, merging repeated roles); a list that needs one is malformed.",
        block="read",
    )
    max_bad_share: float = option(
        MAX_BAD_SHARE,
        help="Stop when more than this share of the records are rejected as broken "
        "(the input is likely in another shape than assumed).",
        block="read",
        check=between(0, 1),
    )
    max_record_mb: int = option(
        MAX_RECORD_MB,
        help="Stop with an error at a JSON record (a JSONL line, an array item) longer than this "
        "many MiB of text: the bound that stops a decompression bomb or a file without line breaks.",
        block="read",
        check=between(1, 2**20),
    )
    on_bad: str = option(
        "skip",
        flags=("--on-bad-record",),
        help="A malformed record is set aside in the rejects file (skip; see --max-bad-share) "
        "or stops the run (error).",
        block="read",
        choices=BAD_RECORD_POLICIES,
    )
    conversations: str = option(
        "passthrough",
        help="Multi-turn conversations: pass through unchanged, mosaic their first exchange, "
        "or split them into one record per exchange.",
        block="routing",
        choices=CONVERSATION_POLICIES,
    )
    system_policy: str = option(
        "group",
        help="Records with a system prompt: mosaic them only with records of the same system prompt "
        "(group), or pass them through unchanged.",
        block="routing",
        choices=SYSTEM_POLICIES,
    )
    #: What to do with a conversation or record over the budget (:mod:`mosaicit.run.overbudget`).
    over_budget: str = option(
        "split",
        help="A conversation over the budget: split it into runs of whole exchanges that each fit, "
        "trim it to its first exchanges that fit, pass it through unbudgeted (flagged in its mosaic "
        "column), or reject it. A single exchange over the budget is rejected unless 'pass'.",
        choices=OVER_BUDGET_POLICIES,
    )

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True)
class OutputOptions:
    """What to write: the output (``path``; None writes nothing), its shape, and the side files.

    ``summary`` and ``rejects`` default to files beside the output (none for stdout);
    ``dataset_info`` is the LLaMA-Factory dataset_info.json to add an entry to, if any (``""``:
    the one beside the output).
    ``output_parts`` (a file type's name: ``jsonl``, ``parquet``) makes ``path`` a folder of part
    files, one per compose unit, each written where its unit is composed (:mod:`mosaicit.io.parts`).
    """

    path: str | Path | None = None
    output_format: str = option(
        "alpaca",
        help="The output's shape; the file type follows OUTPUT's extension (.json, .jsonl, .parquet).",
        block="write",
        choices=shape_names,
    )
    with_meta: bool = option(
        True,
        flags=("--no-meta",),
        help="Leave out the 'mosaic' provenance column.",
        block="write",
        parse=flag_off,
    )
    summary: str | Path | None = option(
        None, help="Run summary path [default: OUTPUT.summary.json].", path="file", recorded=False
    )
    rejects: str | Path | None = option(
        None, help="Rejected records path [default: OUTPUT.rejects.jsonl].", path="file", recorded=False
    )
    dataset_info: str | Path | None = option(
        None,
        flags=("--emit-dataset-info",),
        help="Add the output's LLaMA-Factory entry to PATH (no PATH: dataset_info.json beside OUTPUT).",
        block="write",
        metavar="[PATH]",
        flag_value="",
    )
    rejects_full: bool = option(False, help="Copy each rejected record in full into the rejects file.")
    output_parts: str | None = option(
        None,
        help="Make --output a folder of part files of this type, one per (group, epoch, shard), each "
        "written where it is composed (a Ray task, a worker); names sort in the written order, and "
        "the summary and rejects go beside the folder. [default: one output file]",
        block="execution",
        choices=part_types,
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.dataset_info == "":
            beside = None if self.path is None else str(dataset_info.default_path(self.path))
            object.__setattr__(self, "dataset_info", beside)
        if self.output_parts is not None:
            if self.path is None or str(self.path) == STDOUT:
                raise ParamError("output_parts", "needs an output folder, not - (stdout)")
            if Path(self.path).name in ("", ".."):
                why = "--output-parts needs a folder by its name, not . .. or /"
                raise ParamError("output", f": {self.path}: {why}")
            return
        if self.path is None:
            return
        if str(self.path).endswith(("/", os.sep)) or os.path.isdir(self.path):
            hint = f"add --output-parts {listed(part_types())} to write part files in it"
            raise ParamError("output", f": {self.path} is a folder; {hint}")
        output_type(self.path)

    @property
    def file_type(self) -> FileType | None:
        """The file type written: that of the part files, else the output's by its name (None when
        nothing is written)."""
        if self.output_parts is not None:
            return part_type(self.output_parts)
        return None if self.path is None else output_type(self.path)

    def check_targets(self) -> None:
        """A clear error, before anything is read, when no dataset_info.json entry can be written
        (after the paths are known to be distinct: see :class:`RunSpec`)."""
        if self.dataset_info is not None and self.path is not None:
            if str(self.path) == STDOUT:
                raise ParamError("dataset_info", "needs an output file, not - (stdout)")
            if is_uri(self.path):
                raise ParamError("dataset_info", "is written beside a local output, not in an object store")
            dataset_info.check_target(self.dataset_info, self.output_format)
        if self.output_parts is not None and self.path is not None:
            check_part_folder(self.path)

    @property
    def summary_target(self) -> str | Path | None:
        """Where the summary goes: as given, else beside the output (nowhere for stdout)."""
        return side_targets(self.path, self.summary, self.rejects)[0] if self.path is not None else None

    @property
    def rejects_target(self) -> str | Path | None:
        """Where the rejects go: as given, else beside the output (nowhere for stdout)."""
        return side_targets(self.path, self.summary, self.rejects)[1] if self.path is not None else None


def side_paths(output: str | Path) -> tuple[Path, Path]:
    """Default summary and rejects paths beside ``output``."""
    out = Path(output)
    return out.with_name(out.name + ".summary.json"), out.with_name(out.name + ".rejects.jsonl")


def side_targets(
    output_path: str | Path, summary_path: str | Path | None, rejects_path: str | Path | None
) -> tuple[str | Path | None, str | Path | None]:
    """Where the summary and the rejects go: as given, else beside the output (nowhere for stdout)."""
    if str(output_path) == STDOUT:
        return summary_path, rejects_path
    default_summary: str | Path
    default_rejects: str | Path
    if is_uri(output_path):  # objects beside the folder (a prefix) in the object store
        name = str(output_path).rstrip("/")
        default_summary, default_rejects = f"{name}.summary.json", f"{name}.rejects.jsonl"
    else:
        default_summary, default_rejects = side_paths(output_path)
    return summary_path or default_summary, rejects_path or default_rejects


def _take(options: dict[str, Any], kind: type) -> dict[str, Any]:
    """Take out of ``options`` the ones that are fields of ``kind``."""
    names = {f.name for f in fields(kind) if f.init}
    return {name: options.pop(name) for name in list(options) if name in names}


def _check_outside(named: dict[str, Any], folder: str | Path) -> None:
    """One clear error if a file the run reads or writes (``named``: label -> path, paths or None)
    lies in the part folder that the run replaces."""
    root = os.path.realpath(folder)
    for label, paths in named.items():
        for path in paths if isinstance(paths, list | tuple) else [paths]:
            if isinstance(path, str | os.PathLike) and str(path) != STDOUT:
                if os.path.commonpath([root, os.path.realpath(path)]) == root:
                    where = "lies in this folder, which --output-parts replaces"
                    raise ParamError("output", f": {folder}: {label} ({path}) {where}")


#: The most shards (a part file's name holds the shard in five digits: :mod:`mosaicit.io.parts`).
MAX_SHARDS = 100_000
#: The most worker processes (or CPUs of a local cluster).
MAX_WORKERS = 1024


@dataclass(frozen=True)
class RunSpec:
    """One run: its input, its options, its tokenizer, template and tables, where it writes, and how
    it is executed. ``source`` (paths, globs, folders, ``-``; or a ``datasets.Dataset`` or a list
    of dicts) is expanded once, here (:class:`~mosaicit.io.inputs.Expanded`). ``workers``: processes
    that measure and compose (1: this one; None: the CPUs that other work leaves free);
    ``cache_dir``/``use_cache``: the token-count cache.

    ``executor`` names a registered executor (:mod:`mosaicit.run.executors`), which lists the
    inputs once, here (:meth:`~mosaicit.run.executors.base.Executor.list_inputs`; one may take
    URIs), and is opened with the options it declares itself (:attr:`executor_options`, as
    ``ray_address``). Each epoch is composed as ``shards`` shards (:mod:`mosaicit.run.shards`);
    the records' stable keys name each file as :attr:`key_names` says.

    Every option of a run is a declared field (:mod:`mosaicit.types.options`) of this class or of
    the ones it holds; :meth:`of` builds a spec from them by name, as the Python API takes them."""

    source: Any
    config: MosaicConfig = field(default_factory=MosaicConfig)
    inputs: InputOptions = field(default_factory=InputOptions)
    outputs: OutputOptions = field(default_factory=OutputOptions)
    tokenizer: str | None = option(
        None,
        flags=("--tokenizer", "--model-name-or-path"),
        help="tokenizer.json, tokenizer.model, *.tiktoken, a folder holding one, or a hub id "
        "already in the local Hugging Face cache. Default: the bundled Mistral-7B v0.1.",
        block="budget",
    )
    template: str = option(
        "none",
        help="What the budget counts: none (bare instruction+output), vicuna_v1.1 (FastChat), chatml, "
        "or chat (the --tokenizer folder's own chat template); special tokens and system prompt included.",
        block="template",
        choices=TEMPLATES,
    )
    chat_template: str | Path | None = option(
        None,
        help="A Jinja chat template file to use with --template chat instead of the tokenizer's.",
        block="template",
        path="existing file",
    )
    tables: str | Path | Tables | None = option(
        None,
        help="Template tables (YAML/JSON) to use instead of the packaged ones.",
        block="budget",
        path="file",
    )
    workers: int | None = option(
        None,
        help="Processes that measure records and compose epochs (or shards) in parallel, and the CPUs "
        "of a local Ray instance [default: the CPUs that other work is not keeping busy while the run "
        "starts up (niced work counts as free), at least 1; on a Ray cluster (--ray-address, "
        "$RAY_ADDRESS), its CPUs]. The output is the same for any value.",
        block="execution",
        type=int,
        check=count(MAX_WORKERS),
        recorded=False,
    )
    cache_dir: str | Path | None = option(
        None,
        help="Where token counts are kept between runs [default: $MOSAICIT_CACHE_DIR, "
        "else $XDG_CACHE_HOME/mosaicit, else ~/.cache/mosaicit]. Entries are keyed by a private "
        "per-user secret ($XDG_CACHE_HOME/mosaicit.key, else ~/.cache/mosaicit.key) and spot-checked "
        "against the tokenizer.",
        path="folder",
        recorded=False,
    )
    use_cache: bool = option(
        True,
        flags=("--no-cache",),
        help="Neither read nor write the token-count cache.",
        parse=flag_off,
        recorded=False,
    )
    executor: str = option(
        "workers",
        help="Where records are counted and composed: this process (local), --workers forked "
        "processes (workers), or a Ray cluster (ray; needs .[ray]). The output is the same for each.",
        block="execution",
        choices=executor_names,
        recorded=False,
    )
    shards: int = option(
        1,
        help="Compose each epoch as this many shards, dealt by a seeded hash of each record's FILE:ROW "
        "key (new partners every epoch); 1 is an unsharded run. The output depends on it, not on --executor.",
        block="execution",
        check=count(MAX_SHARDS),
    )
    #: The values of options that executors declare (:attr:`Executor.options
    #: <mosaicit.run.executors.base.Executor.options>`, as ``ray_address``), by name.
    executor_options: dict[str, Any] = field(default_factory=dict)
    #: The name of each input file in the records' stable keys (see :attr:`mosaicit.io.inputs.Expanded.keys`).
    key_names: dict[str, str] = field(init=False, default_factory=dict, compare=False)
    #: The inputs as the executor listed them, for its ``read`` hook.
    listed: Listed = field(init=False, compare=False, repr=False)
    #: The executor's options (an instance of its ``options``), for its ``open``.
    executor_settings: Any = field(init=False, compare=False, repr=False)

    @classmethod
    def of(
        cls, source: Any, output: str | Path | None = None, config: MosaicConfig | None = None, **options: Any
    ) -> RunSpec:
        """The spec of ``source`` written to ``output`` (None: nowhere), with ``options`` by the names
        of the fields of this class, of :class:`~mosaicit.plan.config.MosaicConfig` (over ``config``),
        of :class:`InputOptions` and of :class:`OutputOptions`; an unknown name is a ``TypeError``."""
        unknown = sorted(set(options) - cls.option_names())
        if unknown:
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}: not an option of a run")
        held = {name: _take(options, kind) for name, kind in nested(cls).items()}
        own = _take(options, cls)
        return cls(
            source,
            replace(config or MosaicConfig(), **held["config"]),
            InputOptions(**held["inputs"]),
            OutputOptions(path=output, **held["outputs"]),
            **own,
            executor_options=_given(options),  # what is left: the executors' own options
        )

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """Every name :meth:`of` takes an option by, the registered executors' options included."""
        names = {f.name for kind in (cls, *nested(cls).values()) for f in fields(kind) if f.init}
        names |= {d.name for d in executor_options()}
        return frozenset(names - {"source", "path", "executor_options", *nested(cls)})

    def __post_init__(self) -> None:
        check_options(self)
        kind = executor_named(self.executor)
        unknown = sorted(set(self.executor_options) - {d.name for d in executor_options()})
        if unknown:
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}: not an option of an executor")
        mine = {d.name for d in declared(kind.options)}
        settings = kind.options(**{k: v for k, v in self.executor_options.items() if k in mine})
        check_options(settings)
        object.__setattr__(self, "executor_settings", settings)
        listed = kind.list_inputs(self.source)
        object.__setattr__(self, "listed", listed)
        object.__setattr__(self, "source", listed.source)
        object.__setattr__(self, "key_names", listed.keys)
        if self.outputs.path is not None:
            read = {
                "INPUT": listed.local,
                "--tables": None if isinstance(self.tables, Tables) else self.tables,
                "--tokenizer": tokenizer_files(self.tokenizer, with_folder=self.template == "chat"),
                "--chat-template": self.chat_template,
            }
            written = {
                "--rejects": self.outputs.rejects_target,
                "--summary": self.outputs.summary_target,
                "--emit-dataset-info": self.outputs.dataset_info,
            }
            output = None if self.outputs.output_parts else self.outputs.path
            check_distinct(read, {"--output": output, **written})
            if self.outputs.output_parts:
                _check_outside({**read, **written}, self.outputs.path)
            self.outputs.check_targets()


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The executors' options that are not at their declared defaults (a spec equals the spec
    that leaves them out)."""
    defaults = {d.name: d.default for d in executor_options()}
    return {k: v for k, v in options.items() if k not in defaults or v != defaults[k]}
