"""Score model answers against an eval set: rule checks per prompt, accuracies per group.

Prompt-level accuracy: the share of prompts whose response passes every check that applies.
Instruction-level accuracy: the share of instructions (answered and skipped, over all prompts)
that no failing check blames. Both are also given for the layout checks alone and the content
checks alone (:data:`~mosaicit.eval.checks.KINDS`); strict accuracy needs both. A missing answer
fails every check and every instruction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaicit.errors import InputError, MosaicitError
from mosaicit.eval.build import markers, rule_key
from mosaicit.eval.checks import KINDS, MODES, REGISTRY, Options, Outcome, run_checks
from mosaicit.eval.evalset import EvalItem, iter_jsonl, read_evalset
from mosaicit.eval.parse import Parsed, parse_response
from mosaicit.eval.plugins import unchecked
from mosaicit.eval.rouge import rouge_l
from mosaicit.eval.ties import resolve_ties

GROUPS: dict[str, Callable[[EvalItem], str]] = {
    "strategy": lambda item: item.plan.strategy,
    "rule": lambda item: rule_key(item.plan),
    "instructions": lambda item: str(item.size),
    "markers": lambda item: markers(item.plan),
}
EXAMPLES = 5


@dataclass
class Answers:
    """Responses by prompt id, and what was odd about the answers file."""

    responses: dict[str, str]
    read: int = 0
    duplicate_ids: list[str] = field(default_factory=list)


def read_answers(path: str | Path, id_key: str = "id", response_key: str = "response") -> Answers:
    """Read ``{id, response}`` JSONL; a repeated id keeps its first response and is counted."""
    answers = Answers({})
    for lineno, row in iter_jsonl(path):
        answers.read += 1
        if not isinstance(row, dict):
            raise InputError(str(path), f"line {lineno}: expected an object, got {type(row).__name__}")
        for key in (id_key, response_key):
            if key not in row:
                raise InputError(
                    str(path), f"line {lineno}: missing field {key!r} (see --id-key/--response-key)"
                )
        response = row[response_key]
        if not isinstance(response, str):
            raise InputError(
                str(path),
                f"line {lineno}: field {response_key!r} must be a string, got {type(response).__name__}",
            )
        key = str(row[id_key])
        if key in answers.responses:
            answers.duplicate_ids.append(key)
        else:
            answers.responses[key] = response
    return answers


@dataclass
class PromptResult:
    """The outcome of one prompt in each mode, and its content score if asked for."""

    item: EvalItem
    response: str | None
    outcomes: dict[str, Outcome]
    rouge_l: float | None = None
    method: str = ""
    parts_rouge_l: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """This prompt's row: its groups, then per mode the composite, layout and content verdicts,
        instruction counts and every registered check (applies, passed, reason, blamed numbers)."""
        item = self.item
        row: dict[str, Any] = {"id": item.id, "answered": self.response is not None, "method": self.method}
        row |= {by: key(item) for by, key in GROUPS.items()}
        for mode, o in self.outcomes.items():
            row[mode] = {
                "passed": o.passed,
                **{kind: o.passed_in(kind) for kind in KINDS},
                "instructions": o.instructions,
                "instructions_correct": len(o.correct),
                **{f"{kind}_instructions_correct": len(o.correct_in(kind)) for kind in KINDS},
                "checks": {
                    v.name: {
                        "applies": v.applies,
                        "passed": v.passed,
                        "reason": v.reason,
                        "blame": sorted(item.plan.number_of(s) for s in v.blame),
                    }
                    for v in o.verdicts
                },
            }
        if self.rouge_l is not None:
            row["rouge_l"] = round(self.rouge_l, 4)
        if self.parts_rouge_l is not None:
            row["parts_rouge_l"] = round(self.parts_rouge_l, 4)
        return row


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _accuracies(outcomes: Sequence[Outcome], kind: str | None) -> dict[str, Any]:
    """Prompts passed and instructions correct, with every check (``kind`` None) or one kind's."""
    passed = sum(o.passed if kind is None else o.passed_in(kind) for o in outcomes)
    correct = sum(len(o.correct if kind is None else o.correct_in(kind)) for o in outcomes)
    return {
        "prompts_passed": passed,
        "prompt_accuracy": _rate(passed, len(outcomes)),
        "instructions_correct": correct,
        "instruction_accuracy": _rate(correct, sum(o.instructions for o in outcomes)),
    }


