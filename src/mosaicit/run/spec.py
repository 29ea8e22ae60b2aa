"""The run spec: everything one run needs, validated once and frozen, built from CLI options or API
arguments; :func:`mosaicit.run.assemble.open_run` opens a run from it.

Errors name the spec's parameters (``input_format``, ``output_format``...), as the library's
callers know them; the CLI maps them to its options (:func:`mosaicit.clihelp.user_errors`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
from mosaicit.io.sources import MAX_BAD_SHARE, check_output_format, check_read_options
from mosaicit.plan.config import MosaicConfig, check_count
from mosaicit.plan.tables.loader import Tables
from mosaicit.render.templates import TEMPLATES
from mosaicit.run.executors import Listed, executor_named
from mosaicit.run.routing import check_policies


@dataclass(frozen=True)
class InputOptions:
    """How to read the input and what to do with each kind of item read."""

    input_format: str = "auto"
    columns: Columns = field(default_factory=Columns)
    split: str | None = None
    on_bad: str = "skip"
    max_bad_share: float = MAX_BAD_SHARE
    conversations: str = "passthrough"
    system_policy: str = "group"
    strict_conversations: bool = False
    #: What to do with a conversation or record over the budget (:mod:`mosaicit.run.overbudget`).
    over_budget: str = "split"
    max_record_mb: int = MAX_RECORD_MB

    def __post_init__(self) -> None:
        check_read_options(self.input_format, self.on_bad, self.max_bad_share, self.max_record_mb)
        check_policies(self.conversations, self.system_policy, self.over_budget)


@dataclass(frozen=True)
class OutputOptions:
    """What to write: the output (``path``; None writes nothing), its shape, and the side files.

    ``summary`` and ``rejects`` default to files beside the output (none for stdout);
    ``dataset_info`` is the LLaMA-Factory dataset_info.json to add an entry to, if any.
    ``output_parts`` (a file type's name: ``jsonl``, ``parquet``) makes ``path`` a folder of part
    files, one per compose unit, each written where its unit is composed (:mod:`mosaicit.io.parts`).
    """

    path: str | Path | None = None
    output_format: str = "alpaca"
    with_meta: bool = True
    summary: str | Path | None = None
    rejects: str | Path | None = None
    dataset_info: str | Path | None = None
    rejects_full: bool = False
    output_parts: str | None = None

    def __post_init__(self) -> None:
        check_output_format(self.output_format)
        if self.output_parts is not None:
            part_type(self.output_parts)
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
    default_summary, default_rejects = side_paths(output_path)
    return summary_path or default_summary, rejects_path or default_rejects


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
    URIs), and joins the cluster at ``ray_address`` if it joins one. Each epoch is composed as
    ``shards`` shards (:mod:`mosaicit.run.shards`); the records' stable keys name each file as
    :attr:`key_names` says."""

    source: Any
    config: MosaicConfig = field(default_factory=MosaicConfig)
    inputs: InputOptions = field(default_factory=InputOptions)
    outputs: OutputOptions = field(default_factory=OutputOptions)
    tokenizer: str | None = None
    template: str = "none"
    chat_template: str | Path | None = None
    tables: str | Path | Tables | None = None
    workers: int | None = 1
    cache_dir: str | Path | None = None
    use_cache: bool = False
    executor: str = "workers"
    shards: int = 1
    ray_address: str | None = None
    #: The name of each input file in the records' stable keys (see :attr:`mosaicit.io.inputs.Expanded.keys`).
    key_names: dict[str, str] = field(init=False, default_factory=dict, compare=False)
    #: The inputs as the executor listed them, for its ``read`` hook.
    listed: Listed = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ParamError("template", f"must be one of {', '.join(TEMPLATES)}, got {self.template!r}")
        if self.workers is not None:
            check_count("workers", self.workers, MAX_WORKERS)
        executor = executor_named(self.executor)
        check_count("shards", self.shards, MAX_SHARDS)
        listed = executor.list_inputs(self.source)
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
