"""The few facts about an instruction that orderings and mask rules use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The sort key of a text that does not start with a letter: after every letter.
NO_LETTER = "\x01"


def first_letter(text: str) -> str:
    """Sort key: the first letter of ``text``, case-folded, after any leading punctuation.

    A text that starts with a digit, or has no letter, sorts after every letter.
    """
    for ch in text:
        if ch.isalnum():
            return "\x00" + ch.casefold() if ch.isalpha() else NO_LETTER
    return NO_LETTER


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """An instruction's first-letter sort key, word count and character count."""

    letter: str
    words: int
    chars: int

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as its fields (a slots dataclass's own pickling looks them up for each object)
        return PromptFeatures, (self.letter, self.words, self.chars)

    @classmethod
    def of(cls, prompt: str) -> PromptFeatures:
        """The features of a full instruction text."""
        return cls(first_letter(prompt), len(prompt.split()), len(prompt))
