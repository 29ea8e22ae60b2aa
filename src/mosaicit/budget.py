"""Count a mosaic's tokens from its parts, without re-tokenizing the growing mosaic.

Each record text is tokenized once. A mosaic is a sequence of fixed strings (labels, tags,
meta-instructions, separators) and record pieces; its count is composed from the pieces'
counts and the (memoised) counts of the fixed strings.

For *space-exact* vocabularies (SentencePiece-style BPE such as Llama-2 and Mistral, where no
token spans a space after a non-space, or a newline) this composition is exact: a piece
after a space or at the start counts as it does alone, a piece after a newline counts as it
does alone minus the effect on its first word, which is counted separately. For any other
counter the composed count is an estimate; the composer then settles each decision near the
limit, and every finished sample, with one real tokenization.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from mosaicit.strategies.features import PromptFeatures
from mosaicit.strategies.render import Segment
from mosaicit.tokens import TokenCounter
from mosaicit.wordcount import WordCounter

FIRST_WORD = re.compile(r"[^ \n]+")
#: Largest composition error assumed per join for counters that are not space-exact.
SLACK_PER_JOIN = 3


@dataclass(frozen=True, slots=True)
class TextCounts:
    """The token counts of one record text in the two places a text can stand.

    ``sp``: at the start of the text or after a space; ``nl``: right after a newline.
    ``clean`` is False when the text holds a special-token string or a literal "▁", which
    the exact composition does not cover.
    """

    sp: int
    nl: int
    clean: bool = True


@dataclass(frozen=True, slots=True)
class Measured:
    """A record as the composer sees it: its texts' counts, its instruction's features and its
    system prompt (which a chat template counts)."""

    prompt: TextCounts
    output: TextCounts
    features: PromptFeatures
    system: str = ""


#: Per record index, what was measured of it.
PieceCounts = Sequence[Measured]


#: The running state of :meth:`Budget.compose`: tokens, exact, last character, carried spaces, joins.
State = tuple[int, bool, str | None, str, int]


class Prefix:
    """The last layout composed for one text, with the running state after each segment."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.states: list[State] = []

    def shared(self, segments: Sequence[Segment]) -> int:
        """How many leading segments ``segments`` has in common with the last layout; the
        memo is cut back to them."""
        old, n = self.segments, 0
        limit = min(len(old), len(segments))
        while n < limit and (old[n] is segments[n] or old[n] == segments[n]):
            n += 1
        del self.segments[n:], self.states[n:]
        return n

    def keep(self, segment: Segment, state: State) -> None:
        """Remember a segment and the state after it."""
        self.segments.append(segment)
        self.states.append(state)


@dataclass(frozen=True)
class Count:
    """A composed count: ``tokens``, whether it is exact, and how many joins it spans."""

    tokens: int
    exact: bool
    joins: int

    @property
    def high(self) -> int:
        """The largest the real count can be."""
        return self.tokens if self.exact else self.tokens + SLACK_PER_JOIN * self.joins

    @property
    def low(self) -> int:
        """The smallest the real count can be."""
        return self.tokens if self.exact else self.tokens - SLACK_PER_JOIN * self.joins


