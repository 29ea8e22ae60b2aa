"""Files in, files out, from the API's arguments: :func:`augment_dataset` (mosaic) and
:func:`convert_dataset` (only reshape), each building a :class:`~mosaicit.run.spec.RunSpec` and
running it (:func:`mosaicit.run.augment.augment`, :func:`mosaicit.run.convert.convert`)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from mosaicit.io.commit import committed_together
from mosaicit.plan.config import MosaicConfig
from mosaicit.run.augment import augment
from mosaicit.run.convert import convert
from mosaicit.run.spec import InputOptions, OutputOptions, RunSpec

#: The older names of some keywords of :func:`augment_dataset` and :func:`convert_dataset`, still taken.
RENAMED = {
    "tables_path": "tables",
    "summary_path": "summary",
    "rejects_path": "rejects",
    "dataset_info_path": "dataset_info",
}


def _renamed(options: dict[str, Any]) -> dict[str, Any]:
    return {RENAMED.get(name, name): value for name, value in options.items()}


@committed_together()
def augment_dataset(
    source: Any,
    output_path: str | Path,
    config: MosaicConfig | None = None,
    *,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Mosaic ``source`` (a path or a ``datasets.Dataset``) into ``output_path``; returns the summary.

    ``options`` are the options of ``mosaicit augment`` by their field names (see
    :meth:`~mosaicit.run.spec.RunSpec.of`): those of :class:`~mosaicit.plan.config.MosaicConfig`
    (over ``config``), the input's (``input_format``, ``columns``, ``on_bad``, ``conversations``,
    ``over_budget``...), the output's (``output_format``, ``with_meta``, ``summary``, ``rejects``,
    ``dataset_info``, ``rejects_full``, ``output_parts``) and the run's (``tokenizer``,
    ``template``, ``tables``, ``workers``, ``cache_dir``, ``use_cache``, ``executor``, ``shards``,
    ``ray_address``); each option's help says what it does (``mosaicit augment --help``).

    Single exchanges are mosaicked within their system-prompt group; other items follow the
    policies. Every written sample, rendered with ``template``, counts at most ``max_length``
    tokens, except rows passed through unbudgeted as ``over_budget="pass"`` asks
    (:mod:`mosaicit.run.overbudget`). ``workers`` (default: the CPUs other work leaves free, see
    :class:`~mosaicit.run.workers.CoreLook`) measure records and compose epochs in parallel;
    token counts are cached under ``cache_dir`` (default
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
    The same run from a :class:`~mosaicit.run.spec.RunSpec`: :func:`~mosaicit.run.augment.augment`.
    """
    spec = RunSpec.of(source, output_path, config, **_renamed(options))
    return augment(spec, progress).to_dict()


@committed_together()
def convert_dataset(source: Any, output_path: str | Path, **options: Any) -> dict[str, Any]:
    """Rewrite ``source`` in another shape or file type, one row per item, streaming; no mosaicking.

    ``options`` are the input's and the output's options of :func:`augment_dataset`
    (``input_format``, ``columns``, ``on_bad``, ``output_format``, ``with_meta``, ``rejects``,
    ``dataset_info``, ``rejects_full``...). Kept keys (``id``, ``count``, ``mosaic``) follow each
    row, in input order. Conversations are repaired and broken records rejected as in
    :func:`augment_dataset`. The output, the rejects and the dataset_info.json are committed
    together, or none is changed. Returns a small summary.
    """
    options = _renamed(options)
    taken = {f.name for kind in (InputOptions, OutputOptions) for f in fields(kind)} - {"path"}
    for name in options:
        if name not in taken:
            raise TypeError(f"convert_dataset() got an unexpected keyword argument {name!r}")
    return convert(RunSpec.of(source, output_path, **options))
