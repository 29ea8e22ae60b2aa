"""Hugging Face datasets in: a folder written by ``save_to_disk``, or a ``datasets.Dataset`` object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError
from mosaicit.extras import require

BATCH_ROWS = 1024


def require_datasets() -> Any:
    """The datasets module, or a clear error saying how to install it."""
    return require("datasets")


def is_saved_dataset(path: str | Path) -> bool:
    """True for a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    p = Path(path)
    return p.is_dir() and any((p / name).is_file() for name in ("state.json", "dataset_dict.json"))


def load_saved(path: str | Path, split: str | None = None) -> Any:
    """Load a saved dataset (memory-mapped); a DatasetDict needs ``split`` unless it has one split."""
    datasets = require_datasets()
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError/ValueError variants
        raise InputError(str(path), f"not a readable saved dataset: {str(exc)[:200]}") from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if split is None and len(names) == 1:
            split = names[0]
        if split not in loaded:
            raise InputError(str(path), f"pick a split with --split (this dataset has: {', '.join(names)})")
        return loaded[split]
    if split is not None and str(loaded.split) != split:
        raise InputError(str(path), f"--split {split}: this folder holds one dataset (split {loaded.split})")
    return loaded


def iter_dataset(dataset: Any, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, row dict)`` from a ``datasets.Dataset`` (or any iterable of dicts), by batch."""
    if hasattr(dataset, "iter") and hasattr(dataset, "column_names"):
        index = 0
        for batch in dataset.iter(batch_size=batch_rows):
            columns = list(batch)
            for values in zip(*(batch[c] for c in columns), strict=True):
                yield index, dict(zip(columns, values, strict=True))
                index += 1
        return
    yield from enumerate(dataset)
