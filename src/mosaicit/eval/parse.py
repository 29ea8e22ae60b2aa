"""Find the answers in a model's response, guided by the plan it should follow.

The plan says which label strings and tags a right answer uses, so the response is cut where
they occur. Marks are found tolerantly (any case, Markdown emphasis, indentation, spacing) and
each found mark records whether it was written exactly; the checks then judge strictly or
loosely, so one cosmetic slip never hides the answers from the other checks.

Cutting, in order of preference:

1. labels (numbered plans): labels 1..n are looked for at line starts, outside closed
   begin/end tag pairs. The first opens an answer, and so does every later one that starts a
   paragraph; lines inside a paragraph that look like labels are list items of an answer. If
   no later label starts a paragraph (answers separated by single line breaks), every label
   opens an answer, except repeats of a number already seen. If none of the plan's labels
   occurs, common label styles (``1.``, ``(1)``, ``Task 1``, ...) are tried: a style counts
   when it opens the response and starts at least two paragraphs, and such labels never
   pass the numbering check;
2. tags: a begin tag with no label of its own just before it opens an answer;
3. paragraphs (no label or tag found): blank-line paragraphs are grouped into answers by
   content, each run going to the instruction whose reference answer (or prompt) it matches,
   with a cost for each switch and a higher one for coming back to an instruction.

Answers with no label are matched to instructions by content (the reference answer itself,
else ROUGE-L against the instruction's prompt and reference answer). That is a guess, not a
proof: it is exact on reference texts and only indicative on a model's own words.

Text before the first answer is the preamble, text after the last the sign-off, on every layout:
where no mark ends the last answer (no end tag) or starts the first (no label or tag), chatter
paragraphs at that edge (:meth:`mosaicit.eval.align.Profile.is_chatter`) are set aside as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mosaicit.eval.align import Profile
from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.rouge import containment, lcs_length, words
from mosaicit.plan.tables.check import fill
from mosaicit.types.plan import Numbering

EMPHASIS = r"[*_`]*"
#: Label styles tried when none of the plan's labels occurs: the answers are then told apart by
#: these numbers, and the numbering check fails (these labels are never exact).
FALLBACK_STYLES = (
    "{n}", "({n})", "[{n}]", "<{n}>", "#{n}", "# {n}", "## {n}", "### {n}",
    "Task {n}", "Part {n}", "Answer {n}", "Response {n}", "Instruction {n}", "Question {n}",
)  # fmt: skip
SWITCH_COST = 0.1
REVISIT_COST = 0.5
PARTIAL = 0.8


@dataclass(frozen=True)
class Mark:
    """A label or tag found in the response: its span, and whether it was written exactly
    (``exact``) or differs only in case, emphasis or spacing (``loose``)."""

    start: int
    end: int
    exact: bool
    loose: bool = True
    number: int = 0
    paragraph: bool = False


@dataclass
class Answer:
    """One answer cut from the response, with the instruction (source index) it answers."""

    source: int | None
    text: str
    label: Mark | None = None
    begin: Mark | None = None
    end: Mark | None = None
    by: str = "label"


@dataclass
class Parsed:
    """A response cut into answers, the text before the first (``preamble``), after the last
    (``sign_off``) and between them (``leftover``)."""

    text: str
    answers: list[Answer] = field(default_factory=list)
    leftover: list[str] = field(default_factory=list)
    method: str = "empty"
    preamble: str = ""
    sign_off: str = ""
    profile: Profile | None = None


def _flex(text: str) -> str:
    """A regex for ``text`` that allows any run of spaces where it has spaces."""
    return "".join(r"[ \t]*" if ch == " " else re.escape(ch) for ch in text)


def label_text(numbering: Numbering, number: int) -> str:
    """The label as a right answer writes it, without the space or newline after it."""
    return fill(numbering.style, n=str(number)) + numbering.punctuation


def find_labels(text: str, numbering: Numbering, count: int) -> list[Mark]:
    """Every line-start occurrence of the labels 1..count, in order of position.

    Besides case, emphasis and spacing, the punctuation after the label may differ (one of
    the plan's, ``.``, ``:``, ``)`` or none); such a label is found but is not ``loose``.
    """
    prefix, _, suffix = numbering.style.partition("{n}")
    marks = {numbering.punctuation, ".", ":", ")"} - {""}
    punct = "(?P<punct>" + "|".join(_flex(p) for p in sorted(marks, key=len, reverse=True)) + ")?"
    found = []
    for number in range(1, count + 1):
        parts = [r"^[ \t]*", EMPHASIS, _flex(prefix), str(number), r"(?!\d)", _flex(suffix), EMPHASIS]
        pattern = "".join([*parts, punct, EMPHASIS, r"(?=\s|$)"])
        exact = label_text(numbering, number)
        for m in re.finditer(pattern, text, re.IGNORECASE | re.MULTILINE):
            before = text[: m.start()]
            paragraph = not before.strip() or re.search(r"\n[ \t]*\n$", before) is not None
            same = re.sub(r"\s", "", m.group("punct") or "") == re.sub(r"\s", "", numbering.punctuation)
            found.append(Mark(m.start(), m.end(), m.group(0) == exact, same, number, paragraph))
    return sorted(found, key=lambda mark: mark.start)


def fallback_labels(text: str, count: int) -> list[Mark]:
    """Paragraph-opening labels in the first of :data:`FALLBACK_STYLES` that opens the response
    and numbers at least two answers, marked not exact; none if no style does."""
    for style in FALLBACK_STYLES:
        found = [m for m in find_labels(text, Numbering(style, ".", False), count) if m.paragraph]
        if found and found[0].start == 0 and len({m.number for m in found}) >= 2:
            return [replace(m, exact=False, loose=False) for m in found]
    return []


def find_tags(text: str, tag: str) -> list[Mark]:
    """Every occurrence of ``tag``, tolerating case, emphasis and spacing."""
    pattern = EMPHASIS + _flex(tag) + EMPHASIS
    return [Mark(m.start(), m.end(), m.group(0) == tag) for m in re.finditer(pattern, text, re.IGNORECASE)]


def _overlaps(mark: Mark, others: list[Mark]) -> bool:
    return any(mark.start < o.end and o.start < mark.end for o in others)


def closed_pairs(begins: list[Mark], ends: list[Mark]) -> list[tuple[Mark, Mark]]:
    """Begin tags with the end tag that closes them (no other begin tag in between)."""
    events = sorted([(m.start, 0, m) for m in begins] + [(m.start, 1, m) for m in ends], key=lambda e: e[:2])
    pairs, open_mark = [], None
    for _, kind, mark in events:
        if kind == 0:
            open_mark = mark
        elif open_mark is not None:
            pairs.append((open_mark, mark))
            open_mark = None
    return pairs


def opening_labels(labels: list[Mark]) -> list[Mark]:
    """The labels that open answers: the first, then those starting a paragraph.

    When no later label starts a paragraph (answers separated by single line breaks), every
    label opens an answer except repeats of a number already seen.
    """
    if not labels:
        return []
    later = [m for m in labels[1:] if m.paragraph]
    if later:
        return [labels[0], *later]
    seen: set[int] = set()
    kept = []
    for mark in labels:
        if mark.number not in seen:
            seen.add(mark.number)
            kept.append(mark)
    return kept


@dataclass
class _Unit:
    start: int
    label: Mark | None = None
    begin: Mark | None = None


def _units(labels: list[Mark], begins: list[Mark], ends: list[Mark]) -> list[_Unit]:
    units: list[_Unit] = []
    for mark in sorted(labels + begins, key=lambda m: m.start):
        last = units[-1] if units else None
        if mark.number:
            units.append(_Unit(mark.start, label=mark))
        elif (
            last is not None
            and last.label is not None
            and last.begin is None
            and not any(last.label.end <= e.start < mark.start for e in ends)
        ):
            last.begin = mark
        else:
            units.append(_Unit(mark.start, begin=mark))
    return units


def cut_by_marks(parsed: Parsed, labels: list[Mark], begins: list[Mark], ends: list[Mark]) -> None:
    """Cut the response at labels and orphan begin tags; fill answers and leftover."""
    text = parsed.text
    units = _units(labels, begins, ends)
    parsed.preamble = text[: units[0].start].strip()
    for i, unit in enumerate(units):
        stop = units[i + 1].start if i + 1 < len(units) else len(text)
        opened = unit.begin.end if unit.begin else unit.label.end if unit.label else unit.start
        end = next((e for e in ends if e.start >= opened and e.end <= stop), None)
        body = text[opened : end.start if end else stop]
        if unit.label and unit.begin:
            parsed.leftover.append(text[unit.label.end : unit.begin.start])
        if end and stop == len(text):
            parsed.sign_off = text[end.end :].strip()
        elif end:
            parsed.leftover.append(text[end.end : stop])
        parsed.answers.append(Answer(None, body.strip(), unit.label, unit.begin, end))
    parsed.leftover = [piece.strip() for piece in parsed.leftover if piece.strip()]


def _reference_words(item: EvalItem) -> dict[int, list[str]]:
    return {s.index: words(s.prompt + "\n" + s.output) for s in item.sources}


def _expected_rank(item: EvalItem) -> dict[int, int]:
    order = list(item.plan.answer_order) + list(item.plan.skipped)
    return {source: rank for rank, source in enumerate(order)}


def _similarity(text: str, tokens: list[str], output: str, ref: list[str]) -> float:
    """1 for the reference answer itself, else a share of ROUGE-L F1 against prompt and answer."""
    if text == output.strip():
        return 1.0
    common = lcs_length(tokens, ref)
    return PARTIAL * 2 * common / (len(tokens) + len(ref)) if common else 0.0


def match_by_content(parsed: Parsed, item: EvalItem) -> None:
    """Give each answer without a label the best-matching instruction: one to one while any is
    free, then (for answers left over) the best match even if taken, so repeats show."""
    taken = {a.source for a in parsed.answers if a.source is not None}
    unmatched = [i for i, a in enumerate(parsed.answers) if a.source is None and a.label is None]
    refs, ranks = _reference_words(item), _expected_rank(item)
    scored = []
    for i in unmatched:
        text = parsed.answers[i].text
        tokens = words(text)
        for s in item.plan.sources:
            fit = _similarity(text, tokens, item.source(s).output, refs[s])
            scored.append((-fit, abs(ranks[s] - i), i, s))
    scored.sort()
    for free_only in (True, False):
        for _, _, i, s in scored:
            answer = parsed.answers[i]
            if answer.source is None and not (free_only and s in taken):
                answer.source, answer.by = s, "content"
                taken.add(s)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def _fit(paragraph: str, tokens: list[str], own: set[str], ref: list[str]) -> float:
    """How a paragraph fits a source: 1 if it is one of its paragraphs, else a share of the words found."""
    if paragraph in own:
        return 1.0
    return PARTIAL * containment(tokens, ref) if tokens else 0.0


def _own_paragraphs(item: EvalItem) -> set[str]:
    return {p for s in item.sources for text in (s.prompt, s.output) for p in _paragraphs(text)}


def peel_chatter(
    paragraphs: list[str], item: EvalItem, profile: Profile, lead: bool, source: int | None = None
) -> tuple[list[str], list[str]]:
    """Split chatter paragraphs (see :mod:`mosaicit.eval.align`) off the end of ``paragraphs``
    (their start if ``lead``), keeping at least one: (kept, chatter), both in text order. No
    paragraph of an instruction or reference answer is chatter; with a ``source``, the
    paragraphs are judged against that instruction alone (the one they would belong to)."""
    own = _own_paragraphs(item)
    among = None if source is None else [source]
    kept = paragraphs[::-1] if lead else list(paragraphs)
    peeled: list[str] = []
    while len(kept) > 1 and kept[-1] not in own and profile.is_chatter(kept[-1], among):
        peeled.append(kept.pop())
    if lead:
        return kept[::-1], peeled
    return kept, peeled[::-1]


def peel_sign_off(parsed: Parsed, item: EvalItem, profile: Profile) -> None:
    """Chatter paragraphs at the end of a last answer that no end tag closes are its sign-off,
    as text after a closing end tag is: nothing after the last answer is taken into it."""
    last = parsed.answers[-1] if parsed.answers else None
    if last is None or last.end is not None:
        return
    kept, chatter = peel_chatter(_paragraphs(last.text), item, profile, lead=False, source=last.source)
    if chatter:
        last.text = "\n\n".join(kept)
        parsed.sign_off = "\n\n".join(chatter)


def cut_by_paragraphs(parsed: Parsed, item: EvalItem, profile: Profile) -> None:
    """Group blank-line paragraphs into answers by content (a best path, paying for each switch),
    after setting chatter paragraphs at the start and the end aside as preamble and sign-off."""
    paragraphs, preamble = peel_chatter(_paragraphs(parsed.text), item, profile, lead=True)
    paragraphs, sign_off = peel_chatter(paragraphs, item, profile, lead=False)
    parsed.preamble, parsed.sign_off = "\n\n".join(preamble), "\n\n".join(sign_off)
    ranks = _expected_rank(item)
    states = sorted(item.plan.sources, key=lambda s: ranks[s])
    refs = _reference_words(item)
    own = {s.index: set(_paragraphs(s.output)) | set(_paragraphs(s.prompt)) for s in item.sources}
    paths: dict[int, tuple[float, list[int]]] = {}
    for paragraph in paragraphs:
        tokens = words(paragraph)
        fit = {s: _fit(paragraph, tokens, own[s], refs[s]) for s in states}
        step: dict[int, tuple[float, list[int]]] = {}
        for s in states:
            best: tuple[float, list[int]] | None = None
            for score, path in paths.values() if paths else [(0.0, [])]:
                if path and path[-1] != s:
                    score -= REVISIT_COST if s in path else SWITCH_COST
                if best is None or score + fit[s] > best[0] + 1e-12:
                    best = (score + fit[s], path + [s])
            assert best is not None
            step[s] = best
        paths = step
    if not paths:
        return
    _, path = max(paths.values(), key=lambda v: v[0])
    for paragraph, source in zip(paragraphs, path, strict=True):
        last = parsed.answers[-1] if parsed.answers else None
        if last is not None and last.source == source:
            last.text += "\n\n" + paragraph
        else:
            parsed.answers.append(Answer(source, paragraph, by="content"))


def parse_response(item: EvalItem, response: str) -> Parsed:
    """Cut ``response`` into answers and leftover text, following ``item``'s plan."""
    text = re.sub(r"^\s*\n", "", response.replace("\r\n", "\n")).rstrip()
    parsed = Parsed(text)
    if not text:
        return parsed
    parsed.profile = profile = Profile.of(item)
    plan = item.plan
    begins: list[Mark] = []
    ends: list[Mark] = []
    if plan.tags:
        ends = find_tags(text, plan.tags.end)
        begins = [m for m in find_tags(text, plan.tags.begin) if not _overlaps(m, ends)]
    labels: list[Mark] = []
    if plan.numbering:
        inside = closed_pairs(begins, ends)
        labels = find_labels(text, plan.numbering, item.size)
        if not labels:
            labels = fallback_labels(text, item.size)
        labels = [m for m in labels if not any(b.end <= m.start and m.end <= e.start for b, e in inside)]
        labels = opening_labels(labels)
    if labels or begins:
        parsed.method = "labels" if labels else "tags"
        cut_by_marks(parsed, labels, begins, ends)
        for answer in parsed.answers:
            if answer.label is not None:
                answer.source = plan.sources[answer.label.number - 1]
        peel_sign_off(parsed, item, profile)
        match_by_content(parsed, item)
    else:
        parsed.method = "paragraphs"
        cut_by_paragraphs(parsed, item, profile)
    return parsed
