"""The ``eval`` checks that the strategies declare (``Strategy.eval_checks``), built-in or from
other packages.

Each declared module registers its checks with :func:`mosaicit.eval.checks.register` when it is
imported, as :mod:`mosaicit.eval.rules` does. A module that fails to import leaves its strategy
unchecked, so scoring a prompt of that strategy is an error (:func:`unchecked`), never a pass.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from mosaicit.errors import MosaicitError
from mosaicit.eval.evalset import EvalItem
from mosaicit.plan.strategies import BROKEN, STRATEGIES
from mosaicit.plan.strategies.plugins import ORIGINS

#: Strategies whose declared checks did not load, by name: the one line that says why.
UNCHECKED: dict[str, str] = {}


def load_checks() -> None:
    """Import every check module the registered strategies declare; keep each failure's reason."""
    for name, strategy in STRATEGIES.items():
        for module in strategy.eval_checks:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported when it is used
                where = ORIGINS.get(name, f"strategy {name!r}")
                message = " ".join(str(exc).split())
                UNCHECKED[name] = (
                    f"{where}: its check module {module} cannot be loaded: {type(exc).__name__}: {message}"
                )
                break


def unchecked(items: Sequence[EvalItem]) -> None:
    """Raise, naming the first prompt, when a prompt's strategy is missing or its checks did not load."""
    for item in items:
        name = item.plan.strategy
        problem = UNCHECKED.get(name) or BROKEN.get(name)
        if problem is None and name not in STRATEGIES:
            problem = f"strategy {name!r} is not installed, so its checks cannot run"
        if problem is not None:
            raise MosaicitError(f"eval set prompt {item.id}: {problem}")
