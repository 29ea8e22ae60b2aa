"""Helpers shared by the format tests: transformers tokenizers, reference renderings, CLI runs."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from conftest import TOKENIZERS

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@functools.cache
def hf_tokenizer(name: str) -> Any:
    """A transformers tokenizer from ../shared/assets/tokenizers, loaded once."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZERS / name), local_files_only=True)


def fastchat_vicuna(messages: list[dict[str, str]]) -> str:
    """FastChat's vicuna_v1.1 prompt (ADD_COLON_TWO, sep " ", sep2 "</s>"), written from its rules."""
    system = VICUNA_SYSTEM
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    seps = [" ", "</s>"]
    text = system + seps[0]
    for i, message in enumerate(messages):
        role = "USER" if message["role"] == "user" else "ASSISTANT"
        text += f"{role}: {message['content']}{seps[i % 2]}"
    return text


def sharegpt_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """The messages of a ShareGPT output row (system column first)."""
    out = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    roles = {"human": "user", "gpt": "assistant"}
    return out + [{"role": roles[m["from"]], "content": m["value"]} for m in row["conversations"]]


def row_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """The messages of an output row in any shape."""
    if "messages" in row:
        return row["messages"]
    if "conversations" in row:
        return sharegpt_messages(row)
    if "prompt" in row:
        return row["prompt"] + row["completion"]
    out = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    for user, answer in row.get("history") or []:
        out += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    user = row["instruction"] + (f"\n{row['input']}" if row.get("input") else "")
    return out + [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]


def raw_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an output file (JSON array, JSONL or Parquet) as written."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an output file, the ``mosaic`` JSON string decoded (and checked to be one)."""
    rows = raw_rows(path)
    for row in rows:
        if row.get("mosaic") is not None:
            assert isinstance(row["mosaic"], str), "the provenance is written as a JSON string"
            row["mosaic"] = json.loads(row["mosaic"])
    return rows


def run_cli(*args: str) -> Any:
    """Run the mosaicit CLI in-process."""
    from mosaicit.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
