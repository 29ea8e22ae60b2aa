"""Where a GPT-4-style split pattern cuts a joined text: what exact composition needs to know.

Byte-level BPE tokenizers such as Llama-3, Qwen2/Qwen3 and cl100k first cut a text into
pieces with one regular expression and never let a token cross two pieces. So a text's count
is the sum of its pieces' counts, and a record text placed in a mosaic counts differently from
alone only where the pieces at its two ends change. Every piece the patterns of
:data:`SPLIT_PATTERNS` make is one of: letters with at most one non-letter, non-number,
non-newline character before them; a contraction (``'s``...); digits; a run of punctuation
(anything not a letter, a number or white space) with at most one space before it and every
newline right after it; or a run of white space. From that:

1. a space after a character that is not white space, a character that is not white space
   after a newline, and a special token always start a new piece; matching from the start
   of a piece does not look back, so what follows such a point is cut as it is alone;
2. a record text that neither starts nor ends with white space, placed after such a point
   (a newline, a space after a non-space, the start) and before one (a space, a newline, a
   special token, the end), is therefore cut as it is alone, except at most for:

   * its *first span* (:func:`first_span`, up to its first space after a non-space), which a
     single space before it may join: it counts as it does with one leading space;
   * its *last piece*, which newlines after it join when it is a run of punctuation
     (:func:`join_tail`); when the whole text is that run, the space before it joins the same
     piece (``" !!\\n\\n"`` is one piece): both effects then fall on one piece and are counted
     on it together;

   and the fixed text after those newlines is cut as it is alone (rule 1 again).

Anything else is not composed: a text that starts or ends with white space, holds a special
token string, or whose last characters' classes are not certain (:func:`join_tail` returns
None) is counted for real in its mosaic. Tests check the composed counts against independent
re-tokenizations of mosaics of real and adversarial texts.
"""

from __future__ import annotations

import re
import unicodedata

#: The split patterns of the tokenizers whose joins are known, as ``tokenizer.json`` holds them
#: (the tiktoken cl100k pattern, :data:`mosaicit.budget.tokens.CL100K_PATTERN`, behaves the same).
SPLIT_PATTERNS = frozenset(
    {
        # Llama-3 / Llama-3.1
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+",
        # Qwen2 / Qwen2.5 / Qwen3
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+",
    }
)

#: Unicode White_Space: what ``\s`` matches in these patterns.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
)


def _is_mark_like(ch: str) -> bool:
    """True for what ``[^\\s\\p{L}\\p{N}]`` matches: not a letter, a number or white space."""
    return ch not in WHITE_SPACE and unicodedata.category(ch)[0] not in "LN"


def _class_is_certain(ch: str) -> bool:
    """False for a character whose class (letter, number, other) may differ between Unicode
    versions: unassigned here (a newer regex engine may know it as a letter), or a letter or
    number assigned after Unicode 3.2 (an older engine may not know it)."""
    major = unicodedata.category(ch)[0]
    if major == "C":
        return unicodedata.category(ch) != "Cn"
    return major not in "LN" or unicodedata.ucd_3_2_0.category(ch) != "Cn"


def join_tail(text: str) -> str | None:
    """The last split piece of ``text`` if newlines after it would join it, else "" (None if
    the classes of the characters that decide it are not certain).

    That is the run of punctuation (anything not a letter, number or white space) that ends
    the text, with the single space before it when there is one.
    """
    i = len(text)
    while i and _is_mark_like(text[i - 1]):
        if not _class_is_certain(text[i - 1]):
            return None
        i -= 1
    if i and not _class_is_certain(text[i - 1]):
        return None
    if i == len(text):
        return ""
    if i and text[i - 1] == " ":
        i -= 1
    return text[i:]


def first_span(text: str) -> str:
    """``text`` up to its first space that follows a non-space character (all of it if none).

    A leading space changes how this span is cut and nothing after it: the space that ends the
    span starts a new piece whether or not the text has a leading space.
    """
    for k in range(1, len(text)):
        if text[k] == " " and text[k - 1] not in WHITE_SPACE:
            return text[:k]
    return text


#: A space after a character that is not white space: a new piece starts there.
_SPACE_CUT = re.compile("(?<![" + re.escape("".join(sorted(WHITE_SPACE))) + "]) ")
#: A space after white space other than a space (a newline, a tab...): no new piece starts there.
_SPACE_AFTER_WHITE = re.compile("[" + re.escape("".join(sorted(WHITE_SPACE - {" "}))) + "] ")


def space_words(text: str) -> list[str]:
    """``text`` cut at every space after a character that is not white space, the spaces left
    out: the first word is cut into pieces as it is alone, each later word as it is with one
    space before it."""
    if _SPACE_AFTER_WHITE.search(text):
        return _SPACE_CUT.split(text)
    words = text.split(" ")  # the common case, much faster than the pattern
    return _SPACE_CUT.split(text) if "" in words else words


#: Where a new piece must start: a non-space character after newlines, or a space after a
#: non-space character.
_HARD_CUT = re.compile(r"(?<=[\r\n])(?=\S)|(?<=\S)(?= )")


def hard_parts(text: str) -> list[str]:
    """``text`` cut where a new piece must start: its count is the sum of its parts' counts,
    and the parts (words of a meta-instruction, a label, a tag) recur from mosaic to mosaic."""
    return _HARD_CUT.split(text)


def newline_lead(text: str) -> str:
    """The newlines that start ``text`` (what a preceding run of punctuation takes in)."""
    return text[: len(text) - len(text.lstrip("\r\n"))]
