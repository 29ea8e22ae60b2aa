"""Files in, files out, from the API's arguments: :func:`augment_dataset` (mosaic) and
:func:`convert_dataset` (only reshape), each building a :class:`~mosaicit.run.spec.RunSpec` and
running it (:func:`mosaicit.run.augment.augment`, :func:`mosaicit.run.convert.convert`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.io.commit import committed_together
from mosaicit.io.formats import Columns
from mosaicit.io.sources import MAX_BAD_SHARE
from mosaicit.plan.config import MosaicConfig
from mosaicit.run.augment import (
    augment,
)
from mosaicit.run.convert import convert
from mosaicit.run.spec import InputOptions, OutputOptions, RunSpec


@dataclass(frozen=True)
class FormatOptions:
    """How to read the input and write the output, and the policies for conversations."""

    input_format: str = "auto"
    columns: Columns = field(default_factory=Columns)
    split: str | None = None
    output_format: str = "alpaca"
    conversations: str = "passthrough"
    system_policy: str = "group"
    template: str = "none"
    chat_template: str | None = None
    strict_conversations: bool = False
    max_bad_share: float = MAX_BAD_SHARE
    over_budget: str = "split"


def run_spec(
    source: Any,
    output_path: str | Path | None,
    config: MosaicConfig | None = None,
    formats: FormatOptions | None = None,
    on_bad: str = "skip",
    **options: Any,
) -> RunSpec:
    """The :class:`~mosaicit.run.spec.RunSpec` of the API's arguments: ``formats`` split into the
    input options, the output options and the template; ``options`` are the other
    :class:`RunSpec` fields and :class:`~mosaicit.run.spec.OutputOptions` fields."""
    fmt = formats or FormatOptions()
    output_fields = {k: options.pop(k) for k in list(options) if k in OutputOptions.__dataclass_fields__}
    return RunSpec(
        source,
        config or MosaicConfig(),
        InputOptions(
            fmt.input_format,
            fmt.columns,
            fmt.split,
            on_bad,
            fmt.max_bad_share,
            fmt.conversations,
            fmt.system_policy,
            fmt.strict_conversations,
            fmt.over_budget,
        ),  # fmt: skip
        OutputOptions(output_path, fmt.output_format, **output_fields),
        template=fmt.template,
        chat_template=fmt.chat_template,
        **options,
    )


@committed_together()
def augment_dataset(
    source: Any,
    output_path: str | Path,
    config: MosaicConfig,
    formats: FormatOptions | None = None,
    tokenizer: str | None = None,
    tables_path: str | Path | None = None,
    with_meta: bool = True,
    summary_path: str | Path | None = None,
    rejects_path: str | Path | None = None,
    on_bad: str = "skip",
    progress: bool = False,
    dataset_info_path: str | Path | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    rejects_full: bool = False,
    executor: str = "workers",
    shards: int = 1,
    ray_address: str | None = None,
    output_parts: str | None = None,
) -> dict[str, Any]:
    """Mosaic ``source`` (a path or a ``datasets.Dataset``) into ``output_path``; returns the summary.

    Single exchanges are mosaicked within their system-prompt group; other items follow the
    policies in ``formats``. Every written sample, rendered with ``formats.template``, counts
    at most ``config.max_length`` tokens, except rows passed through unbudgeted as
    ``formats.over_budget="pass"`` asks (:mod:`mosaicit.run.overbudget`). ``workers``
    (default: the CPUs other work leaves free, see :class:`~mosaicit.run.workers.CoreLook`)
    measure records and compose epochs in parallel; token counts are cached under ``cache_dir`` (default
    :func:`~mosaicit.budget.cache.default_cache_dir`) unless ``use_cache`` is False. Records wait in
    spool files while composing. Every output is committed together when the whole run
    succeeds (see :mod:`mosaicit.io.commit`); none of them is changed otherwise. The outputs
    must be distinct files, and none may be an input. A broken
    input record is rejected (``on_bad="skip"``) or stops the run (``"error"``); the rejects
    file holds each one's index, file, row, turn, id, reason and detail, and the record itself when
    ``rejects_full``. ``source`` may be several paths (see :mod:`mosaicit.io.inputs`).
    ``executor`` (``local``, ``workers``, ``ray`` at ``ray_address``) and ``shards``: see
    :class:`~mosaicit.run.spec.RunSpec`; every executor writes the same bytes. With
    ``output_parts`` (``jsonl`` or ``parquet``), ``output_path`` is a folder of part files, one per
    compose unit, written where each unit is composed (:mod:`mosaicit.io.parts`).
    The same run from a :class:`~mosaicit.run.spec.RunSpec`: :func:`augment`.
    """
    spec = run_spec(
        source, output_path, config, formats, on_bad,
        tokenizer=tokenizer, tables=tables_path, with_meta=with_meta, summary=summary_path,
        rejects=rejects_path, dataset_info=dataset_info_path, rejects_full=rejects_full,
        workers=workers, cache_dir=cache_dir, use_cache=use_cache,
        executor=executor, shards=shards, ray_address=ray_address, output_parts=output_parts,
    )  # fmt: skip
    return augment(spec, progress).to_dict()


@committed_together()
def convert_dataset(
    source: Any,
    output_path: str | Path,
    formats: FormatOptions | None = None,
    with_meta: bool = True,
    on_bad: str = "skip",
    rejects_path: str | Path | None = None,
    dataset_info_path: str | Path | None = None,
    rejects_full: bool = False,
) -> dict[str, Any]:
    """Rewrite ``source`` in another shape or file type, one row per item, streaming; no mosaicking.

    Kept keys (``id``, ``count``, ``mosaic``) follow each row, in input order. Conversations are
    repaired and broken records rejected as in :func:`augment_dataset`. The output, the rejects
    and the dataset_info.json are committed together, or none is changed. Returns a small summary.
    """
    spec = run_spec(
        source, output_path, None, formats, on_bad, with_meta=with_meta, rejects=rejects_path,
        dataset_info=dataset_info_path, rejects_full=rejects_full,
    )  # fmt: skip
    return convert(spec)
