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
from collections.abc import Sequence
from dataclasses import dataclass

from mosaicit.strategies.features import PromptFeatures
from mosaicit.strategies.render import Segment
from mosaicit.tokens import TokenCounter

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
        self._newline = counter.count("\n")
        self._word_shift: dict[str, int] = {}
        self._fixed_memo: dict[tuple[str, str], tuple[int, bool]] = {}

    def is_clean(self, text: str) -> bool:
        """True when exact composition covers ``text``."""
        return "▁" not in text and not (self._specials and self._specials.search(text))

    def text_counts(self, texts: Sequence[str]) -> list[TextCounts]:
        """Counts for many record texts: one batched tokenization of each text."""
        return self.counts_from(texts, self.counter.count_many(texts))

    def counts_from(self, texts: Sequence[str], sp: Sequence[int]) -> list[TextCounts]:
        """Counts for ``texts`` whose plain counts ``sp`` are already known."""
        firsts = [self._first_word(t) for t in texts]
        self._learn_words([w for w in firsts if w not in self._word_shift])
        return [
            TextCounts(n, n + self._word_shift[w], self.is_clean(t))
            for t, n, w in zip(texts, sp, firsts, strict=True)
        ]

    @staticmethod
    def _first_word(text: str) -> str:
        match = FIRST_WORD.match(text)
        return match.group(0) if match else ""

    def _learn_words(self, words: list[str]) -> None:
        unique = list(dict.fromkeys(words))
        if not unique:
            return
        alone = self.counter.count_many(unique)
        after_newline = self.counter.count_many(["\n" + w for w in unique])
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
                hit = (self.counter.count("\n" + body) - self._newline, clean)
            elif mode == "space":
                hit = (self.counter.count(body[1:]), clean)
            else:
                hit = (self.counter.count(body), clean and mode == "start")
            if len(self._fixed_memo) > 500_000:
                self._fixed_memo.clear()
            self._fixed_memo[key] = hit
        return hit

    def compose(self, segments: Sequence[Segment], counts: PieceCounts) -> Count:
        """The count of one text laid out as ``segments``; ``counts[source]`` holds what was
        measured of each record a :class:`Piece` refers to."""
        total, exact, prev, carry = 0, self.exact, None, ""
        last = len(segments) - 1
        joins = -1
        for i, seg in enumerate(segments):
            if seg.__class__ is str:
                if not seg:
                    continue
                joins += 1
                text = carry + seg  # type: ignore[operator]
                body = text.rstrip(" ") if i < last else text
                carry = text[len(body) :]
                if body:
                    n, ok = self._fixed(body, prev)
                    total, exact, prev = total + n, exact and ok, body[-1]
                continue
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
        return Count(total, exact, max(joins, 0))

    def measure(self, texts: Sequence[Sequence[Segment]], counts: PieceCounts) -> Count:
        """The combined count of several separately tokenized texts (instruction, output...)."""
        parts = [self.compose(t, counts) for t in texts]
        return Count(sum(p.tokens for p in parts), all(p.exact for p in parts), sum(p.joins for p in parts))

    def count_texts(self, texts: Sequence[str]) -> int:
        """The real total count of several texts: one tokenization each."""
        return sum(self.counter.count_many(list(texts)))
