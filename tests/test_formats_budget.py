"""Every emitted sample, rendered as the trainer renders it, fits --max-length; counts are the trainer's."""

from __future__ import annotations

import json

import pytest

from conftest import SHAREGPT, TOKENIZERS
from formats_helpers import fastchat_vicuna, hf_tokenizer, read_rows, row_messages
from mosaicit import MosaicConfig
from mosaicit.run.api import augment_dataset

pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
MAX_LENGTH = 400


@pytest.fixture(scope="module")
def mixed_sharegpt(tmp_path_factory):
    """FastChat's dummy conversations, with system prompts added to some (two distinct prompts)."""
    rows = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    for i, row in enumerate(rows):
        if i % 7 == 0:
            system = "You are a helpful assistant." if i % 2 else "Answer like a pirate."
            row["conversations"].insert(0, {"from": "system", "value": system})
    path = tmp_path_factory.mktemp("data") / "mixed.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def trainer_count(template: str, tokenizer: str, messages: list[dict[str, str]]) -> int:
    """The number of tokens the trainer sees for one sample, computed with transformers only."""
    tok = hf_tokenizer(tokenizer)
    if template == "chat":  # TRL: apply_chat_template(tokenize=True), nothing added
        return len(tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    if template == "vicuna_v1.1":  # FastChat train.py: tokenizer(prompt), BOS added by the tokenizer
        return len(tok(fastchat_vicuna(messages)).input_ids)
    if template == "chatml":
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return len(tok(text, add_special_tokens=False).input_ids)
    texts = [m["content"] for m in messages if m["role"] != "system"]  # none: bare texts, no specials
    return sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts)


CASES = [
    ("chat", "llama-3.1", "messages", "jsonl"),
    ("chat", "llama-3.1", "alpaca", "parquet"),
    ("chat", "qwen3", "sharegpt", "json"),
    ("chat", "qwen3", "prompt-completion", "parquet"),
    ("vicuna_v1.1", "llama-2", "sharegpt", "json"),
    ("vicuna_v1.1", "llama-2", "alpaca", "jsonl"),
    ("chatml", "qwen3", "messages", "jsonl"),
    ("none", "llama-2", "alpaca", "json"),
]


@pytest.mark.parametrize(("template", "tokenizer", "shape", "ext"), CASES)
def test_every_sample_fits_as_the_trainer_renders_it(
    tmp_path, mixed_sharegpt, template, tokenizer, shape, ext
):
    out = tmp_path / f"out.{ext}"
    config = MosaicConfig(epochs=2, max_length=MAX_LENGTH, seed=3)
    formats = {"output_format": shape, "template": template}
    summary = augment_dataset(mixed_sharegpt, out, config, **formats, tokenizer=str(TOKENIZERS / tokenizer))

    builder = "parquet" if ext == "parquet" else "json"
    ds = datasets.load_dataset(builder, data_files=str(out), split="train", cache_dir=str(tmp_path / "c"))
    rows = read_rows(out)
    assert ds.num_rows == len(rows) == summary["samples_written"]
    counts = [trainer_count(template, tokenizer, row_messages(r)) for r in rows]
    assert max(counts) <= MAX_LENGTH
    assert counts == [r["mosaic"]["tokens"] for r in rows]  # the budget counted what the trainer sees
    assert max(counts) > MAX_LENGTH * 0.75  # the budget was really used, not trivially met

    # no record lost: each input item is in a written sample or in the rejects
    rejects = [json.loads(line) for line in (tmp_path / f"out.{ext}.rejects.jsonl").read_text().splitlines()]
    used = {i for r in rows for i in r["mosaic"]["sources"]}
    assert used | {r["index"] for r in rejects} == set(range(500))
    assert {r["reason"] for r in rejects} <= {"over_budget"}
    with_system = [r for r in rows if any(m["role"] == "system" for m in row_messages(r))]
    assert with_system, "system prompts reach the output"
