"""Compare the executors of ``mosaicit augment`` (local, workers, ray) as the input grows.

Run ``python bench/bench_scale.py`` from the repository root (``--help`` for the options). For
each size in ``--sizes`` the deterministic dataset of ``bench_augment.py`` (real AlpacaEval and
ShareGPT texts, 1.5% of records over the budget) is split into ``--parts`` JSONL files in one
folder, and ``python -m mosaicit augment FOLDER --executor E --shards S`` runs once per
executor, each a fresh process (a Ray run starts its own local Ray instance, as a user's would).

Reported per run: wall seconds, records per second, microseconds per record (flat as records
grow means the run scales linearly), the peak RSS of the driver process, its largest private
(anonymous) resident memory, without the shared object-store pages it maps, and the largest
peak RSS of any other process of the run (a fork worker, a Ray worker or actor, Ray's own daemons),
sampled from /proc every 50 ms, and whether the output's bytes equal the first executor's.
``ray - workers`` is Ray's overhead over the fork workers at that size.

The 1M row of ``docs/performance.md`` comes from ``--sizes 1000000``; 10M records is not run
here: it is extrapolated from the per-record time, and is stated as such. Nothing here asserts
on time; the machine may be shared and busy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
EXECUTORS = ("local", "workers", "ray")
SAMPLE_EVERY = 0.05


def _bench_augment() -> Any:
    """The sibling benchmark module (its dataset builder is reused)."""
    spec = importlib.util.spec_from_file_location("bench_augment", ROOT / "bench" / "bench_augment.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def split_input(source: Path, parts: int, folder: Path) -> Path:
    """``source`` (JSONL) cut into ``parts`` consecutive files in ``folder``."""
    lines = source.read_text(encoding="utf-8").splitlines(True)
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(lines) // parts)
    for k in range(parts):
        part = "".join(lines[k * step : (k + 1) * step])
        (folder / f"part-{k:03d}.jsonl").write_text(part, encoding="utf-8")
    return folder


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                out.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _anon_kb(pid: int) -> int:
    """The process's private (anonymous) resident memory now: its own heap, without the shared
    pages it maps (Ray's object store, the file cache)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; its wall seconds, the peak RSS (VmHWM) of each process of its tree, and the
    driver's largest private resident memory (RssAnon) seen."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    anon = 0
    while proc.poll() is None:
        anon = max(anon, _anon_kb(proc.pid))
        todo, seen = [proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            peaks[pid] = max(peaks.get(pid, 0), _hwm_kb(pid))
            todo.extend(_children(pid))
        time.sleep(SAMPLE_EVERY)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    others = [kb for pid, kb in peaks.items() if pid != proc.pid]
    return {
        "wall_s": round(wall, 2),
        "driver_peak_mb": round(peaks.get(proc.pid, 0) / 1024, 1),
        "driver_anon_mb": round(anon / 1024, 1),
        "other_peak_mb": round(max(others, default=0) / 1024, 1),
        "processes": len(peaks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,8000", help="Record counts, comma-separated.")
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="Fork workers, and the local Ray CPUs.")
    parser.add_argument("--parts", type=int, default=4, help="Input files per size.")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "mosaicit-bench")
    parser.add_argument("--json", type=Path, default=None, help="Also save the figures here.")
    parser.add_argument(
        "--output-parts",
        action="store_true",
        help="Write JSONL part files (--output-parts jsonl): the rows stay where they are composed.",
    )
    args = parser.parse_args()
    bench = _bench_augment()
    tokenizer = bench.DEFAULT_ASSETS / bench.TOKENIZER_REL
    pool = bench.load_pool(bench.DEFAULT_ASSETS, bench.load_tokenizer(tokenizer))
    rows = []
    print(f"{'records':>9} {'executor':>8} {'wall s':>8} {'rec/s':>8} {'us/rec':>8} "
          f"{'driver MB':>9} {'anon MB':>8} {'other MB':>8} {'procs':>5} same")  # fmt: skip
    for n in [int(s) for s in args.sizes.split(",")]:
        data = bench.ensure_dataset(args.data_dir, n, bench.SEED, pool, lambda m: print(m, file=sys.stderr))
        folder = split_input(data, args.parts, args.data_dir / f"parts-{data.stem}-{args.parts}")
        first: bytes | None = None
        for executor in args.executors.split(","):
            parts = args.output_parts
            out = args.data_dir / (f"out-{n}-{executor}-parts" if parts else f"out-{n}-{executor}.jsonl")
            cmd = [
                sys.executable, "-m", "mosaicit", "augment", str(folder), "-o", str(out), "-q", "--no-cache",
                "--tokenizer", str(tokenizer), "--max-length", str(bench.MAX_LENGTH),
                "--epochs", str(args.epochs), "--executor", executor, "--shards", str(args.shards),
                "--workers", str(args.workers), *(["--output-parts", "jsonl"] if parts else []),
            ]  # fmt: skip
            figures = run(cmd)
            # the JSONL parts in name order are the bytes of the one-file output
            parts_in_order = sorted(out.glob("part-*"))
            written = b"".join(p.read_bytes() for p in parts_in_order) if parts else out.read_bytes()
            first = written if first is None else first
            row = {"records": n, "executor": executor, **figures, "same_bytes": written == first}
            row["records_per_s"] = round(n / figures["wall_s"])
            row["us_per_record"] = round(figures["wall_s"] / n * 1e6, 1)
            rows.append(row)
            print(f"{n:>9,} {executor:>8} {row['wall_s']:>8} {row['records_per_s']:>8} "
                  f"{row['us_per_record']:>8} {row['driver_peak_mb']:>9} {row['driver_anon_mb']:>8} "
                  f"{row['other_peak_mb']:>8} "
                  f"{row['processes']:>5} {'yes' if row['same_bytes'] else 'NO'}", flush=True)  # fmt: skip
        walls = {r["executor"]: r["wall_s"] for r in rows if r["records"] == n}
        if "ray" in walls and "workers" in walls:
            print(f"{'':>9} ray - workers: {walls['ray'] - walls['workers']:+.1f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
