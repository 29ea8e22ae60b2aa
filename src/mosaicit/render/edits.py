"""Per-answer rules: a stated constraint, the deterministic edit that makes an answer satisfy it,
and the check that says whether an answer does.

Each rule is three pure functions of text: ``edit`` (the reference answer rewritten to obey the
rule), ``holds`` (does an answer obey it) and, through :func:`answer_facts`, whether the rule
applies to a reference at all. A rule applies only where its edit obeys it and the reference as
written does not, so an edited reference always passes its check and the unedited one fails it.
They are rendering (a plan's edit rewrites an answer as the layout puts it in the text), so the
layout, the planner's rule draw and the eval checks all use this one module; the plain
:class:`~mosaicit.types.edits.Edit` a plan holds is on the ground floor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mosaicit.types.edits import Edit, Param

#: The rules, as the plan's ``edits`` name them.
UPPER, LOWER, PREFIX, SUFFIX, REPEAT = "upper", "lower", "prefix", "suffix", "repeat"
SENTENCES, BULLETS, QUOTES, CODE_BLOCK, NO_COMMAS = (
    "sentences",
    "bullets",
    "quotes",
    "code_block",
    "no_commas",
)
EDIT_RULES = (UPPER, LOWER, PREFIX, SUFFIX, REPEAT, SENTENCES, BULLETS, QUOTES, CODE_BLOCK, NO_COMMAS)
#: The most sentences a ``sentences`` rule keeps, and the most bullets a ``bullets`` rule asks for.
MAX_SENTENCES, MAX_BULLETS = 3, 5
#: Fewest words an answer needs before any rule is drawn for it.
MIN_WORDS = 3

#: Where one sentence ends and the next begins: white space (group 1) after ., ! or ? and any
#: closing quotes or brackets, before something visible. The same cut serves the edit and the check.
SENTENCE_BREAK = re.compile(r"[.!?][\"')\]]*(\s+)(?=\S)")
#: Signs that a text is code or structured data, whose letters and commas a rule must not touch.
CODE_SIGNS = re.compile(
    r"```|^(?:[ ]{4}|\t)\S|^\s*(?:def|class|import|from\s+\S+\s+import|return|#include|function|public|"
    r"private|var|let|const|SELECT|for\s*\(|if\s*\(|while\s*\()\b|[;{}]\s*$|<[a-z]+[^>]*>",
    re.M,
)
BULLET = "- "
FENCE = "```"
QUOTE = '"'


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each sentence of ``text``, cut at :data:`SENTENCE_BREAK`."""
    spans, start = [], 0
    for match in SENTENCE_BREAK.finditer(text):
        spans.append((start, match.start(1)))
        start = match.end(1)
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def sentence_count(text: str) -> int:
    """How many sentences ``text`` has (0 when it is empty)."""
    return len(sentence_spans(text.strip()))


def looks_like_code(text: str) -> bool:
    """True when ``text`` shows signs of code or markup (a fence, indented lines, statements)."""
    return bool(CODE_SIGNS.search(text))


def _sentences(text: str, n: int) -> str:
    spans = sentence_spans(text)
    return text[: spans[n - 1][1]] if len(spans) > n else text


