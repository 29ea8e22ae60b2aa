"""Load, validate and fill the template tables.

Tables are data (YAML or JSON), checked when loaded: a slot with a missing or unknown
placeholder is an error at load time, never mid-run. Templates are filled by plain
substitution of named ``{placeholders}``, in one pass, so text put into a template is never
read as a template itself. A tables file is at most 1 MiB, nested at most 16 levels deep,
and its YAML has no aliases (a few nested aliases expand a small file beyond any memory).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mosaicit.errors import MosaicitError
from mosaicit.io.wellformed import problem

#: The largest tables file read (the packaged one is about 17 kB).
MAX_BYTES = 1 << 20
#: The deepest nesting of containers in a tables file (the schema needs four levels).
MAX_DEPTH = 16
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

PERMUTE_RULES = (
    "fix",
    "reverse",
    "alpha",
    "reverse_alpha",
    "length_word",
    "reverse_length_word",
    "length_char",
    "reverse_length_char",
    "odd_even",
    "even_odd",
)
MASK_RULES = ("fix", "word_long", "word_short", "odd", "even")
COUNTED_MASK_RULES = ("fix", "word_long", "word_short")


def fill(template: str, **values: str) -> str:
    """Replace each ``{name}`` in ``template`` with ``values[name]`` in a single pass."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class Tables:
    """Validated template tables: every list non-empty, every placeholder in its place."""

    numbering_styles: tuple[str, ...]
    punctuation: tuple[str, ...]
    tag_words: tuple[tuple[str, str], ...]
    tag_brackets: tuple[str, ...]
    format_tagged: tuple[str, ...]
    format_generic: tuple[str, ...]
    sequence_styles: tuple[str, ...]
    sequence_separators: tuple[str, ...]
    permute: dict[str, tuple[str, ...]]
    list_styles: tuple[str, ...]
    list_separators: tuple[str, ...]
    mask_one: dict[str, tuple[str, ...]]
    mask_many: dict[str, tuple[str, ...]]
    source: str

    def counts(self) -> dict[str, int]:
        """How many variants each slot has, by dotted slot name."""
        out = {
            "numbering.styles": len(self.numbering_styles),
            "numbering.punctuation": len(self.punctuation),
            "tags.words": len(self.tag_words),
            "tags.brackets": len(self.tag_brackets),
            "format.tagged": len(self.format_tagged),
            "format.generic": len(self.format_generic),
            "permute.sequence_styles": len(self.sequence_styles),
            "permute.sequence_separators": len(self.sequence_separators),
        }
        out.update({f"permute.rules.{k}": len(v) for k, v in self.permute.items()})
        out["maskout.list_styles"] = len(self.list_styles)
        out["maskout.list_separators"] = len(self.list_separators)
        for rule in MASK_RULES:
            if rule in COUNTED_MASK_RULES:
                out[f"maskout.rules.{rule}.one"] = len(self.mask_one[rule])
                out[f"maskout.rules.{rule}.many"] = len(self.mask_many[rule])
            else:
                out[f"maskout.rules.{rule}"] = len(self.mask_many[rule])
        return out


class _Checker:
    def __init__(self, source: str, data: Any) -> None:
        self.source = source
        self.data = data

    def fail(self, slot: str, message: str) -> MosaicitError:
        return MosaicitError(f"{self.source}: {slot}: {message}")

    def node(self, slot: str) -> Any:
        node = self.data
        for key in slot.split("."):
            if not isinstance(node, dict) or key not in node:
                raise self.fail(slot, "missing")
            node = node[key]
        return node

    def strings(
        self,
        slot: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
        strip: bool = True,
    ) -> tuple[str, ...]:
        items = self.node(slot)
        if not isinstance(items, list) or not items:
            raise self.fail(slot, "must be a non-empty list of strings")
        seen: set[str] = set()
        for i, item in enumerate(items):
            where = f"{slot}[{i}]"
            if not isinstance(item, str) or not item.strip() and strip:
                raise self.fail(where, f"must be a non-empty string, got {_short(item)}")
            if strip and item != item.strip():
                raise self.fail(where, f"has whitespace at its ends: {_short(item)}")
            if item in seen:
                raise self.fail(where, f"duplicate entry {_short(item)}")
            seen.add(item)
            names = PLACEHOLDER.findall(item)
            for name in names:
                if name not in required + optional:
                    allowed = ", ".join("{" + n + "}" for n in required + optional) or "none"
                    raise self.fail(where, f"unknown placeholder {{{name}}} (allowed: {allowed})")
            for name in required:
                if names.count(name) != 1:
                    raise self.fail(where, f"must contain {{{name}}} exactly once: {_short(item)}")
        return tuple(items)

    def pairs(self, slot: str) -> tuple[tuple[str, str], ...]:
        items = self.node(slot)
        if not isinstance(items, list) or not items:
            raise self.fail(slot, "must be a non-empty list of [begin, end] pairs")
        out = []
        for i, item in enumerate(items):
            ok = (
                isinstance(item, list)
                and len(item) == 2
                and all(
                    isinstance(w, str) and w.strip() == w and w and not PLACEHOLDER.search(w) for w in item
                )
            )
            if not ok or item[0] == item[1]:
                raise self.fail(f"{slot}[{i}]", f"must be two different plain words, got {_short(item)}")
            out.append((item[0], item[1]))
        return tuple(out)

    def keys(self, slot: str, expected: tuple[str, ...]) -> None:
        node = self.node(slot)
        if not isinstance(node, dict):
            raise self.fail(slot, "must be a mapping")
        extra = sorted(set(node) - set(expected))
        if extra:
            raise self.fail(slot, f"unknown entries {extra} (expected {list(expected)})")


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: a few nested aliases expand a small file beyond any memory."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in tables", mark)
        return super().compose_node(parent, index)


