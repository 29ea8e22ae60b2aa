"""The evaluation set: one JSONL line per prompt, with the plan that says what a right answer is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError
from mosaicit.io.jsonstream import loads
from mosaicit.types.plan import Plan

ITEM_KEYS = ("id", "prompt", "messages", "plan", "reference", "sources")
PLAN_KEYS = ("sources", "strategy", "answer_order", "skipped")


@dataclass(frozen=True)
class Source:
    """One record inside a prompt: its input index, label number, prompt and reference answer."""

    index: int
    number: int
    prompt: str
    output: str


@dataclass(frozen=True)
class EvalItem:
    """One evaluation prompt: what the model sees and the plan its answer is checked against."""

    id: str
    prompt: str
    messages: list[dict[str, str]]
    plan: Plan
    reference: str
    sources: tuple[Source, ...]
    tokens: int | None = None

    @property
    def size(self) -> int:
        """Number of instructions in the prompt (answered and skipped)."""
        return len(self.plan.sources)

    def source(self, index: int) -> Source:
        """The source record with input index ``index``."""
        return self.sources[self.plan.number_of(index) - 1]

    def to_dict(self) -> dict[str, Any]:
        """The JSONL row; :func:`item_from_dict` reverses it."""
        plan = self.plan.to_dict()
        if self.tokens is not None:
            plan["tokens"] = self.tokens
        return {
            "id": self.id,
            "prompt": self.prompt,
            "messages": self.messages,
            "plan": plan,
            "reference": self.reference,
            "sources": [
                {"index": s.index, "number": s.number, "prompt": s.prompt, "output": s.output}
                for s in self.sources
            ],
        }


def item_from_dict(row: Any, where: str) -> EvalItem:
    """Check one JSONL row and rebuild its :class:`EvalItem`; ``where`` names it in errors."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
    missing = [k for k in ITEM_KEYS if k not in row]
    if missing:
        raise ValueError(f"{where}: missing field {missing[0]!r} (is this an eval set from 'eval build'?)")
    raw_plan = row["plan"]
    if not isinstance(raw_plan, dict) or any(k not in raw_plan for k in PLAN_KEYS):
        raise ValueError(f"{where}: 'plan' is not a mosaic plan")
    try:
        plan = Plan.from_dict(raw_plan)
        sources = tuple(
            Source(int(s["index"]), int(s["number"]), str(s["prompt"]), str(s["output"]))
            for s in row["sources"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: malformed plan or sources ({exc})") from None
    if [s.index for s in sources] != list(plan.sources):
        raise ValueError(f"{where}: 'sources' do not match the plan's sources")
    messages = row["messages"]
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in messages
    ):
        raise ValueError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    return EvalItem(
        id=str(row["id"]),
        prompt=str(row["prompt"]),
        messages=messages,
        plan=plan,
        reference=str(row["reference"]),
        sources=sources,
        tokens=raw_plan.get("tokens"),
    )


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, parsed object)`` for each non-blank line of a JSONL file."""
    try:
        handle = Path(path).open(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    with handle:
        lineno = 0
        try:
            for lineno, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield lineno, loads(line)
                    except json.JSONDecodeError as exc:
                        hint = (
                            " (a JSON array? expected JSONL, one object per line)" if line[:1] == "[" else ""
                        )
                        raise InputError(str(path), f"line {lineno}: invalid JSON: {exc.msg}{hint}") from None
        except UnicodeDecodeError:
            raise InputError(str(path), f"not UTF-8 text (after line {lineno})") from None


def read_evalset(path: str | Path) -> list[EvalItem]:
    """Read and check an eval set written by ``eval build``; ids must be unique."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    for lineno, row in iter_jsonl(path):
        try:
            item = item_from_dict(row, f"line {lineno}")
        except ValueError as exc:
            raise InputError(str(path), str(exc)) from None
        if item.id in seen:
            raise InputError(str(path), f"line {lineno}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise InputError(str(path), "no prompts in the eval set")
    return items
