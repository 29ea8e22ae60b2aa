"""Read what a run left behind (the output, its summary and its rejects) into plain tallies."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.filetypes import output_type
from mosaicit.io.schema import decode_mosaic
from mosaicit.io.sources import iter_items
from mosaicit.run.spec import side_paths

#: Rejected records shown per reason.
EXAMPLES_PER_REASON = 3
EXCERPT_CHARS = 140
#: What an example shows when its record can be neither found in the rejects nor read back.
NOT_KEPT = "(the record itself is kept only with --rejects-full)"
#: The roles of the user's messages in ShareGPT and OpenAI messages.
USER_ROLES = ("human", "user")


@dataclass
class RunData:
    """One run: its summary and what its samples and rejects hold, tallied."""

    output: Path
    summary: dict[str, Any]
    mosaic_tokens: Counter[int] = field(default_factory=Counter)
    passthrough_tokens: Counter[int] = field(default_factory=Counter)
    numbering: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    reject_examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejects_found: bool = True

    @property
    def max_length(self) -> int:
        """The run's token budget."""
        return int(self.summary["tokens"]["max_length"])

    def plain_lengths(self) -> Counter[int] | None:
        """The same data as plain records: each used record once per epoch, plus the passthrough
        rows; None if the summary predates ``plain_tokens``."""
        if "plain_tokens" not in self.summary:
            return None
        epochs = int(self.summary["epochs"])
        plain = Counter({int(k): v * epochs for k, v in self.summary["plain_tokens"].items()})
        plain.update(self.passthrough_tokens)
        return plain

    def row_lengths(self) -> Counter[int]:
        """The token counts of every output row (mosaics and passthrough)."""
        return self.mosaic_tokens + self.passthrough_tokens


def numbering_label(numbering: dict[str, Any] | None) -> str:
    """How a mosaic numbers its parts: the label style, as the first label looks (``none`` when
    unnumbered; the punctuation after it is left out)."""
    if not numbering:
        return "none"
    return str(numbering.get("style", "")).replace("{n}", "1")


def tags_label(tags: dict[str, Any] | None) -> str:
    """The word pair of a mosaic's answer tags, brackets left out (``none`` without tags)."""
    if not tags:
        return "none"
    begin, end = (re.sub(r"[^\w ]+", "", str(tags.get(k, ""))).strip() for k in ("begin", "end"))
    return f"{begin} … {end}"


def _provenance(row: Any, name: str, index: int) -> dict[str, Any]:
    """The ``mosaic`` object of an output row (written as JSON text)."""
    meta = decode_mosaic(row.get("mosaic")) if isinstance(row, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("tokens"), int):
        raise InputError(
            name,
            "no 'mosaic' provenance with a token count; the report needs it (augment without --no-meta)",
            index,
        )
    return meta


def excerpt(record: Any, turn: int | None = None) -> str:
    """A short excerpt of a rejected record: its instruction, or the user text of its exchange
    ``turn`` (its first without one), else its JSON; one line of at most :data:`EXCERPT_CHARS`
    characters, with control and other unprintable characters written as escapes."""
    text: Any = None
    if isinstance(record, dict):
        text = record.get("instruction") or record.get("prompt")
        for key in ("conversations", "messages"):
            turns = record.get(key)
            if text is None and isinstance(turns, list):
                text = _user_text(turns, turn or 0)
    if not isinstance(text, str) or not text.strip():  # an empty instruction: the record shows why
        text = json.dumps(record, ensure_ascii=False)
    text = " ".join(text.split())[: EXCERPT_CHARS * 2]
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _user_text(messages: list[Any], turn: int) -> Any:
    """The text of user message ``turn`` of a conversation, else of its first message."""
    said = [m for m in messages if isinstance(m, dict)]
    users = [m for m in said if str(m.get("from", m.get("role", ""))).lower() in USER_ROLES]
    chosen = users[turn] if turn < len(users) else said[0] if said else None
    return None if chosen is None else chosen.get("value", chosen.get("content"))


def _read_rejects(run: RunData, path: Path) -> None:
    if not path.exists():
        run.rejects_found = False
        return
    for index, (_, _, item) in enumerate(iter_items(path)):
        if not isinstance(item, dict):
            raise InputError(str(path), "not a rejects line (an object with a reason)", index)
        shown = run.reject_examples.setdefault(str(item.get("reason")), [])
        if len(shown) < EXAMPLES_PER_REASON:
            turn = item.get("turn") if isinstance(item.get("turn"), int) else None
            example = {"index": item.get("index"), "detail": item.get("detail") or "", "turn": turn}
            if "record" in item:
                example["excerpt"] = excerpt(item["record"], turn)
            else:  # a light rejects file: the record is read back from the input below
                example.update(file=item.get("file"), row=item.get("row"))
            shown.append(example)
    read_back([ex for shown in run.reject_examples.values() for ex in shown if "excerpt" not in ex])


def read_back(examples: list[dict[str, Any]]) -> None:
    """Give each example its record's excerpt, read again from the input by its ``file`` and
    ``row`` (each file read up to the last row wanted), or a note saying why there is none."""
    by_file: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for ex in examples:
        file, row = ex.get("file"), ex.get("row")
        if isinstance(file, str) and isinstance(row, int) and not file.startswith("<") and file != "-":
            by_file.setdefault(file, {}).setdefault(row, []).append(ex)
        else:
            ex["excerpt"] = NOT_KEPT
    for file, rows in by_file.items():
        if not Path(file).exists():
            _note(rows, f"(the input {file} is not there to read the record from; {NOT_KEPT[1:]}")
            continue
        try:
            for _, row, item in iter_items(file):
                for ex in rows.pop(row, []):
                    ex.update(excerpt=excerpt(item, ex.get("turn")), read_back=True)
                if not rows:
                    break
        except (MosaicitError, OSError) as exc:
            _note(rows, f"(could not read the input again: {' '.join(str(exc).split())[:200]})")
        _note(rows, f"(no such row in {file} any more)")  # the input has fewer rows now


def _note(rows: dict[int, list[dict[str, Any]]], note: str) -> None:
    """Give every example still waiting in ``rows`` the ``note`` instead of an excerpt."""
    for waiting in rows.values():
        for ex in waiting:
            ex.setdefault("excerpt", note)
    rows.clear()


def load_run(
    output: str | Path, summary_path: str | Path | None = None, rejects_path: str | Path | None = None
) -> RunData:
    """Read a run from its output (JSONL, JSON or Parquet, as mosaicit writes them) and side files."""
    out = Path(output)
    output_type(out)
    default_summary, default_rejects = side_paths(out)
    spath = Path(summary_path or default_summary)
    try:
        summary = json.loads(spath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            str(spath), "no such file; the report reads the summary that augment writes"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(str(spath), f"invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(summary, dict) or "tokens" not in summary or "strategies" not in summary:
        raise InputError(str(spath), "not a mosaicit augment summary")
    run = RunData(out, summary)
    for index, (_, _, row) in enumerate(iter_items(out)):
        meta = _provenance(row, str(out), index)
        if meta.get("strategy") == "passthrough":
            run.passthrough_tokens[meta["tokens"]] += 1
            continue
        run.mosaic_tokens[meta["tokens"]] += 1
        run.numbering[numbering_label(meta.get("numbering"))] += 1
        run.tags[tags_label(meta.get("tags"))] += 1
    _read_rejects(run, Path(rejects_path or default_rejects))
    return run
