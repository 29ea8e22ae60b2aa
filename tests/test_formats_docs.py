"""The mosaicit commands in docs/formats.md run as written."""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import ASSETS, ROOT
from formats_helpers import run_cli

DOC = ROOT / "docs" / "formats.md"


def doc_commands() -> list[str]:
    """Every ``mosaicit ...`` command in the doc's sh blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    commands = []
    for block in blocks:
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith("mosaicit "):
                commands.append(command)
    return commands


def test_the_doc_has_commands():
    assert len(doc_commands()) >= 5


@pytest.mark.parametrize("command", doc_commands())
def test_doc_command_runs(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("../shared/assets", str(ASSETS)) for a in shlex.split(command)[1:]]
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    output = args[args.index("-o") + 1]
    assert (tmp_path / output).is_file()
    if "--emit-dataset-info" in args:
        assert (tmp_path / output).with_name("dataset_info.json").is_file()
