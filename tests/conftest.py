"""Shared fixtures: real tokenizers and datasets from ../shared/assets, and this checkout's src/."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # test this checkout's code, also from a git worktree

ASSETS = ROOT.parent / "shared" / "assets"
TOKENIZERS = ASSETS / "tokenizers"
DATASETS = ASSETS / "datasets"
ALPACA_EVAL = DATASETS / "alpaca_eval_805.json"
SHAREGPT = DATASETS / "fastchat_dummy_conversation.json"
SAMPLE = ROOT / "examples" / "sample_alpaca.jsonl"

if not ASSETS.is_dir():  # pragma: no cover
    raise RuntimeError(f"the shared test assets are missing: {ASSETS}")


def augment_alpaca_llama2(out: Path, *extra: object):
    """Run ``augment`` in-process on the 805 AlpacaEval records with Llama-2 at 1200 tokens."""
    from click.testing import CliRunner

    from mosaicit.cli import main

    args = ["augment", str(ALPACA_EVAL), "-o", str(out), "-q", "--tokenizer", str(TOKENIZERS / "llama-2")]
    args += ["--max-length", "1200", *map(str, extra)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="session")
def alpaca_eval() -> list[dict]:
    """The 805 AlpacaEval records (instruction, output)."""
    return json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def counters():
    """Loaded counters by short name, shared across tests (loading the big vocabularies is slow)."""
    from mosaicit.budget.tokens import load_counter

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_counter(None if name == "default" else TOKENIZERS / name)
        return cache[name]

    return get


@functools.cache
def independent(name: str) -> Callable[[list[str]], list[int]]:
    """Counts straight from the tokenizers (or tiktoken) library, without mosaicit: no special
    tokens added, special-token strings in the text split as the library splits them."""
    if name == "cl100k":
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        from mosaicit.budget.tokens import CL100K_PATTERN

        ranks = load_tiktoken_bpe(str(TOKENIZERS / "cl100k" / "cl100k_base.tiktoken"))
        enc = tiktoken.Encoding("cl100k", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
        return lambda texts: [len(ids) for ids in enc.encode_ordinary_batch(texts)]
    from tokenizers import Tokenizer

    path = TOKENIZERS / "mistral-7b-v0.1" if name == "default" else TOKENIZERS / name
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    return lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]


@pytest.fixture(autouse=True)
def _private_cache_home(tmp_path_factory, monkeypatch):
    """The cache's per-user secret goes to a test folder, never to the user's own cache home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache-home"))
