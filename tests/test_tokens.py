"""Token counters: every backend loads offline and counts like the real tokenizer."""

from __future__ import annotations

import json

import pytest

from conftest import TOKENIZERS
from mosaicit.budget.tokens import default_tokenizer_path, load_counter
from mosaicit.errors import MosaicitError

HELLO = "Hello world, this is a test."


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("llama-2", 8),  # README ids minus the BOS token
        ("llama-2/tokenizer.json", 8),
        ("mistral-7b-v0.1", 8),
        ("mistral-7b-v0.1/tokenizer.model", 8),
    ],
)
def test_known_counts(spec, expected):
    assert load_counter(TOKENIZERS / spec).count(HELLO) == expected


@pytest.mark.parametrize("spec", ["llama-3.1", "qwen3", "cl100k", "cl100k/cl100k_base.tiktoken"])
def test_every_backend_counts_in_batches_like_one_by_one(spec, alpaca_eval):
    counter = load_counter(TOKENIZERS / spec)
    texts = [r["output"] for r in alpaca_eval[:50]]
    assert len(texts) == 50
    assert counter.count_many(texts) == [counter.count(t) for t in texts]
    assert all(n > 0 for n in counter.count_many(texts))


def test_default_is_bundled_and_matches_mistral():
    default = load_counter(None)
    assert default_tokenizer_path().is_file()
    assert "site-packages" in str(default_tokenizer_path()) or "src" in str(default_tokenizer_path())
    mistral = load_counter(TOKENIZERS / "mistral-7b-v0.1" / "tokenizer.json")
    assert default.fingerprint == mistral.fingerprint
    assert default.count(HELLO) == 8


@pytest.mark.parametrize(
    ("spec", "space", "pretoken"),
    [
        ("llama-2", True, False),
        ("mistral-7b-v0.1", True, False),
        ("mistral-7b-v0.1/tokenizer.model", False, False),
        ("llama-3.1", False, True),
        ("qwen3", False, True),
        ("cl100k", False, True),
    ],
)
def test_exact_composition_detection(spec, space, pretoken):
    counter = load_counter(TOKENIZERS / spec)
    assert (counter.space_exact, counter.pretoken_exact) == (space, pretoken)


@pytest.mark.parametrize(
    "change",
    [
        lambda spec: spec["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(Regex=r"\s+|\S+"),
        lambda spec: spec.update(normalizer={"type": "NFKC"}),
        lambda spec: spec["pre_tokenizer"]["pretokenizers"][1].update(add_prefix_space=True),
        lambda spec: spec["model"].update(dropout=0.1),
    ],
)
def test_unknown_byte_level_layouts_are_not_pretoken_exact(tmp_path, change):
    spec = json.loads((TOKENIZERS / "qwen3" / "tokenizer.json").read_text(encoding="utf-8"))
    change(spec)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert not load_counter(path).pretoken_exact


def _add_token(spec, token):
    spec["model"]["vocab"][token] = len(spec["model"]["vocab"])


@pytest.mark.parametrize(
    "change",
    [
        lambda spec: _add_token(spec, "a\nb"),  # a token that spans a newline
        lambda spec: _add_token(spec, "x▁y"),  # a token with "▁" after another character
        lambda spec: spec.update(normalizer={"type": "NFKC"}),
        lambda spec: spec.update(pre_tokenizer={"type": "Whitespace"}),
        lambda spec: spec["model"].update(dropout=0.1),
        lambda spec: spec["model"].update(ignore_merges=True),
    ],
)
def test_unknown_sentencepiece_layouts_are_not_space_exact(tmp_path, change):
    """What decides space-exactness is read from the loaded tokenizer, its vocabulary included."""
    spec = json.loads((TOKENIZERS / "llama-2" / "tokenizer.json").read_text(encoding="utf-8"))
    change(spec)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert not load_counter(path).space_exact


def test_fingerprints_tell_tokenizers_apart():
    prints = {load_counter(TOKENIZERS / s).fingerprint for s in ("llama-2", "mistral-7b-v0.1", "qwen3")}
    assert len(prints) == 3


def test_bad_tokenizers_give_one_clear_error(tmp_path):
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(MosaicitError, match="not a usable tokenizer.json"):
        load_counter(broken)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MosaicitError, match="no tokenizer.json"):
        load_counter(tmp_path / "empty")
    with pytest.raises(MosaicitError, match="no such tokenizer"):
        load_counter("./nowhere/tokenizer.json")
    (tmp_path / "x.model").write_bytes(b"garbage")
    with pytest.raises(MosaicitError, match="SentencePiece"):
        load_counter(tmp_path / "x.model")


def test_hub_ids_are_only_looked_up_locally(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(MosaicitError, match="not a tokenizer in the local Hugging Face cache|install"):
        load_counter("some-org/some-model")
