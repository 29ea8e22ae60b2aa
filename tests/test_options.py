"""Each option is declared once, on a dataclass field (mosaicit.types.options), and every surface is
made from that declaration: the click options, --help, --config, docs/cli.md and the Python API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import click
import pytest
from click.testing import CliRunner

from conftest import ROOT, SAMPLE
from mosaicit.cli import main
from mosaicit.clioptions import values
from mosaicit.eval.cli import build_command
from mosaicit.io.formats import Columns
from mosaicit.run.spec import RunSpec
from mosaicit.types.options import nested, walk

#: A throwaway read option, declared as one field of InputOptions (run/spec.py)...
FIELD = """    head: int | None = option(
        None, help="Read only the first N records of the input.", block="read", type=int, check=count()
    )
"""
#: ... and the code that uses it (run/steps.py): here a wrapper of the read step.
USE = '''

from itertools import islice

_read_every = read


def read(spec: RunSpec, *args: Any, **kwargs: Any) -> Iterator[Conversation]:
    """The read step, cut after ``head`` records."""
    conversations = _read_every(spec, *args, **kwargs)
    yield from islice(conversations, spec.inputs.head) if spec.inputs.head else conversations
'''


def _with_head_option(tmp_path):
    """A copy of the package with the read option added; returns its ``src`` and the files changed."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    spec, steps = src / "mosaicit" / "run" / "spec.py", src / "mosaicit" / "run" / "steps.py"
    text = spec.read_text(encoding="utf-8")
    doc = '    """How to read the input and what to do with each kind of item read."""\n'
    assert text.count(doc) == 1
    spec.write_text(text.replace(doc, doc + "\n" + FIELD), encoding="utf-8")
    text = steps.read_text(encoding="utf-8")
    steps.write_text(text + USE, encoding="utf-8")
    changed = [
        path.relative_to(src).as_posix()
        for path in sorted(src.rglob("*.py"))
        if path.read_bytes() != (ROOT / "src" / path.relative_to(src)).read_bytes()
    ]
    return src, changed


def test_a_read_option_declared_once_is_in_the_cli_help_config_reference_and_api(tmp_path):
    src, changed = _with_head_option(tmp_path)
    assert changed == ["mosaicit/run/spec.py", "mosaicit/run/steps.py"]  # two files, nothing else
    env = {**os.environ, "PYTHONPATH": str(src)}

    def run(*args: object, ok: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, *map(str, args)], env=env, capture_output=True, text=True, timeout=300
        )
        assert (done.returncode == 0) == ok, done.stderr
        return done.stdout if ok else done.stderr

    for command in (["augment"], ["convert"], ["preview"], ["eval", "build"]):  # every reader
        assert "Read only the first N records" in run("-m", "mosaicit", *command, "--help")
    reading = run("-m", "mosaicit.clidoc").split("### Reading")[1].split("###")[0]
    assert "| `--head` | INTEGER |  | Read only the first N records of the input. |" in reading

    def records_read(out):
        return json.loads(out.with_name(out.name + ".summary.json").read_text())["records_read"]

    flag, config = tmp_path / "flag.jsonl", tmp_path / "config.jsonl"
    run("-m", "mosaicit", "augment", SAMPLE, "-o", flag, "-q", "--head", 5, "--executor", "local")
    summary = json.loads(flag.with_name("flag.jsonl.summary.json").read_text())
    assert summary["records_read"] == 5 and summary["config"]["head"] == 5
    (tmp_path / "run.yaml").write_text("head: 3\n")
    run("-m", "mosaicit", "augment", SAMPLE, "-o", config, "-q", "--config", tmp_path / "run.yaml")
    assert records_read(config) == 3
    api = tmp_path / "api.jsonl"
    script = (
        f"import mosaicit; mosaicit.augment_dataset({str(SAMPLE)!r}, {str(api)!r}, head=4, use_cache=False)"
    )
    run("-c", script)
    assert records_read(api) == 4
    bad = run("-m", "mosaicit", "augment", SAMPLE, "-o", tmp_path / "bad.jsonl", "--head", 0, ok=False)
    assert bad.strip().splitlines()[-1] == "mosaicit: error: --head must be at least 1, got 0"


def test_the_command_line_defaults_are_the_fields_defaults(tmp_path):
    """An option not given builds the same spec as the API with no keyword: one default each."""
    out = str(tmp_path / "o.jsonl")
    ctx = main.get_command(click.Context(main), "augment").make_context("augment", [str(SAMPLE), "-o", out])
    assert RunSpec.of([str(SAMPLE)], out, **values(ctx.params)) == RunSpec.of([str(SAMPLE)], out)


def test_command_line_values_become_the_fields_values(tmp_path):
    out = str(tmp_path / "o.jsonl")
    line = [
        str(SAMPLE), "-o", out, "--mix", "order", "--weights", "format=2,permute=1", "--orderings", "reverse",
        "--no-meta", "--on-bad-record", "error", "--instruction-key", "q", "--messages-key", "chat",
        "--emit-dataset-info", "--no-cache", "--workers", "2", "--max-bad-share", "0.25", "--ray-address", "h:1",
    ]  # fmt: skip
    ctx = main.get_command(click.Context(main), "augment").make_context("augment", line)
    spec = RunSpec.of([str(SAMPLE)], out, **values(ctx.params))
    assert spec == RunSpec.of(
        [str(SAMPLE)], out, version="order", weights={"format": 2.0, "permute": 1.0}, orderings=("reverse",),
        with_meta=False, on_bad="error", columns=Columns(instruction="q", messages="chat"),
        dataset_info=str(tmp_path / "dataset_info.json"), use_cache=False, workers=2, max_bad_share=0.25,
        ray_address="h:1",
    )  # fmt: skip


def test_each_api_name_is_one_option_and_each_option_has_help():
    kinds = [RunSpec, *nested(RunSpec).values()]
    names = Counter(name for kind in kinds for name in kind.__dataclass_fields__)
    assert [name for name, n in names.items() if n > 1] == []  # RunSpec.of could not tell them apart
    declared = list(walk(RunSpec))
    assert {d.name for d in declared if d.owner is not Columns} <= RunSpec.option_names()
    assert all(d.option.help.strip() for d in declared)
    flags = Counter(flag for d in declared for flag in d.flags)
    assert [flag for flag, n in flags.items() if n > 1] == []


def test_an_unknown_api_option_is_a_type_error():
    with pytest.raises(TypeError, match="max_lenght"):
        RunSpec.of([], max_lenght=10)


def test_a_command_made_alone_still_answers_h_in_the_whole_command_line():
    """click keeps a command's help option once made: one made alone (as tests/test_eval_docs.py
    and the reference make them) must not leave ``eval build -h`` unknown."""
    with build_command.make_context("build", [str(SAMPLE), "-o", "x.jsonl"]):
        pass
    for args in (["eval", "build", "-h"], ["augment", "-h"], ["tables", "list", "-h"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args
