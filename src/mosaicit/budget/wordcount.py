"""Count texts word by word where spaces are token boundaries: each distinct word is tokenized once.

Two kinds of vocabulary qualify (see :func:`mosaicit.budget.tokens.load_counter`):

* *space-exact* (SentencePiece-style BPE: Llama-2, Mistral). Every space becomes "▁", one
  "▁" goes before the text, and no token holds a "▁" after another character or a newline.
  A space after a non-space character is therefore a hard token boundary, and each word is
  tokenized exactly as it is alone: ``"Name three"`` is ``"▁Name" + "▁three"``, so its count
  is ``count("Name") + count("three")``. A run of spaces stays with the word after it
  (``"a   b"`` is ``"a"`` and ``"  b"``).
* *pre-token-exact* (byte-level BPE over a known split pattern: Llama-3, Qwen, cl100k). A
  space after a character that is not white space starts a new split piece, and no token
  crosses two pieces (see :mod:`mosaicit.budget.pretoken`). The first word counts as it does alone
  and every later word with the space before it: ``count("Name") + count(" three")``. A space
  after a tab or a newline is not such a boundary, so the words are cut only where one is.

Natural text reuses a small set of words, so counting a corpus this way tokenizes a small
fraction of its characters. New words are learnt in bulk, each distinct word once (for
space-exact vocabularies, by the tokenizer's BPE model directly: a word alone needs no more),
so even a text of all-new words costs about one tokenization. Texts this does not cover (empty,
starting or ending with a space, holding a literal "▁" or a special-token string) are
tokenized whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import islice

from mosaicit.budget.pretoken import space_words
from mosaicit.budget.tokens import TokenCounter

#: A space that does not follow another space: where a text splits into words.
WORD_BREAK = re.compile(r"(?<! ) ")
#: Distinct words remembered per run before the memo starts over (bounds its memory).
MEMO_LIMIT = 1_000_000


class WordCounter:
    """Exact counts of many texts for a space-exact or pre-token-exact counter, from memoised
    word counts."""

    def __init__(self, counter: TokenCounter, is_clean: Callable[[str], bool]) -> None:
        #: True for pre-token-exact counters: words after the first count with their space.
        self.spaced = not counter.space_exact
        if self.spaced and not getattr(counter, "pretoken_exact", False):
            raise ValueError(
                f"{counter.name}: word counting needs a space-exact or pre-token-exact vocabulary"
            )
        self.counter = counter
        self.is_clean = is_clean
        #: Word -> its count (pre-token-exact: with one space before it).
        self.memo: dict[str, int] = {}
        #: Pre-token-exact only: the first word of a text -> its count alone.
        self.heads: dict[str, int] = {}
        #: The counter's own piece-by-piece count of plain ASCII texts, where it has one.
        self.pieces = getattr(counter, "pieces", None)

    def words(self, text: str) -> list[str] | None:
        """The words of ``text``, or None when it must be tokenized whole."""
        if not text or text[0] == " " or text[-1] == " " or not self.is_clean(text):
            return None
        if self.spaced:
            return space_words(text)
        words = text.split(" ")
        return WORD_BREAK.split(text) if "" in words else words

    def _total(self, words: list[str]) -> int:
        """The count of a text from its words' memoised counts (KeyError if one is new)."""
        if self.spaced:
            return self.heads[words[0]] + sum(map(self.memo.__getitem__, islice(words, 1, None)))
        return sum(map(self.memo.__getitem__, words))

    def count(self, text: str) -> int:
        """The token count of one text (for short fixed strings: labels, tags, meta-instructions)."""
        words = self.words(text)
        if words is None:
            return self.counter.count(text)
        try:
            return self._total(words)
        except KeyError:
            return self._count_unique([text])[0]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """The token count of each text, as ``counter.count_many(texts)`` gives it."""
        unique = list(dict.fromkeys(texts))  # a text that comes again is counted once
        counts = dict(zip(unique, self._count_unique(unique), strict=True))
        return [counts[t] for t in texts]

    def _count_unique(self, texts: list[str]) -> list[int]:
        if len(self.memo) > MEMO_LIMIT:
            self.memo.clear()
            self.heads.clear()
        total = self._total
        out = [0] * len(texts)
        unknown: list[tuple[int, list[str]]] = []  # texts with a word not in the memo yet
        whole: list[int] = []
        pieces = self.pieces
        for i, text in enumerate(texts):
            if pieces and pieces.covers(text):  # counted piece by piece, faster than word by word
                out[i] = pieces.count(text)
                continue
            words = self.words(text)
            if words is None:
                whole.append(i)
                continue
            try:
                out[i] = total(words)
            except KeyError:
                unknown.append((i, words))
        if unknown:
            self._learn([words for _, words in unknown])
        for i, words in unknown:
            out[i] = total(words)
        for i, n in zip(whole, self.counter.count_many([texts[i] for i in whole]), strict=True):
            out[i] = n
        return out

    def _learn(self, texts: list[list[str]]) -> None:
        """Count the new words of texts given as word lists into the memo."""
        if self.spaced:
            heads = list({words[0] for words in texts}.difference(self.heads))
            self.heads.update(zip(heads, self.counter.count_many(heads), strict=True))
            later = list(set().union(*(islice(words, 1, None) for words in texts)).difference(self.memo))
            self.memo.update(zip(later, self.counter.count_many([" " + w for w in later]), strict=True))
            return
        words = list(set().union(*texts).difference(self.memo))
        count = getattr(self.counter, "word_counts", None) or self.counter.count_many
        self.memo.update(zip(words, count(words), strict=True))
