"""Small helpers shared by the command-line modules (``mosaicit.cli`` and ``mosaicit.eval.cli``)."""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import click
from click.exceptions import NoArgsIsHelpError

from mosaicit.errors import MosaicitError, ParamError
from mosaicit.exits import Stopped, stop_running, stopping_on_signals
from mosaicit.tempfiles import remove_live


def names(value: str | None, known: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated option value as a tuple of names, or all ``known`` names when empty."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else known


#: Every command's context settings: ``-h`` is ``--help`` too.
CONTEXT = {"help_option_names": ["-h", "--help"]}


def _show_one_line(self: click.UsageError, file: Any = None) -> None:
    where = f"; see '{self.ctx.command_path} --help'" if self.ctx else ""
    click.echo(f"mosaicit: error: {self.format_message().rstrip('.')}{where}", file=file, err=True)


@contextlib.contextmanager
def _one_line_usage() -> Iterator[None]:
    """A usage error (a bad or unknown option, a value of the wrong type, a missing argument) is
    shown as every other error is: one ``mosaicit: error:`` line, with where to find the help.
    It keeps its class (:class:`click.NoSuchOption`...); the help of a bare command stays as is."""
    try:
        yield
    except NoArgsIsHelpError:
        raise
    except click.UsageError as exc:
        exc.show = types.MethodType(_show_one_line, exc)  # type: ignore[method-assign]
        raise


class _Settled:
    """A command with :data:`CONTEXT`: set on each command, not only inherited from the group, so
    that a command's context made alone (as the reference and the tests make them) answers ``-h``
    as the whole command line does (click keeps a command's help option once made). Its usage
    errors are one line (:func:`_one_line_usage`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {**CONTEXT, **(kwargs.get("context_settings") or {})}
        super().__init__(*args, **kwargs)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)  # type: ignore[misc, no-any-return]

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)  # type: ignore[misc]


class Command(_Settled, click.Command):
    """A mosaicit command (see :class:`_Settled`)."""


class Group(_Settled, click.Group):
    """A group of mosaicit commands; its commands and groups are made as these are."""

    command_class = Command
    group_class: type[click.Group] | type[type] | None = type  # a group made by this one is of its class


#: Parameters whose command-line option is not ``--`` + the name with dashes, besides the run's
#: options (:func:`mosaicit.clioptions.flags`).
OPTIONS = {"count": "-n/--count"}


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show a :class:`MosaicitError` or an ``OSError`` as one line on stderr and exit with status 1;
    end on SIGINT, SIGTERM or SIGHUP after the cleanups, with one line and status 128 + the signal;
    end quietly (status 141) when stdout is a pipe closed early (``| head``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with stopping_on_signals():
                return func(*args, **kwargs)
        except ParamError as exc:
            from mosaicit.clioptions import flags

            _fail(f"mosaicit: error: {' '.join(exc.as_option({**flags(), **OPTIONS}).splitlines())}", 1)
        except MosaicitError as exc:
            _fail(f"mosaicit: error: {' '.join(str(exc).splitlines())}", 1)
        except KeyboardInterrupt:
            _fail("mosaicit: stopped by SIGINT; temporary files removed", 128 + signal.SIGINT)
        except Stopped as exc:
            _fail(f"mosaicit: stopped by {exc.name}; temporary files removed", 128 + exc.signum)
        except BrokenPipeError as exc:
            if not _stdout_closed():
                _fail(f"mosaicit: error: {_os_error(exc)}", 1)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            sys.exit(128 + signal.SIGPIPE)
        except OSError as exc:
            _fail(f"mosaicit: error: {_os_error(exc)}", 1)
        finally:
            stop_running()  # before the temporary files go: a worker may still be writing one
            remove_live()

    return wrapper


def _fail(line: str, status: int) -> NoReturn:
    click.echo(line, err=True)
    sys.exit(status)


def _os_error(exc: OSError) -> str:
    """An ``OSError`` as ``PATH: what went wrong``."""
    what = exc.strerror or str(exc)
    return f"{exc.filename}: {what}" if exc.filename else what


def _stdout_closed() -> bool:
    """True if stdout is a pipe whose reader went away."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):
        return False
