"""Bad input: one clear error line naming the file and the record, exit status 1, no output at all."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import TOKENIZERS
from formats_helpers import run_cli


def _sg(*roles, system=None):
    row = {"conversations": [{"from": r, "value": f"text {i}"} for i, r in enumerate(roles)]}
    if system:
        row["system"] = system
    return row


GOOD = _sg("human", "gpt")
JSONL = "\n".join


def _lines(*rows):
    return JSONL(json.dumps(r) for r in rows) + "\n"


CASES = {
    "no known shape": (
        "data.json",
        json.dumps([{"question": "q", "answer": "a"}]),
        "record 0: no known dataset shape",
    ),
    "roles out of order": (
        "data.jsonl",
        _lines(GOOD, _sg("human", "gpt"), _sg("gpt", "human")),
        "record 2: roles out of order: message 1 is a assistant message, expected user",
    ),
    "conversation ends with the user": (
        "data.jsonl",
        _lines(GOOD, _sg("human", "gpt", "human")),
        "record 1: roles out of order: the conversation ends with a user message",
    ),
    "mixed shapes": (
        "data.jsonl",
        _lines(GOOD, {"instruction": "i", "output": "o"}),
        "record 1: mixed shapes: this record is alpaca but the records before it are sharegpt",
    ),
    "mixed sharegpt and messages": (
        "data.json",
        json.dumps(
            [GOOD, {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
        ),
        "record 1: mixed shapes: this record is messages",
    ),
    "empty array": ("data.json", "[]", "empty dataset: no records"),
    "empty jsonl": ("data.jsonl", "\n\n", "empty dataset: no records"),
    "invalid JSON": (
        "data.json",
        '[{"instruction": "a", "output": "b"}, {"instruction": }]',
        "record 1: invalid JSON",
    ),
    "unknown role": (
        "data.jsonl",
        _lines(GOOD, _sg("human", "narrator")),
        "record 1: message 2: unknown role",
    ),
    "not an object": ("data.json", json.dumps([GOOD, "text"]), "record 1: expected an object"),
}


def _write(tmp_path, name, text):
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return path


def _assert_clean_failure(result, tmp_path, path, message):
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"mosaicit: error: {path}")
    assert message in lines[0]
    assert not list((tmp_path / "out").glob("*")), "no output, summary, rejects or temporary file is left"


@pytest.mark.parametrize("command", ["augment", "convert"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(tmp_path, command, case):
    name, text, message = CASES[case]
    path = _write(tmp_path, name, text)
    (tmp_path / "out").mkdir()
    strict = ["--on-bad-record", "error", "--strict-conversations"]  # the old, strict behaviour
    result = run_cli(command, path, "-o", tmp_path / "out" / "o.jsonl", "--emit-dataset-info", "-q", *strict)
    _assert_clean_failure(result, tmp_path, path, message)


@pytest.mark.parametrize(
    ("ext", "message"),
    [
        ("parquet", "empty dataset: no records"),
        ("saved", "not a readable saved dataset"),
    ],  # datasets itself fails
)
def test_empty_parquet_and_saved_dataset(tmp_path, ext, message):
    datasets = pytest.importorskip("datasets")
    empty = datasets.Dataset.from_dict({"instruction": [], "output": []})
    path = tmp_path / "in" / ("e.parquet" if ext == "parquet" else "saved")
    path.parent.mkdir()
    empty.to_parquet(str(path)) if ext == "parquet" else empty.save_to_disk(str(path))
    (tmp_path / "out").mkdir()
    result = run_cli("augment", path, "-o", tmp_path / "out" / "o.parquet", "-q")
    _assert_clean_failure(result, tmp_path, path, message)


def test_chat_template_that_fails_to_render_names_the_record(tmp_path):
    folder = tmp_path / "tok"
    shutil.copytree(TOKENIZERS / "qwen3", folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}{{ m['content'] }}{% endfor %}"
    )
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    path = _write(tmp_path, "data.jsonl", _lines(GOOD, GOOD, _sg("human", "gpt", system="Be kind.")))
    (tmp_path / "out").mkdir()
    result = run_cli(
        "augment", path, "-o", tmp_path / "out" / "o.json", "--template", "chat", "--tokenizer", folder, "-q"
    )
    _assert_clean_failure(result, tmp_path, path, "record 2: the chat template of")
    assert "failed to render system/user/assistant: System role not supported" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "OUT/o.txt"], "the output must end in .json, .jsonl or .parquet"),
        (["-o", "OUT/o.parquet.gz"], "the output must end in .json, .jsonl or .parquet"),
        (
            ["-o", "OUT/o.jsonl", "--output-format", "prompt-completion", "--emit-dataset-info"],
            "no prompt-completion",
        ),
        (["-o", "OUT/o.jsonl", "--template", "chat"], "--template chat needs --tokenizer"),
        (
            ["-o", "OUT/o.jsonl", "--template", "chat", "--tokenizer", str(TOKENIZERS / "llama-2")],
            "no chat template",
        ),
    ],
)
def test_bad_options_fail_before_writing(tmp_path, args, message):
    path = _write(tmp_path, "data.jsonl", _lines(GOOD))
    (tmp_path / "out").mkdir()
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    result = run_cli("augment", path, *args, "-q")
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("*"))


def test_skip_sets_bad_records_aside_and_says_so(tmp_path):
    path = _write(tmp_path, "data.jsonl", _lines(GOOD, _sg("gpt", "human"), GOOD))
    out = tmp_path / "o.jsonl"
    strict = ["--strict-conversations"]
    result = run_cli("convert", path, "-o", out, "--output-format", "messages", *strict)
    assert result.exit_code == 0, "skip is the default"
    assert len(out.read_text().splitlines()) == 2
    [reject] = [json.loads(x) for x in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    assert (
        reject["index"] == 1 and reject["reason"] == "malformed" and "roles out of order" in reject["detail"]
    )
    assert "rejected: 1 (33.3%)" in result.stderr
