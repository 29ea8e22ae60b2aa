"""The command-line reference (``docs/cli.md``), written from the click commands themselves.

``python -m mosaicit.clidoc docs/cli.md`` rewrites it (no PATH: print it). Each command gets its
usage line, its help and a table of its own options (names, value, default, help); the option
blocks of :mod:`mosaicit.clioptions` that several commands share are tabled once, and each
command links the blocks it takes. A ``[default: ...]`` in an option's help is its documented
default (a path beside OUTPUT, the free CPUs) and goes to the default column, so the text depends
on neither the machine, the terminal nor the folder. ``tests/test_cli_reference.py`` fails when
the file is stale.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from mosaicit import clioptions
from mosaicit.cli import main
from mosaicit.cliconfig import config_option

#: The command that rewrites the reference.
REGENERATE = "python -m mosaicit.clidoc docs/cli.md"

#: The option blocks, each with its title, in the order the reference shows them: ``--config``,
#: then the blocks of the run's declared options (:data:`mosaicit.clioptions.BLOCKS`).
BLOCKS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("Config file", config_option),
    *((title, clioptions.block(name)) for name, title in clioptions.BLOCKS.items()),
)

DEFAULT_IN_HELP = re.compile(r"\s*\[default: ([^\]]*)\]")

OptionKey = tuple[str | None, tuple[str, ...], str | None]


@dataclass(frozen=True)
class Block:
    """One option block: its title and its options, by :func:`_key` (to find them in a command)."""

    title: str
    options: tuple[click.Option, ...]

    @property
    def keys(self) -> frozenset[OptionKey]:
        """The block's options as :func:`_key` tells them."""
        return frozenset(_key(p) for p in self.options)


def _key(param: click.Parameter) -> OptionKey:
    """What tells an option of a block from a command's own option of the same name."""
    return param.name, tuple(param.opts), getattr(param, "help", None)


def blocks() -> list[Block]:
    """The option blocks of :data:`BLOCKS`, each holding the options no block before it holds."""
    out: list[Block] = []
    seen: set[OptionKey] = set()
    for title, block in BLOCKS:
        command = click.command()(block(lambda **kw: None))
        own = tuple(p for p in options(click.Context(command)) if _key(p) not in seen)
        seen |= {_key(p) for p in own}
        out.append(Block(title, own))
    return out


def commands(ctx: click.Context) -> Iterator[click.Context]:
    """``ctx`` and the context of every command below it, depth first, in name order."""
    yield ctx
    for name, sub in _subcommands(ctx):
        yield from commands(click.Context(sub, info_name=name, parent=ctx))


def _subcommands(ctx: click.Context) -> list[tuple[str, click.Command]]:
    """A group's shown commands by name, in name order (none for a plain command)."""
    group = ctx.command
    if not isinstance(group, click.Group):
        return []
    found = ((name, group.get_command(ctx, name)) for name in group.list_commands(ctx))
    return [(name, sub) for name, sub in found if sub is not None and not sub.hidden]


def options(ctx: click.Context) -> list[click.Option]:
    """The command's options as its ``--help`` lists them, less the help option and hidden ones."""
    return [
        p
        for p in ctx.command.get_params(ctx)
        if isinstance(p, click.Option) and not p.hidden and p is not ctx.command.get_help_option(ctx)
    ]


def reference() -> str:
    """The text of ``docs/cli.md``."""
    root = main.make_context("mosaicit", [], resilient_parsing=True)
    contexts = list(commands(root))
    shared = blocks()
    helps = ", ".join(f"`{name}`" for name in root.help_option_names)
    lines = [
        "# Command-line reference",
        "",
        f"<!-- Written by `{REGENERATE}` from the click commands; do not edit by hand. -->",
        "",
        f"Every command also takes {helps} (its help). The options that several commands share "
        "come in blocks, each described once under [Option blocks](#option-blocks). An option's "
        "default is what the command does when the option is not given.",
        "",
        "## Contents",
        "",
    ]
    lines += [f"- [`{c.command_path}`](#{_anchor(c.command_path)}): {_summary(c.command)}" for c in contexts]
    lines += ["- [Option blocks](#option-blocks)"]
    lines += [f"  - [{b.title}](#{_anchor(b.title)})" for b in shared]
    for ctx in contexts:
        lines += ["", *_command(ctx, shared)]
    lines += ["", "## Option blocks"]
    for block in shared:
        lines += ["", f"### {block.title}", "", *_table(root, block.options)]
    return "\n".join(lines) + "\n"


