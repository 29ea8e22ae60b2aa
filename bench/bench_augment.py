"""Benchmark ``mosaicit augment`` against the tokenizer floor and a port of the research script.

Run ``python bench/bench_augment.py`` from the repository root (``--help`` for the options).

What is measured, on one deterministic dataset and one tokenizer (Llama-2 ``tokenizer.json``, or
the one ``--tokenizer`` names), budget 2000, 4 epochs, uniform wrap up to 10, version ``both``:

* **floor**: read the input JSONL and tokenize every record's instruction (+ input) and output
  once with the same fast tokenizer (``tokenizers``, batched, no special tokens). Nothing is
  written. No mosaicking tool can do less work than this.
* **mosaicit**: ``python -m mosaicit augment IN -o OUT ...`` end to end, from this checkout's
  ``src/``: read, count, compose four epochs, write the samples, the summary and the rejects.
* **baseline**: a port, written here, of the research script's algorithm: for every group the
  mosaic grows one record at a time and at each step every random format choice is redrawn, the
  whole mosaic is re-rendered and the whole instruction+output is re-tokenized (one text per
  call, as the script does). It runs on the first ``--baseline-records`` records of the same
  dataset (a prefix: the builder draws records one after another) and is scaled per record.

Every measurement is a separate ``python`` process started the same way, so each row pays the
interpreter start-up, its imports and loading the tokenizer; the bare start-up of mosaicit
(``python -c "import mosaicit.cli"``) is shown on its own line so that the share of fixed cost
in small runs is visible. Floor and mosaicit runs alternate, so that both see the same load on a
shared machine. Wall seconds are the best of ``--repeat`` runs; CPU seconds are user +
system of that run (the tokenizer uses several threads, so CPU can exceed wall). Peak RSS is
sampled from /proc every 20 ms: the largest sum of the peak RSS (VmHWM) of the processes of the
run alive together, so parallel workers count.

How to read the ratios (all per input record, lower is better for the first):

* ``mosaicit / floor``: what mosaicking costs on top of the unavoidable reading + tokenizing.
  The target of issue 4 is <= 1.5. The floor writes nothing; mosaicit writes ~4x the input.
* ``baseline / mosaicit``: how much faster than the research algorithm. Target >= 20. The port
  calls ``tokenizers`` directly rather than ``transformers``' ``tokenize()``, so it is, if
  anything, faster than the real script: the ratio is conservative.
* ``--scale``: time per record at 10k, 100k, 1M records (should stay flat) and peak memory
  beside the size of the same data held as Python objects (``json.loads`` of every line).
* ``--rerun``: reruns with other seeds against the cache a first run filled, set beside the
  first run and beside the floor (interleaved, best of ``--repeat``).

These are figures, not tests: nothing here asserts on time. The machine may be shared and noisy;
compare ratios taken in one run rather than seconds across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DEFAULT_ASSETS = ROOT.parent / "shared" / "assets"
TOKENIZER_REL = Path("tokenizers") / "llama-2" / "tokenizer.json"
ALPACA_EVAL_REL = Path("datasets") / "alpaca_eval_805.json"
SHAREGPT_REL = Path("datasets") / "fastchat_dummy_conversation.json"

MAX_LENGTH = 2000
EPOCHS = 4
MAX_NUM = 10
VERSION = "both"
SEED = 42
BATCH = 4096
#: Bump when the builder changes, so cached datasets are rebuilt.
BUILDER_VERSION = 1


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------

#: Number of answers joined into one record's output, and their weights: with AlpacaEval's
#: answers (about 110 Llama-2 tokens each) this gives a mean near 450 tokens per record.
PIECES = (1, 2, 3, 4, 5, 6, 8, 10, 12)
PIECE_WEIGHTS = (14, 14, 14, 13, 12, 10, 9, 8, 6)
TAIL_RATE = 0.015  # share of records built longer than the budget
INPUT_RATE = 0.25  # share of records with a non-empty ``input`` (context)
SHAREGPT_RATE = 0.2  # share of records whose instruction is a ShareGPT first turn


@dataclass(frozen=True)
class Text:
    """A source text and its Llama-2 token count (counted once, when the pool is loaded)."""

    text: str
    tokens: int


@dataclass
class Pool:
    """The real texts records are drawn from."""

    pairs: list[tuple[Text, Text]]  # (instruction, output) from AlpacaEval
    chats: list[tuple[Text, Text]]  # (first human turn, first reply) from ShareGPT
    answers: list[Text]  # every AlpacaEval answer, to lengthen outputs

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for a, b in self.pairs + self.chats:
            h.update(a.text.encode() + b"\0" + b.text.encode() + b"\0")
        return h.hexdigest()[:16]


def load_pool(assets: Path, tokenizer: Any) -> Pool:
    """Read AlpacaEval and the ShareGPT first turns; count every text once."""
    alpaca = json.loads((assets / ALPACA_EVAL_REL).read_text(encoding="utf-8"))
    chats = json.loads((assets / SHAREGPT_REL).read_text(encoding="utf-8"))
    raw_pairs = [(r["instruction"].strip(), r["output"].strip()) for r in alpaca]
    raw_chats = []
    for conv in chats:
        turns = conv.get("conversations") or []
        if len(turns) >= 2 and turns[0].get("from") == "human" and turns[1].get("from") == "gpt":
            raw_chats.append((turns[0]["value"].strip(), turns[1]["value"].strip()))
    raw_pairs = [p for p in raw_pairs if p[0] and p[1]]
    raw_chats = [p for p in raw_chats if p[0] and p[1]]
    texts = [t for pair in raw_pairs + raw_chats for t in pair]
    counts = _encode_lengths(tokenizer, texts)
    it = iter(Text(t, n) for t, n in zip(texts, counts, strict=True))
    pairs = [(next(it), next(it)) for _ in raw_pairs]
    chat_pairs = [(next(it), next(it)) for _ in raw_chats]
    return Pool(pairs, chat_pairs, [o for _, o in pairs])


def build_records(n: int, seed: int, pool: Pool, over: int = MAX_LENGTH) -> Iterator[dict[str, Any]]:
    """Yield ``n`` Alpaca records, deterministically from ``seed``.

    Records are drawn one after another from one generator, so the first ``m`` records of a
    larger build equal a build of ``m``. About ``TAIL_RATE`` of them are built longer than
    ``over`` tokens by joining many answers; the others are kept under 95% of ``over``.
    The token figures used here are sums of the parts' counts (close to, not exactly, the
    count of the joined text); the benchmark measures the real ones.
    """
    rng = random.Random(seed)
    cap = int(over * 0.95)
    for i in range(n):
        tail = rng.random() < TAIL_RATE
        source = pool.chats if rng.random() < SHAREGPT_RATE else pool.pairs
        instruction, first = source[rng.randrange(len(source))]
        context = None
        if rng.random() < INPUT_RATE:
            context = rng.choice(pool.chats)[rng.randrange(2)]
        used = instruction.tokens + (context.tokens + 1 if context else 0)
        pieces, total = [first.text], used + first.tokens
        if tail:
            target = over + rng.randint(over // 20, over)
            while total <= target:
                extra = pool.answers[rng.randrange(len(pool.answers))]
                pieces.append(extra.text)
                total += extra.tokens + 1
        else:
            wanted = rng.choices(PIECES, PIECE_WEIGHTS)[0]
            for _ in range(wanted - 1):
                extra = pool.answers[rng.randrange(len(pool.answers))]
                if total + extra.tokens + 1 > cap:
                    continue
                pieces.append(extra.text)
                total += extra.tokens + 1
        yield {
            "id": f"bench-{i}",
            "instruction": instruction.text,
            "input": context.text if context else "",
            "output": "\n\n".join(pieces),
        }


def dataset_path(data_dir: Path, n: int, seed: int, pool: Pool) -> Path:
    """Where the dataset of these parameters lives (reused across runs)."""
    return data_dir / f"records-v{BUILDER_VERSION}-{pool.fingerprint}-seed{seed}-n{n}.jsonl"


def ensure_dataset(data_dir: Path, n: int, seed: int, pool: Pool, log: Callable[[str], None]) -> Path:
    """Build the dataset once and keep it; a later call with the same parameters reuses it."""
    path = dataset_path(data_dir, n, seed, pool)
    if path.is_file():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    log(f"building {n:,} records -> {path}")
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as out:
        for record in build_records(n, seed, pool):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def prefix_file(src: Path, n: int) -> Path:
    """The first ``n`` lines of ``src`` as a file beside it (equal to a build of ``n``)."""
    dst = src.with_name(src.stem + f"-head{n}.jsonl")
    if not dst.is_file():
        tmp = dst.with_suffix(".part")
        with src.open(encoding="utf-8") as fin, tmp.open("w", encoding="utf-8") as out:
            for _, line in zip(range(n), fin, strict=False):
                out.write(line)
        tmp.replace(dst)
    return dst


def prompt_of(record: dict[str, Any]) -> str:
    """A record's full instruction, as the research script and mosaicit build it."""
    instruction, context = record["instruction"], record.get("input") or ""
    return f"{instruction}\n{context}" if context else instruction


