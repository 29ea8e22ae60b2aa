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


ALIASES = ("chatgpt", "bing", "bard", "model")


def messy_sharegpt(copies: int = 8) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """FastChat's 500 dummy conversations, ``copies`` times, made as messy as real ShareGPT dumps:
    leading model turns, role aliases, trailing user turns, repeated roles, bare "continue"
    turns, empty and broken conversations. Returns the rows and how many of each were made."""
    from collections import Counter

    from conftest import SHAREGPT

    base = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    made: Counter[str] = Counter()
    rows = []
    for copy in range(copies):
        for i, row in enumerate(base):
            k = copy * len(base) + i
            conv = [dict(m) for m in row["conversations"]]
            kind = k % 10
            if kind == 1:
                conv = [{"from": "gpt", "value": "...and that is the end of my earlier answer."}, *conv]
                made["leading_model_turns_dropped"] += 1
            elif kind == 2:
                alias = ALIASES[(k // 10) % len(ALIASES)]
                conv = [{**m, "from": alias if m["from"] == "gpt" else "user"} for m in conv]
                made["role_aliases"] += 1
            elif kind == 3:
                conv = [*conv, {"from": "human", "value": "Thanks! One more thing:"}]
                made["trailing_user_turn_dropped"] += 1
            elif kind == 4 and k % 20 == 4:
                conv = []
                made["empty_conversation"] += 1
            elif kind == 5:
                conv = [
                    *conv,
                    {"from": "human", "value": "Continue."},
                    {"from": "gpt", "value": "Sure: more."},
                ]
                made["continuation"] += 1
            elif kind == 6:
                first = conv[1]["value"]
                conv = [
                    conv[0],
                    {"from": "gpt", "value": first},
                    {"from": "gpt", "value": "Also this."},
                    *conv[2:],
                ]
                made["same_role_merged"] += 1
            elif kind == 7 and k % 50 == 7:
                conv = [*conv[:1], {"from": "narrator", "value": "Meanwhile..."}, *conv[1:]]
                made["malformed"] += 1
            rows.append({"id": f"{row['id']}-{copy}", "conversations": conv})
    return rows, dict(made)


def write_mixed(path: Path) -> Path:
    """A messages JSONL file that mixes what a real corpus mixes: the 805 AlpacaEval exchanges first
    (every 7th with a system prompt, none with an id), then FastChat's multi-turn conversations with
    ids. Mosaics made of it have no id, history or system; the passed-through conversations do."""
    from conftest import ALPACA_EVAL, SHAREGPT

    def messages(user: str, answer: str, system: str = "") -> list[dict[str, str]]:
        head = [{"role": "system", "content": system}] if system else []
        return [*head, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]

    alpaca = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = [
        {"messages": messages(r["instruction"], r["output"], "Be brief." if i % 7 == 0 else "")}
        for i, r in enumerate(alpaca)
    ]
    roles = {"human": "user", "gpt": "assistant"}
    for r in json.loads(SHAREGPT.read_text(encoding="utf-8")):
        if len(r["conversations"]) > 2:
            msgs = [{"role": roles[m["from"]], "content": m["value"]} for m in r["conversations"]]
            rows.append({"id": r["id"], "messages": msgs})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
