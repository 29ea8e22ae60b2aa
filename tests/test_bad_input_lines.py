"""Hostile input is one error line (or a reject with its reason), never a traceback or a hang."""

from __future__ import annotations

import json
import pickle
import time

import pytest
from click.testing import CliRunner

from conftest import SAMPLE, TOKENIZERS
from mosaicit.cli import main


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def augment(tmp_path, source, *extra):
    out = tmp_path / "out.jsonl"
    return run(
        "augment", source, "-o", out, "-q", "--workers", "1", "--no-cache", "--epochs", "1", *extra
    ), out


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaicit: error: ")
    return lines[0]


SURROGATES = {
    "instruction": {"instruction": "a\ud800b", "output": "x"},
    "output": {"instruction": "a", "output": "\udfff"},
    "id": {"instruction": "a", "output": "b", "id": "\ud83d"},
    "a key": {"instruction": "a", "output": "b", "k\udc00": 1},
}


@pytest.mark.parametrize("field", SURROGATES)
def test_a_lone_surrogate_is_one_line(tmp_path, field):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps(SURROGATES[field]) + "\n" + SAMPLE.read_text(encoding="utf-8"))
    result, out = augment(tmp_path, data, "--on-bad-record", "error")
    assert "record 0: a lone surrogate (\\u" in error_line(result)
    assert not out.exists()


def test_a_lone_surrogate_in_a_conversation_is_a_reject_under_skip(tmp_path):
    data = tmp_path / "d.jsonl"
    bad = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "\ud800"}]}
    good = {"conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Red."}]}
    data.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n" + json.dumps(good) + "\n")
    result, out = augment(tmp_path, data, "--on-bad-record", "skip", "--rejects-full")
    assert result.exit_code == 0, result.stderr
    [reject] = [
        json.loads(line) for line in (tmp_path / "out.jsonl.rejects.jsonl").read_text("utf-8").splitlines()
    ]
    assert reject["index"] == 1 and reject["reason"] == "malformed"
    assert reject["detail"] == "a lone surrogate (\\ud800) in field conversations[1].value: not valid Unicode"
    assert reject["record"] == bad  # kept as it was, as a JSON escape in a valid UTF-8 file
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert summary["records_read"] == 3 and summary["rejected_by_reason"] == {"malformed": 1}


@pytest.mark.parametrize("layout", ["jsonl", "array"])
def test_json_nested_100k_deep_is_one_line(tmp_path, layout):
    deep = "[" * 100_000 + "]" * 100_000
    data = tmp_path / ("d.jsonl" if layout == "jsonl" else "d.json")
    data.write_text(deep + "\n" if layout == "jsonl" else f'[{{"instruction": "a", "output": "b"}}, {deep}]')
    line = error_line(augment(tmp_path, data)[0])
    assert line.endswith("nested too deeply") and "record" in line


