"""docs/cli.md is the reference the click commands write of themselves, and it is current."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from conftest import ROOT
from mosaicit import clidoc
from mosaicit.cli import main

DOC = ROOT / "docs" / "cli.md"


def contexts() -> list[click.Context]:
    """The context of every command, ``mosaicit`` first."""
    return list(clidoc.commands(main.make_context("mosaicit", [], resilient_parsing=True)))


def sections(text: str) -> dict[str, str]:
    """The reference's ``## `` sections by heading (backticks dropped), with their ``### `` parts."""
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    out = {}
    for part in parts:
        heading, _, body = part.partition("\n")
        out[heading.strip("`")] = body
    blocks = re.split(r"^### ", out.pop("Option blocks"), flags=re.M)[1:]
    for block in blocks:
        heading, _, body = block.partition("\n")
        out[heading] = body
    return out


def test_docs_cli_md_is_current():
    fresh = clidoc.reference()
    assert DOC.read_text(encoding="utf-8") == fresh, (
        f"docs/cli.md is stale: regenerate it with `PYTHONPATH=src {clidoc.REGENERATE}`"
    )


def test_every_command_and_option_has_help():
    missing = [ctx.command_path for ctx in contexts() if not (ctx.command.help or "").strip()]
    missing += [
        f"{ctx.command_path} {option.opts[-1]}"
        for ctx in contexts()
        for option in clidoc.options(ctx)
        if not (option.help or "").strip()
    ]
    assert not missing, f"commands and options without help: {missing}"


def test_every_option_of_every_command_is_in_its_section_or_a_block_it_links():
    text = clidoc.reference()
    parts = sections(text)
    for ctx in contexts():
        section = parts[ctx.command_path]
        linked = re.findall(r"\[([^\]]+)\]\(#[^)]+\)", section.split("And the options of these blocks:")[-1])
        shown = section + "".join(parts[title] for title in linked if title in parts)
        usage = " ".join([ctx.command_path, *ctx.command.collect_usage_pieces(ctx)])
        assert f"```text\n{usage}\n```" in section
        for option in clidoc.options(ctx):
            for name in option.opts:
                assert f"| `{name}`" in shown or f", `{name}`" in shown, f"{ctx.command_path} {name}"


def test_the_blocks_hold_the_shared_options_once():
    shared = clidoc.blocks()
    assert [b.title for b in shared] == [title for title, _ in clidoc.BLOCKS]
    names = [option.name for block in shared for option in block.options]
    assert len(names) == len(set(names))
    epochs = next(b for b in shared if b.title == "Epochs and group sizes")
    assert [o.name for o in epochs.options] == ["epochs", "wrap_mode", "max_num", "answer_share"]
    convert = sections(clidoc.reference())["mosaicit convert"]
    assert "[Reading](#reading), [Writing](#writing)." in convert
    assert "[Strategies]" not in convert and "`--max-bad-share`" not in convert


def test_the_text_depends_on_neither_terminal_nor_folder(tmp_path, monkeypatch):
    text = clidoc.reference()
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert clidoc.reference() == text
    for local in (str(ROOT), str(Path.home()), os.path.expanduser("~"), sys.prefix):
        assert local not in text


def option_row(*decls: str, **attrs: object) -> list[str]:
    """An option's table row, split into its cells."""
    command = click.command()(click.option(*decls, **attrs)(lambda **kw: None))  # type: ignore[arg-type]
    ctx = click.Context(command, info_name="toy")
    cells = clidoc.option_row(ctx, clidoc.options(ctx)[0]).strip("|").split(" | ")
    return [cell.strip() for cell in cells]


def test_a_row_shows_the_names_the_value_the_default_and_the_help():
    assert option_row("-n", "--count", type=int, default=3, help="How many.") == [
        "`-n`, `--count`", "INTEGER", "`3`", "How many."
    ]  # fmt: skip
    assert option_row("--mode", type=click.Choice(["a", "b"]), default="b", help="A|B.") == [
        "`--mode`", "`a`, `b`", "`b`", "A\\|B."
    ]  # fmt: skip
    assert option_row("--fast", is_flag=True, help="Go.") == ["`--fast`", "", "off", "Go."]
    assert option_row("--out", required=True, type=click.Path(dir_okay=False), help="Where.") == [
        "`--out`", "FILE", "required", "Where."
    ]  # fmt: skip
    assert option_row("--share", type=click.FloatRange(0, 1, min_open=True), default=0.5, help="S.")[1] == (
        "FLOAT above 0 to 1"
    )


def test_a_documented_default_is_the_default_and_a_computed_one_needs_it():
    row = option_row(
        "--workers", type=int, default=None, help="Processes [default: the free CPUs]. Same output."
    )
    assert row[2:] == ["the free CPUs", "Processes. Same output."]
    with pytest.raises(ValueError, match="toy --jobs: a computed default needs its meaning"):
        option_row("--jobs", type=int, default=os.cpu_count, help="Processes.")
    row = option_row("--jobs", type=int, default=os.cpu_count, help="Processes [default: the CPUs].")
    assert row[2] == "the CPUs"


def test_the_module_writes_the_file_whole(tmp_path):
    target = tmp_path / "cli.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "mosaicit.clidoc", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert target.read_text(encoding="utf-8") == clidoc.reference()
    assert [p.name for p in tmp_path.iterdir()] == ["cli.md"]


def test_the_options_at_a_glance_name_real_options_with_their_defaults():
    """docs/options.md is a hand-picked table: each option it names is an option of `augment`,
    and a default it shows as one literal (`uniform`, 4) is the option's declared default."""
    ctx = next(c for c in contexts() if c.command.name == "augment")
    params = {name: p for p in ctx.command.get_params(ctx) for name in p.opts + p.secondary_opts}
    rows = [
        line.split("|")[1:3]
        for line in (ROOT / "docs" / "options.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `-")
    ]
    assert len(rows) > 20
    checked = 0
    for names, default in rows:
        flags = re.findall(r"`(-[-\w]+)", names)
        assert flags, names
        for flag in flags:
            assert flag in params, f"docs/options.md names {flag}, which augment does not have"
        literal = re.fullmatch(r"\s*`?([\w.]+)`?\s*", default)
        if literal and len(flags) == 1 and type(params[flags[0]].default) in (int, float, str):
            assert str(params[flags[0]].default) == literal[1], f"{flags[0]}: docs say {default.strip()}"
            checked += 1
    assert checked >= 8
