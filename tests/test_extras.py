"""mosaicit.extras: a missing optional dependency is one line naming the extra, never a traceback."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from tests.conftest import TOKENIZERS

from mosaicit.cli import main


@pytest.mark.parametrize(
    ("module", "tokenizer", "line"),
    [
        (
            "sentencepiece",
            "mistral-7b-v0.1/tokenizer.model",
            "a SentencePiece tokenizer.model needs sentencepiece: pip install 'mosaicit[sentencepiece]'",
        ),
        (
            "tiktoken",
            "cl100k/cl100k_base.tiktoken",
            "a *.tiktoken tokenizer needs tiktoken: pip install 'mosaicit[tiktoken]'",
        ),
        ("jinja2", "qwen3", "--template chat needs jinja2: pip install 'mosaicit[chat]'"),
    ],
)
def test_missing_tokenizer_backend_is_one_line(monkeypatch, tmp_path, module, tokenizer, line):
    records = tmp_path / "in.jsonl"
    records.write_text('{"instruction": "Say hi.", "output": "Hi."}\n', encoding="utf-8")
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, f"{module}.load", None)
    chat = ["--template", "chat"] if module == "jinja2" else []
    result = CliRunner().invoke(
        main, ["preview", str(records), "--plain", "--tokenizer", str(TOKENIZERS / tokenizer), *chat]
    )
    assert result.exit_code == 1
    assert result.output == f"mosaicit: error: {line}\n"