# --------------------------------------------------------------------------------------------
# Tokenizer helpers
# --------------------------------------------------------------------------------------------


def load_tokenizer(path: str | Path) -> Any:
    """A ``tokenizers.Tokenizer`` with truncation and padding off."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _encode_lengths(tok: Any, texts: Sequence[str]) -> list[int]:
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)
    out: list[int] = []
    for start in range(0, len(texts), BATCH):
        out.extend(len(e.ids) for e in encode(list(texts[start : start + BATCH]), add_special_tokens=False))
    return out


# --------------------------------------------------------------------------------------------
# The floor (runs in a child process)
# --------------------------------------------------------------------------------------------


def floor(input_path: str | Path, tokenizer_path: str | Path, over: int = MAX_LENGTH) -> dict[str, Any]:
    """Read the JSONL and tokenize each record's prompt and output once, in batches.

    Returns the token statistics of the data (mean per record, how many are over ``over``).
    """
    tok = load_tokenizer(tokenizer_path)
    records = tokens = over_budget = 0
    prompts: list[str] = []
    outputs: list[str] = []

    def flush() -> None:
        nonlocal tokens, over_budget
        lengths = _encode_lengths(tok, prompts + outputs)
        half = len(prompts)
        for p, o in zip(lengths[:half], lengths[half:], strict=True):
            tokens += p + o
            over_budget += p + o > over
        prompts.clear()
        outputs.clear()

    with open(input_path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            prompts.append(prompt_of(record))
            outputs.append(record["output"])
            records += 1
            if len(prompts) == BATCH:
                flush()
    if prompts:
        flush()
    return {"records": records, "tokens": tokens, "over_budget": over_budget}


# --------------------------------------------------------------------------------------------
# The baseline: the research script's algorithm (runs in a child process)
# --------------------------------------------------------------------------------------------

#: Small rendering tables for the port. They need not match the script's wording: what matters
#: is that each step renders and re-tokenizes the whole mosaic, as the script does.
NUMBER_STYLES = ("", "{i}", "({i})", "[{i}]", "<{i}>", "<<{i}>>", "### {i}", "## {i}", "##{i}##", "|{i}|")
NUMBER_PUNCT = (" ", ".", ":")
TAG_BRACKETS = ("({})", "[{}]", "<{}>", "<<{}>>", "|{}|", "[|{}|]", "<|{}|>", "**{}**", "@@{}@@", "#{}#")
TAG_WORDS = (("BEGIN", "END"), ("START", "END"), ("OPEN", "CLOSE"), ("ENTRY", "EXIT"), ("RES", "/RES"))
TAG_METAS = (
    "Wrap each answer between {b} and {e}.",
    "Put every response inside {b} ... {e}.",
    "Each reply must start with {b} and finish with {e}.",
)
GENERIC_METAS = ("Answer each of these instructions.", "Respond to every instruction below.")
JOINERS = ("\n", "\n\n")
LAYOUTS = ("{meta}\n\n{body}", "{body}\n\n{meta}", "{meta}\n{body}", "{body}\n{meta}")
ORDERS = (
    "FIX",
    "REVERSE",
    "ALPHA",
    "REVERSE_ALPHA",
    "LENGTH_WORD",
    "REVERSE_LENGTH_WORD",
    "LENGTH_CHAR",
    "REVERSE_LENGTH_CHAR",
    "ODD_EVEN",
    "EVEN_ODD",
)
MASKS = ("FIX", "WORD_LONG", "WORD_SHORT", "ODD", "EVEN")
FIXED_LIST = 50  # the script draws its fixed permutation / skip lists over this many positions
STRATEGY_CHOICES = {"format": (0,), "order": (0, 1), "mask": (0, 2), "both": (0, 1, 2)}


def _draw(rng: random.Random, version: str) -> dict[str, Any]:
    """Every random choice of one step, as the script redraws them for each added record."""
    fixed_order = list(range(FIXED_LIST))
    rng.shuffle(fixed_order)
    fixed_mask = list(range(FIXED_LIST))
    rng.shuffle(fixed_mask)
    words = TAG_WORDS[rng.randrange(len(TAG_WORDS))]
    return {
        "strategy": rng.choice(STRATEGY_CHOICES[version]),
        "number": NUMBER_STYLES[rng.randrange(len(NUMBER_STYLES))],
        "punct": rng.choice(NUMBER_PUNCT),
        "number_newline": rng.random() < 0.5,
        "tags": rng.random() < 0.5,
        "bracket": rng.choice(TAG_BRACKETS),
        "words": tuple(w.lower() for w in words) if rng.random() < 0.5 else words,
        "tag_meta": rng.choice(TAG_METAS),
        "generic_meta": rng.choice(GENERIC_METAS) if rng.random() < 0.5 else "",
        "joiner": rng.choice(JOINERS),
        "layout": rng.choice(LAYOUTS),
        "rule_layout": rng.choice(LAYOUTS),
        "order": rng.choice(ORDERS),
        "mask": rng.choice(MASKS),
        "mask_ratio": rng.uniform(0.1, 0.5),
        "fixed_order": fixed_order,
        "fixed_mask": fixed_mask,
    }


def _order(rule: str, prompts: list[str], fixed: list[int]) -> tuple[list[int], str]:
    k = len(prompts)
    idx = list(range(k))
    keys: dict[str, Callable[[int], Any]] = {
        "ALPHA": lambda i: prompts[i],
        "LENGTH_WORD": lambda i: len(prompts[i].split()),
        "LENGTH_CHAR": lambda i: len(prompts[i]),
    }
    if rule == "FIX":
        order = [i for i in fixed if i < k]
        return order, "Answer in this order: " + ", ".join(str(i + 1) for i in order) + "."
    if rule == "REVERSE":
        return idx[::-1], "Answer the instructions in reverse order."
    if rule in ("ODD_EVEN", "EVEN_ODD"):
        odd, even = idx[0::2], idx[1::2]
        return (odd + even, "Odd-numbered first.") if rule == "ODD_EVEN" else (even + odd, "Even first.")
    name = rule.removeprefix("REVERSE_")
    order = sorted(idx, key=keys[name], reverse=rule.startswith("REVERSE_"))
    return order, f"Answer in the order given by {name.lower().replace('_', ' ')}."


def _mask(rule: str, prompts: list[str], ratio: float, fixed: list[int]) -> tuple[list[int], str]:
    k = len(prompts)
    n = max(int(k * ratio), 1)
    if rule == "FIX":
        skip = [i for i in fixed if i < k][:n]
        return skip, "Skip instructions " + ", ".join(str(i + 1) for i in skip) + "."
    if rule in ("WORD_LONG", "WORD_SHORT"):
        ranked = sorted(range(k), key=lambda i: len(prompts[i].split()), reverse=rule == "WORD_LONG")
        return ranked[:n], f"Skip the {n} {'longest' if rule == 'WORD_LONG' else 'shortest'} instructions."
    skip = [i for i in range(k) if (i % 2 == 0) == (rule == "ODD")]
    return skip, f"Skip the {rule.lower()}-numbered instructions."


def render_mosaic(items: Sequence[dict[str, Any]], d: dict[str, Any]) -> tuple[str, str]:
    """Render a whole mosaic from scratch: the joined instruction and the joined output."""
    prompts = [prompt_of(r) for r in items]
    label = (d["number"] + d["punct"] + ("\n" if d["number_newline"] else "")) if d["number"] else ""
    if d["tags"]:
        begin, end = (d["bracket"].format(w) for w in d["words"])
        meta = d["tag_meta"].format(b=begin, e=end)
    else:
        begin = end = ""
        meta = d["generic_meta"]
    labels = [label.format(i=i + 1) for i in range(len(items))]
    answers = [labels[i] + begin + r["output"] + end for i, r in enumerate(items)]
    body = d["joiner"].join(labels[i] + p for i, p in enumerate(prompts))
    instruction = d["layout"].format(meta=meta, body=body)
    order, rule_meta = list(range(len(items))), ""
    if len(items) > 1 and d["strategy"] == 1:
        order, rule_meta = _order(d["order"], prompts, d["fixed_order"])
    elif len(items) > 1 and d["strategy"] == 2:
        skip, rule_meta = _mask(d["mask"], prompts, d["mask_ratio"], d["fixed_mask"])
        order = [i for i in order if i not in skip]
    if rule_meta:
        instruction = d["rule_layout"].format(meta=rule_meta, body=instruction)
    return instruction, "\n\n".join(answers[i] for i in order)


def baseline_mosaic(
    records: Sequence[dict[str, Any]],
    count: Callable[[str], int],
    max_length: int = MAX_LENGTH,
    epochs: int = EPOCHS,
    max_num: int = MAX_NUM,
    version: str = VERSION,
    seed: int = SEED,
) -> Iterator[dict[str, Any]]:
    """The research script's loop: grow, re-render and re-count the whole mosaic per record.

    ``count`` tokenizes one text. A group stops at the first record that makes the mosaic
    count ``>= max_length`` (strict, as in the script); a record that does not fit alone is
    dropped (skipped without a trace, as in the script).
    """
    rng = random.Random(seed)
    for _ in range(epochs):
        data = list(records)
        rng.shuffle(data)
        i = 0
        while i < len(data):
            chunk = data[i : i + rng.randint(1, max_num)]
            best: dict[str, Any] | None = None
            for j in range(1, len(chunk) + 1):
                instruction, output = render_mosaic(chunk[:j], _draw(rng, version))
                if count(instruction + output) >= max_length:
                    break
                best = {"instruction": instruction, "output": output, "count": j}
            if best is None:
                i += 1
            else:
                yield best
                i += best["count"]


def baseline(
    input_path: str | Path, output_path: str | Path, tokenizer_path: str | Path, **options: Any
) -> dict[str, Any]:
    """Run the port over a JSONL file and write a JSON array, as the script does."""
    tok = load_tokenizer(tokenizer_path)

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    with open(input_path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    samples = list(baseline_mosaic(records, count, **options))
    with open(output_path, "w", encoding="utf-8") as out:
        json.dump(samples, out, indent=4)
    return {"records": len(records), "samples": len(samples), "record_uses": sum(s["count"] for s in samples)}


# --------------------------------------------------------------------------------------------
# Measuring child processes
# --------------------------------------------------------------------------------------------


@dataclass
class Measure:
    """One child process: wall and CPU seconds, peak RSS, exit status and output."""

    wall: float
    cpu: float
    rss_mb: float
    rc: int
    stdout: str = ""
    stderr: str = ""


def _tree_peak_kb(pid: int) -> int:
    """Summed peak RSS (VmHWM) of ``pid`` and its live descendants (Linux /proc; 0 elsewhere)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd``, timing it and taking its peak memory.

    The peak is sampled from /proc every 20 ms: the largest sum, over the processes alive
    together, of their own peak RSS (VmHWM). ``wait4``'s ``ru_maxrss`` is only a fallback (no
    /proc): a child started by fork/vfork + exec inherits the parent's high-water mark there,
    so it would report at least this process's size.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env)
        peak = [_tree_peak_kb(proc.pid)]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], _tree_peak_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        fallback = usage.ru_maxrss if sys.platform.startswith("linux") else usage.ru_maxrss // 1024
        rss_kb = peak[0] or fallback  # ru_maxrss: KiB on Linux, bytes on macOS
        return Measure(
            wall, usage.ru_utime + usage.ru_stime, rss_kb / 1024, proc.returncode, out.read(), err.read()
        )