def _parse(text: str, source: str) -> Any:
    try:
        if source.endswith(".json"):
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
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


def _short(value: Any) -> str:
    """``repr(value)``, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def tables_from_data(data: Any, source: str) -> Tables:
    """Validate parsed table data and return :class:`Tables`; raise on the first problem."""
    c = _Checker(source, data)
    if not isinstance(data, dict):
        raise MosaicitError(f"{source}: the tables must be a mapping")
    if data.get("version") != 1:
        raise c.fail("version", f"must be 1, got {_short(data.get('version'))}")
    c.keys("permute.rules", PERMUTE_RULES)
    c.keys("maskout.rules", MASK_RULES)
    permute = {}
    for rule in PERMUTE_RULES:
        required = ("order",) if rule == "fix" else ()
        permute[rule] = c.strings(f"permute.rules.{rule}", required)
    mask_one: dict[str, tuple[str, ...]] = {}
    mask_many: dict[str, tuple[str, ...]] = {}
    for rule in MASK_RULES:
        if rule == "fix":
            mask_one[rule] = c.strings("maskout.rules.fix.one", ("skip",))
            mask_many[rule] = c.strings("maskout.rules.fix.many", ("skip",))
        elif rule in COUNTED_MASK_RULES:
            mask_one[rule] = c.strings(f"maskout.rules.{rule}.one", (), ("count",))
            mask_many[rule] = c.strings(f"maskout.rules.{rule}.many", ("count",))
        else:
            mask_many[rule] = mask_one[rule] = c.strings(f"maskout.rules.{rule}")
    return Tables(
        numbering_styles=c.strings("numbering.styles", ("n",)),
        punctuation=_punctuation(c),
        tag_words=c.pairs("tags.words"),
        tag_brackets=c.strings("tags.brackets", ("w",)),
        format_tagged=c.strings("format.tagged", ("begin", "end")),
        format_generic=c.strings("format.generic"),
        sequence_styles=c.strings("permute.sequence_styles", ("items",)),
        sequence_separators=_separators(c, "permute.sequence_separators"),
        permute=permute,
        list_styles=c.strings("maskout.list_styles", ("items",)),
        list_separators=_separators(c, "maskout.list_separators"),
        mask_one=mask_one,
        mask_many=mask_many,
        source=source,
    )


def _separators(c: _Checker, slot: str) -> tuple[str, ...]:
    items = c.strings(slot, strip=False)
    for i, item in enumerate(items):
        if "\n" in item or not item.strip():
            raise c.fail(f"{slot}[{i}]", f"must be visible text on one line, got {_short(item)}")
    return items


def _punctuation(c: _Checker) -> tuple[str, ...]:
    items = c.node("numbering.punctuation")
    if not isinstance(items, list) or not items or not all(isinstance(p, str) for p in items):
        raise c.fail("numbering.punctuation", "must be a non-empty list of strings")
    for i, p in enumerate(items):
        if p != p.strip() or "{" in p or "\n" in p:
            raise c.fail(f"numbering.punctuation[{i}]", f"must be plain text, got {_short(p)}")
    return tuple(items)


def load_tables(path: str | Path | None = None) -> Tables:
    """Load the packaged default tables, or the YAML/JSON file at ``path``, validated."""
    if path is None:
        ref = resources.files("mosaicit.tables").joinpath("default.yaml")
        return tables_from_data(_parse(ref.read_text(encoding="utf-8"), "default.yaml"), "default.yaml")
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
