"""docs/eval.md: its commands parse with the real CLI, and its Python examples run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT
from mosaicit.eval.cli import eval_group

DOC = (ROOT / "docs" / "eval.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.S)
COMMANDS = [
    line
    for lang, body in BLOCKS
    if lang == "bash"
    for line in body.splitlines()
    if line.startswith("mosaicit eval ")
]


def test_the_doc_shows_the_three_commands():
    assert [shlex.split(c)[2] for c in COMMANDS] == ["build", "generate", "score"]


@pytest.mark.parametrize("command", COMMANDS)
def test_doc_commands_parse(command):
    words = shlex.split(command)[2:]
    sub = eval_group.commands[words[0]]
    with sub.make_context(words[0], words[1:]) as ctx:  # raises on an unknown or malformed option
        assert ctx.params


def test_doc_python_examples_run(tmp_path):
    code = "\n".join(body for lang, body in BLOCKS if lang == "python")
    assert code
    env = {"PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "100.0%" in done.stdout and (tmp_path / "evals.jsonl").is_file()
