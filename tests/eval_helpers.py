"""Shared pieces for the eval tests: a built eval set on real data, and ways to damage an answer."""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from conftest import ALPACA_EVAL
from mosaicit.eval.align import content_words
from mosaicit.eval.build import build_evalset
from mosaicit.eval.checks import COPY_SIMILARITY, similarity, stub_floor
from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.parse import find_labels, find_tags
from mosaicit.eval.rouge import words
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.strategies.base import ORDER_TIE, SKIP_TIE, Tie
from mosaicit.render.layout import render
from mosaicit.types.features import PromptFeatures
from mosaicit.types.plan import Numbering, Plan, Tags

ALL_STRATEGIES = {"primary": 1.0, "format": 1.0, "permute": 1.0, "maskout": 1.0}


@functools.cache
def built(size: int = 400, seed: int = 7, min_records: int = 1, max_records: int = 6) -> tuple[EvalItem, ...]:
    """An eval set over every strategy, rule and marker kind, from the 805 AlpacaEval records."""
    result = build_evalset(
        ALPACA_EVAL,
        size=size,
        seed=seed,
        min_records=min_records,
        max_records=max_records,
        weights=ALL_STRATEGIES,
        no_numbering_rate=0.3,
    )
    return tuple(result.items)


def rendered(item: EvalItem, plan: Plan, outputs: dict[int, str] | None = None) -> str:
    """The output text of ``plan`` from the item's own source texts (or other ``outputs``)."""
    prompts = {s.index: s.prompt for s in item.sources}
    own = {s.index: s.output for s in item.sources}
    return render(plan, prompts, own | (outputs or {}))[1]


@dataclass(frozen=True)
class Damage:
    """A damaged answer and the checks it must fail in each mode."""

    response: str
    strict: frozenset[str]
    loose: frozenset[str]


def _same(response: str, *fails: str) -> Damage:
    return Damage(response, frozenset(fails), frozenset(fails))


def _cosmetic(response: str, fail: str) -> Damage:
    return Damage(response, frozenset({fail}), frozenset())