def _bullets(text: str, n: int) -> str:
    spans = sentence_spans(text)
    if len(spans) < n:
        return text
    groups = [spans[len(spans) * i // n : len(spans) * (i + 1) // n] for i in range(n)]
    return "\n".join(BULLET + " ".join(text[s:e] for s, e in group) for group in groups)


#: Each rule's edit: ``(answer, instruction, param) -> edited answer``.
EDITS: dict[str, Callable[[str, str, Param], str]] = {
    UPPER: lambda a, i, p: a.upper(),
    LOWER: lambda a, i, p: a.lower(),
    PREFIX: lambda a, i, p: f"{p} {a}",
    SUFFIX: lambda a, i, p: f"{a} {p}",
    REPEAT: lambda a, i, p: f"{i}\n\n{a}",
    SENTENCES: lambda a, i, p: _sentences(a, int(p or 1)),
    BULLETS: lambda a, i, p: _bullets(a, int(p or 2)),
    QUOTES: lambda a, i, p: f"{QUOTE}{a}{QUOTE}",
    CODE_BLOCK: lambda a, i, p: f"{FENCE}\n{a}\n{FENCE}",
    NO_COMMAS: lambda a, i, p: re.sub(r" *, *", " ", re.sub(r",(?=\d)", "", a)).replace(" \n", "\n").strip(),
}


def _bulleted(answer: str, n: int) -> bool:
    lines = [line for line in answer.splitlines() if line.strip()]
    return len(lines) == n and all(line.startswith(BULLET) and line[2:].strip() for line in lines)


#: Each rule's check: ``(answer, instruction, param) -> obeys``; answers are compared stripped.
CHECKS: dict[str, Callable[[str, str, Param], bool]] = {
    UPPER: lambda a, i, p: any(c.isupper() for c in a) and not any(c.islower() for c in a),
    LOWER: lambda a, i, p: any(c.islower() for c in a) and not any(c.isupper() for c in a),
    PREFIX: lambda a, i, p: a.startswith(str(p)),
    SUFFIX: lambda a, i, p: a.endswith(str(p)),
    REPEAT: lambda a, i, p: a.startswith(i.strip()) and bool(a[len(i.strip()) :].strip()),
    SENTENCES: lambda a, i, p: 0 < sentence_count(a) <= int(p or 1),
    BULLETS: lambda a, i, p: _bulleted(a, int(p or 2)),
    QUOTES: lambda a, i, p: len(a) > 2 and a.startswith(QUOTE) and a.endswith(QUOTE),
    CODE_BLOCK: lambda a, i, p: a.startswith(FENCE) and a.endswith(FENCE) and "\n" in a,
    NO_COMMAS: lambda a, i, p: bool(a) and "," not in a,
}


def edit_answer(edit: Edit | tuple[str, Param], answer: str, instruction: str) -> str:
    """``answer`` rewritten to obey ``edit`` (an :class:`Edit` or a ``(rule, param)`` pair)."""
    rule, param = (edit.rule, edit.param) if isinstance(edit, Edit) else edit
    return EDITS[rule](answer, instruction, param)


def obeys(rule: str, param: Param, answer: str, instruction: str) -> bool:
    """True when ``answer`` (an answer cut from a response) obeys ``rule`` with ``param``."""
    return CHECKS[rule](answer.strip(), instruction, param)


def rule_fits(rule: str, param: Param, answer: str, instruction: str) -> bool:
    """True when ``rule`` may be drawn for this reference: its edit obeys it, the reference does not."""
    edited = EDITS[rule](answer, instruction, param)
    return obeys(rule, param, edited, instruction) and not obeys(rule, param, answer, instruction)


@dataclass(frozen=True, slots=True)
class AnswerFacts:
    """What the rule draw knows of one record: the rules that may be drawn for its answer, its
    count of sentences (0 unless it is one paragraph of prose), and its first and last
    :data:`EDGE` characters (a prefix or suffix it already has is not drawn)."""

    rules: tuple[str, ...]
    sentences: int
    head: str = ""
    tail: str = ""

    def takes_prefix(self, text: str) -> bool:
        """True when the answer does not start with ``text`` already."""
        return not self.head.startswith(text)

    def takes_suffix(self, text: str) -> bool:
        """True when the answer does not end with ``text`` already."""
        return not self.tail.endswith(text)


#: How many characters of each end of an answer :class:`AnswerFacts` keeps (the longest prefix
#: or suffix the tables may hold).
EDGE = 80
#: A record for which no rule may be drawn.
NO_RULES = AnswerFacts((), 0)


def answer_facts(answer: str, instruction: str) -> AnswerFacts:
    """The rules that fit a reference answer (see :func:`rule_fits`), with its sentence count.

    No rule is drawn for an answer of fewer than :data:`MIN_WORDS` words. Code or markup gets
    only the rules that leave its text as it is (prefix, suffix, repeat, a fence if it has none);
    the sentence and bullet rules need one paragraph of at least two sentences.
    """
    if len(answer.split()) < MIN_WORDS:
        return NO_RULES
    code = looks_like_code(answer)
    count = 0 if code or len(answer.splitlines()) > 1 else sentence_count(answer)
    fits = [PREFIX, SUFFIX]  # their text is checked against the answer when drawn
    candidates: list[tuple[str, Param]] = [(REPEAT, None), (CODE_BLOCK, None)]
    if not code:
        candidates += [(UPPER, None), (LOWER, None), (QUOTES, None), (NO_COMMAS, None)]
    if count >= 2:
        candidates += [(SENTENCES, 1), (BULLETS, 2)]
    fits += [rule for rule, param in candidates if rule_fits(rule, param, answer, instruction)]
    return AnswerFacts(tuple(r for r in EDIT_RULES if r in fits), count, answer[:EDGE], answer[-EDGE:])
