"""The command line's options, made from the declared fields of a run (:mod:`mosaicit.types.options`)
and those of the registered executors (:func:`mosaicit.run.executors.executor_options`).

Each block (``read``, ``budget``...: :data:`BLOCKS`) is a decorator that adds every option declared
in it, in field order; a command takes whole blocks, and by name (:func:`picked`) the options that
are in none. :func:`values` turns a command's values back into the options of
:meth:`RunSpec.of <mosaicit.run.spec.RunSpec.of>`, by field name, so that no option is spelled out
twice. ``augment`` takes every block; ``preview`` the ones that shape what is read and composed;
``eval build`` the strategy, budget, template, routing and read blocks; ``convert`` the read and
write blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import click

from mosaicit.run import executors
from mosaicit.run.spec import RunSpec
from mosaicit.types.options import Declared, declared, nested, walk

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

#: The blocks of options, with their titles, in the order the reference (docs/cli.md) shows them.
BLOCKS = {
    "strategy": "Strategies",
    "budget": "Budget, tokenizer, tables and seed",
    "epochs": "Epochs and group sizes",
    "template": "Chat template",
    "routing": "Conversations and system prompts",
    "read": "Reading",
    "write": "Writing",
    "execution": "Execution",
}

#: How each kind of path option (``Option.path``) is checked.
PATHS = {
    "file": click.Path(dir_okay=False),
    "existing file": click.Path(dir_okay=False, exists=True),
    "folder": click.Path(file_okay=False),
}


class RegisteredChoice(click.Choice):  # type: ignore[type-arg]
    """A choice among the names a registry holds when the command runs (so that one registered
    after this module is imported, as a test or plugin does, is offered too)."""

    def __init__(self, registered: Callable[[], Sequence[str]]) -> None:
        self._registered = registered
        super().__init__(registered())

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        """The names registered now."""
        return tuple(self._registered())

    @choices.setter
    def choices(self, _: Sequence[str]) -> None:
        """Set by click's constructor: the names come from the registry instead."""


class DeclaredOption(click.Option):
    """A click option made from a declared field (kept as ``declared``)."""

    def __init__(self, decls: list[str], of: Declared) -> None:
        opt, default = of.option, of.default
        kw: dict[str, Any] = {"help": opt.help, "metavar": opt.metavar}
        if isinstance(default, bool):
            kw["is_flag"] = True  # given: True (``parse`` turns an ``--no-...`` flag's True off)
        elif opt.flag_value is not None:
            kw.update(is_flag=False, flag_value=opt.flag_value, default=None)
        else:
            # a plain default is the option's too; another (a tuple of rules) stays the field's alone
            shown = default if isinstance(default, str | int | float) else None
            kind: Any = opt.type or (type(default) if shown is not None else None)
            if callable(opt.choices):
                kind = RegisteredChoice(opt.choices)
            elif opt.choices is not None:
                kind = click.Choice(tuple(opt.choices))
            elif opt.path is not None:
                kind = PATHS[opt.path]
            kw.update(type=kind, default=shown, show_default=shown is not None)
        super().__init__(decls, **kw)
        self.declared = of
        #: False: the option never changes what a run writes (see :func:`mosaicit.cliconfig.recorded`).
        self.recorded = opt.recorded


def options(found: Iterable[Declared]) -> Decorator:
    """One decorator adding the click options of ``found``, in the order given (as ``--help`` lists them)."""
    chosen = list(found)

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for d in reversed(chosen):  # click lists the options last applied first
            func = click.option(*d.flags, d.param, cls=DeclaredOption, of=d)(func)
        return func

    return apply


def block(name: str) -> Decorator:
    """The options of block ``name`` (see :data:`BLOCKS`)."""
    return options(d for d in (*walk(RunSpec), *executors.executor_options()) if d.option.block == name)


def picked(*names: str) -> Decorator:
    """The options of the run's fields ``names`` (the options in no block), in that order."""
    by_name = {d.name: d for d in _api_level()}
    return options(by_name[name] for name in names)


strategy_options = block("strategy")
"""Which strategies the mosaics use: ``augment``, ``preview`` and ``eval build``."""
budget_options = block("budget")
"""The budget, its tokenizer, the tables and the seed: ``augment``, ``preview`` and ``eval build``."""
template_options = block("template")
routing_options = block("routing")
read_options = block("read")
write_options = block("write")
executor_options = block("execution")


def mosaic_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape the mosaics, shared by ``augment`` and ``preview``: the epochs and
    group sizes, then :data:`strategy_options` and :data:`budget_options`."""
    return block("epochs")(strategy_options(budget_options(func)))


def _api_level() -> list[Declared]:
    """The options :meth:`RunSpec.of` takes by name: the spec's, those of the dataclasses it
    holds (not those of a dataclass they hold in turn, as ``columns``, which is one option) and
    the executors' own."""
    held = (d for kind in nested(RunSpec).values() for d in declared(kind))
    return [*declared(RunSpec), *held, *executors.executor_options()]


def values(kw: Mapping[str, Any]) -> dict[str, Any]:
    """The options of :meth:`RunSpec.of` of a command's values ``kw`` (by click's names): each
    declared option the command takes and was given (not None), parsed; a dataclass that an
    options class holds (``columns``) made of its own options."""
    out = _given(executors.executor_options(), kw)
    for kind in (RunSpec, *nested(RunSpec).values()):
        out.update(_given(declared(kind), kw))
        for name, held in nested(kind).items():
            if kind is not RunSpec and (inner := _given(declared(held), kw)):
                out[name] = held(**inner)
    return out


def _given(found: Iterable[Declared], kw: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for d in found:
        value = kw.get(d.param)
        if value is not None and d.option.parse is not None:
            value = d.option.parse(value)
        if value is not None:
            out[d.name] = value
    return out


def flags() -> dict[str, str]:
    """The command-line name of each option the API takes by another name (``on_bad``:
    ``--on-bad-record``), to name it in an error (:func:`mosaicit.clihelp.user_errors`)."""
    return {d.name: d.flags[0] for d in _api_level() if d.flags[0] != "--" + d.name.replace("_", "-")}
