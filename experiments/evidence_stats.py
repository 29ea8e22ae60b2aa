"""The experiment's tables, with intervals, from its per-prompt results; and docs/evidence.md's.

A rate is pooled over prompts and seeds: what passed over what applied. Its 95% interval is the
2.5th-97.5th percentile of BOOTSTRAP resamples that draw the prompts with replacement (the same
draw for every arm, so differences between arms are paired by prompt) and each arm's seeds with
replacement (independently per arm: seeds are separate training runs). The detectable effect of
a difference is (z_0.975 + z_0.80) x its bootstrap standard error: the smallest true difference
a two-sided 5% test would find 80% of the time, were the spread the same.

    python experiments/evidence_stats.py OUT              # print OUT's tables
    python experiments/evidence_stats.py --doc docs/evidence.md   # refresh the doc's tables

In the doc, each block between ``<!-- tables: FOLDER -->`` and ``<!-- end tables -->`` is the
tables of FOLDER (relative to the repository root); tests/test_evidence_doc.py recomputes them.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("base", "plain", "mosaic", "primary")
BOOTSTRAP = 2000
BOOTSTRAP_SEED = 28
#: z_0.975 + z_0.80: a difference this many standard errors wide is found 80% of the time.
POWER_Z = 1.959964 + 0.841621
BLOCK = re.compile(r"(<!-- tables: (\S+) -->\n)(.*?)(<!-- end tables -->)", re.S)

Metric = Callable[[dict[str, Any]], tuple[float, float]]


# ---------------------------------------------------------------- reading


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def models(out: Path, results: dict[str, Any]) -> dict[str, list[str]]:
    """Model names (``base``, ``plain-seed1``...) of each arm with a finished run, in arm order."""
    names: dict[str, list[str]] = {}
    for run in results["runs"]:
        name = run["arm"] if run["seed"] is None else f"{run['arm']}-seed{run['seed']}"
        names.setdefault(run["arm"], []).append(name)
    return {arm: names[arm] for arm in ARMS if arm in names}


# ---------------------------------------------------------------- bootstrap


def _multiplicities(rng: random.Random, n: int, draws: int) -> np.ndarray:
    """``draws`` x ``n``: how often each of n items is drawn in each resample of size n."""
    out = np.zeros((draws, n))
    for b in range(draws):
        for i in rng.choices(range(n), k=n):
            out[b, i] += 1
    return out


class Bootstrap:
    """Paired resamples of one eval set's prompts, and of each arm's seeds."""

    def __init__(
        self, prompts: int, seeds: dict[str, int], draws: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED
    ):
        rng = random.Random(seed)
        self.prompts = _multiplicities(rng, prompts, draws)
        self.seeds = {arm: _multiplicities(rng, count, draws) for arm, count in seeds.items()}

    def rates(self, arm: str, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        """Pooled rate in every resample; ``num`` and ``den`` are seeds x prompts."""
        weights = self.seeds[arm]
        top = (weights * (num @ self.prompts.T).T).sum(axis=1)
        bottom = (weights * (den @ self.prompts.T).T).sum(axis=1)
        return np.divide(top, bottom, out=np.full_like(top, np.nan), where=bottom > 0)


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _estimate(num: np.ndarray, den: np.ndarray, draws: np.ndarray) -> str:
    """``rate (low-high)`` in percent."""
    if den.sum() == 0:
        return "-"
    low, high = _interval(draws)
    return f"{_pct(num.sum() / den.sum())} ({_pct(low)} to {_pct(high)})"


def _difference(
    a: tuple[np.ndarray, np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[str, str]:
    """``a - b (low-high)`` in points, and its detectable effect."""
    if a[1].sum() == 0 or b[1].sum() == 0:
        return "-", "-"
    gap = a[0].sum() / a[1].sum() - b[0].sum() / b[1].sum()
    draws = a[2] - b[2]
    low, high = _interval(draws)
    detectable = POWER_Z * float(np.nanstd(draws, ddof=1))
    return f"{100 * gap:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})", f"{100 * detectable:.1f}"


# ---------------------------------------------------------------- metrics


def mosaic_metrics(rows: list[dict[str, Any]]) -> list[tuple[str, Metric]]:
    """The rows of the mosaic table: composite, instruction level, every check (strict), ROUGE-L."""
    checks: list[str] = []
    for row in rows:
        checks += [c for c in row["strict"]["checks"] if c not in checks]
    metrics: list[tuple[str, Metric]] = [
        ("composite, strict (prompt passes every check)", lambda r: (r["strict"]["passed"], 1)),
        ("composite, loose", lambda r: (r["loose"]["passed"], 1)),
        ("instructions right, strict", lambda r: (r["strict"]["correct"], r["strict"]["instructions"])),
        ("instructions right, loose", lambda r: (r["loose"]["correct"], r["loose"]["instructions"])),
    ]
    for check in checks:
        metrics.append(
            (
                f"check `{check}`, strict",
                lambda r, c=check: (r["strict"]["checks"].get(c, False), c in r["strict"]["checks"]),
            )
        )
    metrics.append(("ROUGE-L of each answer vs its reference (x100)", lambda r: (r["parts_rouge_l"], 1)))
    return metrics


def ifbench_metrics(rows: list[dict[str, Any]]) -> list[tuple[str, Metric]]:
    """Prompt and instruction level, strict and loose, as IFBench reports them."""
    out: list[tuple[str, Metric]] = []
    for mode in ("strict", "loose"):
        out.append((f"prompt level, {mode}", lambda r, m=mode: (r[m]["passed"], 1)))
        out.append(
            (f"instruction level, {mode}", lambda r, m=mode: (sum(r[m]["follow"]), len(r[m]["follow"])))
        )
    return out


def plain_metrics(rows: list[dict[str, Any]]) -> list[tuple[str, Metric]]:
    """ROUGE-L against the reference."""
    return [("ROUGE-L vs the reference (x100)", lambda r: (r["rouge_l"], 1))]


SETS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], list[tuple[str, Metric]]]]] = {
    "mosaic": ("held-out mosaic prompts of 2-3 instructions, scored by `mosaicit eval`", mosaic_metrics),
    "ifbench": (
        "IFBench prompts as shipped (those whose verifiers run offline), IFBench's verifiers",
        ifbench_metrics,
    ),
    "composed": (
        "composed prompts of 2-4 IFBench constraints on one held-out task, IFBench's verifiers",
        ifbench_metrics,
    ),
    "plain": ("held-out single AlpacaEval instructions", plain_metrics),
}


def set_table(out: Path, kind: str, arms: dict[str, list[str]]) -> list[str]:
    """One eval set's table: each metric per arm with its interval, and each trained arm vs plain."""
    rows = {
        name: read_rows(out / "prompts" / f"{name}-{kind}.jsonl") for names in arms.values() for name in names
    }
    first = next(iter(rows.values()))
    ids = [r["id"] for r in first]
    for name, model_rows in rows.items():
        if [r["id"] for r in model_rows] != ids:
            raise ValueError(f"{out}/prompts/{name}-{kind}.jsonl: not the same prompts as the other models")
    boot = Bootstrap(len(ids), {arm: len(names) for arm, names in arms.items()})
    contrasts = [arm for arm in arms if arm not in ("base", "plain")] if "plain" in arms else []
    title, metrics_of = SETS[kind]
    seeds = max(len(names) for names in arms.values())
    lines = [
        f"**{kind}**: {len(ids)} {title}; %, pooled over prompts and seeds (up to {seeds} per arm), "
        "95% paired bootstrap interval in brackets; `detectable` is the smallest difference vs plain "
        "this design finds with 80% power.",
        "",
        "| measure | " + " | ".join(arms) + "".join(f" | {a} - plain | detectable" for a in contrasts) + " |",
        "|---" * (1 + len(arms) + 2 * len(contrasts)) + "|",
    ]
    for label, metric in metrics_of(first):
        data = {}
        for arm, names in arms.items():
            pairs = [[metric(r) for r in rows[name]] for name in names]
            num = np.array([[float(p[0]) for p in seed] for seed in pairs])
            den = np.array([[float(p[1]) for p in seed] for seed in pairs])
            data[arm] = (num, den, boot.rates(arm, num, den))
        cells = [_estimate(*data[arm]) for arm in arms]
        for arm in contrasts:
            cells += list(_difference(data[arm], data["plain"]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def training_table(results: dict[str, Any]) -> list[str]:
    """What each trained model's optimizer did."""
    lines = [
        "**Training**: every trained model; tokens per step as mean (min-max); the learning rate "
        "summed over steps and its smallest step; how far the weights moved (L2 norm).",
        "",
        "| arm | seed | samples | steps | tokens per step | summed LR | smallest LR | weights moved | loss first -> last step | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        cost = run["cost"]
        if not cost:
            continue
        tokens = cost["tokens_per_step"]
        losses = cost["loss_per_step"]
        lines.append(
            f"| {run['arm']} | {run['seed']} | {cost['samples']} | {cost['steps']} "
            f"| {sum(tokens) / len(tokens):.0f} ({min(tokens)}-{max(tokens)}) | {cost['lr_sum']:.2e} "
            f"| {cost['lr_min']:.2e} | {cost['weights_moved_l2']:.3f} | {losses[0]:.3f} -> {losses[-1]:.3f} "
            f"| {cost['seconds']:.0f} |"
        )
    return lines


def render(out: Path) -> str:
    """Every table of a run folder written by mosaic_vs_plain.py (``results.json`` and ``prompts/``),
    of the pilot (aggregates only), or of a results.json that holds only the cost at scale."""
    results = json.loads((out / "results.json").read_text())
    if "runs" not in results:
        return "\n".join(cost_at_scale_table(results)) + "\n"
    if not (out / "prompts").is_dir():
        return render_pilot(results)
    cfg = results["config"]
    arms = models(out, results)
    lines = [
        f"Model {results['model']}; {cfg['records']} training records x {cfg['passes']} passes at max "
        f"length {cfg['max_length']}; seeds {', '.join(map(str, cfg['seeds']))}; arms {', '.join(arms)}.",
        "",
    ]
    for kind in SETS:
        lines += set_table(out, kind, arms) + [""]
    lines += training_table(results) + [""]
    lines += cost_at_scale_table(results)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- the pilot run (aggregates only)


def hf_linear_lr(step: int, steps: int, warmup: int) -> float:
    """transformers' linear schedule with warmup, as the pilot ran it: step 0 at 0."""
    if step < warmup:
        return step / warmup
    return max(0.0, (steps - step) / max(1, steps - warmup))


def render_pilot(results: dict[str, Any]) -> str:
    """The pilot run's tables (results.json with aggregates only, TRL's trainer): the per-check
    passes of each arm, seed by seed and pooled, and its learning rates."""
    runs = sorted(results["runs"], key=lambda r: (ARMS.index(r["arm"]), r["seed"] or 0))
    arms = [arm for arm in ARMS if any(r["arm"] == arm for r in runs)]
    checks = list(runs[0]["scores"]["mosaic_eval"]["strict"]["checks"])
    lines = [
        f"Pilot run: {results['config']['records']} records x {results['config']['passes']} passes, "
        f"{results['evalsets']['mosaic']} held-out mosaic prompts; strict checks: prompts passed in each "
        "seed, then pooled over seeds as passed / applied.",
        "",
        "| check | " + " | ".join(arms) + " |",
        "|---" * (1 + len(arms)) + "|",
    ]
    for check in checks:
        cells = []
        for arm in arms:
            slots = [r["scores"]["mosaic_eval"]["strict"]["checks"][check] for r in runs if r["arm"] == arm]
            passed, applies = sum(s["passed"] for s in slots), sum(s["applies"] for s in slots)
            seeds = " + ".join(str(s["passed"]) for s in slots)
            cells.append(f"{seeds} = {passed}/{applies}" if len(slots) > 1 else f"{passed}/{applies}")
        lines.append(f"| `{check}` | " + " | ".join(cells) + " |")
    warmup, lr = 2, results["config"]["learning_rate"]
    lines += [
        "",
        f"Pilot learning rates: transformers' linear schedule, {warmup} warmup steps, peak {lr:g}, "
        "the same in every seed.",
        "",
        "| arm | optimizer steps | LR of step 1 | summed LR |",
        "|---|---|---|---|",
    ]
    for arm in arms:
        run = next(r for r in runs if r["arm"] == arm)
        if run.get("cost"):
            steps = run["cost"]["steps"]
            total = sum(hf_linear_lr(t, steps, warmup) for t in range(steps)) * lr
            lines.append(f"| {arm} | {steps} | {hf_linear_lr(0, steps, warmup) * lr:g} | {total:.1e} |")
    return "\n".join(lines) + "\n"


def cost_at_scale_table(results: dict[str, Any]) -> list[str]:
    """Token accounting of the arms at the paper's scale, if the run has it."""
    scale = results.get("cost_at_scale")
    if not scale:
        return []
    setup, arms = scale["setup"], scale["arms"]
    plain = arms["plain"]
    lines = [
        f"Cost at scale (token accounting, no training): {setup['records']} records x {setup['passes']} "
        f"passes, max length {setup['max_length']}, batch {setup['batch_size']}; thousands of tokens, "
        "saving vs plain under the same batching.",
        "",
    ]
    ways = {
        "pad_to_max_tokens": "pad to max length",
        "pad_to_longest_tokens": "pad to longest in random batches",
    }
    if "pad_to_longest_grouped_tokens" in plain:
        ways["pad_to_longest_grouped_tokens"] = "pad to longest in length-grouped batches"
    ways["packed_tokens"] = "packing"
    lines += [
        "| arm | samples | mean records per sample | optimizer steps | real tokens | "
        + " | ".join(f"{way} | vs plain" for way in ways.values())
        + " |",
        "|---" * (5 + 2 * len(ways)) + "|",
    ]
    for arm, c in arms.items():
        cells = [
            str(c["samples"]),
            f"{plain['samples'] / c['samples']:.2f}",
            str(c["steps"]),
            f"{c['real_tokens'] / 1000:.1f}",
        ]
        for key in ways:
            cells += [f"{c[key] / 1000:.1f}", f"{100 * (1 - c[key] / plain[key]):.1f}%"]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


# ---------------------------------------------------------------- the doc


def render_folder(folder: Path) -> str:
    """A doc block's tables: those of ``folder``, or a line saying it holds no run yet."""
    if not (folder / "results.json").exists():
        return f"_No run in `{folder.relative_to(ROOT)}` yet._\n"
    return render(folder)


def refresh(doc: str, root: Path = ROOT) -> str:
    """``doc`` with every tables block recomputed from its folder."""
    return BLOCK.sub(lambda m: m.group(1) + render_folder(root / m.group(2)) + m.group(4), doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", help="a run folder: print its tables")
    parser.add_argument("--doc", type=Path, help="a Markdown file whose tables blocks to recompute in place")
    args = parser.parse_args(argv)
    if args.doc:
        args.doc.write_text(refresh(args.doc.read_text(encoding="utf-8")), encoding="utf-8")
    if args.out:
        sys.stdout.write(render(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
