"""Load, validate and fill the template tables.

Tables are data (YAML or JSON), checked when loaded: a slot with a missing or unknown
placeholder is an error at load time, never mid-run (see :mod:`mosaicit.tables.check`). The
shared slots are checked here; each strategy checks its own section. A tables file is at most
1 MiB, nested at most 16 levels deep, and its YAML has no aliases (a few nested aliases expand
a small file beyond any memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mosaicit.errors import MosaicitError
from mosaicit.io.wellformed import problem
from mosaicit.tables.check import Checker, fill, short
from mosaicit.tables.coherence import SKIPS, incoherence

#: The largest tables file read (the packaged one is about 17 kB).
MAX_BYTES = 1 << 20
#: The deepest nesting of containers in a tables file (the schema needs four levels).
MAX_DEPTH = 16

__all__ = ["MAX_BYTES", "MAX_DEPTH", "Tables", "fill", "load_tables", "tables_from_data"]


@dataclass(frozen=True)
class Tables:
    """Validated template tables: every list non-empty, every placeholder in its place, and no
    two meta-instructions of one sample at odds (:mod:`mosaicit.tables.coherence`).

    The named fields are the shared slots of the Format layer (``numbering``, ``tags``,
    ``format``); ``sections`` holds each strategy's own slots, by strategy name (see
    :meth:`section`). ``format_tagged`` only says how answers are wrapped;
    ``format_tagged_every`` and ``format_generic`` also ask for an answer to every instruction, so
    they are never drawn beside a rule that skips some (see :meth:`format_choices`).
    """

    numbering_styles: tuple[str, ...]
    punctuation: tuple[str, ...]
    tag_words: tuple[tuple[str, str], ...]
    tag_brackets: tuple[str, ...]
    format_tagged: tuple[str, ...]
    format_tagged_every: tuple[str, ...]
    format_generic: tuple[str, ...]
    sections: dict[str, Any]
    source: str
    _choices: dict[bool, tuple[tuple[str, ...], tuple[str, ...]]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._choices[False] = (self.format_tagged + self.format_tagged_every, self.format_generic)
        self._choices[True] = (self.format_tagged, ())

    def format_choices(self, effects: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The tagged and the generic format meta-instructions a strategy with ``effects`` may
        draw: those that ask for an answer to every instruction only where no rule skips any."""
        return self._choices[SKIPS in effects]

    def section(self, strategy: str) -> Any:
        """A strategy's own validated slots (None for a strategy that has none)."""
        return self.sections.get(strategy)

    def counts(self) -> dict[str, int]:
        """How many variants each slot has, by dotted slot name."""
        out = {
            "numbering.styles": len(self.numbering_styles),
            "numbering.punctuation": len(self.punctuation),
            "tags.words": len(self.tag_words),
            "tags.brackets": len(self.tag_brackets),
            "format.tagged": len(self.format_tagged),
            "format.tagged_every": len(self.format_tagged_every),
            "format.generic": len(self.format_generic),
        }
        for name, strategy in _strategies().items():
            if name in self.sections:
                out.update(strategy.slot_counts(self.sections[name]))
        return out


def _strategies() -> dict[str, Any]:
    """The strategy registry (imported here: the strategies import the table checks)."""
    from mosaicit.plan.strategies import STRATEGIES

    return STRATEGIES


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
    strategies = _strategies()
    sections = {name: strategy.load_table(c) for name, strategy in strategies.items() if strategy.section}
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
        source=source,
    )
    contradiction = incoherence(tables, strategies)
    if contradiction:
        raise MosaicitError(f"{source}: {contradiction}")
    return tables


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
        ref = resources.files("mosaicit.tables").joinpath("default.yaml")
        data = _parse(ref.read_text(encoding="utf-8"), "default.yaml", PACKAGED_LOADER)
        return tables_from_data(data, "default.yaml")
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise MosaicitError(f"{source}: cannot read the tables: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise MosaicitError(f"{source}: tables larger than {MAX_BYTES >> 20} MiB are not read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MosaicitError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    return tables_from_data(_parse(text, source), source)