def child_env() -> dict[str, str]:
    """The environment of every child: this checkout's ``src`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    return env


def checked(m: Measure, label: str, log: Callable[[str], None]) -> Measure:
    """Stop on a failed child; log the run."""
    if m.rc != 0:
        raise SystemExit(f"{label} failed (exit {m.rc}):\n{m.stderr[-3000:]}")
    log(f"  {label}: {m.wall:.2f} s wall, {m.cpu:.2f} s cpu, {m.rss_mb:.0f} MB")
    return m


def fastest(runs: Sequence[Measure]) -> Measure:
    """The run with the least wall time (its peak RSS: the largest seen in any run)."""
    best = min(runs, key=lambda m: m.wall)
    best.rss_mb = max(m.rss_mb for m in runs)
    return best


# --------------------------------------------------------------------------------------------
# mosaicit invocation
# --------------------------------------------------------------------------------------------


@dataclass
class Cli:
    """What this checkout's ``mosaicit augment`` accepts, and the extra arguments to pass."""

    options: set[str]
    extra: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @classmethod
    def probe(cls, extra: str) -> Cli:
        """Read ``augment --help``; keep the extra arguments it knows, drop (and list) the rest."""
        help_text = subprocess.run(
            [sys.executable, "-m", "mosaicit", "augment", "--help"],
            env=child_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cli = cls(set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", help_text)))
        args = shlex.split(extra)
        i = 0
        while i < len(args):
            arg = args[i]
            has_value = "=" not in arg and i + 1 < len(args) and not args[i + 1].startswith("-")
            take = args[i : i + 2] if arg.startswith("--") and has_value else args[i : i + 1]
            if arg.startswith("--") and arg.split("=")[0] not in cli.options:
                cli.dropped += take
            else:
                cli.extra += take
            i += len(take)
        return cli

    def accepts(self, option: str) -> bool:
        return option in self.options

    def command(self, input_path: Path, output: Path, tokenizer: Path, *more: str) -> list[str]:
        """The ``augment`` command line of the benchmark's run."""
        return [
            sys.executable,
            "-m",
            "mosaicit",
            "augment",
            str(input_path),
            "-o",
            str(output),
            "--tokenizer",
            str(tokenizer),
            "--max-length",
            str(MAX_LENGTH),
            "--epochs",
            str(EPOCHS),
            "--wrap-mode",
            "uniform",
            "--max-num",
            str(MAX_NUM),
            "--version",
            VERSION,
            "-q",
            *self.extra,
            *more,
        ]

    def cold_cache(self, cache_dir: Path) -> list[str]:
        """Arguments for a first run: a fresh, empty cache dir if the CLI has a cache."""
        if self.accepts("--cache-dir") and not {"--cache-dir", "--no-cache"} & {
            a.split("=")[0] for a in self.extra
        }:
            shutil.rmtree(cache_dir, ignore_errors=True)
            return ["--cache-dir", str(cache_dir)]
        return []


def run_mosaicit(cli: Cli, input_path: Path, work: Path, tokenizer: Path, *more: str) -> tuple[Measure, dict]:
    """One ``augment`` run in a child process; returns the measure and the run summary."""
    output = work / "out.jsonl"
    cmd = cli.command(input_path, output, tokenizer, *more)
    m = run_measured(cmd, child_env())
    summary: dict[str, Any] = {}
    summary_path = output.with_name(output.name + ".summary.json")
    if m.rc == 0 and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    for path in work.glob("out.jsonl*"):
        path.unlink()
    return m, summary


def startup(repeat: int = 5) -> float:
    """Best wall time of ``python -c "import mosaicit.cli"`` (interpreter + imports)."""
    cmd = [sys.executable, "-c", "import mosaicit.cli"]
    return min(run_measured(cmd, child_env()).wall for _ in range(repeat))


def self_command(*args: str) -> list[str]:
    """Run this file as a child doing one job (``--child floor|baseline|objects ...``)."""
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], left: Sequence[int] = (0,)) -> str:
    """A plain text table: the ``left`` columns left-aligned, the others (numbers) right-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i in left else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    import tokenizers

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "tokenizers": tokenizers.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "commit": commit or None,
    }


def row(label: str, m: Measure, records: int, note: str = "") -> dict[str, Any]:
    return {
        "label": label,
        "records": records,
        "wall_s": round(m.wall, 3),
        "cpu_s": round(m.cpu, 3),
        "records_per_s": round(records / m.wall, 1),
        "us_per_record": round(1e6 * m.wall / records, 1),
        "peak_rss_mb": round(m.rss_mb, 1),
        "note": note,
    }


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    header = ("", "records", "wall s", "cpu s", "records/s", "us/record", "peak RSS MB", "")
    print(
        table(
            header,
            (
                (
                    r["label"],
                    f"{r['records']:,}",
                    f"{r['wall_s']:.2f}",
                    f"{r['cpu_s']:.2f}",
                    f"{r['records_per_s']:,.0f}",
                    f"{r['us_per_record']:,.1f}",
                    f"{r['peak_rss_mb']:.0f}",
                    r["note"],
                )
                for r in rows
            ),
            left=(0, 7),
        )
    )


# --------------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------------


def run_floor(ctx: Context, data: Path, label: str) -> Measure:
    """One floor run (read + tokenize once) in a child process."""
    cmd = self_command("floor", str(data), str(ctx.tokenizer))
    return checked(run_measured(cmd, child_env()), label, ctx.log)


def compare(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """The default mode: floor, mosaicit and the baseline port on the same data."""
    data = ctx.dataset(args.records)
    print(f"\ndataset: {data} ({data.stat().st_size / 2**20:.1f} MB)")
    floor_runs, mosaic_runs = [], []
    for r in range(args.repeat):  # interleaved, so that both see the same load on a shared machine
        floor_runs.append(run_floor(ctx, data, f"floor {r + 1}/{args.repeat}"))
        m, summary = run_mosaicit(ctx.cli, data, ctx.work, ctx.tokenizer, *ctx.cli.cold_cache(ctx.cache))
        mosaic_runs.append(checked(m, f"mosaicit {r + 1}/{args.repeat}", ctx.log))
    floor_m, mosaic_m = fastest(floor_runs), fastest(mosaic_runs)
    stats = json.loads(floor_m.stdout)
    mean = stats["tokens"] / stats["records"]
    print(
        f"records: {stats['records']:,}; mean {mean:.0f} {ctx.tokenizer_name} tokens per record "
        f"(instruction + input + output); {stats['over_budget']} "
        f"({100 * stats['over_budget'] / stats['records']:.1f}%) over the budget of {MAX_LENGTH}"
    )
    n_base = args.records if args.baseline_records <= 0 else min(args.baseline_records, args.records)
    base_data = data if n_base == args.records else prefix_file(data, n_base)
    ctx.log(f"  baseline on {n_base:,} records (slow) ...")
    base_m = run_measured(
        self_command("baseline", str(base_data), str(ctx.work / "baseline.json"), str(ctx.tokenizer)),
        child_env(),
    )
    checked(base_m, "baseline", ctx.log)
    (ctx.work / "baseline.json").unlink(missing_ok=True)
    base_stats = json.loads(base_m.stdout)
    boot = startup()

    scaled = "" if n_base == args.records else f"run on the first {n_base:,}, scaled per record"
    rows = [
        row("floor", floor_m, stats["records"], "read + tokenize once, batched; writes nothing"),
        row("mosaicit", mosaic_m, stats["records"], " ".join(["augment end to end", *ctx.cli.extra])),
        row("baseline", base_m, n_base, scaled or "the research algorithm, ported"),  # RSS: of the subset
    ]
    print(
        f"\n{ctx.tokenizer_name} tokenizer, budget {MAX_LENGTH}, {EPOCHS} epochs, uniform wrap up to "
        f"{MAX_NUM}, version {VERSION}; floor and mosaicit: best of {args.repeat}, interleaved; every row "
        f"is a fresh python process (start-up, imports and tokenizer load included)\n"
    )
    print_rows(rows)
    per = {r["label"]: r["us_per_record"] for r in rows}
    ratios = {
        "mosaicit_over_floor": round(per["mosaicit"] / per["floor"], 2),
        "mosaicit_over_floor_net_of_startup": round(
            (mosaic_m.wall - boot) / max(floor_m.wall - boot, 1e-9), 2
        ),
        "baseline_over_mosaicit": round(per["baseline"] / per["mosaicit"], 1),
        "baseline_over_floor": round(per["baseline"] / per["floor"], 1),
    }
    paired = [m.wall / f.wall for f, m in zip(floor_runs, mosaic_runs, strict=True)]
    ratios["mosaicit_over_floor_paired_median"] = round(statistics.median(paired), 2)
    cpu = {r["label"]: r["cpu_s"] / r["records"] for r in rows}
    ratios_cpu = {
        "mosaicit_over_floor": round(cpu["mosaicit"] / cpu["floor"], 2),
        "baseline_over_mosaicit": round(cpu["baseline"] / cpu["mosaicit"], 1),
        "baseline_over_floor": round(cpu["baseline"] / cpu["floor"], 1),
    }
    print(f"\nstart-up (python -c 'import mosaicit.cli'): {boot:.2f} s, in every row above")
    print("ratios per record, by wall time (by CPU time, steadier when other jobs share the machine):")
    for key, label in (
        ("mosaicit_over_floor", "mosaicit / floor"),
        ("baseline_over_mosaicit", "baseline / mosaicit"),
        ("baseline_over_floor", "baseline / floor"),
    ):
        print(f"  {label + ':':<21}{ratios[key]:.2f}x ({ratios_cpu[key]:.2f}x)")
    print(
        f"  mosaicit / floor with the {boot:.2f} s start-up taken off both: "
        f"{ratios['mosaicit_over_floor_net_of_startup']:.2f}x"
    )
    print(
        f"  mosaicit / floor, each run over the floor run just before it: median "
        f"{ratios['mosaicit_over_floor_paired_median']:.2f}x of {', '.join(f'{x:.2f}' for x in paired)}"
    )
    checks = _checks(summary, stats, base_stats)
    for line in checks["lines"]:
        print(line)
    return {
        "mode": "compare",
        "dataset": {"path": str(data), "mean_tokens": round(mean, 1), **stats},
        "rows": rows,
        "startup_s": round(boot, 3),
        "ratios": ratios,
        "ratios_cpu": ratios_cpu,
        "mosaicit_args": ctx.cli.extra,
        "mosaicit_args_dropped": ctx.cli.dropped,
        "checks": checks,
    }


def _checks(summary: dict, stats: dict, base: dict) -> dict[str, Any]:
    """Guarantees read back from mosaicit's summary, beside what the baseline kept."""
    if not summary:
        return {"lines": ["(no mosaicit summary to check)"]}
    used, epochs = summary["records_used"], summary["epochs"]
    tokens = summary["tokens"]
    over = summary["rejected_by_reason"].get("over_budget", 0)
    lost = used * epochs - summary["record_uses"]
    lines = [
        f"mosaicit: {summary['samples_written']:,} samples, max {tokens['max']} <= {tokens['max_length']} "
        f"tokens; {used:,} records x {epochs} epochs placed ({lost} missing); "
        f"{over} over budget reported in the rejects file (the data has {stats['over_budget']})",
        f"baseline: {base['samples']:,} samples holding {base['record_uses']:,} record uses from "
        f"{base['records']:,} records x {EPOCHS} epochs (records that do not fit are dropped silently)",
    ]
    return {
        "lines": lines,
        "max_tokens": tokens["max"],
        "records_missing": lost,
        "over_budget_reported": over,
        "over_budget_in_data": stats["over_budget"],
    }


