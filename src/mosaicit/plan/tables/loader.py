"""Load, validate and fill the template tables.

Tables are data (YAML or JSON), checked when loaded: a slot with a missing or unknown
placeholder is an error at load time, never mid-run (see :mod:`mosaicit.plan.tables.check`). The
shared slots are checked here; each strategy checks its own section (a strategy from another
package reads the section it ships when the tables have none). A tables file is at most
1 MiB, nested at most 16 levels deep, and its YAML has no aliases (a few nested aliases expand
a small file beyond any memory).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mosaicit.errors import MosaicitError
from mosaicit.io.streams import read_head
from mosaicit.io.wellformed import problem
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.strategies.plugins import DEFAULT_SECTIONS
from mosaicit.plan.tables.check import Checker, fill, short
from mosaicit.plan.tables.coherence import incoherence
from mosaicit.plan.tables.slots import Tables

#: The largest tables file read (the packaged one is about 17 kB).
MAX_BYTES = 1 << 20
#: The deepest nesting of containers in a tables file (the schema needs four levels).
MAX_DEPTH = 16

__all__ = ["MAX_BYTES", "MAX_DEPTH", "Tables", "fill", "load_tables", "tables_from_data"]


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: a few nested aliases expand a small file beyond any memory."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in tables", mark)
        return super().compose_node(parent, index)


#: The loader of the packaged tables, which hold no aliases: libyaml's, about ten times faster.
PACKAGED_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str, source: str, loader: type = _NoAliasLoader) -> Any:
    try:
        if source.endswith(".json"):
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise MosaicitError(f"{source}: not valid YAML/JSON: {' '.join(str(exc).split())}") from None
    except RecursionError:
        data = None
        bad: str | None = f"nested deeper than {MAX_DEPTH} levels"
    else:
        bad = problem(data, MAX_DEPTH)
    if bad is not None:
        raise MosaicitError(f"{source}: {bad}")
    return data


def tables_from_data(data: Any, source: str) -> Tables:
    """Validate parsed table data and return :class:`Tables`; raise on the first problem."""
    c = Checker(source, data)
    if not isinstance(data, dict):
        raise MosaicitError(f"{source}: the tables must be a mapping")
    if data.get("version") != 1:
        raise c.fail("version", f"must be 1, got {short(data.get('version'))}")
    sections = {
        name: strategy.load_table(_checker(c, name, strategy.section))
        for name, strategy in STRATEGIES.items()
        if strategy.section
    }
    c.keys("format", ("tagged", "tagged_every", "generic"))
    tables = Tables(
        numbering_styles=c.strings("numbering.styles", ("n",)),
        punctuation=_punctuation(c),
        tag_words=c.pairs("tags.words"),
        tag_brackets=c.strings("tags.brackets", ("w",)),
        format_tagged=c.strings("format.tagged", ("begin", "end")),
        format_tagged_every=c.strings("format.tagged_every", ("begin", "end"), optional_slot=True),
        format_generic=c.strings("format.generic"),
        sections=sections,
        section_counts={
            slot: n
            for name, table in sections.items()
            for slot, n in STRATEGIES[name].slot_counts(table).items()
        },
        source=source,
    )
    contradiction = incoherence(tables, STRATEGIES)
    if contradiction:
        raise MosaicitError(f"{source}: {contradiction}")
    return tables


def _checker(c: Checker, name: str, section: str) -> Checker:
    """What reads a strategy's section: the tables' own, else the section a plugin ships."""
    if name not in DEFAULT_SECTIONS or c.has(section):
        return c
    source, data = DEFAULT_SECTIONS[name]
    return Checker(source, {section: data})


def _punctuation(c: Checker) -> tuple[str, ...]:
    items = c.node("numbering.punctuation")
    if not isinstance(items, list) or not items or not all(isinstance(p, str) for p in items):
        raise c.fail("numbering.punctuation", "must be a non-empty list of strings")
    for i, p in enumerate(items):
        if p != p.strip() or "{" in p or "\n" in p:
            raise c.fail(f"numbering.punctuation[{i}]", f"must be plain text, got {short(p)}")
    return tuple(items)


def load_tables(path: str | Path | None = None) -> Tables:
    """Load the packaged default tables, or the YAML/JSON file at ``path``, validated."""
    if path is None:
        ref = resources.files("mosaicit.plan.tables").joinpath("default.yaml")
        data = _parse(ref.read_text(encoding="utf-8"), "default.yaml", PACKAGED_LOADER)
        return tables_from_data(data, "default.yaml")
    source = str(path)
    try:
        data = read_head(source, MAX_BYTES)
    except OSError as exc:
        raise MosaicitError(f"{source}: cannot read the tables: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise MosaicitError(f"{source}: tables larger than {MAX_BYTES >> 20} MiB are not read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MosaicitError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    return tables_from_data(_parse(text, source), source)