def test_a_record_nested_deeper_than_the_limit_is_a_reject_under_skip(tmp_path):
    data = tmp_path / "d.jsonl"
    nested = {"instruction": "a", "output": "b", "meta": json.loads("[" * 150 + "]" * 150)}
    data.write_text(json.dumps(nested) + "\n" + SAMPLE.read_text(encoding="utf-8"))
    result, _ = augment(tmp_path, data, "--on-bad-record", "skip")
    assert result.exit_code == 0, result.stderr
    reject = json.loads((tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()[0])
    assert reject["index"] == 0 and reject["detail"] == "nested deeper than 100 levels"


@pytest.mark.parametrize("weight", ["inf", "1e309", "nan", "-1", "-inf", "2e9"])
def test_a_weight_that_is_not_a_finite_positive_number_is_one_line(tmp_path, weight):
    line = error_line(augment(tmp_path, SAMPLE, "--weights", f"format={weight},permute=1")[0])
    assert line == f"mosaicit: error: --weights: 'format={weight}' needs a number from 0 to 1e+09"


def test_weights_whose_sum_is_huge_still_work(tmp_path):
    result, _ = augment(tmp_path, SAMPLE, "--weights", "format=1e9,permute=1e9,maskout=1e9,primary=1e9")
    assert result.exit_code == 0, result.stderr


def test_a_tables_file_that_is_not_utf8_is_one_line(tmp_path):
    tables = tmp_path / "t.yaml"
    tables.write_bytes(b"version: 1\nformat: \xff\xfe\n")
    assert error_line(augment(tmp_path, SAMPLE, "--tables", tables)[0]).endswith("not UTF-8 text (byte 19)")


def test_a_yaml_alias_bomb_is_refused_at_once_without_printing_it(tmp_path):
    bomb = 'version: 1\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 12):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]\n"
    bomb += "format: {generic: *l}\n"
    tables = tmp_path / "bomb.yaml"
    tables.write_text(bomb)
    start = time.monotonic()
    line = error_line(run("tables", "validate", tables))
    assert time.monotonic() - start < 5
    assert "aliases (*name) are not allowed in tables" in line and line.count("lol") <= 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nx: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested deeper than 16 levels"),
        ("version: 1\nx: " + "[" * 20 + "]" * 20 + "\n", "nested deeper than 16 levels"),
        ("version: 1\nx: '" + "a" * (1 << 20) + "'\n", "tables larger than 1 MiB are not read"),
        ('{"version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than 16 levels"),
        ("version: [" + ", ".join(["1"] * 10_000) + "]\n", "version: must be 1, got [1, 1, 1"),
    ],
    ids=["yaml 50k deep", "yaml 20 deep", "over 1 MiB", "json 100k deep", "a long value in a message"],
)
def test_tables_have_limits_on_size_and_nesting(tmp_path, text, message):
    tables = tmp_path / ("t.json" if text.startswith("{") else "t.yaml")
    tables.write_text(text)
    line = error_line(run("tables", "validate", tables))
    assert message in line and len(line) < 300


def test_an_unwritable_output_is_one_line_naming_it(tmp_path):
    (tmp_path / "f").write_text("")
    for target in (tmp_path / "f" / "out.jsonl", "/proc/mosaicit-out.jsonl"):
        result = run("augment", SAMPLE, "-o", target, "-q", "--workers", "1", "--no-cache", "--epochs", "1")
        assert error_line(result).startswith(f"mosaicit: error: {target}: cannot write: ")
    result = run("tables", "export", tmp_path / "f" / "t.yaml")
    assert error_line(result).startswith(f"mosaicit: error: {tmp_path / 'f' / 't.yaml'}: cannot write: ")


@pytest.mark.parametrize("run_of", [" ", "\n "], ids=["spaces", "newlines and spaces"])
def test_two_million_white_space_characters_with_cl100k_are_one_line_and_quick(tmp_path, run_of):
    data = tmp_path / "d.jsonl"
    spaced = {"instruction": "hi" + run_of * (2_000_000 // len(run_of)) + "x", "output": "y"}
    data.write_text(SAMPLE.read_text(encoding="utf-8") + json.dumps(spaced) + "\n")
    start = time.monotonic()
    # a budget the run would fit in (under the default, the text is set aside unread as far over it)
    result, _ = augment(tmp_path, data, "--tokenizer", TOKENIZERS / "cl100k", "--max-length", "100000")
    assert time.monotonic() - start < 60
    line = error_line(result)
    assert line.startswith(f"mosaicit: error: {data}: record 120: a run of 2,000,000 white-space characters")


def test_a_long_white_space_run_under_the_limit_is_counted(tmp_path, counters):
    from mosaicit.budget.budget import Budget

    text = "hi" + " " * 50_000 + "x"
    assert Budget(counters("cl100k"), 2000).count(text) == counters("cl100k").count(text) > 1


def test_the_chat_template_error_of_a_tiktoken_folder_is_one_line(tmp_path):
    result, _ = augment(tmp_path, SAMPLE, "--template", "chat", "--tokenizer", TOKENIZERS / "cl100k")
    assert error_line(result) == (
        f"mosaicit: error: {TOKENIZERS / 'cl100k'}: --template chat needs a fast tokenizer "
        "(a folder with tokenizer.json)"
    )


def test_record_errors_survive_a_worker_process():
    from mosaicit.errors import InputError, ParamError, RecordError

    errors = (InputError("d.jsonl", "bad", 3), InputError("d.jsonl", "bad"), RecordError(4, "worse"))
    for error in (*errors, ParamError("epochs", "must be at least 1, got 0")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