def _command(ctx: click.Context, shared: list[Block]) -> list[str]:
    """A command's section: heading, usage, help, its subcommands, its options and blocks."""
    command = ctx.command
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"## `{ctx.command_path}`", "", "```text", usage, "```", "", _paragraphs(command.help or "")]
    if subcommands := _subcommands(ctx):
        lines += ["", "Commands:", ""]
        for name, sub in subcommands:
            path = f"{ctx.command_path} {name}"
            lines.append(f"- [`{path}`](#{_anchor(path)}): {_summary(sub)}")
    own = options(ctx)
    keys = {_key(p) for p in own}
    taken = [b for b in shared if b.keys and b.keys <= keys]
    own = [p for p in own if not any(_key(p) in b.keys for b in taken)]
    if own:
        lines += ["", "Options:", "", *_table(ctx, own)]
    if taken:
        links = ", ".join(f"[{b.title}](#{_anchor(b.title)})" for b in taken)
        lines += ["", f"And the options of these blocks: {links}."]
    return lines


def _table(ctx: click.Context, rows: Iterable[click.Option]) -> list[str]:
    """Options as a Markdown table."""
    head = ["| option | value | default | meaning |", "|---|---|---|---|"]
    return head + [option_row(ctx, option) for option in rows]


def option_row(ctx: click.Context, option: click.Option) -> str:
    """One option as a table row: names, value, default, help."""
    help_text, default = _help_and_default(ctx, option)
    names = ", ".join(f"`{n}`" for n in [*option.opts, *option.secondary_opts])
    cells = [names, _value(ctx, option), default, help_text]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _value(ctx: click.Context, option: click.Option) -> str:
    """What the option takes: its choices, its range, its metavar (as ``--help`` writes it)."""
    if option.is_flag and not option.secondary_opts:
        return ""
    kind = option.type
    if isinstance(kind, click.Choice):
        return ", ".join(f"`{c}`" for c in kind.choices)
    if isinstance(kind, click.IntRange | click.FloatRange):
        return ("INTEGER " if isinstance(kind, click.IntRange) else "FLOAT ") + _range(kind)
    record = option.get_help_record(ctx)  # "-o, --output PATH": the names, then the metavar
    metavar = record[0][len(", ".join(option.opts)) :].strip() if record else ""
    return metavar + (", repeatable" if option.multiple else "")


def _range(kind: click.IntRange | click.FloatRange) -> str:
    """A number range in words: ``from 1``, ``from 0 to 1``, ``above 0``."""
    low = "" if kind.min is None else ("above " if kind.min_open else "from ") + str(kind.min)
    high = "" if kind.max is None else ("below " if kind.max_open else "to ") + str(kind.max)
    return " ".join(part for part in (low, high) if part)


def _help_and_default(ctx: click.Context, option: click.Option) -> tuple[str, str]:
    """The option's help without its ``[default: ...]``, and its default as the table shows it."""
    help_text = " ".join((option.help or "").split())
    documented = DEFAULT_IN_HELP.search(help_text)
    if documented:
        help_text = DEFAULT_IN_HELP.sub("", help_text, count=1).strip()
        return help_text, documented.group(1)
    if option.required:
        return help_text, "required"
    if isinstance(option.show_default, str):
        return help_text, option.show_default
    value = option.get_default(ctx, call=False)
    if callable(value):
        raise ValueError(
            f"{ctx.command_path} {option.opts[-1]}: a computed default needs its meaning in the help "
            "as [default: ...]"
        )
    return help_text, _shown(option, value)


def _shown(option: click.Option, value: Any) -> str:
    """A default value as the table shows it: flags on/off, values in code, none empty."""
    if not option.expose_value:  # --version, --config: they act, they hold no value
        return ""
    if option.is_flag and not option.secondary_opts:
        return "on" if value is True else "off"
    if option.is_flag:
        return f"`{option.opts[0] if value else option.secondary_opts[0]}`"
    if isinstance(value, tuple | list):
        return ", ".join(f"`{v}`" for v in value)
    return f"`{value}`" if isinstance(value, str | int | float) else ""  # None, click's UNSET: none


def _summary(command: click.Command) -> str:
    """A command's first help paragraph on one line."""
    return " ".join((command.help or "").split("\n\n")[0].split())


def _paragraphs(text: str) -> str:
    """Help text with each paragraph on one line, paragraphs apart."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


def _anchor(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading such as ``mosaicit eval build``."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def write(path: str) -> None:
    """Write the reference to ``path``, whole or not at all."""
    from mosaicit.io.atomic import atomic_open

    with atomic_open(path) as out:
        out.write(reference())


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) > 1:
        write(sys.argv[1])
    else:
        sys.stdout.write(reference())