def stats(results: Sequence[PromptResult], mode: str) -> dict[str, Any]:
    """Counts and accuracies of some prompts in one mode: with every check (the composite), with
    the layout checks alone and with the content checks alone, and each check's pass counts."""
    outcomes = [r.outcomes[mode] for r in results]
    checks: dict[str, dict[str, int]] = {}
    for o in outcomes:
        for v in o.verdicts:
            slot = checks.setdefault(v.name, {"applies": 0, "passed": 0})
            slot["applies"] += v.applies
            slot["passed"] += v.applies and v.passed
    data: dict[str, Any] = {"prompts": len(outcomes), "instructions": sum(o.instructions for o in outcomes)}
    data |= _accuracies(outcomes, None)
    data |= {kind: _accuracies(outcomes, kind) for kind in KINDS}
    data["checks"] = checks
    return data


def parts_rouge_l(item: EvalItem, parsed: Parsed) -> float:
    """Mean ROUGE-L F1 of each answer against its own instruction's reference answer, over the
    instructions to answer (an instruction not answered scores 0; a repeat's first answer counts)."""
    first: dict[int, str] = {}
    for answer in parsed.answers:
        if answer.source is not None:
            first.setdefault(answer.source, answer.text)
    wanted = resolve_ties(item, list(first)).answer_order
    if not wanted:
        return 1.0 if not first else 0.0
    scores = [rouge_l(first[s], item.source(s).output) if s in first else 0.0 for s in wanted]
    return sum(scores) / len(scores)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def content_stats(results: Sequence[PromptResult]) -> dict[str, Any]:
    """Mean ROUGE-L F1 of the whole responses against the whole references, and of each part
    against its own reference (a missing answer scores 0 in both)."""
    return {
        "prompts": len(results),
        "rouge_l": _mean([r.rouge_l or 0.0 for r in results]),
        "parts_rouge_l": _mean([r.parts_rouge_l or 0.0 for r in results]),
    }


