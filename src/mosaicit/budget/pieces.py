"""Count plain ASCII texts for byte-level BPE tokenizers piece by piece, each distinct piece once.

A byte-level BPE ``tokenizer.json`` of the Llama-3/Qwen layout (see
:func:`mosaicit.budget.tokens._pretoken_exact_hf`) cuts a text with one split pattern, maps each
piece's bytes to characters, and runs BPE on each piece alone. Most of the time the
``tokenizers`` library spends on real text goes to that split pattern, not to BPE. On ASCII the
pattern has an exact equivalent for Python's ``re`` (``\\p{L}`` is ``A-Za-z``, ``\\p{N}`` is
``0-9``, ``\\s`` is ``[\\t\\n\\v\\f\\r ]``), and natural text repeats a small set of pieces, so
:class:`AsciiPieces` cuts the text here and asks the tokenizer's BPE model only about pieces
it has not seen. The count is the one the tokenizer gives (tests compare both on real data and
on adversarial texts); any other text (non-ASCII, control characters, special-token strings)
is left to the tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: The ASCII equivalent (for ``re`` with ``re.ASCII``) of each split pattern of
#: :data:`mosaicit.budget.pretoken.SPLIT_PATTERNS`.
ASCII_PATTERNS = {
    # Llama-3 / Llama-3.1
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}"
    r"| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # Qwen2 / Qwen2.5 / Qwen3
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]"
    r"| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
#: Control characters whose class ``re`` and the tokenizer's regex engine may not agree on.
UNSURE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
#: Distinct pieces remembered before the memo starts over (bounds its memory).
MEMO_LIMIT = 1_000_000


def byte_chars() -> dict[int, str]:
    """The byte-level alphabet of GPT-2-style BPE: each byte value -> the character standing for it."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in kept}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


#: ``str.translate`` table from an ASCII character to its byte-level character.
BYTE_LEVEL = {b: c for b, c in byte_chars().items() if b < 128}


class AsciiPieces:
    """Counts ASCII texts as a byte-level BPE tokenizer does (``model``: its BPE model)."""

    def __init__(self, pattern: str, model: Any, specials: Iterable[str]) -> None:
        self.findall = re.compile(ASCII_PATTERNS[pattern], re.ASCII).findall
        self.tokenize = model.tokenize
        self.specials = [s for s in specials if s]
        starts = "".join(sorted({re.escape(s[0]) for s in self.specials}))
        #: Finds a character that starts a special-token string (None: the tokenizer has none).
        self.special_start = re.compile(f"[{starts}]").search if starts else None
        self.memo: dict[str, int] = {}

    def covers(self, text: str) -> bool:
        """True when :meth:`count_many` counts ``text`` exactly: plain ASCII, no special-token string."""
        if not text.isascii() or UNSURE.search(text):
            return False
        if self.special_start and self.special_start(text):
            return not any(s in text for s in self.specials)
        return True

    def count_many(self, texts: list[str]) -> list[int]:
        """The token count of each text, or -1 for one that this does not cover."""
        if not self.covers("".join(texts)):  # else every text is covered: one check for all
            return [self.count(t) if self.covers(t) else -1 for t in texts]
        return [self.count(t) for t in texts]

    def count(self, text: str) -> int:
        """The token count of a text that :meth:`covers`."""
        memo = self.memo
        pieces = self.findall(text)
        try:
            return sum(map(memo.__getitem__, pieces))
        except KeyError:
            if len(memo) > MEMO_LIMIT:
                memo.clear()
            for piece in set(pieces).difference(memo):
                memo[piece] = len(self.tokenize(piece.translate(BYTE_LEVEL)))
            return sum(map(memo.__getitem__, pieces))
