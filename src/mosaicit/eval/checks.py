"""Named rule checks of one response against its plan, in a registry new checks can join.

A check takes the eval item (the plan and its sources), the parsed response and the options,
and returns a :class:`Verdict`: whether it applies, whether it passed, a short reason, and the
instructions (source indices) it blames. An instruction is correct when no check blames it.
Each check is of one kind, ``layout`` (labels, tags, order, which instructions are answered,
nothing outside the answers) or ``content`` (each answer is a real answer, and its own
instruction's), so a response's layout and content are judged apart as well as together.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mosaicit.eval.align import CHATTER_WORDS, Profile, judgeable
from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.parse import Answer, Parsed, parse_response
from mosaicit.eval.rouge import lcs_length, words
from mosaicit.eval.ties import resolve_ties

MODES = ("strict", "loose")
#: The kinds of check: a response passes on layout, on content, or (strict accuracy) on both.
KINDS = ("layout", "content")


@dataclass(frozen=True)
class Options:
    """How strictly to judge: ``mode`` is strict or loose; ``leftover`` is the text allowed
    outside the answers, in characters other than whitespace, in both modes."""

    mode: str = "strict"
    leftover: int = 0


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check on one response."""

    name: str
    applies: bool
    passed: bool
    reason: str = ""
    blame: frozenset[int] = field(default_factory=frozenset)


CheckFn = Callable[[EvalItem, Parsed, Options], Verdict]


@dataclass(frozen=True)
class Check:
    """A registered check: its name, when it applies, the function that runs it, and its kind."""

    name: str
    applies: Callable[[EvalItem], bool]
    run: CheckFn
    doc: str
    kind: str = "layout"


REGISTRY: dict[str, Check] = {}


def register(
    name: str, applies: Callable[[EvalItem], bool] = lambda item: True, kind: str = "layout"
) -> Callable[[CheckFn], CheckFn]:
    """Decorator: add a check of ``kind`` (one of :data:`KINDS`) to :data:`REGISTRY` under ``name``."""
    if kind not in KINDS:
        raise ValueError(f"check {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def add(func: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is already registered")
        REGISTRY[name] = Check(name, applies, func, (func.__doc__ or "").strip(), kind)
        return func

    return add


def _numbers(item: EvalItem, sources: Sequence[int]) -> str:
    return ", ".join(str(item.plan.number_of(s)) for s in sources)


def _ok(name: str) -> Verdict:
    return Verdict(name, True, True)


def _fail(name: str, reason: str, blame: Sequence[int] = ()) -> Verdict:
    return Verdict(name, True, False, reason, frozenset(blame))


