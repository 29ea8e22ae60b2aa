"""The LLaMA-Factory ``dataset_info.json`` entry that describes an output file.

LLaMA-Factory reads two formattings: ``alpaca`` (columns prompt/query/response, optional
system and history) and ``sharegpt`` (a message-list column, with ``tags`` naming the role
and content keys and the role values), which also covers OpenAI-style ``messages``. It has no
prompt/completion formatting. Each record shape declares its entry
(:attr:`mosaicit.io.shapes.RecordShape.dataset_info`). ``file_name`` is relative to the folder of
dataset_info.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mosaicit.errors import MosaicitError, listed
from mosaicit.io.atomic import atomic_open
from mosaicit.io.jsonstream import EncodedRow
from mosaicit.io.shapes import llama_factory_names, shape_of


class ColumnSeen:
    """Passes rows through while noting which optional columns hold a value in any row."""

    def __init__(self) -> None:
        self.present: set[str] = set()

    def watch(self, rows: Iterable[dict[str, Any] | EncodedRow]) -> Iterator[dict[str, Any] | EncodedRow]:
        """Yield ``rows`` unchanged."""
        for row in rows:
            for key in ("system", "history"):
                if key in row.filled if isinstance(row, EncodedRow) else row.get(key):
                    self.present.add(key)
            yield row


def entry(file_name: str, shape: str, present: Iterable[str] = ()) -> dict[str, Any]:
    """The dataset_info.json entry for a file of ``shape`` (``present``: optional columns used), as
    the shape declares it (:attr:`mosaicit.io.shapes.RecordShape.dataset_info`)."""
    info = shape_of(shape).dataset_info
    if info is None:
        readable = listed(llama_factory_names())
        raise MosaicitError(f"--emit-dataset-info: LLaMA-Factory has no {shape} formatting; write {readable}")
    return {"file_name": file_name, **info(set(present))}


def default_path(output: str | Path) -> Path:
    """dataset_info.json in the output's folder."""
    return Path(output).resolve().parent / "dataset_info.json"


def check_target(path: str | Path, shape: str) -> None:
    """Fail before any work when the entry cannot be written."""
    entry("x", shape)
    target = Path(path)
    if target.is_dir():
        raise MosaicitError(f"--emit-dataset-info: {target} is a folder")
    if target.exists():
        _load(target)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MosaicitError(f"{path}: cannot add an entry to it: {exc}") from None
    if not isinstance(data, dict):
        raise MosaicitError(f"{path}: cannot add an entry to it: not a JSON object")
    return data


def write_entry(path: str | Path, output: str | Path, shape: str, present: Iterable[str] = ()) -> str:
    """Add (or replace) the output's entry in the dataset_info.json at ``path``; returns its name."""
    target = Path(path)
    data = _load(target) if target.exists() else {}
    out = Path(output).resolve()
    name = out.name.split(".")[0] or "mosaicit"
    file_name = os.path.relpath(out, target.resolve().parent)
    data[name] = entry(Path(file_name).as_posix(), shape, present)
    with atomic_open(target) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return name
