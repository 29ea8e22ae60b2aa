"""The CLI as a new user meets it: augment a ShareGPT file for LLaMA-Factory, convert, --help."""

from __future__ import annotations

import json

import pytest

from conftest import SHAREGPT, TOKENIZERS
from formats_helpers import hf_tokenizer, read_rows, row_messages, run_cli

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def sharegpt_with_systems(tmp_path_factory):
    rows = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    for i in range(0, len(rows), 9):
        rows[i]["system"] = "You are a careful assistant."
    path = tmp_path_factory.mktemp("in") / "chat.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def llama_factory_rows(info_path, name):
    """Load a dataset the way LLaMA-Factory's dataset_info.json entry says, and check each row against it.

    Follows LLaMA-Factory's data/README: file_name relative to dataset_info.json's folder; alpaca
    columns prompt/query/response (+system, history); sharegpt columns messages (+system) and tags
    role_tag/content_tag/user_tag/assistant_tag/system_tag, user and assistant alternating after an
    optional leading system message. Returns the rows as messages.
    """
    entry = json.loads(info_path.read_text(encoding="utf-8"))[name]
    path = info_path.parent / entry["file_name"]
    builder = "parquet" if path.suffix == ".parquet" else "json"
    ds = datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(info_path.parent / "c")
    )
    columns = entry["columns"]
    assert set(columns.values()) <= set(ds.column_names)
    out = []
    for row in ds:
        messages = (
            [{"role": "system", "content": row[columns["system"]]}] if row.get(columns.get("system")) else []
        )
        if entry["formatting"] == "alpaca":
            assert set(columns) <= {"prompt", "query", "response", "system", "history"}
            for user, answer in row.get(columns.get("history", ""), None) or []:
                messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
            user = row[columns["prompt"]] + ("\n" + row[columns["query"]] if row[columns["query"]] else "")
            messages += [
                {"role": "user", "content": user},
                {"role": "assistant", "content": row[columns["response"]]},
            ]
        else:
            assert entry["formatting"] == "sharegpt"
            tags = entry["tags"]
            roles = {tags["user_tag"]: "user", tags["assistant_tag"]: "assistant"}
            turns = row[columns["messages"]]
            if tags.get("system_tag") and turns and turns[0][tags["role_tag"]] == tags["system_tag"]:
                messages.append({"role": "system", "content": turns[0][tags["content_tag"]]})
                turns = turns[1:]
            for i, m in enumerate(turns):
                assert m[tags["role_tag"]] == [tags["user_tag"], tags["assistant_tag"]][i % 2]
                messages.append({"role": roles[m[tags["role_tag"]]], "content": m[tags["content_tag"]]})
            assert len(turns) % 2 == 0
        out.append(messages)
    return out


@pytest.mark.parametrize(
    ("shape", "ext"), [("sharegpt", "json"), ("messages", "jsonl"), ("alpaca", "parquet")]
)
def test_new_user_llama_factory(tmp_path, sharegpt_with_systems, shape, ext):
    data = tmp_path / "data"
    out = data / f"mosaic_chat.{ext}"
    tokenizer = TOKENIZERS / "llama-3.1"
    result = run_cli(
        "augment", sharegpt_with_systems, "-o", out, "--output-format", shape, "--template", "chat",
        "--tokenizer", tokenizer, "--max-length", "512", "--emit-dataset-info",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"dataset_info.json entry 'mosaic_chat': {data / 'dataset_info.json'}" in result.stderr
    rows = read_rows(out)
    as_llama_factory = llama_factory_rows(data / "dataset_info.json", "mosaic_chat")
    assert as_llama_factory == [row_messages(r) for r in rows]
    assert any(m[0]["role"] == "system" for m in as_llama_factory)
    tok = hf_tokenizer("llama-3.1")
    lengths = [
        len(tok.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"])
        for m in as_llama_factory
    ]
    assert max(lengths) <= 512


def test_dataset_info_entry_is_added_to_an_existing_file(tmp_path):
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}), encoding="utf-8")
    result = run_cli(
        "convert", SHAREGPT, "-o", tmp_path / "sub" / "chat.jsonl", "--output-format", "messages",
        "--emit-dataset-info", info,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(info.read_text(encoding="utf-8"))
    assert data["alpaca_en_demo"] == {"file_name": "alpaca_en_demo.json"}
    assert data["chat"]["file_name"] == "sub/chat.jsonl"
    assert data["chat"]["tags"]["role_tag"] == "role"
    assert len(llama_factory_rows(info, "chat")) == 500


def test_convert_reports_and_round_trips(tmp_path):
    out = tmp_path / "c.parquet"
    result = run_cli("convert", SHAREGPT, "-o", out, "--output-format", "prompt-completion")
    assert result.exit_code == 0
    assert result.stderr.strip() == f"read 500 sharegpt records, wrote 500 as prompt-completion to {out}"
    back = tmp_path / "back.json"
    assert run_cli("convert", out, "-o", back, "--output-format", "sharegpt", "-q").exit_code == 0
    original = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    # the same records, with every column of the shape: no system prompt, no provenance
    assert json.loads(back.read_text(encoding="utf-8")) == [
        r | {"system": "", "mosaic": None} for r in original
    ]


def test_column_keys_on_the_command_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(
        "".join(json.dumps({"q": f"Question {i}?", "a": f"Answer {i}."}) + "\n" for i in range(30))
    )
    out = tmp_path / "o.json"
    result = run_cli(
        "augment", path, "-o", out, "--instruction-key", "q", "--output-key", "a", "--epochs", "1", "-q"
    )
    assert result.exit_code == 0, result.stderr
    rows = read_rows(out)
    assert sorted(i for r in rows for i in r["mosaic"]["sources"]) == list(range(30))
    assert "Question 0?" in "".join(r["instruction"] for r in rows)


@pytest.mark.parametrize("command", ["augment", "convert"])
def test_help_lists_the_format_options(command):
    result = run_cli(command, "--help")
    assert result.exit_code == 0
    for option in (
        "--input-format",
        "--output-format",
        "--messages-key",
        "--role-key",
        "--emit-dataset-info",
    ):
        assert option in result.output
    if command == "augment":
        for option in ("--template", "--conversations", "--system-policy", "--chat-template"):
            assert option in result.output
