"""Supervised fine-tuning for the experiment, with batching and schedule written out.

Every trained arm makes the same number of optimizer steps with the same learning rate at each
step. A step takes a contiguous run of the arm's samples (in their shuffled training order)
holding about 1/steps of the arm's tokens, so the tokens per step match between arms however
many records a sample packs (plain: about 8 samples a step, mosaic: about 4). The loss is the
mean cross-entropy over the completion tokens of the step (prompt and padding masked, as TRL's
``completion_only_loss``), summed over micro-batches, so a step of any size fits in memory.
The optimizer is TRL/transformers' default: AdamW (0.9, 0.999), eps 1e-8, no weight decay,
gradients clipped to norm 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

IGNORE = -100


def lr_factors(steps: int, warmup: int) -> list[float]:
    """Learning-rate multiplier of each step: linear warmup from 1/warmup up to 1, then linear
    decay down to 1/(steps - warmup) on the last step; no step runs at 0."""
    if steps < 1 or not 0 <= warmup < steps:
        raise ValueError(f"need 0 <= warmup < steps, got warmup {warmup}, steps {steps}")
    return [(t + 1) / warmup if t < warmup else (steps - t) / (steps - warmup) for t in range(steps)]


def split_steps(lengths: list[int], steps: int) -> list[range]:
    """Cut samples (in order) into ``steps`` contiguous non-empty runs whose token sums are as
    close as the samples allow to an equal share each."""
    n = len(lengths)
    if n < steps:
        raise ValueError(f"{n} samples cannot fill {steps} optimizer steps; train more records or passes")
    prefix = [0]
    for length in lengths:
        prefix.append(prefix[-1] + length)
    bounds = [0]
    for k in range(1, steps):
        target = prefix[n] * k / steps
        low, high = bounds[-1] + 1, n - (steps - k)
        bounds.append(min(range(low, high + 1), key=lambda j: (abs(prefix[j] - target), j)))
    bounds.append(n)
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def encode(tokenizer: Any, sample: dict[str, Any], max_length: int) -> tuple[list[int], int, bool]:
    """Token ids of a prompt/completion sample through the chat template, the number of prompt
    tokens (masked from the loss), and whether it was cut to ``max_length``."""
    prompt = tokenizer.apply_chat_template(
        sample["prompt"], tokenize=True, add_generation_prompt=True, return_dict=False
    )
    ids = tokenizer.apply_chat_template(
        sample["prompt"] + sample["completion"], tokenize=True, return_dict=False
    )
    if ids[: len(prompt)] != prompt:
        raise ValueError("the chat template renders the prompt differently once a reply follows it")
    return ids[:max_length], min(len(prompt), max_length), len(ids) > max_length


def _micro_batches(chunk: list[tuple[list[int], int]], tokens: int) -> list[list[tuple[list[int], int]]]:
    """A step's samples, shortest first, in groups whose padded size stays within ``tokens``."""
    out: list[list[tuple[list[int], int]]] = []
    for sample in sorted(chunk, key=lambda s: len(s[0])):
        if out and (len(out[-1]) + 1) * len(sample[0]) <= tokens:
            out[-1].append(sample)
        else:
            out.append([sample])
    return out


def train(
    model: Any,
    encoded: list[tuple[list[int], int]],
    steps: int,
    learning_rate: float,
    warmup: int,
    micro_tokens: int,
    pad_id: int,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Fine-tune ``model`` in place on the encoded samples (in order) in ``steps`` optimizer
    steps; return what each step did and how far the weights moved."""
    import torch

    runs = split_steps([len(ids) for ids, _ in encoded], steps)
    factors = lr_factors(steps, warmup)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    model.train()
    record: dict[str, list[Any]] = {"lr": [], "tokens": [], "samples": [], "loss": []}
    start = time.perf_counter()
    for step, run in enumerate(runs):
        chunk = [encoded[i] for i in run]
        targets = sum(len(ids) - masked for ids, masked in chunk)
        total = 0.0
        for micro in _micro_batches(chunk, micro_tokens):
            width = max(len(ids) for ids, _ in micro)
            input_ids = torch.full((len(micro), width), pad_id, dtype=torch.long)
            labels = torch.full((len(micro), width), IGNORE, dtype=torch.long)
            mask = torch.zeros((len(micro), width), dtype=torch.long)
            for row, (ids, masked) in enumerate(micro):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, masked : len(ids)] = torch.tensor(ids[masked:])
                mask[row, : len(ids)] = 1
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(),
                labels[:, 1:].flatten(),
                ignore_index=IGNORE,
                reduction="sum",
            ) / max(targets, 1)
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * factors[step]
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        record["lr"].append(learning_rate * factors[step])
        record["tokens"].append(sum(len(ids) for ids, _ in chunk))
        record["samples"].append(len(chunk))
        record["loss"].append(round(total, 4))
        log(f"step {step + 1}/{steps}: {len(chunk)} samples, {record['tokens'][-1]} tokens, loss {total:.4f}")
    model.eval()
    moved = math.sqrt(sum(float((p.detach() - b).pow(2).sum()) for p, b in zip(params, before, strict=True)))
    return {
        "steps": steps,
        "seconds": round(time.perf_counter() - start, 1),
        "weights_moved_l2": moved,
        "lr_sum": sum(record["lr"]),
        "lr_min": min(record["lr"]),
        "tokens_per_step": record["tokens"],
        "samples_per_step": record["samples"],
        "loss_per_step": record["loss"],
    }
