"""The rule checks: references pass, each kind of damage fails exactly its checks, loose forgives cosmetics."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from eval_helpers import DAMAGES, built, rendered, tie_key
from mosaicit.eval.build import markers
from mosaicit.eval.checks import REGISTRY, Options, Verdict, check_response, register
from mosaicit.eval.evalset import EvalItem, Source
from mosaicit.eval.parse import parse_response
from mosaicit.plan.strategies.maskout import MASK_RULES
from mosaicit.plan.strategies.permute import PERMUTE_RULES
from mosaicit.render.layout import render
from mosaicit.types.plan import Numbering, Plan, Tags

CHECKS = ("instructions", "numbering", "order", "tags", "outside", "content", "alignment", "rules")


def failed(
    item: EvalItem,
    response: str | None,
    mode: str = "strict",
    leftover: int = 0,
    names: tuple[str, ...] = CHECKS,
) -> set[str]:
    outcome = check_response(item, response, Options(mode, leftover), names)
    return {v.name for v in outcome.verdicts if v.applies and not v.passed}


def test_the_built_set_covers_every_strategy_rule_and_marker_kind():
    items = built()
    strategies = Counter(i.plan.strategy for i in items)
    rules = Counter(f"{i.plan.strategy}.{i.plan.rule}" for i in items if i.plan.rule)
    kinds = Counter(markers(i.plan) for i in items)
    assert set(strategies) == {"primary", "format", "permute", "maskout"}
    assert set(rules) == {f"permute.{r}" for r in PERMUTE_RULES} | {f"maskout.{r}" for r in MASK_RULES}
    assert set(kinds) == {"numbers+tags", "numbers", "tags", "none"}
    assert min(kinds.values()) >= 10


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_every_reference_answer_passes_every_check(mode):
    for item in built():
        outcome = check_response(item, item.reference, Options(mode))
        assert outcome.passed, (item.id, [v for v in outcome.verdicts if not v.passed])
        assert outcome.correct == frozenset(item.plan.sources)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_answers_fail_exactly_the_checks_they_should(damage):
    """Strict mode fails the damaged property alone; loose mode forgives exactly the cosmetic damage."""
    tried = 0
    for item in built():
        case = DAMAGES[damage](item)
        if case is None:
            continue
        tried += 1
        assert failed(item, case.response, "strict") == case.strict, (damage, item.id, case.response[:300])
        assert failed(item, case.response, "loose") == case.loose, (damage, item.id, case.response[:300])
    enough = 5 if damage.startswith("tie_") else 20  # ties are rarer: 13 and 8 of the 400 prompts
    assert tried >= enough, f"{damage}: too few prompts to test it on ({tried})"


def test_blame_names_the_instructions_at_fault():
    items = [i for i in built() if len(i.plan.answer_order) >= 3]
    for item in items[:40]:
        plan = item.plan
        dropped = plan.answer_order[1]
        kept = tuple(s for s in plan.answer_order if s != dropped)
        outcome = check_response(item, rendered(item, replace(plan, answer_order=kept)))
        assert set(plan.sources) - outcome.correct == {dropped}
        first, second, *rest = plan.answer_order
        if item.source(first).output != item.source(second).output and tie_key(item, first) != tie_key(
            item, second
        ):
            swapped = rendered(item, replace(plan, answer_order=(second, first, *rest)))
            assert len(set(plan.sources) - check_response(item, swapped).correct) == 1
    for item in [i for i in built() if i.plan.skipped][:20]:
        extra = item.plan.skipped[-1]
        order = tuple(s for s in item.plan.sources if s in item.plan.answer_order or s == extra)
        outcome = check_response(item, rendered(item, replace(item.plan, answer_order=order)))
        assert set(item.plan.sources) - outcome.correct == {extra}


def test_cosmetic_damage_blames_every_answer_in_strict_mode_and_none_in_loose():
    for item in [i for i in built() if i.plan.tags and i.plan.answer_order][:20]:
        case = DAMAGES["tags_case_changed"](item)
        assert case is not None
        strict = check_response(item, case.response, Options("strict"))
        loose = check_response(item, case.response, Options("loose"))
        assert set(item.plan.sources) - strict.correct == set(item.plan.answer_order)
        assert loose.correct == frozenset(item.plan.sources)


def test_leftover_tolerance_counts_visible_characters():
    item = next(i for i in built() if i.plan.numbering and i.plan.answer_order)
    response = "Sure! Here are my answers.\n\n" + item.reference
    assert failed(item, response, leftover=21) == {"outside"}
    assert failed(item, response, leftover=22) == set()  # 22 characters besides the spaces
    assert failed(item, "**\n\n" + item.reference, "strict") == {"outside"}
    assert failed(item, "**\n\n" + item.reference, "loose") == set()


# Small hand-made prompts (short answers: the rule checks alone, then the content check below)
DOTTED = Numbering("{n}", ".", False)
OUTPUTS = ["Apples are red or green.", "The sky is blue.", "Two plus two is four.", "Paris is in France."]
PROMPTS = ["Describe apples.", "What colour is the sky?", "What is 2+2?", "Where is Paris?"]
RULES = tuple(c for c in CHECKS if REGISTRY[c].kind == "layout")
NOT_ALIGNMENT = tuple(c for c in CHECKS if c != "alignment")


def rules_failed(item: EvalItem, response: str | None, mode: str = "strict") -> set[str]:
    return failed(item, response, mode, names=RULES)


def make_item(
    order: tuple[int, ...] = (0, 1, 2, 3),
    skipped: tuple[int, ...] = (),
    numbering: Numbering | None = DOTTED,
    tags: Tags | None = None,
) -> EvalItem:
    plan = Plan(
        sources=(0, 1, 2, 3),
        strategy="maskout" if skipped else "permute" if order != (0, 1, 2, 3) else "format",
        rule=None,
        answer_order=order,
        skipped=skipped,
        numbering=numbering,
        tags=tags,
        instruction_joiner="\n",
        format_meta=None,
        format_meta_first=True,
        format_meta_sep="\n",
        rule_meta=None,
        rule_meta_first=True,
        rule_meta_sep="\n",
    )
    sources = tuple(Source(i, i + 1, PROMPTS[i], OUTPUTS[i]) for i in range(4))
    reference = render(plan, {s.index: s.prompt for s in sources}, {s.index: s.output for s in sources})[1]
    return EvalItem("x", "prompt", [], plan, reference, sources)


@pytest.mark.parametrize(
    ("response", "strict", "loose"),
    [
        ("1. Red or green.\n2. Blue.\n3. Four.\n4. France.", set(), set()),  # single line breaks
        ("1. Red.\n\n2. Three tips:\n1. look up\n2. smile\n\n3. Four.\n\n4. France.", set(), set()),
        (
            "1. Red.\n\n2. Blue.\n\n3. Four.\n\n4. France.\n\n2. Blue again.",
            {"instructions"},
            {"instructions"},
        ),
        ("**1.** Red.\n\n**2.** Blue.\n\n**3.** Four.\n\n**4.** France.", {"numbering"}, set()),
        (
            "1.  Red.\n\n2.\nBlue.\n\n3. Four.\n\n4. France.",
            set(),
            set(),
        ),  # the space or newline after a label
        ("1: Red.\n\n2: Blue.\n\n3: Four.\n\n4: France.", {"numbering"}, {"numbering"}),  # wrong punctuation
        ("1. Red.\n\n3. Four.\n\n2. Blue.\n\n4. France.", {"order"}, {"order"}),
        ("Here you go.\n\n1. Red.\n\n2. Blue.\n\n3. Four.\n\n4. France.", {"outside"}, set()),
        ("", {"instructions"}, {"instructions"}),
    ],
)
def test_numbered_responses(response, strict, loose):
    item = make_item()
    assert rules_failed(item, response, "strict") == strict
    assert rules_failed(item, response, "loose") == loose


@pytest.mark.parametrize(
    "response",
    [
        "1. Red.\n\n2. Blue.\n\n3. Four.\n\n4. France.",
        "**Task 1:** Red.\n\n**Task 2:** Blue.\n\n**Task 3:** Four.\n\n**Task 4:** France.",
        "(1) Red.\n\n(2) Blue.\n\n(4) France.\n\n(3) Four.",
    ],
)
def test_answers_numbered_in_another_style_are_told_apart_by_number(response):
    """The plan asks for '|n|' labels: other label styles fail numbering, but still say which answer is which."""
    item = make_item(numbering=Numbering("|{n}|", "", True))
    expected = {"numbering", "order"} if "(4)" in response else {"numbering"}
    assert rules_failed(item, response, "strict") == rules_failed(item, response, "loose") == expected


def test_a_longer_number_is_not_a_label():
    item = make_item(numbering=Numbering("{n}", "", False))
    assert rules_failed(item, "1 Red.\n\n2 Blue.\n\n3 Four.\n\n4 France.") == set()
    assert "instructions" in rules_failed(item, "12 apples.\n\n2 Blue.\n\n3 Four.\n\n4 France.")


@pytest.mark.parametrize(
    ("response", "strict", "loose"),
    [
        ("<A> Red. </A>\n\n<A> Blue. </A>\n\n<A> Four. </A>\n\n<A> France. </A>", set(), set()),
        ("<a> Red. </a>\n\n<A> Blue. </A>\n\n<A> Four. </A>\n\n<A> France. </A>", {"tags"}, set()),
        (
            "<A> Red. </A> ok\n\n<A> Blue. </A>\n\n<A> Four. </A>\n\n<A> France. </A>",
            {"outside"},
            {"outside"},
        ),
        ("<A> Red. </A>\n\n<A> Blue.\n\n<A> Four. </A>\n\n<A> France. </A>", {"tags"}, {"tags"}),
    ],
)
def test_tagged_unnumbered_responses(response, strict, loose):
    item = make_item(numbering=None, tags=Tags("<A>", "</A>", False))
    assert rules_failed(item, response, "strict") == strict
    assert rules_failed(item, response, "loose") == loose


def test_unnumbered_answers_are_matched_by_content():
    item = make_item(order=(3, 2, 1, 0), numbering=None, tags=Tags("<A>", "</A>", False))
    good = "<A> Paris is a city in France. </A>\n\n<A> 2 plus 2 is 4 </A>\n\n<A> The sky is blue </A>\n\n<A> Apples </A>"
    assert rules_failed(item, good) == set()
    swapped = (
        "<A> Apples </A>\n\n<A> 2 plus 2 is 4 </A>\n\n<A> The sky is blue </A>\n\n<A> Paris is in France </A>"
    )
    assert rules_failed(item, swapped) == {"order"}


def test_skipping_and_missing():
    item = make_item(order=(0, 2), skipped=(1, 3))
    assert rules_failed(item, "1. Red.\n\n3. Four.") == set()
    outcome = check_response(item, "1. Red.\n\n2. Blue.\n\n3. Four.", names=RULES)
    assert {v.name for v in outcome.verdicts if not v.passed} == {"instructions"}
    assert outcome.correct == {0, 2, 3}
    empty = check_response(item, "", names=RULES)
    assert empty.correct == {1, 3}  # nothing answered: the skipped ones are right
    missing = check_response(item, None, names=RULES)
    assert missing.correct == frozenset() and not missing.passed
    assert {v.name for v in missing.verdicts if v.applies and not v.passed} == {
        "instructions",
        "numbering",
        "order",
        "outside",
    }


def test_checks_apply_only_where_the_plan_asks():
    item = make_item(order=(0,), skipped=(1, 2, 3), numbering=None)
    applies = {v.name: v.applies for v in check_response(item, "Red.", names=RULES).verdicts}
    assert applies == {
        "instructions": True,
        "numbering": False,
        "order": False,
        "tags": False,
        "outside": True,
        "rules": False,
    }


def test_new_checks_join_the_registry(monkeypatch):
    monkeypatch.setattr("mosaicit.eval.checks.REGISTRY", dict(REGISTRY))

    @register("short")
    def short(item, parsed, options):
        """Every answer is at most three words."""
        long = [a.source for a in parsed.answers if len(a.text.split()) > 3]
        return Verdict(
            "short", True, not long, "too long" if long else "", frozenset(s for s in long if s is not None)
        )

    from mosaicit.eval import checks

    assert list(checks.REGISTRY) == [*CHECKS, "short"]
    outcome = check_response(
        make_item(), "1. Red.\n\n2. Blue.\n\n3. It is four, of course.\n\n4. France.", names=(*RULES, "short")
    )
    assert not outcome.passed and outcome.correct == {0, 1, 3}
    with pytest.raises(ValueError, match="already registered"):
        register("short")(short)


LONG = Source(
    0,
    1,
    "Explain why the sky is blue in a few sentences.",
    " ".join(["Sunlight scatters off air molecules."] * 8),
)


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (("ok", "It is blue."), "answer 1 is a stub (1 of 40 reference words)"),
        (("", "It is blue."), "answer 1 is empty"),
        (
            ("Explain why the sky is blue in a few sentences.", "It is blue."),
            "answer 1 is a copy of its instruction",
        ),
        (("Blue light is scattered more by the air, so the sky looks blue.", "It is blue."), ""),
        (("Short light waves scatter most.", "It is blue."), ""),  # 5 words: a concise answer, not a stub
        (("Short light waves scatter most.", "Blue."), "answer 2 is a stub (1 of 4 reference words)"),
    ],
)
def test_content_check_names_hollow_answers(answers, reason):
    """Stub floor: min(reference words, max(3, 10% of them)); 40 reference words need 4."""
    item = make_item(order=(0, 1), skipped=(2, 3))
    item = replace(item, sources=(LONG, *item.sources[1:]))
    response = f"1. {answers[0]}\n\n2. {answers[1]}"
    outcome = check_response(item, response, names=NOT_ALIGNMENT)  # 'It is blue.' fits 1 as well as 2
    verdict = next(v for v in outcome.verdicts if v.name == "content")
    assert verdict.reason == reason
    assert outcome.correct == (
        {1, 2, 3} if reason.startswith("answer 1") else {0, 2, 3} if reason else {0, 1, 2, 3}
    )


def test_a_part_copied_from_another_fails_content():
    item = make_item(order=(0, 1), skipped=(2, 3))
    item = replace(item, sources=(LONG, *item.sources[1:]))
    copied = f"1. {LONG.output}\n\n2. {LONG.output}"
    verdict = next(v for v in check_response(item, copied).verdicts if v.name == "content")
    assert verdict.reason == "answer 2 is a copy of the answer to 1" and verdict.blame == {1}


@pytest.mark.parametrize(
    ("rule", "prompts", "order", "skipped", "accepted", "rejected"),
    [
        # alpha: "Apples" and "Apricots" tie; either may come first, but B never before A.
        (
            "alpha",
            ("Banana?", "Apples?", "Apricots?"),
            (1, 2, 0),
            (),
            ["2.\n\n3.\n\n1.", "3.\n\n2.\n\n1."],
            ["1.\n\n2.\n\n3."],
        ),
        # length_word: the two-word instructions tie.
        (
            "length_word",
            ("Say three words.", "Say hi.", "Say bye."),
            (1, 2, 0),
            (),
            ["3.\n\n2.\n\n1."],
            ["1.\n\n2.\n\n3."],
        ),
        # word_long skips one of the two longest (tied): either may be the one skipped.
        (
            "word_long",
            ("Name two colours now.", "Say hi.", "Name two fruits now."),
            (1, 2),
            (0,),
            ["2.\n\n3.", "1.\n\n2."],
            ["1.\n\n3."],
        ),
    ],
)
def test_ties_accept_every_order_the_rule_allows(rule, prompts, order, skipped, accepted, rejected):
    base = make_item()
    sources = tuple(Source(i, i + 1, p, f"Answer {i}.") for i, p in enumerate(prompts))
    plan = replace(
        base.plan, sources=(0, 1, 2), strategy="maskout" if skipped else "permute", rule=rule,
        answer_order=order, skipped=skipped,
    )  # fmt: skip
    item = replace(base, plan=plan, sources=sources)
    for labels in accepted + rejected:
        response = "\n\n".join(f"{line} Answer {int(line[0]) - 1}." for line in labels.split("\n\n"))
        expected = set() if labels in accepted else {"order"} if not skipped else {"instructions"}
        assert rules_failed(item, response) == expected, (rule, labels)


# Chatter around the answers, and which answer is which (alignment), on hand-made prompts
SIGN_OFF = "I hope this helps! Let me know if you need anything else."


@pytest.mark.parametrize(
    ("numbering", "tags"),
    [(DOTTED, None), (DOTTED, Tags("<A>", "</A>", False)), (None, Tags("<A>", "</A>", False)), (None, None)],
)
def test_a_short_preamble_and_sign_off_fail_strict_and_pass_loose_on_every_layout(numbering, tags):
    item = make_item(numbering=numbering, tags=tags)
    for response in (
        "Sure! Here are the answers:\n\n" + item.reference,
        item.reference + "\n\n" + SIGN_OFF,
    ):
        assert failed(item, response, "strict") == {"outside"}, response
        assert failed(item, response, "loose") == set(), response
        parsed = parse_response(item, response)
        assert [a.text for a in parsed.answers] == list(OUTPUTS)  # nothing taken into an answer
        assert (parsed.preamble, parsed.sign_off) in {("Sure! Here are the answers:", ""), ("", SIGN_OFF)}


def test_long_chatter_and_text_between_answers_fail_loose_too():
    """Loose mode forgives 40 words of chatter at either end, never more, never between answers."""
    item = make_item()
    tagged = make_item(numbering=None, tags=Tags("<A>", "</A>", False))
    long = "Thank you for your kind message, which I enjoyed reading. " * 5  # 50 words
    assert failed(item, long + "\n\n" + item.reference, "loose") == {"outside"}
    assert failed(tagged, tagged.reference + "\n\n" + long, "loose") == {"outside"}
    between = tagged.reference.replace("</A>\n\n<A>", "</A>\n\nBy the way.\n\n<A>", 1)
    assert between != tagged.reference and failed(tagged, between, "loose") == {"outside"}


def test_a_closing_paragraph_on_the_topic_stays_in_the_answer():
    item = make_item()
    response = item.reference + "\n\nFrance is in Europe, and Paris is its capital."
    assert failed(item, response, "strict") == set()
    assert parse_response(item, response).answers[-1].text.endswith("Paris is its capital.")


def test_swapped_contents_fail_alignment_and_name_the_other_instruction():
    item = make_item()
    swapped = "1. The sky is blue.\n\n2. Apples are red or green.\n\n3. Two plus two is four.\n\n4. Paris is in France."
    outcome = check_response(item, swapped)
    verdict = next(v for v in outcome.verdicts if v.name == "alignment")
    assert verdict.reason == "answer 1 reads as the answer to 2; answer 2 reads as the answer to 1"
    assert verdict.blame == {0, 1} and outcome.passed_in("layout") and not outcome.passed_in("content")
    assert outcome.correct_in("content") == {2, 3} and outcome.correct_in("layout") == {0, 1, 2, 3}


def test_answers_that_are_nobody_s_fail_alignment_and_paraphrases_pass():
    item = make_item()
    unrelated = "1. Bake the bread slowly.\n\n2. The sky is blue.\n\n3. Two plus two is four.\n\n4. Paris is in France."
    reason = next(v.reason for v in check_response(item, unrelated).verdicts if v.name == "alignment")
    assert reason == "answer 1 is not recognisably its own (share 0.00, next 0.00)"
    paraphrase = (
        "1. Green or red apples.\n\n2. Mostly blue, I think.\n\n3. It makes four.\n\n4. It is in France."
    )
    assert failed(item, paraphrase) == set()
    function_words = (
        "1. Yes, it is.\n\n2. The sky is blue.\n\n3. Two plus two is four.\n\n4. Paris is in France."
    )
    assert failed(item, function_words) == set()  # nothing to tell it by: not judged


def test_instructions_with_near_copies_for_reference_answers_tie():
    item = make_item()
    same = tuple(replace(s, output="Paris is in France.") if s.index in (2, 3) else s for s in item.sources)
    item = replace(item, sources=same)
    swapped = "1. Apples are red or green.\n\n2. The sky is blue.\n\n3. Where is Paris? In France.\n\n4. What is 2+2? Paris is in France."
    assert "alignment" in failed(make_item(), swapped)
    assert "alignment" not in failed(item, swapped)
