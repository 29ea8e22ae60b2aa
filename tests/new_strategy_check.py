"""The ``eval`` check that the throwaway strategy of ``test_plan_new_strategy.py`` declares in its
``eval_checks``: ``mosaicit.eval`` imports this module when it loads the strategies' checks."""

from __future__ import annotations

from mosaicit.eval import EvalItem, Options, Verdict, register
from mosaicit.eval.parse import Parsed
from mosaicit.types.features import PromptFeatures

CHECK = "wordiest"


@register(CHECK, applies=lambda item: item.plan.strategy == "wordiest")
def wordiest_first(item: EvalItem, parsed: Parsed, options: Options) -> Verdict:
    """The first answer given is to an instruction with the most words (any of them, if several)."""
    words = {s.index: PromptFeatures.of(s.prompt).words for s in item.sources}
    first = next((a.source for a in parsed.answers if a.source is not None), None)
    if first is not None and words[first] == max(words.values()):
        return Verdict(CHECK, True, True)
    return Verdict(CHECK, True, False, "the first answer is not to a wordiest instruction")
