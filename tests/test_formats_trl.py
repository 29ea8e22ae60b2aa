"""TRL's own SFT dataset preparation accepts the output, and tokenizes exactly the counted tokens."""

from __future__ import annotations

import json

import pytest

from conftest import TOKENIZERS
from formats_helpers import hf_tokenizer, write_mixed
from mosaicit import MosaicConfig
from mosaicit.run.api import augment_dataset

pytestmark = pytest.mark.heavy
MAX_LENGTH = 384


@pytest.mark.parametrize(("shape", "train"), [("messages", True), ("prompt-completion", False)])
def test_trl_sft_accepts_the_output(tmp_path, shape, train):
    pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    out = tmp_path / "train.jsonl"
    config = MosaicConfig(epochs=1, max_length=MAX_LENGTH)
    formats = {"output_format": shape, "template": "chat"}
    mixed = write_mixed(
        tmp_path / "mixed.jsonl"
    )  # mosaics, passthrough conversations with ids, system prompts
    summary = augment_dataset(mixed, out, config, **formats, tokenizer=str(TOKENIZERS / "qwen3"))

    tok = hf_tokenizer("qwen3")
    dataset = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "c"), chunksize=1 << 15
    )  # read in many blocks
    assert dataset.num_rows == summary["samples_written"]
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    args = SFTConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=None,  # no truncation: what TRL tokenizes is what we measure
        report_to=[],
        use_cpu=True,
        save_strategy="no",
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok)
    prepared = trainer.train_dataset
    assert prepared.num_rows == dataset.num_rows
    lengths = [len(ids) for ids in prepared["input_ids"]]
    assert max(lengths) <= MAX_LENGTH
    assert lengths == [json.loads(m)["tokens"] for m in prepared["mosaic"]]
    assert {json.loads(m)["strategy"] == "passthrough" for m in prepared["mosaic"]} == {True, False}
    if shape == "prompt-completion":  # the loss covers the completion only, never nothing
        for labels in prepared["labels"]:
            assert labels[0] == -100 and any(label != -100 for label in labels)
    if train:
        result = trainer.train()
        assert result.global_step == 1