class Budget:
    """Composes token counts of laid-out texts for one counter."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.exact = bool(counter.space_exact)
        specials = sorted(counter.specials, key=len, reverse=True)
        self._specials = re.compile("|".join(map(re.escape, specials))) if specials else None
        self._words = WordCounter(counter, self.is_clean) if self.exact else None
        self._newline = self.count("\n")
        self._word_shift: dict[str, int] = {}
        self._fixed_memo: dict[tuple[str, str], tuple[int, bool]] = {}
        self._shared_counts: dict[tuple[int, int, bool], TextCounts] = {}

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Plain counts of record texts, as the counter gives them; for a space-exact counter
        they are summed from memoised word counts (see :mod:`mosaicit.wordcount`)."""
        return self._words.count_many(texts) if self._words else self.counter.count_many(texts)

    def count(self, text: str) -> int:
        """The plain count of one short text (see :meth:`count_many`)."""
        return self._words.count(text) if self._words else self.counter.count(text)

    def is_clean(self, text: str) -> bool:
        """True when exact composition covers ``text``."""
        return "▁" not in text and not (self._specials and self._specials.search(text))

    def text_counts(self, texts: Sequence[str]) -> list[TextCounts]:
        """Counts for many record texts."""
        return self.counts_from(texts, self.count_many(texts))

    def shared(self, measured: Measured) -> Measured:
        """``measured`` with its counts and system prompt replaced by shared equal objects, so
        that large inputs stay small (counts that come from another process are copies)."""
        prompt, output = self._share(measured.prompt), self._share(measured.output)
        return Measured(prompt, output, measured.features, sys.intern(measured.system))

    def _share(self, counts: TextCounts) -> TextCounts:
        return self._shared_counts.setdefault((counts.sp, counts.nl, counts.clean), counts)

    def counts_from(self, texts: Sequence[str], sp: Sequence[int]) -> list[TextCounts]:
        """Counts for ``texts`` whose plain counts ``sp`` are already known."""
        firsts = [self._first_word(t) for t in texts]
        self._learn_words([w for w in firsts if w not in self._word_shift])
        shared = self._shared_counts  # equal counts share one object: large inputs stay small
        out = []
        for t, n, w in zip(texts, sp, firsts, strict=True):
            key = (n, n + self._word_shift[w], self.is_clean(t))
            counts = shared.get(key)
            if counts is None:
                counts = shared[key] = TextCounts(*key)
            out.append(counts)
        return out

    @staticmethod
    def _first_word(text: str) -> str:
        match = FIRST_WORD.match(text)
        return match.group(0) if match else ""

    def _learn_words(self, words: list[str]) -> None:
        unique = list(dict.fromkeys(words))
        if not unique:
            return
        alone = self.count_many(unique)
        after_newline = self.count_many(["\n" + w for w in unique])
        for w, a, b in zip(unique, alone, after_newline, strict=True):
            self._word_shift[w] = b - self._newline - a

    def _fixed(self, body: str, prev: str | None) -> tuple[int, bool]:
        """Count of a fixed string in its context (memoised): at the start, after or before
        a newline, after a space, or glued to the text before it (not exact)."""
        if prev is None:
            mode = "start"
        elif prev == "\n" or body[0] == "\n":
            mode = "newline"
        elif body[0] == " " and len(body) > 1:
            mode = "space"
        else:
            mode = "glued"
        key = (body, mode)
        hit = self._fixed_memo.get(key)
        if hit is None:
            clean = self.is_clean(body)
            if mode == "newline":
                hit = (self.count("\n" + body) - self._newline, clean)
            elif mode == "space":
                hit = (self.count(body[1:]), clean)
            else:
                hit = (self.count(body), clean and mode == "start")
            if len(self._fixed_memo) > 100_000:
                self._fixed_memo.clear()
            self._fixed_memo[key] = hit
        return hit

    def compose(self, segments: Sequence[Segment], counts: PieceCounts, memo: Prefix | None = None) -> Count:
        """The count of one text laid out as ``segments``; ``counts[source]`` holds what was
        measured of each record a :class:`Piece` refers to.

        With a ``memo`` (one per text, for layouts that grow step by step over the same
        ``counts``), the work for the part shared with the previous layout is reused.
        """
        state: State = (0, self.exact, None, "", -1)
        start = 0
        if memo is not None:
            start = memo.shared(segments)
            if start:
                state = memo.states[start - 1]
        total, exact, prev, carry, joins = state
        for i in range(start, len(segments)):
            seg = segments[i]
            if seg.__class__ is str:
                if seg:
                    joins += 1
                    text = carry + seg  # type: ignore[operator]
                    body = text.rstrip(" ")  # trailing spaces belong to what follows
                    carry = text[len(body) :]
                    if body:
                        n, ok = self._fixed(body, prev)
                        total, exact, prev = total + n, exact and ok, body[-1]
            else:
                joins += 1
                measured = counts[seg.source]  # type: ignore[union-attr]
                c = measured.output if seg.field == "output" else measured.prompt  # type: ignore[union-attr]
                if (prev is None and not carry) or (prev is not None and carry == " "):
                    total += c.sp
                elif prev == "\n" and not carry:
                    total += c.nl
                else:
                    total, exact = total + c.sp, False
                exact = exact and c.clean
                prev, carry = "x", ""
            if memo is not None:
                memo.keep(seg, (total, exact, prev, carry, joins))
        if carry:  # the text ends in spaces
            n, ok = self._fixed(carry, prev)
            total, exact = total + n, exact and ok
        return Count(total, exact, max(joins, 0))

    def measure(
        self, texts: Sequence[Sequence[Segment]], counts: PieceCounts, memos: list[Prefix] | None = None
    ) -> Count:
        """The combined count of several separately tokenized texts (instruction, output...);
        ``memos`` (grown to one per text) carry the work of the previous step of a growing group."""
        if memos is not None:
            memos.extend(Prefix() for _ in range(len(texts) - len(memos)))
            parts = [self.compose(t, counts, m) for t, m in zip(texts, memos, strict=False)]
        else:
            parts = [self.compose(t, counts) for t in texts]
        return Count(sum(p.tokens for p in parts), all(p.exact for p in parts), sum(p.joins for p in parts))

    def count_texts(self, texts: Sequence[str]) -> int:
        """The real total count of several texts: one tokenization each."""
        return sum(self.counter.count_many(list(texts)))
