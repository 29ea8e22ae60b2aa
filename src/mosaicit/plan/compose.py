"""Cut shuffled passes over the records into mosaics that fit the token budget.

Each epoch shuffles the usable records and walks through them. For each group a target size
is drawn (the wrap mode) and a style (strategy, numbering, tags, meta-instruction); records
are added one by one while the planned mosaic still fits, and the group ends at its target
size or at the first record that would break the budget, which then starts the next group.
No mosaic is ever re-tokenized to decide this: counts are composed (see :mod:`mosaicit.budget.budget`).

With an answer-share bound (``MosaicConfig.answer_share``), a group is also cut back to the
largest one whose output text takes a share of its tokens within the bound (the output counted
alone, composed like the rest, so exactly where counts compose). A record whose plainest mosaic
(the record alone) is outside the bound is set aside before composing, as ``answer_share``
(:func:`split_usable`), so every other record still has a mosaic in every epoch.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from mosaicit.budget.budget import MEMO_LIMIT, Budget, PieceCounts, Prefix, TextCounts
from mosaicit.plan.config import MosaicConfig, share_within
from mosaicit.plan.planner import base_style, draw_style, make_plan
from mosaicit.plan.seeds import epoch_rng
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.tables.loader import Tables
from mosaicit.render.edits import AnswerFacts, answer_facts, edit_answer
from mosaicit.render.layout import layout, render
from mosaicit.render.templates import BareTemplate, Template
from mosaicit.types.plan import Plan, Style
from mosaicit.types.records import Record, Reject, Sample
from mosaicit.types.segments import Piece, edited_piece


def draw_size(rng: random.Random, mode: str, max_num: int) -> int:
    """The target number of records of one group (``max_length``: unbounded)."""
    if mode == "uniform":
        return rng.randint(1, max_num)
    if mode == "fix_max":
        return max_num
    if mode == "max_length":
        return math.inf  # type: ignore[return-value]
    while True:
        if mode == "exp":
            x = rng.expovariate(1.0)
        elif mode == "pareto":
            x = rng.paretovariate(1.0) - 1.0
        elif mode == "lognormal":
            x = rng.lognormvariate(0.0, 1.0)
        else:  # logistic2
            u = rng.random()
            if not 0.0 < u < 1.0:
                continue
            x = 2.0 * math.log(u / (1.0 - u))
            if x <= 0.0:
                continue
        if x < max_num:
            return max_num - int(x)


@dataclass
class Tally:
    """Counts kept while composing, for the run summary."""

    samples: int = 0
    tokens: int = 0
    max_tokens: int = 0
    sizes: Counter[int] = field(default_factory=Counter)
    strategies: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    verified: int = 0
    token_counts: Counter[int] = field(default_factory=Counter)
    #: With an answer-share bound: the output tokens in all, each sample's share in thousandths
    #: (rounded) and the smallest and largest shares (exact).
    answer_tokens: int = 0
    shares: Counter[int] = field(default_factory=Counter)
    share_range: tuple[float, float] | None = None

    def merge(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.samples += other.samples
        self.tokens += other.tokens
        self.max_tokens = max(self.max_tokens, other.max_tokens)
        self.verified += other.verified
        self.sizes.update(other.sizes)
        self.strategies.update(other.strategies)
        self.rules.update(other.rules)
        self.token_counts.update(other.token_counts)
        self.answer_tokens += other.answer_tokens
        self.shares.update(other.shares)
        if other.share_range is not None:
            self._share_seen(*other.share_range)

    def _share_seen(self, low: float, high: float) -> None:
        if self.share_range is not None:
            low, high = min(low, self.share_range[0]), max(high, self.share_range[1])
        self.share_range = (low, high)

    def add(self, plan: Plan, tokens: int, answer: int | None = None) -> None:
        """Count one emitted sample (``answer``: its output's tokens, where the answer share is bounded)."""
        self.samples += 1
        self.tokens += tokens
        self.max_tokens = max(self.max_tokens, tokens)
        self.token_counts[tokens] += 1
        self.sizes[len(plan.sources)] += 1
        self.strategies[plan.strategy] += 1
        if plan.rule:
            self.rules[f"{plan.strategy}.{plan.rule}"] += 1
        if answer is not None:
            share = answer / tokens if tokens else 0.0
            self.answer_tokens += answer
            self.shares[round(share * 1000)] += 1
            self._share_seen(share, share)


class Composer:
    """Turns records with known token counts into budgeted mosaics."""

    def __init__(
        self,
        config: MosaicConfig,
        budget: Budget,
        tables: Tables,
        template: Template | None = None,
    ) -> None:
        self.config = config
        self.budget = budget
        self.tables = tables
        self.template = template or BareTemplate()
        self.tally = Tally()
        #: Counts compose exactly (space-exact or pre-token-exact) and only the two bare texts
        #: are counted: a record alone counts as its two texts.
        self.bare_exact = budget.exact and isinstance(self.template, BareTemplate)
        #: Moreover (space-exact) a plan's count is a sum of non-negative parts: its pieces alone
        #: are a lower bound. (Newlines that join a pre-token-exact piece's last split piece can
        #: take a token away, so they get no such bound.)
        self.bounded = self.bare_exact and budget.space_exact
        #: What the rules strategy knows of each record's answer, by record index.
        self._facts: dict[int, AnswerFacts] = {}
        #: The counts of each edited output, measured like a record text (exact where those are).
        self._edited: dict[Piece, TextCounts] = {}
        #: The records those two memos (keyed by record position) were worked out from.
        self._memo_records: object = None

    def _real(self, plan: Plan, records: Sequence[Record], counts: PieceCounts) -> int:
        """The real token count of a plan: render it and tokenize it once."""
        instruction, output = self._render(plan, {i: records[i] for i in plan.sources})
        self.tally.verified += 1
        return self.budget.count_texts(self.template.texts(instruction, output, self._system(plan, counts)))

    @staticmethod
    def _render(plan: Plan, members: Mapping[int, Record]) -> tuple[str, str]:
        prompts = {i: members[i].prompt for i in plan.sources}
        outputs = {i: members[i].output for i in plan.answer_order}
        return render(plan, prompts, outputs)

    @staticmethod
    def _system(plan: Plan, counts: PieceCounts) -> str:
        return counts[plan.sources[0]].system

    def measure(
        self, plan: Plan, records: Sequence[Record], counts: PieceCounts, memos: list[Prefix] | None = None
    ) -> tuple[int, bool] | None:
        """``(tokens, settled)`` if ``plan`` fits the budget, else None.

        ``settled`` is False when the fit rests on an estimate that must still be checked.
        ``memos`` let the steps of one growing group share their counting work.
        """
        instruction, output = layout(plan)
        frames = self.template.frame(instruction, output, self._system(plan, counts))
        edited = self._edited_counts(plan, records) if plan.edits else None
        count = self.budget.measure(frames, counts, memos, edited)
        if not self.budget.fits(count.low):
            return None
        if self.budget.fits(count.high):
            return count.tokens, count.exact
        real = self._real(plan, records, counts)
        return (real, True) if self.budget.fits(real) else None

    def answer_tokens(self, plan: Plan, records: Sequence[Record], counts: PieceCounts) -> int:
        """The token count of a plan's output text alone (its answers with their labels and tags):
        composed where counts compose exactly, else the rendered output tokenized once."""
        _, output = layout(plan)
        edited = self._edited_counts(plan, records) if plan.edits else None
        count = self.budget.compose(output, counts, None, edited)
        if count.exact:
            return count.tokens
        self.tally.verified += 1
        return self.budget.count_texts([self._render(plan, {i: records[i] for i in plan.sources})[1]])

    def _accepted(
        self, plan: Plan, tokens: int, settled: bool, records: Sequence[Record], counts: PieceCounts
    ) -> tuple[Plan, int, int | None] | None:
        """A plan that fits the budget by ``tokens`` (settled or not), with its real count and
        (with an answer-share bound) its output's count, if it fits for real and its answer share
        is within the bound; else None."""
        if not settled:
            tokens = self._real(plan, records, counts)
            if not self.budget.fits(tokens):
                return None
        bound = self.config.answer_share
        if bound is None:
            return plan, tokens, None
        answer = self.answer_tokens(plan, records, counts)
        return (plan, tokens, answer) if share_within(answer, tokens, bound) else None

    def _edited_counts(self, plan: Plan, records: Sequence[Record]) -> dict[Piece, TextCounts]:
        """The counts of a plan's edited outputs, by layout piece: each edited text is counted
        once, as a record text is (:meth:`Budget.text_counts`), and remembered."""
        self._own_memos(records)
        known = self._edited
        new = [p for p in map(edited_piece, plan.edits) if p not in known]
        if new:
            if len(known) > MEMO_LIMIT:
                known.clear()
            texts = []
            for piece in new:
                record = records[piece.source]
                texts.append(edit_answer(piece.edit, record.output, record.prompt))  # type: ignore[arg-type]
            known.update(zip(new, self.budget.text_counts(texts), strict=True))
        return known

    def __getstate__(self) -> dict:
        """The composer as sent to a worker: without the memos of the records it has seen."""
        state = self.__dict__.copy()
        state.update(_facts={}, _edited={}, _memo_records=None)
        return state

    def _own_memos(self, records: Sequence[Record]) -> None:
        """Start the memos keyed by record position over when the records are other ones."""
        if records is not self._memo_records:
            self._facts.clear()
            self._edited.clear()
            self._memo_records = records

    def answer_facts(self, members: Sequence[int], records: Sequence[Record]) -> list[AnswerFacts]:
        """What the rules strategy knows of each member's answer (worked out once per record)."""
        self._own_memos(records)
        facts = self._facts
        if len(facts) > MEMO_LIMIT:
            facts.clear()
        for i in members:
            if i not in facts:
                facts[i] = answer_facts(records[i].output, records[i].prompt)
        return [facts[i] for i in members]

    def plan_for(
        self, style: Style, members: Sequence[int], records: Sequence[Record], counts: PieceCounts
    ) -> Plan:
        """The plan of ``members`` under ``style`` (with their answers' facts where the style edits)."""
        answers = self.answer_facts(members, records) if STRATEGIES[style.strategy].edits_answers else None
        return make_plan(style, members, [counts[i].features for i in members], self.tables, answers)

    def plain(self, index: int, counts: PieceCounts) -> Plan:
        """The plainest mosaic of one record: the record alone, in Format with no marks."""
        return make_plan(base_style(), [index], [counts[index].features], self.tables)

    def single_fits(self, index: int, records: Sequence[Record], counts) -> int | None:
        """The token count of a record alone in the plainest mosaic, or None if it does not fit."""
        p, o = counts[index].prompt, counts[index].output
        if self.bare_exact and p.clean and o.clean:  # the plainest mosaic is the two texts as they are
            alone = self.budget.alone(p) + self.budget.alone(o)
            return alone if self.budget.fits(alone) else None
        plan = self.plain(index, counts)
        fit = self.measure(plan, records, counts)
        if fit is None:
            return None
        tokens, settled = fit
        if not settled:
            tokens = self._real(plan, records, counts)
        return tokens if self.budget.fits(tokens) else None

    def compose(
        self,
        records: Sequence[Record],
        counts: PieceCounts,
        usable: Sequence[int],
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[Sample]:
        """Yield ``epochs`` passes of mosaics over the ``usable`` record indices."""
        for epoch in range(self.config.epochs):
            yield from self.compose_epoch(epoch, records, counts, usable, progress)

    def compose_epoch(
        self,
        epoch: int,
        records: Sequence[Record],
        counts: PieceCounts,
        usable: Sequence[int],
        progress: Callable[[int], None] | None = None,
        seed: int | None = None,
    ) -> Iterator[Sample]:
        """One pass: its own seeded shuffle and draws, so epochs can be composed in any order.
        ``seed`` (default: the config's) is the seed of the group or shard being composed."""
        cfg = self.config
        rng = epoch_rng(cfg.seed if seed is None else seed, epoch)
        order = list(usable)
        rng.shuffle(order)
        pos = 0
        while pos < len(order):
            size = draw_size(rng, cfg.wrap_mode, cfg.max_num)
            style = draw_style(rng, cfg, self.tables)
            plan, tokens, answer = self._grow(style, order, pos, size, records, counts)
            pos += len(plan.sources)
            self.tally.add(plan, tokens, answer)
            if progress:
                progress(len(plan.sources))
            yield self._sample(plan, tokens, epoch, records)

    def _grow(self, style, order, pos, size, records, counts) -> tuple[Plan, int, int | None]:
        """The largest group from ``order[pos:]`` (up to ``size``) that fits, with its count (and
        its output's count, with an answer-share bound, which the group must also meet).

        Records are tried one by one and the group ends at the first that does not fit.
        Where counts compose exactly (see :attr:`bounded`), two shortcuts give the same
        groups with less work: a candidate whose pieces alone exceed the limit is rejected
        without being laid out, and Format/Primary groups, whose count can only grow with
        each record, are measured from the largest candidate down.
        """
        avail = min(size, len(order) - pos)
        if self.bounded and STRATEGIES[style.strategy].monotone:
            found = self._grow_monotone(style, order[pos : pos + avail], records, counts)
            if found is not None:
                return found
        fits: list[tuple[Plan, int, bool]] = []
        memos: list[Prefix] = []
        n = 0
        while n < avail:
            members = order[pos : pos + n + 1]
            plan = self.plan_for(style, members, records, counts)
            edited = self._edited_counts(plan, records) if plan.edits and self.bounded else None
            if self.bounded and not self.budget.fits(pieces_floor(plan, counts, edited)):
                break
            fit = self.measure(plan, records, counts, memos)
            if fit is None:
                break
            fits.append((plan, *fit))
            n += 1
        while fits:
            found = self._accepted(*fits.pop(), records, counts)
            if found is not None:
                return found
        return self._alone(order[pos], records, counts)

    def _grow_monotone(self, style, candidates, records, counts) -> tuple[Plan, int, int | None] | None:
        """For Format/Primary under exact counts: measure the largest candidate group whose
        pieces fit, then smaller ones, until one fits (None if some piece is not clean)."""
        floor, largest = 0, 0
        for i in candidates:
            p, o = counts[i].prompt, counts[i].output
            if not (p.clean and o.clean):
                return None
            floor += min(p.sp, p.nl) + min(o.sp, o.nl)
            if not self.budget.fits(floor):
                break
            largest += 1
        for n in range(largest, 0, -1):
            members = candidates[:n]
            plan = make_plan(style, members, [counts[i].features for i in members], self.tables)
            fit = self.measure(plan, records, counts)
            if fit is not None:  # (not settled: e.g. a special-token string in a label)
                found = self._accepted(plan, *fit, records, counts)
                if found is not None:
                    return found
        return self._alone(candidates[0], records, counts)

    def _alone(self, index: int, records, counts) -> tuple[Plan, int, int | None]:
        """The record alone, in the plainest mosaic (usable records always fit so, within the
        answer-share bound: :func:`split_usable`)."""
        plan = self.plain(index, counts)
        alone = self.single_fits(index, records, counts)
        assert alone is not None, "usable records fit alone"
        answer = None if self.config.answer_share is None else self.answer_tokens(plan, records, counts)
        return plan, alone, answer

    def _sample(self, plan: Plan, tokens: int, epoch: int, records: Sequence[Record]) -> Sample:
        members = {i: records[i] for i in plan.sources}  # one read per record
        instruction, output = self._render(plan, members)
        mosaic = plan.to_dict()
        for key in ("sources", "answer_order", "skipped"):
            mosaic[key] = [members[i].index for i in mosaic[key]]
        for edit in mosaic.get("edits", ()):
            edit["source"] = members[edit["source"]].index
        ids = [members[i].id for i in plan.sources]
        if any(i is not None for i in ids):
            mosaic["ids"] = ids
        turns = [members[i].turn for i in plan.sources]
        if any(t is not None for t in turns):
            mosaic["turns"] = turns
        mosaic["tokens"] = tokens
        mosaic["epoch"] = epoch
        return Sample(instruction, output, len(plan.sources), mosaic, members[plan.sources[0]].system)


def pieces_floor(plan: Plan, counts: PieceCounts, edited: Mapping[Piece, TextCounts] | None = None) -> int:
    """The smallest count a plan's record pieces can have, whatever their context; a plan
    holding a piece that is not clean gets 0 (no bound). ``edited``: the counts of its edited
    outputs, by piece."""
    edits = {e.source: e for e in plan.edits}
    total = 0
    for i in plan.sources:
        c = counts[i].prompt
        if not c.clean:
            return 0
        total += min(c.sp, c.nl)
    for i in plan.answer_order:
        edit = edits.get(i)
        c = edited[edited_piece(edit)] if edit and edited is not None else counts[i].output
        if not c.clean:
            return 0
        total += min(c.sp, c.nl)
    return total


#: The reject reasons of :func:`split_usable`: over the budget alone; answer share alone outside the bound.
OVER_BUDGET, ANSWER_SHARE = "over_budget", "answer_share"


def split_usable(
    composer: Composer,
    records: Sequence[Record],
    counts: PieceCounts,
    alone_tokens: Counter[int] | None = None,
    known: Sequence[int | None] | None = None,
) -> tuple[list[int], list[Reject]]:
    """Separate records that fit alone from those over the budget, and (with an answer-share
    bound) from those whose answer share alone is outside it, each reported with its reason
    (:data:`OVER_BUDGET`, :data:`ANSWER_SHARE`); ``alone_tokens`` (if given) counts the usable
    records by their token count as a plain sample. ``known``: each record's
    :meth:`Composer.single_fits`, where the caller has found it already."""
    usable: list[int] = []
    rejects: list[Reject] = []
    for i in range(len(records)):
        alone = known[i] if known is not None else composer.single_fits(i, records, counts)
        problem: tuple[str, str] | None
        if alone is None:
            problem = _over_budget(composer, counts, i)
        else:
            problem = _off_share(composer, records, counts, i, alone)
        if problem is None:
            usable.append(i)
            if alone_tokens is not None and alone is not None:
                alone_tokens[alone] += 1
            continue
        (reason, detail), record = problem, records[i]
        raw = partial(_raw, records, i)
        rejects.append(Reject(record.index, reason, raw, detail, record.id, record.turn))
    return usable, rejects


def _over_budget(composer: Composer, counts: PieceCounts, i: int) -> tuple[str, str]:
    """The reason and detail of record ``i``'s reject when it does not fit alone."""
    about = composer.budget.alone(counts[i].prompt) + composer.budget.alone(counts[i].output)
    return OVER_BUDGET, f"about {about} tokens alone > max_length {composer.budget.max_length}"


def _off_share(
    composer: Composer, records: Sequence[Record], counts: PieceCounts, i: int, alone: int
) -> tuple[str, str] | None:
    """The reason and detail of record ``i``'s reject when its answer share alone (``alone``
    tokens in its plainest mosaic) is outside the bound; None when it is within it, or unbounded."""
    bound = composer.config.answer_share
    if bound is None:
        return None
    answer = composer.answer_tokens(composer.plain(i, counts), records, counts)
    if share_within(answer, alone, bound):
        return None
    share = f"{answer} of its {alone} tokens ({answer / alone:.3f})" if alone else "0 of 0 tokens"
    return ANSWER_SHARE, f"its answer alone takes {share}, outside {bound[0]:g}:{bound[1]:g}"


def _raw(records: Sequence[Record], position: int) -> dict:
    record = records[position]
    raw: dict = {"instruction": record.instruction, "input": record.input, "output": record.output}
    if record.id is not None:
        raw["id"] = record.id
    if record.turn is not None:
        raw["turn"] = record.turn
    return raw
