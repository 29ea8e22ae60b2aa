"""Options declared once, on the dataclass field they set: ``seed: int = option(42, help=...)``.

A field's :class:`Option` holds its help, its choices, its check, its command-line names and the
block of options it is shown in. The options of a run are the fields of
:class:`~mosaicit.run.spec.RunSpec` and of the dataclasses it holds (``MosaicConfig``,
``InputOptions`` and its ``Columns``, ``OutputOptions``), and those an executor declares for
itself (:attr:`Executor.options <mosaicit.run.executors.base.Executor.options>`); from their
declarations come the command-line options and ``--config`` keys (:mod:`mosaicit.clioptions`),
the reference (``docs/cli.md``), the checks every value passes (:func:`check_options`) and the
keywords of the Python API (:meth:`~mosaicit.run.spec.RunSpec.of`). In the spirit of TRL's
``HfArgumentParser``, which builds its parser from ``field(metadata={"help": ...})``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mosaicit.errors import ParamError

#: A check of one value: raises a :class:`ParamError` naming the parameter (its first argument).
Check = Callable[[str, Any], None]
#: The values an option takes, or a function that lists them when asked (a registry's names).
Choices = Sequence[str] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Option:
    """How a dataclass field is an option (see the module's docstring).

    ``flags``: its command-line names (default: ``--`` and the field's name with dashes);
    ``block``: the block of options it is shown in (``read``, ``budget``...; None: a command takes
    it by name); ``choices``: the values it takes; ``check``: a check of its value (see
    :func:`count`, :func:`between`); ``parse``: the field's value of the command-line value (a
    comma list, ``NAME=VALUE`` pairs, an inverted flag); a command-line value of None, or one that
    parses to None, leaves the field's default; ``type``: the command-line value's type where the
    default (None) does not tell it; ``path``: the value is a path, of a ``file``, an
    ``existing file`` or a ``folder``; ``flag_value``: the value of the option given without one;
    ``recorded``: False for an option that never changes what a run writes (where or how it runs):
    a run's summary leaves it out of the options that repeat the run.
    """

    help: str
    flags: tuple[str, ...] = ()
    block: str | None = None
    choices: Choices | None = None
    check: Check | None = None
    parse: Callable[[Any], Any] | None = None
    type: type | None = None
    path: str | None = None
    metavar: str | None = None
    flag_value: Any = None
    recorded: bool = True

    def choice_list(self) -> tuple[str, ...] | None:
        """The values the option takes, if it names them."""
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    compare: bool = True,
    **declared: Any,
) -> Any:
    """A dataclass field that is an option: ``default`` (or ``default_factory``) and the
    :class:`Option` of ``declared`` (``help=...``, ``choices=...``, ...)."""
    metadata = {"option": Option(**declared)}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, compare=compare, metadata=metadata)
    return field(default=default, compare=compare, metadata=metadata)


@dataclass(frozen=True)
class Declared:
    """One declared option: the field's ``name``, its :class:`Option`, its ``default`` and the
    dataclass that declares it (``owner``)."""

    name: str
    option: Option
    default: Any
    owner: type

    @property
    def flags(self) -> tuple[str, ...]:
        """The option's command-line names."""
        return self.option.flags or ("--" + self.name.replace("_", "-"),)

    @property
    def param(self) -> str:
        """The name of the option's command-line value: its first long name, as a Python name."""
        longs = [flag for flag in self.flags if flag.startswith("--")]
        return longs[0][2:].replace("-", "_")


def declared(cls: type) -> list[Declared]:
    """The options that ``cls`` declares itself, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        opt = f.metadata.get("option")
        if opt is not None:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            out.append(Declared(f.name, opt, default, cls))
    return out


def nested(cls: type) -> dict[str, type]:
    """The fields of ``cls`` that hold a dataclass of their own (made by their default factory)."""
    out: dict[str, type] = {}
    for f in dataclasses.fields(cls):
        kind = f.default_factory
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            out[f.name] = kind
    return out


def walk(cls: type) -> Iterator[Declared]:
    """Every option of ``cls`` and of the dataclasses it holds, in field order, each held
    dataclass's options where it stands."""
    mine = {d.name: d for d in declared(cls)}
    inner = nested(cls)
    for f in dataclasses.fields(cls):
        if f.name in mine:
            yield mine[f.name]
        elif f.name in inner:
            yield from walk(inner[f.name])


def check_options(obj: Any) -> None:
    """Check each declared field of ``obj``: its choices and its check (a None where the default
    is None, an option not given, passes)."""
    for d in declared(type(obj)):
        value = getattr(obj, d.name)
        if value is None and d.default is None:
            continue
        choices = d.option.choice_list()
        if choices is not None and value not in choices:
            raise ParamError(d.name, f"must be one of {', '.join(choices)}, got {value!r}")
        if d.option.check is not None:
            d.option.check(d.name, value)


def count(most: int | None = None) -> Check:
    """A check that a value is a whole number from 1 (to ``most``, if given)."""

    def check(name: str, value: Any) -> None:
        if value < 1:
            raise ParamError(name, f"must be at least 1, got {value}")
        if most is not None and value > most:
            raise ParamError(name, f"must be at most {most}, got {value}")

    return check


def between(low: float, high: float) -> Check:
    """A check that a value is from ``low`` to ``high`` (NaN is not)."""

    def check(name: str, value: Any) -> None:
        if not low <= value <= high:
            raise ParamError(name, f"must be between {low} and {high}, got {value}")

    return check


def comma_list(value: str | None) -> tuple[str, ...] | None:
    """A comma-separated command-line value as a tuple of names (None when it names none)."""
    names = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return names or None


def flag_off(value: bool) -> bool:
    """The field's value of a flag that turns it off (``--no-meta`` -> ``with_meta``)."""
    return not value
