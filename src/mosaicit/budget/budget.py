"""Count a mosaic's tokens from its parts, without re-tokenizing the growing mosaic.

Each record text is tokenized once. A mosaic is a sequence of fixed strings (labels, tags,
meta-instructions, separators) and record pieces; its count is composed from the pieces'
counts and the (memoised) counts of the fixed strings.

For *space-exact* vocabularies (SentencePiece-style BPE such as Llama-2 and Mistral, where no
token spans a space after a non-space, or a newline) this composition is exact: a piece
after a space or at the start counts as it does alone, a piece after a newline counts as it
does alone minus the effect on its first word, which is counted separately.

For *pre-token-exact* vocabularies (byte-level BPE over a known split pattern: Llama-3, Qwen,
cl100k; see :mod:`mosaicit.budget.pretoken`) it is exact too: the fixed strings between two pieces
are counted together, a piece after a newline or at the start counts as it does alone, a
piece after a space counts as it does with that space, and newlines after a piece that ends
in punctuation are counted with it.

For any other counter the composed count is an estimate; the composer then settles each
decision near the limit, and every finished sample, with one real tokenization.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mosaicit.budget.pretoken import WHITE_SPACE, first_span, hard_parts, join_tail, newline_lead
from mosaicit.budget.tokens import TokenCounter
from mosaicit.budget.wordcount import WordCounter
from mosaicit.types.features import PromptFeatures
from mosaicit.types.segments import Piece, Segment

FIRST_WORD = re.compile(r"[^ \n]+")
#: Largest composition error assumed per join for counters whose counts do not compose exactly.
SLACK_PER_JOIN = 3
#: Entries kept in each memo of counts before it is cleared.
MEMO_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class TextCounts:
    """The token counts of one record text in the two places a text can stand.

    ``sp``: after a space (and, for space-exact counters, at the start of the text);
    ``nl``: right after a newline (and, for pre-token-exact counters, at the start).
    ``clean`` is False where the exact composition does not cover the text (see
    :meth:`Budget.composable`). ``tail``: for pre-token-exact counters, the text's last split
    piece when newlines after the text would join it (else ""); ``tail_sp``: the same piece
    when the text stands after a space (the space joins it when the text is one such piece).
    """

    sp: int
    nl: int
    clean: bool = True
    tail: str = ""
    tail_sp: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as its fields (a slots dataclass's own pickling looks them up for each object)
        return TextCounts, (self.sp, self.nl, self.clean, self.tail, self.tail_sp)


@dataclass(frozen=True, slots=True)
class Measured:
    """A record as the composer sees it: its texts' counts, its instruction's features and its
    system prompt (which a chat template counts)."""

    prompt: TextCounts
    output: TextCounts
    features: PromptFeatures
    system: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return Measured, (self.prompt, self.output, self.features, self.system)  # as TextCounts


#: Per record index, what was measured of it.
PieceCounts = Sequence[Measured]


#: The counts of edited outputs (see :class:`~mosaicit.types.segments.Piece`), by piece.
EditedCounts = Mapping[Piece, TextCounts]


def _edited_counts(piece: Piece, edited: EditedCounts | None) -> TextCounts:
    """The counts of the edited output ``piece`` stands for."""
    if edited is None:
        raise ValueError(f"no counts for the edited output of record {piece.source}")
    return edited[piece]


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


class Count(NamedTuple):
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
    """The token limit of a run, and the composed token counts of laid-out texts for one counter.

    ``max_length`` is inclusive: a text fits when it counts at most this many tokens.
    :meth:`fits` is the one place a count is compared with the limit.
    """

    def __init__(self, counter: TokenCounter, max_length: int) -> None:
        self.counter = counter
        self.max_length = max_length
        self.space_exact = bool(counter.space_exact)
        self.pretoken_exact = bool(getattr(counter, "pretoken_exact", False)) and not self.space_exact
        self.exact = self.space_exact or self.pretoken_exact
        specials = sorted(counter.specials, key=len, reverse=True)
        self._specials = re.compile("|".join(map(re.escape, specials))) if specials else None
        #: The counter normalizes texts to NFC before it splits them (Qwen2/Qwen3).
        self.nfc = bool(getattr(counter, "nfc", False))
        self._words = WordCounter(counter, self.is_clean) if self.exact else None
        self._shifts: dict[str, int] = {}
        #: What differs at the start of a text: after a newline (space-exact counters) or a space.
        self._before = " " if self.pretoken_exact else "\n"
        self._alone_before = self.count(self._before)
        self._absorbed: dict[tuple[str, str], int] = {}
        self._parts: dict[str, int] = {}
        self._part_counts: dict[str, int] = {}  # each part of those texts
        self._fixed_memo: dict[tuple[str, str | None], tuple[int, bool]] = {}
        self._shared_counts: dict[tuple[int, int, bool, str, str], TextCounts] = {}

    def fits(self, tokens: int) -> bool:
        """True when ``tokens`` tokens stay within the limit."""
        return tokens <= self.max_length

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Plain counts of record texts, as the counter gives them; where counts compose
        exactly, they are summed from memoised word counts (see :mod:`mosaicit.budget.wordcount`)."""
        return self._words.count_many(texts) if self._words else self.counter.count_many(texts)

    def count(self, text: str) -> int:
        """The plain count of one short text (see :meth:`count_many`)."""
        return self._words.count(text) if self._words else self.counter.count(text)

    def is_clean(self, text: str) -> bool:
        """True when exact composition covers ``text``."""
        return "▁" not in text and not (self._specials and self._specials.search(text))

    def composable(self, text: str) -> tuple[bool, str, str]:
        """Whether exact composition covers record text ``text``, and (pre-token-exact counters)
        the piece newlines after it join alone and after a space (see :mod:`mosaicit.budget.pretoken`).

        Not covered: an empty text, one that starts or ends with white space (its joins are not
        known), one holding a special-token string or a literal "▁", and one whose last
        characters' classes are not certain.
        """
        if not text or text[0] in WHITE_SPACE or text[-1] in WHITE_SPACE or not self.is_clean(text):
            return False, "", ""
        if not self.pretoken_exact:
            return True, "", ""
        split = unicodedata.normalize("NFC", text) if self.nfc and not text.isascii() else text
        tail = join_tail(split)
        if tail is None:
            return False, "", ""
        return True, tail, " " + tail if tail and len(tail) == len(split) else tail

    def text_counts(self, texts: Sequence[str]) -> list[TextCounts]:
        """Counts for many record texts."""
        return self.counts_from(texts, self.count_many(texts))

    def shared(self, measured: Measured) -> Measured:
        """``measured`` with its counts and system prompt replaced by shared equal objects, so
        that large inputs stay small (counts that come from another process are copies)."""
        prompt, output = self._share(measured.prompt), self._share(measured.output)
        return Measured(prompt, output, measured.features, sys.intern(measured.system))

    def alone(self, counts: TextCounts) -> int:
        """The count of a record text alone, as it was measured."""
        return counts.nl if self.pretoken_exact else counts.sp

    def _share(self, counts: TextCounts) -> TextCounts:
        key = (counts.sp, counts.nl, counts.clean, counts.tail, counts.tail_sp)
        return self._shared_counts.setdefault(key, counts)

    def counts_from(self, texts: Sequence[str], plain: Sequence[int]) -> list[TextCounts]:
        """Counts for ``texts`` whose plain counts are already known.

        The count in the other place differs by the effect of a newline (space-exact) or a
        space (pre-token-exact) before the text, which only its first word or span decides:
        that effect is learnt once per distinct word or span.
        """
        firsts = [self._first(t) for t in texts]
        self._learn_shifts([w for w in firsts if w not in self._shifts])
        shared = self._shared_counts  # equal counts share one object: large inputs stay small
        out = []
        for t, n, w in zip(texts, plain, firsts, strict=True):
            shifted = n + self._alone_before + self._shifts[w]
            clean, tail, tail_sp = self.composable(t)
            if self.pretoken_exact:
                key = (shifted, n, clean, tail, tail_sp)
            else:
                key = (n, shifted - self._alone_before, clean, "", "")
            counts = shared.get(key)
            if counts is None:
                counts = shared[key] = TextCounts(*key)
            out.append(counts)
        return out

    def _first(self, text: str) -> str:
        if self.pretoken_exact:
            return first_span(text)
        match = FIRST_WORD.match(text)
        return match.group(0) if match else ""

    def _learn_shifts(self, words: list[str]) -> None:
        """How much a space or newline before each word changes the count, beyond its own."""
        unique = list(dict.fromkeys(words))
        if not unique:
            return
        if len(self._shifts) > MEMO_LIMIT:
            self._shifts.clear()
        alone = self.count_many(unique)
        after = self.count_many([self._before + w for w in unique])
        for w, a, b in zip(unique, alone, after, strict=True):
            self._shifts[w] = b - self._alone_before - a

    def _fixed(self, body: str, prev: str | None) -> tuple[int, bool]:
        """Count of a fixed string in its context (memoised): at the start, after or before
        a newline, after a space, or glued to the text before it (not exact). ``prev``: the last
        character before it (None at the start)."""
        key = (body, prev)
        hit = self._fixed_memo.get(key)
        if hit is None:
            if prev is None:
                mode = "start"
            elif prev == "\n" or body[0] == "\n":
                mode = "newline"
            elif body[0] == " " and len(body) > 1:
                mode = "space"
            else:
                mode = "glued"
            clean = self.is_clean(body)
            if mode == "newline":  # (compose is not for pre-token-exact counters: _before is "\n")
                hit = (self.count("\n" + body) - self._alone_before, clean)
            elif mode == "space":
                hit = (self.count(body[1:]), clean)
            else:
                hit = (self.count(body), clean and mode == "start")
            if len(self._fixed_memo) > MEMO_LIMIT:
                self._fixed_memo.clear()
            self._fixed_memo[key] = hit
        return hit

    def compose(
        self,
        segments: Sequence[Segment],
        counts: PieceCounts,
        memo: Prefix | None = None,
        edited: EditedCounts | None = None,
    ) -> Count:
        """The count of one text laid out as ``segments``; ``counts[source]`` holds what was
        measured of each record a :class:`Piece` refers to, ``edited[piece]`` the counts of each
        edited output (measured like a record text, see :meth:`text_counts`).

        With a ``memo`` (one per text, for layouts that grow step by step over the same
        ``counts``), the work for the part shared with the previous layout is reused.
        """
        if self.pretoken_exact:
            return self._compose_pretoken(segments, counts, edited)
        state: State = (0, self.exact, None, "", -1)
        start = 0
        if memo is not None:
            start = memo.shared(segments)
            if start:
                state = memo.states[start - 1]
        total, exact, prev, carry, joins = state
        fixed = self._fixed_memo  # looked up here first: most fixed strings are known
        for i in range(start, len(segments)):
            seg = segments[i]
            if seg.__class__ is str:
                if seg:
                    joins += 1
                    text = carry + seg  # type: ignore[operator]
                    body = text.rstrip(" ")  # trailing spaces belong to what follows
                    carry = text[len(body) :]
                    if body:
                        n, ok = fixed.get((body, prev)) or self._fixed(body, prev)
                        total, exact, prev = total + n, exact and ok, body[-1]
            else:
                joins += 1
                measured, field = counts[seg.source], seg.field  # type: ignore[union-attr]
                if field == "output":
                    c = measured.output
                else:
                    c = measured.prompt if field == "prompt" else _edited_counts(seg, edited)  # type: ignore[arg-type]
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

    def _compose_pretoken(
        self, segments: Sequence[Segment], counts: PieceCounts, edited: EditedCounts | None
    ) -> Count:
        """:meth:`compose` for pre-token-exact counters: the fixed strings between two pieces
        are counted together (see :meth:`_between`)."""
        total, exact, joins = 0, True, -1
        strings: list[str] = []
        tail: str | None = None  # the piece that newlines after the last record text join
        for seg in segments:
            if seg.__class__ is str:
                if seg:
                    strings.append(seg)  # type: ignore[arg-type]
                    joins += 1
                continue
            joins += 1
            measured, field = counts[seg.source], seg.field  # type: ignore[union-attr]
            if field == "output":
                c = measured.output
            else:
                c = measured.prompt if field == "prompt" else _edited_counts(seg, edited)  # type: ignore[arg-type]
            n, ok, after_space = self._between("".join(strings), tail, True)
            total, exact = total + n + (c.sp if after_space else c.nl), exact and ok and c.clean
            strings, tail = [], c.tail_sp if after_space else c.tail
        n, ok, _ = self._between("".join(strings), tail, False)
        return Count(total + n, exact and ok, max(joins, 0))

    def _between(self, gap: str, tail: str | None, piece_follows: bool) -> tuple[int, bool, bool]:
        """For pre-token-exact counters: the count of the fixed strings ``gap`` after a record
        text whose last piece that newlines join is ``tail`` ("" if none; None: the gap starts
        the text) and before another record text (or the end), whether it is exact, and
        whether the next text stands after a space.

        Exact when the gap starts the text, or starts with a space, a newline or a special
        token; and ends the text, or ends with a newline, or with one space after a non-space
        (that space is counted with the next text). Newlines that start the gap join ``tail``:
        they are counted with it, and the rest of the gap as it is alone.
        """
        exact, after_space, body = True, False, gap
        if piece_follows and (gap or tail is not None):
            if gap.endswith(" ") and (len(gap) == 1 or gap[-2] not in WHITE_SPACE):
                body, after_space = gap[:-1], True
            elif not gap.endswith(("\n", "\r")):
                exact = False  # glued to the piece after it
        tokens = 0
        if tail is not None and gap:
            if gap[0] in "\n\r":
                if tail:
                    lead = newline_lead(body)
                    tokens, body = self._absorbed_newlines(tail, lead), body[len(lead) :]
            elif gap[0] != " " and not (self._specials and self._specials.match(gap)):
                exact = False  # glued to the piece before it
        return tokens + (self._parts_count(body) if body else 0), exact, after_space

    def _parts_count(self, text: str) -> int:
        """The count of fixed strings, summed over their parts (see :func:`hard_parts`)."""
        hit = self._parts.get(text)
        if hit is None:
            if len(self._parts) > MEMO_LIMIT:
                self._parts.clear()
                self._part_counts.clear()
            parts, counts = hard_parts(text), self._part_counts
            for part in set(parts).difference(counts):
                counts[part] = self.count(part)
            hit = self._parts[text] = sum(map(counts.__getitem__, parts))
        return hit

    def _absorbed_newlines(self, tail: str, newlines: str) -> int:
        """How much ``newlines`` add when they join a text's last split piece ``tail``."""
        key = (tail, newlines)
        hit = self._absorbed.get(key)
        if hit is None:
            if len(self._absorbed) > MEMO_LIMIT:
                self._absorbed.clear()
            hit = self._absorbed[key] = self.count(tail + newlines) - self.count(tail)
        return hit

    def measure(
        self,
        texts: Sequence[Sequence[Segment]],
        counts: PieceCounts,
        memos: list[Prefix] | None = None,
        edited: EditedCounts | None = None,
    ) -> Count:
        """The combined count of several separately tokenized texts (instruction, output...);
        ``memos`` (grown to one per text) carry the work of the previous step of a growing group;
        ``edited`` holds the counts of the edited outputs the texts hold."""
        if memos is not None:
            memos.extend(Prefix() for _ in range(len(texts) - len(memos)))
        tokens, exact, joins = 0, True, 0
        for i, text in enumerate(texts):
            part = self.compose(text, counts, memos[i] if memos is not None else None, edited)
            tokens, exact, joins = tokens + part.tokens, exact and part.exact, joins + part.joins
        return Count(tokens, exact, joins)

    def count_texts(self, texts: Sequence[str]) -> int:
        """The real total count of several texts: one tokenization each."""
        return sum(self.counter.count_many(list(texts)))
