"""``--config FILE``: a command's options from a YAML or JSON file, command-line flags on top.

The keys are the command's own option names, taken from its click parameters (no second list):
each long option name without ``--`` (``max-length``, ``mix``, ``emit-dataset-info``; ``_`` for
``-`` is fine, and an option's other names too: ``version``, ``model-name-or-path``), ``input``
for the INPUT argument (a path or a list) and ``output`` for ``-o``. A list is joined with commas
for an option that takes a comma-separated list (``orderings``, ``mask-rules``), a mapping as
``NAME=VALUE`` pairs (``weights``); ``null`` leaves the option's default. The values become the
command's click ``default_map``, so a flag given on the command line wins over the file.

A key that names no option of the command is an error, except an option of ``augment``: one
run file serves ``augment``, ``preview``, ``eval build`` and ``convert``; the others skip what
they do not take, and ``output`` too (the run's output, which only ``augment`` writes).

A run's summary (``OUTPUT.summary.json``) records the options under ``config`` (:func:`recorded`);
given as the config file, it repeats the run.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

import click
import yaml

from mosaicit.clihelp import user_errors
from mosaicit.errors import MosaicitError
from mosaicit.io.streams import read_head

#: The largest ``--config`` file read (a run summary, which it may be, holds its histograms).
MAX_CONFIG_BYTES = 16 << 20
#: A command's own options that change what it prints, never what a run writes: the summary
#: leaves them out of its ``config``, as it does the run's options declared ``recorded=False``
#: (where and how a run is done: :class:`~mosaicit.types.options.Option`), so that a repeat runs
#: where it is started.
NOT_RECORDED = frozenset({"report_page", "quiet", "dry_run"})


def key_of(param: click.Parameter) -> str:
    """The config key of a command parameter: its first long option name, or the argument's
    metavar (``INPUT...`` -> ``input``)."""
    if isinstance(param, click.Argument):
        return (param.metavar or param.name or "").strip(".").lower()
    longs = [name[2:] for name in param.opts if name.startswith("--")]
    return longs[0] if longs else str(param.name)


def _keys(command: click.Command) -> dict[str, click.Parameter]:
    """Every name a config file may give each of the command's parameters by, normalised."""
    out: dict[str, click.Parameter] = {}
    for param in command.params:
        if not param.expose_value:
            continue
        names = {key_of(param), *(name[2:] for name in param.opts if name.startswith("--"))}
        out.update({_norm(name): param for name in names})
    return out


def _norm(key: str) -> str:
    return key.strip().replace("_", "-").lower()


def read_config(path: str) -> dict[str, Any]:
    """The options a config file holds: a YAML or JSON mapping, or a run summary's ``config``."""
    data = read_head(path, MAX_CONFIG_BYTES)
    if len(data) > MAX_CONFIG_BYTES:
        raise MosaicitError(f"{path}: config files larger than 16 MiB are not read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MosaicitError(f"{path}: not a text file") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise MosaicitError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise MosaicitError(f"{path}: invalid YAML: {problem}{where}") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # a run summary
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MosaicitError(f"{path}: a config file holds a mapping of option names to values")
    return data


def default_map(ctx: click.Context, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` checked against the command's options, as click's ``default_map``."""
    own = _keys(ctx.command)
    augment = _augment_command(ctx)
    runs = _keys(augment) if augment else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _norm(str(key))
        param = own.get(name)
        if param is None or (param.name == "output" and ctx.command is not augment):
            if name in runs:
                continue
            near = difflib.get_close_matches(name, own, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise MosaicitError(f"{path}: unknown key {key!r} for mosaicit {ctx.command.name}{hint}")
        if param.name in out:
            raise MosaicitError(f"{path}: {key!r} sets {key_of(param)!r} a second time")
        if value is None:
            continue
        value = _as_option(param, value)
        try:
            param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise MosaicitError(f"{path}: {key}: {exc.message}") from None
        out[str(param.name)] = value
    return out


def _as_option(param: click.Parameter, value: Any) -> Any:
    """A config value as the option takes it: comma lists, ``NAME=VALUE`` pairs, one path as a list."""
    takes_many = param.nargs == -1 or param.multiple
    if takes_many:
        return [value] if isinstance(value, str) else value
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(param, click.Option) and not param.is_flag and isinstance(value, bool):
        return param.flag_value if value else None  # --emit-dataset-info: true
    return value


def _augment_command(ctx: click.Context) -> click.Command | None:
    """The ``augment`` command beside the one running (its options every command with ``--config``
    accepts in the file), found in the ``mosaicit`` group: this module stands below the commands."""
    root = ctx.find_root()
    if isinstance(root.command, click.Group):
        return root.command.get_command(root, "augment")
    return root.command if root.command.name == "augment" else None


@user_errors
def _load(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.default_map = {**(ctx.default_map or {}), **default_map(ctx, value, read_config(value))}


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--config FILE`` option (see the module's docstring)."""
    return click.option(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_load,
        metavar="FILE",
        help="Take the options from FILE (YAML or JSON, keys as the long option names; a run's "
        "OUTPUT.summary.json repeats the run); options given here override it.",
    )(func)


def is_recorded(param: click.Parameter) -> bool:
    """Whether a run's summary records ``param`` (see :data:`NOT_RECORDED`)."""
    return param.name not in NOT_RECORDED and getattr(param, "recorded", True)


def recorded(ctx: click.Context) -> dict[str, Any]:
    """The command's options as a config file gives them, for the summary to repeat the run by
    (those in :data:`NOT_RECORDED` left out)."""
    out: dict[str, Any] = {}
    for param in ctx.command.params:
        if param.name in ctx.params and is_recorded(param):
            value = ctx.params[param.name]
            out[key_of(param)] = list(value) if isinstance(value, tuple) else value
    return out
