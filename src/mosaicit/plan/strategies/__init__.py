"""The mosaic strategies, one module each, registered when this package loads.

A new strategy is one new module here that subclasses :class:`Strategy` and decorates it with
:func:`register`; every module of this package is imported below, so nothing else changes.
Another package adds one through the ``mosaicit.strategies`` entry point group
(:mod:`mosaicit.plan.strategies.plugins`); one that fails to load is listed in ``BROKEN``.
"""

from __future__ import annotations

import importlib
import pkgutil

from mosaicit.plan.strategies.base import REGISTRY, Strategy, register
from mosaicit.plan.strategies.plugins import BROKEN, load_plugins, plugin_entry_points

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
# Strategies from other packages join after every built-in one (see plugins.py).
load_plugins(plugin_entry_points(), REGISTRY)

#: The registered strategies by name, in draw order.
STRATEGIES: dict[str, Strategy] = REGISTRY
#: Their names, in draw order.
STRATEGY_NAMES: tuple[str, ...] = tuple(REGISTRY)


def option_rules(option: str) -> tuple[str, ...]:
    """Every rule of the strategy whose ``rules_option`` is ``option``: that option's default."""
    return next(s.rules for s in REGISTRY.values() if s.rules_option == option)


__all__ = ["BROKEN", "STRATEGIES", "STRATEGY_NAMES", "Strategy", "option_rules", "register"]
