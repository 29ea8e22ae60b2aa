"""Strategies from other packages, found through the ``mosaicit.strategies`` entry point group.

An entry point names a :class:`~mosaicit.plan.strategies.base.Strategy` subclass
(``shout = "mosaicit_shout.strategy:Shout"``) whose ``name`` is the entry point's name. It joins
the registry after the built-in strategies, with a rank of at least :data:`FIRST_PLUGIN_RANK`
and no mix, so a run that does not weight it draws exactly what it drew without it.

A plugin that cannot be loaded (an import error, a clash of name or rank, a missing table) is
left out and its one-line reason kept in :data:`BROKEN`: a run that asks for it gets that line
as its error (:class:`~mosaicit.plan.config.MosaicConfig`), ``mosaicit tables list`` shows it,
and every other run goes on untouched. A broken package in the environment must not stop the
runs that never use it, and the user who does ask for it learns why at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import yaml

from mosaicit.plan.strategies.base import Strategy, add_strategy
from mosaicit.plan.tables.check import Checker

#: The entry point group read for strategies.
GROUP = "mosaicit.strategies"
#: The lowest rank a plugin may take: the ranks below stay for mosaicit's own strategies.
FIRST_PLUGIN_RANK = 100
#: What ``--weights`` can parse: a plugin's name is a lowercase identifier.
NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
#: Top-level keys of the tables that are no strategy's section.
SHARED_SECTIONS = frozenset({"version", "numbering", "tags", "format"})

#: The plugins that did not load, by entry point name: the one line that says why.
BROKEN: dict[str, str] = {}
#: Each loaded plugin's packaged section, by strategy name: where it comes from and its data.
DEFAULT_SECTIONS: dict[str, tuple[str, Any]] = {}
#: Each loaded plugin's distribution, by strategy name (``tables list`` shows it).
ORIGINS: dict[str, str] = {}


class PluginError(Exception):
    """Why a plugin cannot join the registry (one line)."""


def describe(entry: EntryPoint) -> str:
    """``entry point 'shout = pkg.mod:Shout' (package mosaicit-shout)``."""
    dist = entry.dist.metadata["Name"] if entry.dist is not None else "unknown package"
    return f"entry point '{entry.name} = {entry.value}' ({dist})"


def _default_section(cls: type[Strategy], where: str) -> tuple[str, Any]:
    """The plugin's packaged section: its source (for errors) and its data."""
    ref = cls.default_table
    if isinstance(ref, Mapping):
        return f"{where} default_table", dict(ref)
    if not isinstance(ref, str) or ":" not in ref:
        raise PluginError(f"{where}: default_table must be a mapping or 'package:file.yaml', got {ref!r}")
    package, _, name = ref.partition(":")
    try:
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any failure of a third party's data is reported
        raise PluginError(f"{where}: cannot read its table {ref}: {type(exc).__name__}: {exc}") from None
    return f"{ref} ({where})", data


def _validated(entry: EntryPoint, registry: Mapping[str, Strategy]) -> type[Strategy]:
    """The strategy class ``entry`` names, checked against ``registry``; :class:`PluginError` if unfit."""
    where = describe(entry)
    try:
        cls = entry.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never raised
        message = " ".join(str(exc).split())
        raise PluginError(f"{where}: cannot be loaded: {type(exc).__name__}: {message}") from None
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise PluginError(f"{where}: does not name a Strategy subclass")
    name, rank = getattr(cls, "name", None), getattr(cls, "rank", None)
    if name != entry.name:
        raise PluginError(f"{where}: the strategy's name is {name!r}, not the entry point's name")
    if not NAME.match(entry.name) or entry.name in SHARED_SECTIONS:
        raise PluginError(f"{where}: a strategy's name must be a lowercase identifier and no table section")
    if entry.name in registry:
        raise PluginError(f"{where}: the name {entry.name!r} is taken by another strategy")
    if not isinstance(rank, int) or rank < FIRST_PLUGIN_RANK:
        raise PluginError(f"{where}: rank must be an integer of at least {FIRST_PLUGIN_RANK}, got {rank!r}")
    taken = next((s.name for s in registry.values() if s.rank == rank), None)
    if taken is not None:
        raise PluginError(f"{where}: rank {rank} is taken by strategy {taken!r}")
    if cls.mixes or cls.rules_option:
        raise PluginError(f"{where}: a plugin joins no mix and has no rules_option (draw it with --weights)")
    if cls.section not in (None, entry.name):
        raise PluginError(f"{where}: its section must be named {entry.name!r}, like the strategy")
    return cls


def load_plugin(entry: EntryPoint, registry: dict[str, Strategy]) -> None:
    """Register the strategy ``entry`` names; :class:`PluginError` (nothing registered) if unfit."""
    where = describe(entry)
    cls = _validated(entry, registry)
    section = None
    if cls.section is not None:
        if cls.default_table is None:
            raise PluginError(f"{where}: has the section {cls.section!r} but no default_table")
        source, data = _default_section(cls, where)
        try:
            cls().load_table(Checker(source, {cls.section: data}))
        except Exception as exc:  # noqa: BLE001 - a bad packaged table is the plugin's fault
            raise PluginError(f"{where}: its table is not valid: {exc}") from None
        section = (source, data)
    add_strategy(registry, cls)
    if section is not None:
        DEFAULT_SECTIONS[cls.name] = section
    ORIGINS[cls.name] = where


def plugin_entry_points() -> list[EntryPoint]:
    """The group's entry points, each once, sorted by name (a package seen twice on the path counts once)."""
    seen = {(e.name, e.value): e for e in entry_points(group=GROUP)}
    return [seen[key] for key in sorted(seen)]


def load_plugins(found: Iterable[EntryPoint], registry: dict[str, Strategy]) -> None:
    """Register every plugin of ``found`` that loads; keep the reason of each that does not in
    :data:`BROKEN`. A name that two packages declare is left out, with both named."""
    by_name: dict[str, list[EntryPoint]] = {}
    for entry in found:
        by_name.setdefault(entry.name, []).append(entry)
    for name, entries in by_name.items():
        if len(entries) > 1:
            BROKEN[name] = f"strategy {name!r} is declared by several entry points: " + ", ".join(
                describe(e) for e in entries
            )
            continue
        try:
            load_plugin(entries[0], registry)
        except PluginError as exc:
            BROKEN[name] = str(exc)
