"""``--config FILE`` (flags on top), the summary that repeats a run, and ``augment --dry-run``."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from conftest import SAMPLE, SHAREGPT, TOKENIZERS
from mosaicit.cli import augment, main
from mosaicit.cliconfig import is_recorded, key_of

LLAMA2 = str(TOKENIZERS / "llama-2")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def run_ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


FLAGS = [
    "--max-length", 300, "--tokenizer", LLAMA2, "--seed", 5, "--epochs", 2, "--mask-rules", "odd,even",
    "--weights", "format=1,maskout=2", "--wrap-mode", "exp", "--max-num", 4,
]  # fmt: skip
RUN_YAML = f"""
input: {SAMPLE}
max_length: 300          # underscores are fine
model-name-or-path: {LLAMA2}
seed: 5
epo-num: 2
mask-rules: [odd, even]
weights: {{format: 1, maskout: 2}}
wrap-mode: exp
max-num: 4
split: null              # null: the option's default
"""


def test_config_file_gives_the_options_and_flags_override_it(tmp_path):
    text = RUN_YAML + f"output: {tmp_path / 'from_config.jsonl'}\nemit-dataset-info: true\n"
    run_ok("augment", "--config", write(tmp_path / "run.yaml", text), "-q")
    run_ok("augment", SAMPLE, "-o", tmp_path / "flags.jsonl", "-q", *FLAGS)
    assert (tmp_path / "from_config.jsonl").read_bytes() == (tmp_path / "flags.jsonl").read_bytes()
    assert "from_config.jsonl" in (tmp_path / "dataset_info.json").read_text()  # true: beside the output

    config = tmp_path / "run.yaml"
    run_ok("augment", "--config", config, "-q", "--seed", 6, "-o", tmp_path / "seed6.jsonl")
    run_ok("augment", SAMPLE, "-o", tmp_path / "flags6.jsonl", "-q", *FLAGS, "--seed", 6)
    assert (tmp_path / "seed6.jsonl").read_bytes() == (tmp_path / "flags6.jsonl").read_bytes()
    assert (tmp_path / "seed6.jsonl").read_bytes() != (tmp_path / "flags.jsonl").read_bytes()
    recorded = json.loads((tmp_path / "seed6.jsonl.summary.json").read_text())["config"]
    assert recorded["seed"] == 6 and recorded["mask-rules"] == "odd,even" and recorded["max-num"] == 4


def test_the_summary_repeats_the_run_byte_for_byte(tmp_path):
    first = tmp_path / "first.jsonl"
    options = [
        "--max-length", 60, "--tokenizer", LLAMA2, "--seed", 7, "--epochs", 2, "--conversations", "split",
        "--output-format", "sharegpt", "--template", "chatml", "--orderings", "reverse,length_word",
        "--mix", "order", "--shards", 2, "--rejects-full", "--no-meta", "--max-num", 3,
    ]  # fmt: skip
    run_ok("augment", SHAREGPT, "-o", first, "-q", *options)
    summary = json.loads(first.with_name("first.jsonl.summary.json").read_text())
    recorded = summary["config"]
    assert recorded["input"] == [str(SHAREGPT)] and recorded["output"] == str(first)
    assert (
        recorded["shards"] == 2
        and recorded["no-meta"] is True
        and recorded["orderings"] == "reverse,length_word"
    )
    # every option of augment is recorded but those that only say where or how the run is done
    assert set(recorded) == {key_of(p) for p in augment.params if p.expose_value and is_recorded(p)}
    left_out = {key_of(p) for p in augment.params if not is_recorded(p)}
    assert left_out == {"summary", "rejects", "report", "quiet", "dry-run"} | {
        "cache-dir", "no-cache", "workers", "executor", "ray-address", "ray-object-store-mb"
    }  # fmt: skip

    again = tmp_path / "again.jsonl"
    run_ok("augment", "--config", first.with_name("first.jsonl.summary.json"), "-o", again, "-q")
    assert again.read_bytes() == first.read_bytes()
    rejects = first.with_name("first.jsonl.rejects.jsonl").read_bytes()
    assert again.with_name("again.jsonl.rejects.jsonl").read_bytes() == rejects and b'"record"' in rejects
    repeat = json.loads(again.with_name("again.jsonl.summary.json").read_text())
    assert repeat["config"] == {**recorded, "output": str(again)}
    for key in ("output", "config", "cache", "workers"):
        summary.pop(key), repeat.pop(key)
    assert repeat == summary


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("max_lenght: 3\n", "run.yaml", "run.yaml: unknown key 'max_lenght' for mosaicit augment; did you mean 'max-length'?"),
        ("max-length: abc\n", "run.yaml", "run.yaml: max-length: 'abc' is not a valid integer."),
        ("template: vicuna\n", "run.yaml", "run.yaml: template: 'vicuna' is not one of"),
        ("max-length: [1\n", "run.yaml", "run.yaml: invalid YAML: expected ',' or ']', but got '<stream end>' (line 2)"),
        ("- max-length\n", "run.yaml", "run.yaml: a config file holds a mapping of option names to values"),
        ("mix: both\nversion: order\n", "run.yaml", "run.yaml: 'version' sets 'mix' a second time"),
        ('{"seed": 1,}', "run.json", "run.json: invalid JSON: Expecting property name enclosed in double quotes (line 1)"),
        ("\xff", "run.yaml", "run.yaml: not a text file"),
    ],
)  # fmt: skip
def test_config_errors_are_one_line_naming_the_file_and_key(tmp_path, monkeypatch, text, name, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(text.encode("latin-1"))
    result = invoke("augment", SAMPLE, "-o", "out.jsonl", "--config", name)
    assert result.exit_code == 1
    assert result.output.startswith(f"mosaicit: error: {expected}") and result.output.count("\n") == 1
    assert os.listdir(tmp_path) == [name]


def test_a_missing_config_file_is_one_line(tmp_path):
    result = invoke("augment", SAMPLE, "-o", tmp_path / "out.jsonl", "--config", tmp_path / "nope.yaml")
    assert (result.exit_code, result.output) == (
        1,
        f"mosaicit: error: {tmp_path / 'nope.yaml'}: No such file or directory\n",
    )


def test_preview_and_eval_build_take_the_same_run_file(tmp_path):
    config = write(tmp_path / "run.yaml", RUN_YAML + f"output: {tmp_path / 'out.jsonl'}\nshards: 2\n")
    shown = run_ok("preview", "--config", config, "-n", 2, "--plain").output
    assert shown == run_ok("preview", SAMPLE, "-n", 2, "--plain", *FLAGS).output
    assert "mosaic 2:" in shown

    built = run_ok("eval", "build", "--config", config, "-o", tmp_path / "evals.jsonl", "--size", 4, "-q")
    assert built.output == ""
    assert not (tmp_path / "out.jsonl").exists()  # the run's output is augment's alone
    items = [json.loads(line) for line in (tmp_path / "evals.jsonl").read_text().splitlines()]
    assert len(items) == 4
    result = invoke("preview", "--config", write(tmp_path / "bad.yaml", f"input: {SAMPLE}\nsize: 3\n"))
    assert result.output == "mosaicit: error: bad.yaml: unknown key 'size' for mosaicit preview\n".replace(
        "bad.yaml", str(tmp_path / "bad.yaml")
    )


def test_dry_run_writes_nothing_and_prints_what_the_run_would_do(tmp_path, monkeypatch):
    from mosaicit.report.page import cost_rows
    from mosaicit.report.runs import load_run
    from mosaicit.report.write import DEFAULT_BATCH_SIZE, run_costs

    options = ["--max-length", 60, "--tokenizer", LLAMA2, "--seed", 3, "--executor", "local"]
    options += ["--over-budget", "reject"]  # rejects to show
    real = tmp_path / "real" / "out.jsonl"
    real.parent.mkdir()
    told = run_ok("augment", SHAREGPT, "-o", real, *options).stderr.splitlines()
    summary = json.loads(real.with_name("out.jsonl.summary.json").read_text())

    dry = tmp_path / "dry"
    dry.mkdir()
    monkeypatch.chdir(dry)
    printed = run_ok("augment", SHAREGPT, "-o", "out.jsonl", "--dry-run", "-q", *options).output
    assert os.listdir(dry) == []
    assert printed == run_ok("augment", SHAREGPT, "--dry-run", "-q", *options).output.replace(
        "(no --output)", "out.jsonl"
    )
    assert os.listdir(dry) == []

    lines = printed.splitlines()
    assert lines[0] == "dry run: nothing written"
    assert f"would write {summary['samples_written']} samples to out.jsonl" in lines[2]
    strategies = {
        json.loads(json.loads(line)["mosaic"])["strategy"] for line in real.read_text().splitlines()
    }
    assert summary["records_rejected"] > 0 and "passthrough" in strategies  # both sides of the cost
    for side in (real.with_name("out.jsonl.rejects.jsonl"), real.with_name("out.jsonl.summary.json")):
        told = [line.replace(str(side), "not written (dry run)") for line in told]
    assert told[0] == lines[1] and told[2:] == lines[3 : len(told) + 1]  # a real run's, but "wrote"
    examples = [line for line in lines if line.startswith("  over_budget: ")]
    assert len(examples) == 3 and all(f"{SHAREGPT}:" in line for line in examples)
    plain, mosaics = run_costs(load_run(real), DEFAULT_BATCH_SIZE)
    table = lines[lines.index("training cost, in tokens processed:") + 2 :]
    assert [line.split("  ")[0] for line in table] == ["plain records", "mosaics", "saving"]
    assert [line.split()[-6:] for line in table] == [row[1:] for row in cost_rows(plain, mosaics)]


def test_dry_run_refuses_report_and_augment_needs_an_output(tmp_path):
    result = invoke("augment", SAMPLE, "--dry-run", "--report")
    assert result.exit_code == 2 and "--report writes a file" in result.output
    result = invoke("augment", SAMPLE)
    assert (
        result.exit_code == 2 and "Missing option '-o' / '--output' (or give --dry-run); see" in result.output
    )
