"""Worker processes never change the output."""

from __future__ import annotations

import pytest

from conftest import augment_alpaca_llama2

augment = augment_alpaca_llama2


@pytest.mark.parametrize("epochs", ["1", "3"])
def test_workers_give_the_same_bytes(tmp_path, epochs):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    augment(one, "--workers", "1", "--no-cache", "--epochs", epochs)
    augment(two, "--workers", "2", "--no-cache", "--epochs", epochs)
    assert one.read_bytes() == two.read_bytes()
    summary = (tmp_path / "two.jsonl.summary.json").read_text()
    assert (
        summary.replace('"workers": 2', '"workers": 1').replace("two.jsonl", "one.jsonl")
        == (tmp_path / "one.jsonl.summary.json").read_text()
    )