def drop_one(item: EvalItem) -> Damage | None:
    """The middle answer left out."""
    order = list(item.plan.answer_order)
    if not order:
        return None
    del order[len(order) // 2]
    return _same(rendered(item, replace(item.plan, answer_order=tuple(order))), "instructions")


def tie_of(plan: Plan) -> Tie | None:
    """The tie the plan's strategy declares for its rule, if any."""
    return STRATEGIES[plan.strategy].tie_keys.get(plan.rule or "")


def tie_key(item: EvalItem, source: int) -> object:
    """The key the plan's ordering or mask rule ranks ``source`` by (its position if none)."""
    tie = tie_of(item.plan)
    if tie is None:
        return item.plan.sources.index(source)
    return tie.key(PromptFeatures.of(item.source(source).prompt))


def swap_two(item: EvalItem) -> Damage | None:
    """The first and last answers swapped (where the rule ranks them apart)."""
    order = list(item.plan.answer_order)
    if len(order) < 2 or item.source(order[0]).output == item.source(order[-1]).output:
        return None
    if tie_key(item, order[0]) == tie_key(item, order[-1]):
        return None
    order[0], order[-1] = order[-1], order[0]
    return _same(rendered(item, replace(item.plan, answer_order=tuple(order))), "order")


def answer_skipped(item: EvalItem) -> Damage | None:
    """A skipped instruction answered too, in its place among the others."""
    plan = item.plan
    if not plan.skipped:
        return None
    extra = plan.skipped[0]
    order = [s for s in plan.sources if s in plan.answer_order or s == extra]
    return _same(rendered(item, replace(plan, answer_order=tuple(order))), "instructions")


def answer_twice(item: EvalItem) -> Damage | None:
    """The first answer given once more at the end (plain plans need two answers to tell)."""
    plan = item.plan
    if not plan.answer_order or (len(plan.answer_order) < 2 and not (plan.numbering or plan.tags)):
        return None
    once = rendered(item, plan)
    again = rendered(item, replace(plan, answer_order=plan.answer_order[:1]))
    return _same(once + "\n\n" + again, "instructions")


def tags_removed(item: EvalItem) -> Damage | None:
    """No begin/end tags around the answers."""
    if not item.plan.tags or not item.plan.answer_order:
        return None
    return _same(rendered(item, replace(item.plan, tags=None)), "tags")


def labels_removed(item: EvalItem) -> Damage | None:
    """No numbering labels before the answers."""
    if not item.plan.numbering or not item.plan.answer_order:
        return None
    return _same(rendered(item, replace(item.plan, numbering=None)), "numbering")


def tags_case_changed(item: EvalItem) -> Damage | None:
    """Tags with their letters' case swapped: cosmetic."""
    tags = item.plan.tags
    if not tags or not item.plan.answer_order:
        return None
    changed = Tags(tags.begin.swapcase(), tags.end.swapcase(), tags.newline)
    return _cosmetic(rendered(item, replace(item.plan, tags=changed)), "tags")


def tags_emphasised(item: EvalItem) -> Damage | None:
    """Tags in Markdown bold: cosmetic."""
    tags = item.plan.tags
    if not tags or not item.plan.answer_order:
        return None
    changed = Tags(f"**{tags.begin}**", f"**{tags.end}**", tags.newline)
    return _cosmetic(rendered(item, replace(item.plan, tags=changed)), "tags")


def labels_emphasised(item: EvalItem) -> Damage | None:
    """Labels in Markdown bold or code: cosmetic."""
    numbering = item.plan.numbering
    if not numbering or not item.plan.answer_order:
        return None
    mark = "`" if len(item.plan.sources) % 2 else "**"
    changed = Numbering(mark + numbering.style, numbering.punctuation + mark, numbering.newline)
    return _cosmetic(rendered(item, replace(item.plan, numbering=changed)), "numbering")


def labels_indented(item: EvalItem) -> Damage | None:
    """Labels indented by two spaces: cosmetic."""
    numbering = item.plan.numbering
    if not numbering or not item.plan.answer_order:
        return None
    changed = Numbering("  " + numbering.style, numbering.punctuation, numbering.newline)
    return _cosmetic(rendered(item, replace(item.plan, numbering=changed)), "numbering")


def labels_case_changed(item: EvalItem) -> Damage | None:
    """Worded labels ('Task 1', 'Part 1') in upper case: cosmetic."""
    numbering = item.plan.numbering
    if not numbering or not item.plan.answer_order:
        return None
    worded = numbering.style.replace("{n}", "")
    if worded.upper() == worded:
        return None
    style = "{n}".join(part.upper() for part in numbering.style.split("{n}"))
    changed = Numbering(style, numbering.punctuation, numbering.newline)
    return _cosmetic(rendered(item, replace(item.plan, numbering=changed)), "numbering")


def _foreign(item: EvalItem, text: str) -> bool:
    """True when no content word of ``text`` occurs in the prompt's instructions or references."""
    found = {w for s in item.sources for w in content_words(s.prompt + " " + s.output)}
    return not found & set(content_words(text))


def preamble_added(item: EvalItem) -> Damage | None:
    """A chatty first paragraph before the answers: loose mode forgives it, on every layout
    (where its words are none of the prompt's: chatter that repeats them can read as an answer)."""
    preamble = "Sure! Here are my answers."
    if not item.plan.answer_order or not _foreign(item, preamble):
        return None
    return _cosmetic(preamble + "\n\n" + rendered(item, item.plan), "outside")


def sign_off_added(item: EvalItem) -> Damage | None:
    """A chatty last paragraph after the answers: loose mode forgives it, on every layout (where
    its words are none of the prompt's)."""
    sign_off = "I hope this helps, good luck!"
    if not item.plan.answer_order or not _foreign(item, sign_off):
        return None
    return _cosmetic(rendered(item, item.plan) + "\n\n" + sign_off, "outside")


def surrounding_whitespace(item: EvalItem) -> Damage | None:
    """Blank lines and spaces around the whole answer: ignored in both modes."""
    return _same("\n \n" + rendered(item, item.plan) + "\n\n  ")


def _answered_words(item: EvalItem) -> list[int]:
    return [len(words(item.source(s).output)) for s in item.plan.answer_order]


def _labelled(item: EvalItem) -> bool:
    """Numbered, with no label or tag of the plan inside any instruction (so copies parse the same)."""
    plan = item.plan
    if not plan.numbering or not plan.answer_order:
        return False
    for source in item.sources:
        if find_labels(source.prompt, plan.numbering, item.size):
            return False
        if plan.tags and (
            find_tags(source.prompt, plan.tags.begin) or find_tags(source.prompt, plan.tags.end)
        ):
            return False
    return True


def hollow_answers(item: EvalItem) -> Damage | None:
    """Every label and tag kept, every answer replaced with 'ok' (where every reference is long
    enough for 'ok' to be a stub: an 'ok' answering a one-word reference fails ``alignment``).
    Not on an unnumbered plan that skips some: which instructions its answers belong to is read
    from their content alone, and 'ok' answers have none ('ok' in one prompt is enough to send
    an answer to a skipped one)."""
    if not (item.plan.numbering or item.plan.tags) or not item.plan.answer_order:
        return None
    if not item.plan.numbering and item.plan.skipped:
        return None
    if any(stub_floor(n) <= 1 for n in _answered_words(item)):
        return None
    return _same(rendered(item, item.plan, {s: "ok" for s in item.plan.sources}), "content")


def stub_answers(item: EvalItem) -> Damage | None:
    """Every answer cut to its first twentieth of words (at least one word)."""
    if not _labelled(item):
        return None
    outputs = {}
    for s in item.plan.sources:
        tokens = item.source(s).output.split()
        outputs[s] = " ".join(tokens[: max(1, len(tokens) // 20)])
    stubs = any(
        len(words(outputs[s])) < stub_floor(n)
        for s, n in zip(item.plan.answer_order, _answered_words(item), strict=True)
    )
    return _same(rendered(item, item.plan, outputs), *(["content"] if stubs else []))


def last_text_dropped(item: EvalItem) -> Damage | None:
    """The last answer's text deleted, its label and tags kept."""
    if not (item.plan.numbering or item.plan.tags) or not item.plan.answer_order:
        return None
    return _same(rendered(item, item.plan, {item.plan.answer_order[-1]: ""}), "content")


def instructions_copied(item: EvalItem) -> Damage | None:
    """Every answer replaced with its own instruction."""
    if not _labelled(item):
        return None
    outputs = {s.index: s.prompt for s in item.sources}
    return _same(rendered(item, item.plan, outputs), "content")


def part_duplicated(item: EvalItem) -> Damage | None:
    """The second answer replaced with the first one's text (two different references): hollow
    (a copy) and not its own instruction's."""
    order = item.plan.answer_order
    if not _labelled(item) or len(order) < 2:
        return None
    first, second = (words(item.source(s).output) for s in order[:2])
    if similarity(first, second) >= COPY_SIMILARITY or len(first) < stub_floor(len(second)):
        return None
    return _same(rendered(item, item.plan, {order[1]: item.source(order[0]).output}), "content", "alignment")


def tie_broken_otherwise(item: EvalItem) -> Damage | None:
    """Two instructions the rule ties on (same first letter or length) answered or skipped the
    other way round from the composer's choice: allowed, so nothing fails."""
    plan = item.plan
    tie = tie_of(plan)
    if tie is not None and tie.what == ORDER_TIE:
        order = list(plan.answer_order)
        for i in range(len(order) - 1):
            if tie_key(item, order[i]) == tie_key(item, order[i + 1]):
                order[i], order[i + 1] = order[i + 1], order[i]
                return _same(rendered(item, replace(plan, answer_order=tuple(order))))
    if tie is not None and tie.what == SKIP_TIE:
        for skip in plan.skipped:
            for other in plan.answer_order:
                if tie_key(item, skip) == tie_key(item, other):
                    skipped = tuple(s for s in plan.sources if s in (set(plan.skipped) - {skip}) | {other})
                    answer = tuple(s for s in plan.sources if s not in skipped)
                    return _same(rendered(item, replace(plan, skipped=skipped, answer_order=answer)))
    return None


def tie_ignored(item: EvalItem) -> Damage | None:
    """Where the rule ties, an answer order that still breaks the rule elsewhere fails ``order``."""
    plan = item.plan
    tie = tie_of(plan)
    if tie is None or tie.what != ORDER_TIE or len(plan.answer_order) < 3:
        return None
    keys = [tie_key(item, s) for s in plan.answer_order]
    if len(set(keys)) == len(keys) or keys[0] == keys[-1]:
        return None
    if item.source(plan.answer_order[0]).output == item.source(plan.answer_order[-1]).output:
        return None
    order = list(plan.answer_order)
    order[0], order[-1] = order[-1], order[0]
    return _same(rendered(item, replace(plan, answer_order=tuple(order))), "order")


DAMAGES: dict[str, Callable[[EvalItem], Damage | None]] = {
    f.__name__: f
    for f in (
        drop_one,
        swap_two,
        answer_skipped,
        answer_twice,
        tags_removed,
        labels_removed,
        tags_case_changed,
        tags_emphasised,
        labels_emphasised,
        labels_indented,
        labels_case_changed,
        preamble_added,
        sign_off_added,
        surrounding_whitespace,
        hollow_answers,
        stub_answers,
        last_text_dropped,
        instructions_copied,
        part_duplicated,
        tie_broken_otherwise,
        tie_ignored,
    )
}


# Corruptions of the references of a real eval set: what the scorer must tell apart (docs/eval.md)
PREAMBLES = ("Sure! Here are the answers:", "Certainly, here you go.", "Here are my responses to each task.")
SIGN_OFFS = (
    "I hope this helps! Let me know if you need anything else.",
    "Feel free to ask if you have more questions.",
    "Hope that is useful, good luck!",
)


@functools.cache
def record_outputs() -> tuple[str, ...]:
    """The reference answers of the 805 AlpacaEval records, in file order."""
    return tuple(r["output"] for r in json.loads(ALPACA_EVAL.read_text(encoding="utf-8")))


@functools.cache
def _by_length() -> list[tuple[int, int]]:
    return sorted((len(text.split()), n) for n, text in enumerate(record_outputs()))


def similar_length_other(item: EvalItem, source: int) -> str:
    """The answer of another record (none of the prompt's) whose word count is nearest ``source``'s."""
    own = {s.output for s in item.sources}
    length = len(item.source(source).output.split())
    ranked = sorted(_by_length(), key=lambda pair: (abs(pair[0] - length), (pair[1] * 7919 + source) % 805))
    return next(record_outputs()[n] for _, n in ranked if record_outputs()[n] not in own)


def _swapped(item: EvalItem) -> str | None:
    order = item.plan.answer_order
    if len(order) < 2:
        return None
    first, last = order[0], order[-1]
    outputs = {first: item.source(last).output, last: item.source(first).output}
    return rendered(item, item.plan, outputs)


def _replaced(item: EvalItem) -> str:
    return rendered(item, item.plan, {s: similar_length_other(item, s) for s in item.plan.answer_order})


def _halved(item: EvalItem) -> str:
    outputs = {}
    for s in item.plan.answer_order:
        tokens = item.source(s).output.split(" ")
        outputs[s] = " ".join(tokens[: max(1, len(tokens) // 2)])
    return rendered(item, item.plan, outputs)


def _shuffled(item: EvalItem) -> str:
    outputs = {}
    for s in item.plan.answer_order:
        tokens = item.source(s).output.split()
        random.Random(s).shuffle(tokens)
        outputs[s] = " ".join(tokens)
    return rendered(item, item.plan, outputs)


def _pick(options: tuple[str, ...], item: EvalItem) -> str:
    return options[int(item.id.rsplit("-", 1)[-1]) % len(options)]


CORRUPTIONS: dict[str, Callable[[EvalItem], str | None]] = {
    "references": lambda item: item.reference,
    "preamble": lambda item: _pick(PREAMBLES, item) + "\n\n" + item.reference,
    "sign_off": lambda item: item.reference + "\n\n" + _pick(SIGN_OFFS, item),
    "preamble_and_sign_off": lambda item: (
        _pick(PREAMBLES, item) + "\n" + item.reference + "\n\n" + _pick(SIGN_OFFS, item)
    ),
    "swapped": _swapped,
    "replaced": _replaced,
    "halved": _halved,
    "shuffled": _shuffled,
}


def corrupted(items: Sequence[EvalItem], name: str) -> dict[str, str]:
    """The ``name`` corruption of each item's reference, where it applies (by prompt id)."""
    out = {}
    for item in items:
        response = CORRUPTIONS[name](item)
        if response is not None:
            out[item.id] = response
    return out
