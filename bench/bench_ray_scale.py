"""Ray at scale against the other executors: wall, CPU and memory per process kind, same run.

Run ``python bench/bench_ray_scale.py`` from the repository root (``--help`` for the options;
the defaults are 100k and 1M records, which take tens of minutes on a small machine: use
``--sizes`` for a quick look). For each size the deterministic dataset of ``bench_augment.py``
(real AlpacaEval and ShareGPT texts) is cut into ``--parts`` JSONL files, and
``python -m mosaicit augment FOLDER --executor E --shards S`` runs once per executor (local,
workers, ray), each a fresh process; a Ray run starts its own local Ray instance, as a user's
would (its start, ~15 s and ~8 CPU-s on one machine, is part of its figures).

The process tree of each run is sampled from /proc, its CPU every ``--every`` seconds, its
memory every fourth sample (the sampler competes with the run for the CPUs). Reported per run:

- wall seconds and records per second;
- CPU seconds of the whole tree (the larger of the sum of each process's last-seen CPU time and
  what ``wait4`` reports for the driver and the children it reaped), and where it went: each
  process's CPU between two samples is put on what it was doing (its kind; for a Ray worker, the
  task its title names, ``ray::share_file``);
- per process kind (driver; fork worker; Ray worker or actor; raylet; GCS; other Ray daemons):
  how many there were and the largest peak RSS (VmHWM) among them; and the driver's largest
  private (anonymous) resident memory;
- PSS (proportional set size, from ``smaps_rollup``, where the kernel has it): the largest total
  of the tree at one instant (shared pages, such as the object store's, counted once), and the
  driver's largest.

Then the ratios of the same run: Ray over workers, Ray over local (wall, CPU, total PSS), and a
10M-records line per executor **extrapolated** linearly from the largest size's per-record time
and CPU (labelled as such: 10M is not run). Nothing here asserts on time; the machine may be
shared and busy, so compare rows of one invocation only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
EXECUTORS = ("local", "workers", "ray")
TICK = os.sysconf("SC_CLK_TCK")
EXTRAPOLATE_TO = 10_000_000
#: The tree, memory and PSS are read every this many samples of the CPU.
MEMORY_EVERY = 4


def _sibling(name: str) -> Any:
    """A sibling benchmark module (``bench_augment``: the dataset; ``bench_scale``: the split)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _field_kb(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 if it has gone)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return 0.0
    fields = stat.rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def kind_of(pid: int, driver: int) -> str:
    """The kind of a process of the run's tree, by its command line."""
    if pid == driver:
        return "driver"
    cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
    program = os.path.basename(cmd.split(" ", 1)[0])
    if program in ("raylet", "gcs_server"):  # (the raylet's arguments name the worker script)
        return "gcs" if program == "gcs_server" else "raylet"
    if "default_worker.py" in cmd or cmd.startswith("ray::"):
        return "ray worker"
    if "ray" in cmd:
        return "ray daemon"
    if "mosaicit" in cmd:
        return "fork worker"
    return f"other ({program or 'gone'})"


def _doing(pid: int, kind: str) -> str:
    """What a process is doing now: a Ray worker's task (its title, ``ray::share_file``), else
    its kind. CPU time is put on what each process was doing when it was sampled."""
    if kind != "ray worker":
        return kind
    title = _read(f"/proc/{pid}/cmdline").split("\0", 1)[0]
    return title.split(" ", 1)[0] if title.startswith("ray::") else kind


def _tree(root: int) -> list[int]:
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        for task in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else ():
            todo.extend(int(c) for c in _read(f"/proc/{pid}/task/{task}/children").split())
    return seen


