"""Decide what happens to each conversation: mosaicked (by system-prompt group) or passed through.

Policies (documented in docs/formats.md):

- a single exchange without a system prompt becomes a record to mosaic;
- a single exchange with a system prompt joins the group of records that share exactly that
  system prompt (``system_policy="group"``), or passes through unchanged (``"passthrough"``);
- a multi-turn conversation passes through unchanged (``conversations="passthrough"``), gives
  only its first exchange to mosaic (``"first-turn"``; the later exchanges are counted as
  unused), or gives every exchange as a record of its own (``"split"``; each record keeps
  its exchange number, which the provenance reports as ``turns``);
- an exchange of a multi-turn conversation whose user text only asks to go on (``continue``,
  ``go on``...: :data:`mosaicit.io.chats.CONTINUATIONS`) is not made a record: its answer goes
  on from an earlier answer and means nothing alone, and gluing it to that answer could cut
  a text mid-word or break the budget. It is rejected (reason ``continuation_turn``) and
  counted, so ``split`` never makes a context-free sample of it.

Nothing is dropped silently: every item ends up in a group, in the passthrough list or in the
rejects with a reason (an exchange's reject names its ``turn``), :attr:`Routed.kinds` counts
what happened to each kind, and :attr:`Routed.ledger` follows each item to its outcome
(:mod:`mosaicit.run.accounting`). What is over the budget is decided later, when it is
counted (:mod:`mosaicit.run.overbudget`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mosaicit.errors import ParamError
from mosaicit.io.chats import is_continuation
from mosaicit.io.formats import Conversation
from mosaicit.run.accounting import Ledger
from mosaicit.run.store import RecordStore
from mosaicit.types.records import Record, Reject

CONVERSATION_POLICIES = ("passthrough", "first-turn", "split")
SYSTEM_POLICIES = ("group", "passthrough")


@dataclass
class Routed:
    """Records to mosaic grouped by system prompt, conversations to pass through, and rejects."""

    groups: dict[str, list[Record] | RecordStore] = field(default_factory=dict)
    passthrough: list[tuple[Conversation, str]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)

    def bump(self, kind: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` items of ``kind`` with ``outcome``."""
        counts = self.kinds.setdefault(kind, {})
        counts[outcome] = counts.get(outcome, 0) + n

    @property
    def records(self) -> list[Record]:
        """Every record to mosaic, group by group."""
        return [r for group in self.groups.values() for r in group]

    @property
    def record_count(self) -> int:
        """How many records there are to mosaic."""
        return sum(len(group) for group in self.groups.values())


def check_policies(conversations: str, system_policy: str) -> None:
    """Raise a clear error for an unknown policy name."""
    if conversations not in CONVERSATION_POLICIES:
        raise ParamError(
            "conversations", f"must be one of {', '.join(CONVERSATION_POLICIES)}, got {conversations!r}"
        )
    if system_policy not in SYSTEM_POLICIES:
        raise ParamError(
            "system_policy", f"must be one of {', '.join(SYSTEM_POLICIES)}, got {system_policy!r}"
        )


def exchange_record(conv: Conversation, turn: int, numbered: bool) -> Record:
    """The record of one exchange of ``conv`` (texts stripped, the Alpaca context kept apart)."""
    user, answer = conv.turns[turn]
    last = turn == len(conv.turns) - 1
    return Record(
        index=conv.index,
        instruction=user.strip(),
        output=answer.strip(),
        input=conv.input.strip() if last else "",
        id=conv.meta.get("id"),
        system=conv.system.strip(),
        turn=turn if numbered else None,
    )


def route(
    conversations: Iterable[Conversation],
    conversation_policy: str = "passthrough",
    system_policy: str = "group",
    raw: Callable[[Conversation], dict[str, Any]] | None = None,
    new_group: Callable[[], list[Record] | RecordStore] = list,
    first: int = 0,
) -> Routed:
    """Sort conversations into system-prompt groups of records, passthrough, and rejects.

    ``raw`` makes the dict a reject keeps (by default the conversation's messages). Groups are
    ordered by the first appearance of their system prompt, records by input order; each
    group is made by ``new_group`` (a list, or a spooled :class:`~mosaicit.run.store.RecordStore`).
    ``first``: the input index of the first conversation (see :class:`Ledger`).
    """
    check_policies(conversation_policy, system_policy)
    out = Routed(ledger=Ledger(first))
    as_raw = raw or (lambda c: {"messages": c.messages()})
    for conv in conversations:
        kind = "multi_turn" if conv.multi_turn else "with_system" if conv.system.strip() else "single_turn"
        out.bump(kind, "read")
        if (kind == "multi_turn" and conversation_policy == "passthrough") or (
            conv.system.strip() and system_policy == "passthrough"
        ):
            out.passthrough.append((conv, kind))
            out.bump(kind, "passthrough")
            continue
        turns = range(len(conv.turns)) if conversation_policy == "split" else range(1)
        if conv.multi_turn and conversation_policy == "first-turn":
            out.bump(kind, "later_exchanges_unused", len(conv.turns) - 1)
        for turn in turns:
            record = exchange_record(conv, turn, conversation_policy == "split")
            reason = (
                "empty_instruction"
                if not record.instruction
                else "empty_output"
                if not record.output
                else "continuation_turn"
                if conv.multi_turn and is_continuation(record.instruction)
                else ""
            )
            if reason:
                item = as_raw(conv)
                numbered = conversation_policy == "split" and conv.multi_turn
                if numbered:
                    item = {"turn": turn, **item}
                detail = f"{record.instruction!r} only asks to go on" if reason == "continuation_turn" else ""
                at = turn if numbered else None
                out.rejects.append(Reject(conv.index, reason, item, detail, conv.meta.get("id"), at))
                out.bump(kind, reason)
                continue
            if record.system not in out.groups:
                out.groups[record.system] = new_group()
            out.groups[record.system].append(record)
            out.ledger.to_mosaic(conv.index)
            out.bump(kind, "exchanges_to_mosaic" if conv.multi_turn else "to_mosaic")
    return out
