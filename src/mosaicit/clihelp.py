"""Small helpers shared by the command-line modules (``mosaicit.cli`` and ``mosaicit.eval.cli``)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from mosaicit.errors import MosaicitError


def names(value: str | None, known: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated option value as a tuple of names, or all ``known`` names when empty."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else known


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show a :class:`MosaicitError` as one line on stderr and exit with status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MosaicitError as exc:
            click.echo(f"mosaicit: error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("mosaicit: interrupted; nothing written", err=True)
            sys.exit(130)

    return wrapper