def scale(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """mosaicit at several sizes: time per record and peak memory vs the data as Python objects."""
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for n in sizes:
        data = ctx.dataset(n)
        m, summary = run_mosaicit(ctx.cli, data, ctx.work, ctx.tokenizer, *ctx.cli.cold_cache(ctx.cache))
        checked(m, f"mosaicit {n:,}", ctx.log)
        objects = checked(run_measured(self_command("objects", str(data)), child_env()), "objects", ctx.log)
        results.append(
            {
                **row("mosaicit", m, n),
                "input_mb": round(data.stat().st_size / 2**20, 1),
                "objects_rss_mb": round(objects.rss_mb, 1),
                "samples": summary.get("samples_written"),
            }
        )
    first = results[0]["us_per_record"]
    first_cpu = 1e6 * results[0]["cpu_s"] / results[0]["records"]
    print(f"\nmosaicit augment at several sizes ({' '.join(ctx.cli.extra) or 'default options'}):\n")
    print(
        table(
            (
                "records",
                "wall s",
                "us/record",
                "vs first",
                "cpu us/record",
                "vs first",
                "peak RSS MB",
                "input MB",
                "as Python objects MB",
                "RSS / objects",
            ),
            (
                (
                    f"{r['records']:,}",
                    f"{r['wall_s']:.1f}",
                    f"{r['us_per_record']:.1f}",
                    f"{r['us_per_record'] / first:.2f}",
                    f"{1e6 * r['cpu_s'] / r['records']:.1f}",
                    f"{1e6 * r['cpu_s'] / r['records'] / first_cpu:.2f}",
                    f"{r['peak_rss_mb']:.0f}",
                    f"{r['input_mb']:.0f}",
                    f"{r['objects_rss_mb']:.0f}",
                    f"{r['peak_rss_mb'] / r['objects_rss_mb']:.2f}",
                )
                for r in results
            ),
        )
    )
    print(
        "\n'as Python objects': peak RSS of a process that json.loads every input line into a list "
        "(interpreter included). CPU time is less sensitive than wall time to other load on the machine."
    )
    return {"mode": "scale", "sizes": results}


def rerun(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """A first run that fills an empty token-count cache, a floor run, then a rerun with another
    seed on that cache; ``--repeat`` rounds (each with a fresh cache), the fastest of each counts."""
    if not ctx.cli.accepts("--cache-dir"):
        print("\n--rerun skipped: this checkout's 'mosaicit augment' has no --cache-dir option (yet).")
        return {"mode": "rerun", "skipped": "no --cache-dir option"}
    data = ctx.dataset(args.records)
    cache = ctx.work / "rerun-cache"

    def mosaicit(label: str, seed: int) -> tuple[Measure, dict]:
        m, summary = run_mosaicit(
            ctx.cli, data, ctx.work, ctx.tokenizer, "--cache-dir", str(cache), "--seed", str(seed)
        )
        return checked(m, label, ctx.log), summary.get("cache") or {}

    firsts, floor_runs, reruns, caches = [], [], [], []
    for r in range(args.repeat):  # interleaved, so that all three see the same load
        shutil.rmtree(cache, ignore_errors=True)
        firsts.append(mosaicit(f"first run {r + 1}/{args.repeat}", SEED)[0])
        floor_runs.append(run_floor(ctx, data, f"floor {r + 1}/{args.repeat}"))
        m, cache_stats = mosaicit(f"rerun {r + 1}/{args.repeat}", SEED + 1 + r)
        reruns.append(m)
        caches.append(cache_stats)
    shutil.rmtree(cache, ignore_errors=True)
    floor_m, first_m, again_m = fastest(floor_runs), fastest(firsts), fastest(reruns)
    cache_stats = caches[reruns.index(again_m)]
    results = [
        row("floor", floor_m, args.records, "read + tokenize once, batched; writes nothing"),
        row("first run (cache empty)", first_m, args.records),
        row("rerun, --seed changed", again_m, args.records),
    ]
    print(
        f"\nmosaicit augment with a token-count cache, {args.records:,} records (best of {args.repeat}, "
        "interleaved; each round starts from an empty cache):\n"
    )
    print_rows(results)
    first, again, base = first_m.wall, again_m.wall, floor_m.wall
    ratio = round(again / first, 2)
    print(f"\nrerun / first run: {ratio:.2f}x (issue 4 target: <= 0.3)")
    print(
        f"rerun / floor:     {again / base:.2f}x (the rerun reads, composes and writes; "
        "the floor reads and tokenizes)"
    )
    if cache_stats:
        print(
            f"rerun's cache: {cache_stats.get('hits', 0):,} hits, {cache_stats.get('misses', 0):,} "
            f"misses, {cache_stats.get('ignored', 0):,} ignored"
        )
    saved = first - again
    print(
        f"the cache saved {saved:.2f} s (first run - rerun), {saved / first:.0%} of the first run: what "
        f"counting tokens costs.\nThe rest, {again:.2f} s (start-up, reading, composing, writing), is in "
        f"every run; 0.3x would need it under {0.3 * first:.2f} s."
    )
    return {
        "mode": "rerun",
        "rows": results,
        "rerun_over_first": ratio,
        "rerun_over_floor": round(again / base, 2),
        "rerun_cache": cache_stats,
    }


def profile(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    """One mosaicit run under cProfile; prints the top functions by own and cumulative time."""
    data = ctx.dataset(args.records)
    stats_path = ctx.work / "mosaicit.prof"
    cmd = ctx.cli.command(data, ctx.work / "out.jsonl", ctx.tokenizer, *ctx.cli.cold_cache(ctx.cache))
    cmd[1:2] = ["-m", "cProfile", "-o", str(stats_path), "-m"]
    m = checked(run_measured(cmd, child_env()), "mosaicit under cProfile", ctx.log)
    import pstats

    print(f"\nmosaicit augment under cProfile, {args.records:,} records: {m.wall:.1f} s wall\n")
    for key in ("tottime", "cumulative"):
        pstats.Stats(str(stats_path), stream=sys.stdout).sort_stats(key).print_stats(args.profile_top)
    for path in ctx.work.glob("out.jsonl*"):
        path.unlink()
    return {"mode": "profile", "wall_s": round(m.wall, 3), "stats": str(stats_path)}


@dataclass
class Context:
    """Paths and tools shared by the modes."""

    assets: Path
    data_dir: Path
    work: Path
    seed: int
    quiet: bool
    cli: Cli
    tokenizer: Path
    _pool: Pool | None = None

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.parent.name

    @property
    def cache(self) -> Path:
        return self.work / "cache"

    def log(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def dataset(self, n: int) -> Path:
        if self._pool is None:
            # the length mix is set in Llama-2 tokens, whatever tokenizer is measured
            self._pool = load_pool(self.assets, load_tokenizer(self.assets / TOKENIZER_REL))
        return ensure_dataset(self.data_dir, n, self.seed, self._pool, self.log)


def child(argv: list[str]) -> int:
    """The jobs run in child processes; each prints one JSON object."""
    job, *rest = argv
    if job == "floor":
        result = floor(rest[0], rest[1])
    elif job == "baseline":
        result = baseline(rest[0], rest[1], rest[2])
    elif job == "objects":
        with open(rest[0], encoding="utf-8") as handle:
            held = [json.loads(line) for line in handle]
        result = {"records": len(held)}
    else:
        raise SystemExit(f"unknown child job {job!r}")
    print(json.dumps(result))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark mosaicit augment against the tokenizer floor and the research algorithm.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--records", type=int, default=10_000, help="records in the dataset")
    p.add_argument(
        "--baseline-records", type=int, default=2000, help="records the slow baseline runs on (0: all)"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of floor and mosaicit (with --rerun: rounds); the fastest counts",
    )
    p.add_argument("--seed", type=int, default=SEED, help="seed of the dataset builder")
    p.add_argument(
        "--tokenizer",
        default="llama-2",
        help="the tokenizer measured: a folder name under ASSETS/tokenizers, or a tokenizer.json path "
        "(the dataset is the same whatever the tokenizer: its length mix is set in Llama-2 tokens)",
    )
    p.add_argument("--assets", type=Path, default=DEFAULT_ASSETS, help="the shared assets folder")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mosaicit-bench",
        help="where built datasets are kept and reused",
    )
    p.add_argument(
        "--mosaicit-args",
        default="",
        help="extra arguments for every mosaicit run, e.g. '--workers 2' (one option alone: "
        "--mosaicit-args=--no-cache); options this mosaicit does not know are dropped with a note",
    )
    p.add_argument("--scale", action="store_true", help="run mosaicit at --sizes instead of the comparison")
    p.add_argument("--sizes", default="10000,100000,1000000", help="record counts for --scale")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="measure a cached rerun beside a first run and the floor, instead of the comparison",
    )
    p.add_argument("--profile", action="store_true", help="profile one mosaicit run with cProfile")
    p.add_argument("--profile-top", type=int, default=25, help="functions shown by --profile")
    p.add_argument("--json", type=Path, default=None, help="also save the figures as JSON here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # keep the table and the progress lines in order
    if not (args.assets / TOKENIZER_REL).is_file():
        raise SystemExit(f"assets not found: {args.assets} (pass --assets)")
    tokenizer = Path(args.tokenizer)
    if not tokenizer.is_file():
        tokenizer = args.assets / "tokenizers" / args.tokenizer / "tokenizer.json"
    if not tokenizer.is_file():
        raise SystemExit(f"--tokenizer: no tokenizer.json at {args.tokenizer} or {tokenizer}")
    cli = Cli.probe(args.mosaicit_args)
    if cli.dropped:
        unknown = " ".join(a for a in cli.dropped if a.startswith("--"))
        print(f"note: this mosaicit does not accept {unknown}; running without {' '.join(cli.dropped)}")
    with tempfile.TemporaryDirectory(prefix="mosaicit-bench-") as tmp:
        ctx = Context(args.assets, args.data_dir, Path(tmp), args.seed, args.quiet, cli, tokenizer)
        if args.scale:
            result = scale(args, ctx)
        elif args.rerun:
            result = rerun(args, ctx)
        elif args.profile:
            result = profile(args, ctx)
        else:
            result = compare(args, ctx)
    result["machine"] = machine()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