@register("instructions")
def answered_instructions(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """Exactly the instructions to answer are answered, once each, and none of the skipped ones."""
    plan = item.plan
    given = Counter(a.source for a in parsed.answers)
    missing = [s for s in plan.answer_order if s not in given]
    skipped = [s for s in plan.skipped if s in given]
    twice = [s for s in plan.sources if given[s] > 1]
    reasons = []
    if missing:
        reasons.append(f"missing {_numbers(item, missing)}")
    if skipped:
        reasons.append(f"answered skipped {_numbers(item, skipped)}")
    if twice:
        reasons.append(f"answered {_numbers(item, twice)} more than once")
    if given[None]:
        reasons.append(f"{given[None]} answer(s) match no instruction")
    if reasons:
        return _fail("instructions", "; ".join(reasons), missing + skipped + twice)
    return _ok("instructions")


def _label_ok(answer: Answer, options: Options) -> bool:
    if answer.label is None:
        return False
    return answer.label.loose if options.mode == "loose" else answer.label.exact


@register("numbering", applies=lambda item: item.plan.numbering is not None)
def numbering(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """Every answer starts with its instruction's label, written as the plan writes it."""
    bad = [a for a in parsed.answers if not _label_ok(a, options)]
    if not bad:
        return _ok("numbering")
    unlabelled = [a for a in bad if a.label is None]
    reasons = []
    if unlabelled:
        reasons.append(f"{len(unlabelled)} answer(s) without a label")
    inexact = [a.label for a in bad if a.label is not None]
    if inexact:
        sample = parsed.text[inexact[0].start : inexact[0].end].strip()
        reasons.append(f"{len(inexact)} label(s) not written as asked, e.g. {sample!r}")
    return _fail("numbering", "; ".join(reasons), [a.source for a in bad if a.source is not None])


def in_order(given: Sequence[int], wanted: Sequence[int]) -> set[int]:
    """The items of ``given`` on one longest common subsequence with ``wanted`` (kept in order)."""
    n, m = len(given), len(wanted)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if given[i] == wanted[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    kept, i, j = set(), 0, 0
    while i < n and j < m:
        if given[i] == wanted[j]:
            kept.add(given[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


@register("order", applies=lambda item: len(item.plan.answer_order) > 1)
def answer_order(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """The answers given (of those required) come in the plan's answer order."""
    wanted_all = item.plan.answer_order
    given: list[int] = []
    for a in parsed.answers:
        if a.source in wanted_all and a.source not in given:
            given.append(a.source)
    wanted = [s for s in wanted_all if s in given]
    if given == wanted:
        return _ok("order")
    moved = [s for s in given if s not in in_order(given, wanted)]
    return _fail(
        "order", f"answered in the order {_numbers(item, given)}; required {_numbers(item, wanted)}", moved
    )


def _tags_ok(answer: Answer, options: Options) -> bool:
    if answer.begin is None or answer.end is None:
        return False
    return options.mode == "loose" or (answer.begin.exact and answer.end.exact)


@register("tags", applies=lambda item: item.plan.tags is not None)
def tags(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """Every answer sits between the plan's begin and end tags, written as the plan writes them."""
    bad = [a for a in parsed.answers if not _tags_ok(a, options)]
    if not bad:
        return _ok("tags")
    missing = sum(a.begin is None or a.end is None for a in bad)
    reasons = []
    if missing:
        reasons.append(f"{missing} answer(s) not wrapped in both tags")
    if len(bad) > missing:
        reasons.append(f"{len(bad) - missing} answer(s) with tags not written exactly")
    return _fail("tags", "; ".join(reasons), [a.source for a in bad if a.source is not None])


EMPHASIS_CHARS = re.compile(r"[*_`\s]")


def _short(text: str) -> bool:
    return len(text.split()) <= CHATTER_WORDS


@register("outside")
def outside(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """No text outside the answers (before the first, between them, after the last) beyond
    ``--leftover``; loose mode forgives a short preamble, a short sign-off and stray emphasis."""
    pieces = [parsed.preamble, *parsed.leftover, parsed.sign_off]
    if options.mode == "loose":
        pieces = [p for p in (parsed.preamble, parsed.sign_off) if not _short(p)]
        pieces += [p for p in parsed.leftover if EMPHASIS_CHARS.sub("", p)]
    pieces = [p for p in pieces if p]
    size = sum(len(re.sub(r"\s", "", p)) for p in pieces)
    if size <= options.leftover:
        return _ok("outside")
    first = pieces[0] if len(pieces[0]) <= 40 else pieces[0][:37] + "..."
    return _fail("outside", f"{size} characters outside the answers, e.g. {first!r}")


#: An answer is a stub when it has fewer words than this share of its reference's words ...
STUB_SHARE = 0.1
#: ... or fewer than this many words (never more than the reference itself has).
STUB_WORDS = 3
#: Word-level ROUGE-L F1 at which an answer counts as a copy of a text.
COPY_SIMILARITY = 0.8


def stub_floor(reference_words: int) -> int:
    """The fewest words a real answer to a reference of ``reference_words`` words has."""
    return min(reference_words, max(STUB_WORDS, math.ceil(STUB_SHARE * reference_words)))


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Word-level ROUGE-L F1 of two token lists (0 when either is empty)."""
    common = lcs_length(a, b)
    return 2 * common / (len(a) + len(b)) if common else 0.0


def hollow_reason(item: EvalItem, answer: Answer, tokens: list[str]) -> str:
    """Why an answer to its own instruction is not a real answer, or ``""``."""
    assert answer.source is not None
    source = item.source(answer.source)
    reference = words(source.output)
    if not tokens:
        return "empty"
    if len(tokens) < stub_floor(len(reference)):
        return f"a stub ({len(tokens)} of {len(reference)} reference words)"
    prompt = words(source.prompt)
    copied = similarity(tokens, prompt)
    if tokens == prompt or (copied >= COPY_SIMILARITY and copied > similarity(tokens, reference)):
        return "a copy of its instruction"
    return ""


@register("content", applies=lambda item: bool(item.plan.answer_order), kind="content")
def content(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """Every answer is a real answer: not empty, not a stub far shorter than its reference, not a
    copy of its instruction, not a copy of the answer to another instruction."""
    reasons: list[str] = []
    blame: list[int] = []
    kept: list[tuple[int, list[str]]] = []
    for answer in parsed.answers:
        if answer.source is None or answer.source not in item.plan.answer_order:
            continue
        tokens = words(answer.text)
        reason = hollow_reason(item, answer, tokens)
        number = item.plan.number_of(answer.source)
        if not reason:
            for other, other_tokens in kept:
                if other != answer.source and similarity(tokens, other_tokens) >= COPY_SIMILARITY:
                    refs = (words(item.source(s).output) for s in (answer.source, other))
                    if similarity(*refs) < COPY_SIMILARITY:
                        reason = f"a copy of the answer to {item.plan.number_of(other)}"
                        break
            kept.append((answer.source, tokens))
        if reason:
            reasons.append(f"answer {number} is {reason}")
            blame.append(answer.source)
    if reasons:
        return _fail("content", "; ".join(reasons), blame)
    return _ok("content")


@register("alignment", applies=lambda item: bool(item.plan.answer_order) and item.size > 1, kind="content")
def alignment(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """Every answer belongs to its own instruction: more of its words are its own instruction's and
    reference's than any other instruction's of the prompt (:mod:`mosaicit.eval.align`)."""
    profile = parsed.profile or Profile.of(item)
    reasons: list[str] = []
    blame: list[int] = []
    for answer in parsed.answers:
        if answer.source is None or answer.source not in item.plan.answer_order:
            continue
        tokens = words(answer.text)
        if not judgeable(tokens) or len(tokens) < stub_floor(len(profile.references[answer.source])):
            continue  # nothing to tell it by, or hollow (the content check's)
        shares = profile.shares(tokens)
        belongs, rival = profile.belongs(shares, answer.source)
        if belongs:
            continue
        number, own = item.plan.number_of(answer.source), shares[answer.source]
        if rival is not None and shares[rival] > own:
            reasons.append(f"answer {number} reads as the answer to {item.plan.number_of(rival)}")
        else:
            other = 0.0 if rival is None else shares[rival]
            reasons.append(f"answer {number} is not recognisably its own (share {own:.2f}, next {other:.2f})")
        blame.append(answer.source)
    if reasons:
        return _fail("alignment", "; ".join(reasons), blame)
    return _ok("alignment")


@dataclass(frozen=True)
class Outcome:
    """All verdicts for one response in one mode (``kinds[i]`` is the kind of ``verdicts[i]``),
    and which of the prompt's instructions (``sources``) came out right."""

    verdicts: tuple[Verdict, ...]
    correct: frozenset[int]
    instructions: int
    kinds: tuple[str, ...]
    sources: tuple[int, ...]

    @property
    def passed(self) -> bool:
        """True when every check that applies passed."""
        return all(v.passed for v in self.verdicts if v.applies)

    def _of(self, kind: str) -> list[Verdict]:
        return [v for v, k in zip(self.verdicts, self.kinds, strict=True) if k == kind and v.applies]

    def passed_in(self, kind: str) -> bool:
        """True when every check of ``kind`` that applies passed."""
        return all(v.passed for v in self._of(kind))

    def correct_in(self, kind: str) -> frozenset[int]:
        """The instructions no failing check of ``kind`` blames."""
        blamed = set().union(*(v.blame for v in self._of(kind) if not v.passed))
        return frozenset(s for s in self.sources if s not in blamed)


def run_checks(
    item: EvalItem, parsed: Parsed | None, options: Options, names: Sequence[str] | None = None
) -> Outcome:
    """Run the registered checks (or ``names``) on a parsed response; None is a missing answer."""
    if parsed is not None:
        given = [a.source for a in parsed.answers if a.source is not None]
        item = replace(item, plan=resolve_ties(item, given))
    verdicts = []
    for name in names or list(REGISTRY):
        check = REGISTRY[name]
        if not check.applies(item):
            verdicts.append(Verdict(name, False, True))
        elif parsed is None:
            verdicts.append(_fail(name, "no answer", item.plan.sources))
        else:
            verdicts.append(check.run(item, parsed, options))
    blamed = set().union(*(v.blame for v in verdicts if v.applies and not v.passed))
    correct = frozenset(s for s in item.plan.sources if s not in blamed)
    kinds = tuple(REGISTRY[v.name].kind for v in verdicts)
    return Outcome(tuple(verdicts), correct, len(item.plan.sources), kinds, item.plan.sources)


def check_response(
    item: EvalItem, response: str | None, options: Options | None = None, names: Sequence[str] | None = None
) -> Outcome:
    """Parse and check one response (None for a missing one), with every check or ``names``."""
    parsed = None if response is None else parse_response(item, response)
    return run_checks(item, parsed, options or Options(), names)
