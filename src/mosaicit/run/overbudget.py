"""What happens to a conversation or record over the budget (``--over-budget``).

- ``split`` (the default): a multi-turn conversation is cut into consecutive runs of whole
  exchanges, each run as long as fits the budget, each written as a row of its own (with the
  system prompt). An exchange that does not fit alone is rejected (``over_budget``), and an
  exchange after the first that only asks to go on (:func:`mosaicit.io.chats.is_continuation`)
  is not made the start of a run: it is rejected (``continuation_turn``), since it means
  nothing without the answer before it. Both rejects name their exchange (``turn``).
- ``trim``: only the first run is kept; the exchanges after it are dropped, reported as one
  reject (``trimmed``, naming the first dropped exchange and how many were dropped).
- ``pass``: written unchanged and unbudgeted, the row's provenance saying so.
- ``reject``: rejected whole (``over_budget``).

A single exchange over the budget cannot be cut: it is rejected (``over_budget``) unless the
policy is ``pass``. Every row written under ``split`` and ``trim`` fits the budget, counted by
a real tokenization of the row as the template renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mosaicit.io.chats import is_continuation
from mosaicit.run.counting import AtLeast

OVER_BUDGET_POLICIES = ("split", "trim", "pass", "reject")


@dataclass
class Cut:
    """A conversation cut to the budget: the runs kept, as ``(start, end, tokens)`` (exchanges
    ``start`` to ``end - 1``), and the exchanges rejected, as ``(turn, reason, detail)`` (turn
    None: the whole conversation)."""

    runs: list[tuple[int, int, int]] = field(default_factory=list)
    rejected: list[tuple[int | None, str, str]] = field(default_factory=list)


def _tokens(count: int) -> str:
    """A count for a reject's detail: ``at least N`` where it is a lower bound."""
    return f"at least {count}" if isinstance(count, AtLeast) else str(count)


def cut(
    users: Sequence[str],
    count: Callable[[int, int], int],
    max_length: int,
    alone: Sequence[int],
    trim: bool = False,
) -> Cut:
    """Cut a conversation of ``len(users)`` exchanges into runs that fit ``max_length``.

    ``count(start, end)`` is the real count of exchanges ``start`` to ``end - 1`` rendered as
    one conversation, ``alone[i]`` that of exchange ``i`` alone (or an :class:`AtLeast` bound on it
    where that is far over the budget). A run's end is first guessed
    from the exchanges' counts alone (an over-estimate: each repeats the conversation's head),
    then settled with real counts, so every run kept fits. With ``trim`` only the first run is
    kept and the rest reported as one ``trimmed`` reject (the whole conversation is rejected
    when its first exchange does not fit alone).
    """
    n = len(users)
    out = Cut()
    if trim and alone[0] > max_length:
        shown = _tokens(alone[0])
        out.rejected.append(
            (None, "over_budget", f"its first exchange alone has {shown} tokens > max_length {max_length}")
        )
        return out
    i = 0
    while i < n:
        if alone[i] > max_length:
            out.rejected.append(
                (i, "over_budget", f"{_tokens(alone[i])} tokens alone > max_length {max_length}")
            )
            i += 1
            continue
        if i and is_continuation(users[i]):
            out.rejected.append((i, "continuation_turn", f"{users[i].strip()!r} only asks to go on"))
            i += 1
            continue
        end, total = i + 1, alone[i]
        while end < n and total + alone[end] <= max_length:
            total += alone[end]
            end += 1
        tokens = count(i, end) if end > i + 1 else alone[i]
        while tokens > max_length:  # the guess missed what joining the texts changes
            end -= 1
            tokens = count(i, end) if end > i + 1 else alone[i]
        while end < n and alone[end] <= max_length:  # the head counted once leaves room
            more = count(i, end + 1)
            if more > max_length:
                break
            end, tokens = end + 1, more
        out.runs.append((i, end, tokens))
        if trim and end < n:
            dropped = f"exchanges {end} to {n - 1} ({n - end} of {n}) dropped"
            out.rejected.append((end, "trimmed", f"{dropped}: the first {end} fit in {tokens} tokens"))
            break
        i = end
    return out