def run(cmd: list[str], every: float) -> dict[str, Any]:
    """Run ``cmd`` and sample its process tree; its figures (see the module's docstring). The
    sampler's own work competes with the run for the CPUs, so it is kept light: each process's
    CPU (and a Ray worker's title) every ``every`` seconds; the tree (walking every thread of
    every process for children), memory and PSS (``smaps_rollup``, which walks the page tables)
    every :data:`MEMORY_EVERY` samples."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    kinds: dict[int, str] = {}
    cpu: dict[int, float] = {}
    doing: dict[str, float] = defaultdict(float)
    hwm: dict[int, int] = {}
    driver_anon = driver_pss = total_pss = 0
    status = None
    tree: list[int] = []
    for sample in itertools.count():
        if sample % MEMORY_EVERY == 0:
            tree = _tree(proc.pid)
        for pid in tree:
            kinds.setdefault(pid, kind_of(pid, proc.pid))
            was, cpu[pid] = cpu.get(pid, 0.0), max(cpu.get(pid, 0.0), _cpu_s(pid))
            doing[_doing(pid, kinds[pid])] += cpu[pid] - was
        if sample % MEMORY_EVERY == 0:
            pss_now = 0
            for pid in tree:
                status_text = _read(f"/proc/{pid}/status")
                hwm[pid] = max(hwm.get(pid, 0), _field_kb(status_text, "VmHWM:"))
                pss = _field_kb(_read(f"/proc/{pid}/smaps_rollup"), "Pss:")
                pss_now += pss
                if pid == proc.pid:
                    driver_pss = max(driver_pss, pss)
                    driver_anon = max(driver_anon, _field_kb(status_text, "RssAnon:"))
            total_pss = max(total_pss, pss_now)
        time.sleep(every)
        waited, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if waited:
            status = code
            break
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    reaped = usage.ru_utime + usage.ru_stime
    by_kind: dict[str, list[int]] = defaultdict(list)
    for pid, kind in kinds.items():
        by_kind[kind].append(hwm.get(pid, 0))
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(max(sum(cpu.values()), reaped), 1),
        "driver_cpu_s": round(cpu.get(proc.pid, 0.0), 1),
        "driver_anon_mb": round(driver_anon / 1024, 1),
        "driver_pss_mb": round(driver_pss / 1024, 1),
        "total_pss_mb": round(total_pss / 1024, 1),
        "peak_rss_mb": {k: round(max(v) / 1024, 1) for k, v in sorted(by_kind.items())},
        "processes": {k: len(v) for k, v in sorted(by_kind.items())},
        "cpu_s_by_doing": {
            k: round(v, 1) for k, v in sorted(doing.items(), key=lambda kv: -kv[1]) if v >= 0.1
        },
    }


def extrapolated(rows: list[dict[str, Any]]) -> str:
    """The 10M-records line of one executor: from the two largest sizes, their fixed cost and
    per-record cost (a straight line through both); from one size, in proportion to it."""
    rows = sorted(rows, key=lambda r: r["records"])
    big = rows[-1]
    small = rows[-2] if len(rows) > 1 else {"records": 0, "wall_s": 0.0, "cpu_s": 0.0}
    per = big["records"] - small["records"]
    wall, cpu = (
        big[m] + (big[m] - small[m]) / per * (EXTRAPOLATE_TO - big["records"]) for m in ("wall_s", "cpu_s")
    )
    sizes = " and ".join(f"{r['records']:,}" for r in (small, big) if r["records"])
    return (
        f"10M records, {big['executor']}: EXTRAPOLATED from {sizes} records, not run: "
        f"wall ~{wall:,.0f} s, CPU ~{cpu:,.0f} s"
    )


def _digest(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (an output of 1M records is gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="Record counts, comma-separated.")
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="Fork workers, and the local Ray CPUs.")
    parser.add_argument(
        "--ray-object-store-mb", type=int, default=None, help="The local Ray instance's object store (MiB)."
    )
    parser.add_argument("--parts", type=int, default=8, help="Input files per size.")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--every", type=float, default=0.25, help="Seconds between samples of /proc.")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "mosaicit-bench")
    parser.add_argument("--json", type=Path, default=None, help="Also save the figures here.")
    args = parser.parse_args()
    bench, scale = _sibling("bench_augment"), _sibling("bench_scale")
    tokenizer = bench.DEFAULT_ASSETS / bench.TOKENIZER_REL
    pool = bench.load_pool(bench.DEFAULT_ASSETS, bench.load_tokenizer(tokenizer))
    rows: list[dict[str, Any]] = []
    executors = args.executors.split(",")
    for n in [int(s) for s in args.sizes.split(",")]:
        data = bench.ensure_dataset(args.data_dir, n, bench.SEED, pool, lambda m: print(m, file=sys.stderr))
        folder = scale.split_input(data, args.parts, args.data_dir / f"parts-{data.stem}-{args.parts}")
        first: str | None = None
        for executor in executors:
            out = args.data_dir / f"out-{n}-{executor}.jsonl"
            cmd = [
                sys.executable, "-m", "mosaicit", "augment", str(folder), "-o", str(out), "-q", "--no-cache",
                "--tokenizer", str(tokenizer), "--max-length", str(bench.MAX_LENGTH),
                "--epochs", str(args.epochs), "--executor", executor, "--shards", str(args.shards),
                "--workers", str(args.workers),
            ]  # fmt: skip
            if executor == "ray" and args.ray_object_store_mb:
                cmd += ["--ray-object-store-mb", str(args.ray_object_store_mb)]
            row = {"records": n, "executor": executor, **run(cmd, args.every)}
            written = _digest(out)
            first = written if first is None else first
            row["same_bytes"] = written == first
            row["records_per_s"] = round(n / row["wall_s"])
            row["driver_cpu_us_per_record"] = round(row["driver_cpu_s"] / n * 1e6, 1)
            rows.append(row)
            out.unlink()
            print(json.dumps(row), flush=True)
        at = {r["executor"]: r for r in rows if r["records"] == n}
        for a, b in (("ray", "workers"), ("ray", "local"), ("workers", "local")):
            if a in at and b in at:
                ratios = [f"{m} {_ratio(at[a][m], at[b][m])}" for m in ("wall_s", "cpu_s", "total_pss_mb")]
                print(f"{n:,} records, {a} / {b}: " + ", ".join(ratios), flush=True)
    for executor in executors:
        print(extrapolated([r for r in rows if r["executor"] == executor]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
