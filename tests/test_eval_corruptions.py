"""The corruption table of docs/eval.md: the references of 300 real held-out prompts, corrupted
one way at a time, and how often each corruption passes (strict, loose, layout, content)."""

from __future__ import annotations

import functools
import json
import re

import pytest

from conftest import ALPACA_EVAL, ROOT
from eval_helpers import CORRUPTIONS, PREAMBLES, SIGN_OFFS, corrupted, rendered
from mosaicit.eval import score_answers
from mosaicit.eval.build import build_evalset
from mosaicit.eval.evalset import EvalItem
from mosaicit.eval.score import PromptResult

#: Per corruption: (lowest, highest) share of prompts passing, per column (None: not bounded).
BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "references": {"strict": (1.0, 1.0), "loose": (1.0, 1.0), "content": (1.0, 1.0)},
    "preamble": {"strict": (0.0, 0.05), "loose": (1.0, 1.0), "content": (1.0, 1.0)},
    "sign_off": {"strict": (0.0, 0.05), "loose": (1.0, 1.0), "content": (1.0, 1.0)},
    "preamble_and_sign_off": {"strict": (0.0, 0.05), "loose": (1.0, 1.0), "content": (1.0, 1.0)},
    "swapped": {"strict": (0.0, 0.05), "loose": (0.0, 0.05)},
    "replaced": {"strict": (0.0, 0.05), "loose": (0.0, 0.05), "content": (0.0, 0.05)},
    # What a rule scorer cannot judge: a truncated answer reads as a concise one, and word order
    # is not looked at (only ROUGE-L, --rouge, sees both). These pass, and the table says so.
    "halved": {"strict": (0.9, 1.0), "content": (0.9, 1.0)},
    "shuffled": {"strict": (0.9, 1.0), "content": (0.9, 1.0)},
}


@functools.cache
def held_out() -> tuple[EvalItem, ...]:
    """300 prompts as `mosaicit eval build alpaca_eval_805.json --size 300` makes them (defaults)."""
    return tuple(build_evalset(ALPACA_EVAL, size=300).items)


@functools.cache
def rates(name: str) -> dict[str, float]:
    """The share of prompts (those the corruption applies to) passing in each column."""
    answers = corrupted(held_out(), name)
    items = [i for i in held_out() if i.id in answers]
    data = score_answers(items, answers).to_dict()
    strict, loose = data["strict"]["overall"], data["loose"]["overall"]
    return {
        "prompts": len(items),
        "strict": strict["prompt_accuracy"],
        "loose": loose["prompt_accuracy"],
        "layout": strict["layout"]["prompt_accuracy"],
        "content": strict["content"]["prompt_accuracy"],
    }


def test_every_corruption_has_bounds():
    assert set(BOUNDS) == set(CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_each_corruption_scores_within_its_bounds(name):
    got = rates(name)
    assert got["prompts"] >= 250
    for column, (low, high) in BOUNDS[name].items():
        assert low <= got[column] <= high, (name, column, got)


def test_swapped_contents_fail_content_where_labels_say_which_answer_is_which():
    """Without labels the parser matches answers to instructions by content, so a swap is an order
    error there; with labels the label says which is which and the content check fails it."""
    items = [i for i in held_out() if i.plan.numbering and len(i.plan.answer_order) >= 2]
    answers = corrupted(items, "swapped")
    data = score_answers(items, answers, modes=["strict"]).to_dict()["strict"]["overall"]
    assert data["layout"]["prompt_accuracy"] >= 0.95
    assert data["content"]["prompt_accuracy"] <= 0.05


#: Real answers of a small model: SmolLM2-135M-Instruct (Q4_1 GGUF), greedy, 128 new tokens,
#: through its chat template, to 49 AlpacaEval instructions, each alone.
MODEL_ANSWERS = ROOT / "tests" / "data" / "smollm2_answers.json"


@functools.cache
def model_prompts() -> tuple[tuple[EvalItem, ...], dict[str, str]]:
    """Prompts of 2 to 4 of those instructions, answered (labels and tags as asked) with the
    model's own answers."""
    answers = json.loads(MODEL_ANSWERS.read_text(encoding="utf-8"))
    records = [r for r in json.loads(ALPACA_EVAL.read_text(encoding="utf-8")) if r["instruction"] in answers]
    items = tuple(build_evalset(records, size=16, min_records=2, max_records=4, seed=3).items)
    outputs = {i.id: {s.index: answers[s.prompt].strip() for s in i.sources} for i in items}
    return items, {i.id: rendered(i, i.plan, outputs[i.id]) for i in items}


def test_real_model_answers_to_their_own_instructions_mostly_belong_to_them():
    """A model's own wording shares far fewer words with the reference than the reference does,
    yet most of its answers are recognisably their instruction's (35 of 40; two of the five
    others are off the topic: a thumb war answered about thrombosis, a compliment with thanks)."""
    items, responses = model_prompts()
    results = score_answers(list(items), responses, modes=["strict"]).results
    blamed = sum(
        len(v.blame) for r in results for v in r.outcomes["strict"].verdicts if v.name == "alignment"
    )
    answered = sum(len(r.item.plan.answer_order) for r in results)
    assert answered >= 30 and blamed <= 0.15 * answered, (blamed, answered)


def failing(result: PromptResult, mode: str) -> set[str]:
    return {v.name for v in result.outcomes[mode].verdicts if not v.passed}


@pytest.mark.parametrize("chatter", [*PREAMBLES, *SIGN_OFFS, "Thank you for asking! Have a great day."])
def test_chatter_around_real_model_answers_fails_strict_and_is_forgiven_loose(chatter):
    """Before the first answer or after the last, on the model's own answers (numbered ones among
    them, where the sign-off must not be taken into the last answer)."""
    items, base = model_prompts()
    first = chatter in PREAMBLES
    chatty = {k: f"{chatter}\n\n{v}" if first else f"{v}\n\n{chatter}" for k, v in base.items()}
    pairs = zip(
        score_answers(list(items), base).results, score_answers(list(items), chatty).results, strict=True
    )
    for before, after in pairs:
        assert "outside" not in failing(before, "strict")
        assert failing(after, "strict") == failing(before, "strict") | {"outside"}
        assert failing(after, "loose") == failing(before, "loose")


def test_the_doc_table_lists_every_corruption_with_its_rates():
    doc = (ROOT / "docs" / "eval.md").read_text(encoding="utf-8")
    for name in CORRUPTIONS:
        row = re.search(rf"^\| `{name}` \|.*$", doc, re.M)
        assert row, f"docs/eval.md has no row for {name}"
        cells = [c.strip() for c in row.group(0).strip("|").split("|")]
        got = rates(name)
        shown = [float(c.rstrip("%")) for c in cells[2:6]]
        want = [100 * got[k] for k in ("strict", "loose", "layout", "content")]
        assert shown == pytest.approx(want, abs=0.05), (name, cells)


if __name__ == "__main__":  # print the table's rows for docs/eval.md: python tests/test_eval_corruptions.py
    for corruption in CORRUPTIONS:
        r = rates(corruption)
        cells = [f"{100 * r[k]:.1f}%" for k in ("strict", "loose", "layout", "content")]
        print(f"| `{corruption}` | {r['prompts']} | " + " | ".join(cells) + " |")