@dataclass
class Report:
    """Every prompt's result and the bookkeeping of the answers file."""

    results: list[PromptResult]
    modes: tuple[str, ...]
    answers_read: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    content: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Ids of prompts with no answer."""
        return [r.item.id for r in self.results if r.response is None]

    def groups(self, by: str) -> dict[str, list[PromptResult]]:
        """The results split by a :data:`GROUPS` key, in sorted group order."""
        out: dict[str, list[PromptResult]] = {}
        for r in self.results:
            out.setdefault(GROUPS[by](r.item), []).append(r)
        return {k: out[k] for k in sorted(out, key=lambda k: (len(k), k) if k.isdigit() else (0, k))}

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        data: dict[str, Any] = {
            "counts": {
                "prompts": len(self.results),
                "answers_read": self.answers_read,
                "missing": len(self.missing),
                "unknown_ids": len(self.unknown_ids),
                "duplicate_ids": len(self.duplicate_ids),
            },
            "examples": {
                "missing": self.missing[:EXAMPLES],
                "unknown_ids": self.unknown_ids[:EXAMPLES],
                "duplicate_ids": self.duplicate_ids[:EXAMPLES],
            },
            "options": self.options,
        }
        for mode in self.modes:
            data[mode] = {"overall": stats(self.results, mode)}
            for by in GROUPS:
                data[mode][f"by_{by}"] = {k: stats(v, mode) for k, v in self.groups(by).items()}
        if self.content:
            data["content"] = {"overall": content_stats(self.results)}
            for by in GROUPS:
                data["content"][f"by_{by}"] = {k: content_stats(v) for k, v in self.groups(by).items()}
        return data

    def details(self) -> Iterable[dict[str, Any]]:
        """One row per prompt (:meth:`PromptResult.to_dict`)."""
        for r in self.results:
            yield r.to_dict()


def score_answers(
    evalset: str | Path | Sequence[EvalItem],
    answers: str | Path | Mapping[str, str],
    id_key: str = "id",
    response_key: str = "response",
    modes: Sequence[str] = MODES,
    leftover: int = 0,
    content: bool = False,
    checks: Sequence[str] | None = None,
) -> Report:
    """Check every answer against its prompt's plan in each mode; optionally score content (ROUGE-L)."""
    for mode in modes:
        if mode not in MODES:
            raise MosaicitError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    unknown_checks = [c for c in checks or () if c not in REGISTRY]
    if unknown_checks:
        raise MosaicitError(f"unknown check {unknown_checks[0]!r} (one of {', '.join(REGISTRY)})")
    if leftover < 0:
        raise MosaicitError(f"--leftover must be at least 0, got {leftover}")
    items = read_evalset(evalset) if isinstance(evalset, str | Path) else list(evalset)
    unchecked(items)
    if isinstance(answers, str | Path):
        read = read_answers(answers, id_key, response_key)
    else:
        read = Answers(dict(answers), len(answers))
    known = {item.id for item in items}
    report = Report([], tuple(modes), read.read, content=content)
    report.unknown_ids = [i for i in read.responses if i not in known]
    report.duplicate_ids = read.duplicate_ids
    report.options = {"modes": list(modes), "leftover": leftover, "checks": list(checks or REGISTRY)}
    for item in items:
        response = read.responses.get(item.id)
        parsed = None if response is None else parse_response(item, response)
        outcomes = {m: run_checks(item, parsed, Options(m, leftover), checks) for m in modes}
        score = parts = None
        if content and response is not None and parsed is not None:
            score, parts = rouge_l(response, item.reference), parts_rouge_l(item, parsed)
        method = parsed.method if parsed else "missing"
        report.results.append(PromptResult(item, response, outcomes, score, method, parts))
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_report(report: Report) -> str:
    """The report as terminal tables: accuracies per group, then pass rates per check."""
    header = ["group", "prompts"]
    for mode in report.modes:
        header += [f"{mode} prompt", f"{mode} layout", f"{mode} content", f"{mode} instr"]
    if report.content:
        header += ["rouge-l", "parts rouge-l"]
    rows = [header]
    sections = [("all", {"": report.results})] + [(by, report.groups(by)) for by in GROUPS]
    for by, groups in sections:
        for name, results in groups.items():
            row = [f"{by} {name}".strip(), str(len(results))]
            for mode in report.modes:
                s = stats(results, mode)
                row += [_pct(s["prompt_accuracy"]), _pct(s["layout"]["prompt_accuracy"])]
                row += [_pct(s["content"]["prompt_accuracy"]), _pct(s["instruction_accuracy"])]
            if report.content:
                scores = content_stats(results)
                row += [f"{scores['rouge_l']:.3f}", f"{scores['parts_rouge_l']:.3f}"]
            rows.append(row)
    lines = _table(rows)
    check_rows = [["check", "kind", "applies"] + [f"{mode} pass" for mode in report.modes]]
    overall = {mode: stats(report.results, mode)["checks"] for mode in report.modes}
    for name in overall[report.modes[0]]:
        applies = overall[report.modes[0]][name]["applies"]
        row = [name, REGISTRY[name].kind, str(applies)]
        row += [_pct(_rate(overall[m][name]["passed"], applies)) for m in report.modes]
        check_rows.append(row)
    counts = report.to_dict()["counts"]
    head = (
        f"{counts['prompts']} prompts, {counts['answers_read']} answers read: {counts['missing']} missing "
        f"(scored as failures), {counts['unknown_ids']} with unknown ids (ignored), "
        f"{counts['duplicate_ids']} duplicate ids (first kept)"
    )
    return "\n".join([head, "", *lines, "", *_table(check_rows)])


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
