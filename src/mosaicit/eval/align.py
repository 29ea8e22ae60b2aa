"""Which instruction of a prompt a piece of text belongs to, by its words alone (no model).

Each instruction of a prompt is the set of words of its instruction and its reference answer.
A word weighs by how few of the prompt's instructions hold it (an inverse document frequency
within the prompt): a word every instruction holds says nothing about which one a text answers,
a word only one holds says most. A text's **share** in an instruction is the weight of its
distinct words found there over the weight of all its distinct words (words found nowhere in the
prompt weigh as much as words found in one instruction). Sets, not sequences: a paraphrase keeps
its topic words in any order, and a model's answer rarely repeats the reference's phrasing.

An answer **belongs** to its instruction when its share there is at least :data:`RATIO` times
its share in any other instruction of the prompt and leads it by :data:`MARGIN`; instructions
whose reference answers are near copies of each other tie (no text can tell them apart). A
paragraph is **chatter** ("I hope this helps!") when it is short, speaks to the reader (a phrase
of :data:`CHATTER_CUES`) and no instruction it might belong to holds more than
:data:`CHATTER_SHARE` of it or two of its words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.rouge import lcs_length, words

#: An answer's share in its own instruction is at least RATIO times, and MARGIN more than, its
#: share in any other instruction of the prompt.
RATIO = 2.0
MARGIN = 0.08
#: Chatter is at most this many words (and loose mode forgives a preamble or sign-off this short) ...
CHATTER_WORDS = 40
#: ... holds one of these phrases ...
CHATTER_CUES = re.compile(
    r"\b(hope|let me know|feel free|happy to|glad to|good luck|questions?|here (are|is)|here's|sure"
    r"|certainly|of course|anything else|assist|thanks?|have a (great|good|nice|wonderful)|enjoy)\b",
    re.IGNORECASE,
)
#: ... and no instruction it might belong to holds more than this share of it, or two of its words.
CHATTER_SHARE = 0.5
#: Word-level ROUGE-L F1 at which two reference answers are near copies (their instructions tie).
TIE_SIMILARITY = 0.8
#: English function words: they say nothing about what a text is about, so they are not counted.
STOPWORDS = frozenset(
    """a about above after again all also am an and any anything are as at be because been before
    being below between both but by can could did do does doing down during each else even ever
    every few for from further had has have having he her here hers him his how i if in into is it
    its itself just let me more most much my no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there these they
    this those through to too under until up us very was we were what when where which while who
    whom why will with would yes yet you your yours""".split()
)


def content_words(text: str) -> list[str]:
    """The words of ``text`` (see :func:`~mosaicit.eval.rouge.words`) that are not :data:`STOPWORDS`."""
    return [w for w in words(text) if w not in STOPWORDS]


@dataclass(frozen=True)
class Profile:
    """The word sets of a prompt's instructions and the weight of each word within the prompt."""

    sets: dict[int, frozenset[str]]
    weights: dict[str, float]
    unseen: float
    references: dict[int, list[str]]

    @classmethod
    def of(cls, item: EvalItem) -> Profile:
        """The profile of every instruction of ``item`` (answered and skipped)."""
        sets = {s.index: frozenset(content_words(s.prompt + "\n" + s.output)) for s in item.sources}
        count: dict[str, int] = {}
        for found in sets.values():
            for word in found:
                count[word] = count.get(word, 0) + 1
        n = len(sets)
        weights = {word: math.log(1 + n / df) for word, df in count.items()}
        return cls(sets, weights, math.log(1 + n), {s.index: words(s.output) for s in item.sources})

    def shares(self, tokens: Iterable[str]) -> dict[int, float]:
        """Each instruction's share of the weight of the distinct ``tokens`` (all 0 if none)."""
        distinct = set(tokens) - STOPWORDS
        total = sum(self.weights.get(w, self.unseen) for w in distinct)
        if not total:
            return dict.fromkeys(self.sets, 0.0)
        return {s: sum(self.weights[w] for w in distinct & found) / total for s, found in self.sets.items()}

    def ties(self, source: int, other: int) -> bool:
        """True when the two instructions' reference answers are near copies (or the same one)."""
        return source == other or near_copies(self.references[source], self.references[other])

    def belongs(self, shares: dict[int, float], source: int) -> tuple[bool, int | None]:
        """Whether ``source``'s share clearly beats every instruction it does not tie with, and
        the instruction it was last compared with (the one that beats it, if any; None if there
        is no other). Ties are looked up only while they matter."""
        own = shares[source]
        for other in sorted((s for s in shares if s != source), key=lambda s: -shares[s]):
            if own - shares[other] >= MARGIN and own >= RATIO * shares[other]:
                return True, other
            if not self.ties(source, other):
                return False, other
        return own >= MARGIN, None

    def is_chatter(self, text: str, among: Iterable[int] | None = None) -> bool:
        """A short text that speaks to the reader and that no instruction (of ``among``, if
        given: those it might belong to) holds much of."""
        tokens = words(text)
        if len(tokens) > CHATTER_WORDS or not CHATTER_CUES.search(text):
            return False
        shares, distinct = self.shares(tokens), set(tokens) - STOPWORDS
        candidates = self.sets if among is None else among
        return not any(shares[s] > CHATTER_SHARE or len(distinct & self.sets[s]) > 1 for s in candidates)


def judgeable(tokens: Iterable[str]) -> bool:
    """True when ``tokens`` hold a word that is not a function word (else nothing tells them apart)."""
    return any(w not in STOPWORDS for w in tokens)


def near_copies(a: Sequence[str], b: Sequence[str]) -> bool:
    """Two word lists at word-level ROUGE-L F1 :data:`TIE_SIMILARITY` or more."""
    if not a or not b:
        return a == b
    return 2 * lcs_length(a, b) / (len(a) + len(b)) >= TIE_SIMILARITY
