"""Coherent prompts: no sample holds meta-instructions at odds with each other or with what it does.

By construction (a maskout mosaic never draws a wording that asks for every answer) and by the
load-time walk over the whole table space, which must reject a contradicting wording.
"""

from __future__ import annotations

import json
import random
import re
from importlib import resources

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ALPACA_EVAL, SAMPLE, TOKENIZERS
from mosaicit.cli import main
from mosaicit.errors import MosaicitError
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.planner import draw_style, make_plan
from mosaicit.plan.strategies import STRATEGIES
from mosaicit.plan.strategies.maskout import MASKOUT
from mosaicit.plan.tables.coherence import incoherence
from mosaicit.plan.tables.loader import load_tables, tables_from_data
from mosaicit.run.memory import mosaic
from mosaicit.types.features import PromptFeatures

TABLES = load_tables()
PUT_BACK = "Answer each instruction, placing the answer between {begin} and {end}."
#: An "answer everything" line, as a reader would spot it: each/every/all instructions or tasks
#: with no exception in the same sentence (written apart from the checker's own patterns).
ANSWER_ALL = re.compile(r"\b(each|every|all)\b(\s+(one|of|the|these))*\s+(instruction|task)s?\b", re.I)
EXCEPTION = re.compile(r"\b(except|apart from|skip|leave out|ignore|omit|other|rest|remaining|only)", re.I)


def small_tables() -> dict:
    """A small complete table, one or two wordings a slot: coherent as it is."""
    return {
        "version": 1,
        "numbering": {"styles": ["{n}", "[{n}]"], "punctuation": ["", "."]},
        "tags": {"words": [["BEGIN", "END"]], "brackets": ["<{w}>"]},
        "format": {
            "tagged": ["Wrap each answer between {begin} and {end}."],
            "tagged_every": ["Answer every instruction, wrapping each answer in {begin} and {end}."],
            "generic": ["Respond to each of these instructions."],
        },
        "permute": {
            "sequence_styles": ["{items}"],
            "sequence_separators": [", "],
            "rules": {
                "fix": ["Answer in this order: {order}."],
                "reverse": ["Answer the last instruction first and the first one last."],
                "alpha": ["Answer alphabetically by first letter."],
                "reverse_alpha": ["Answer from Z to A by first letter."],
                "length_word": ["Answer the one with the fewest words first."],
                "reverse_length_word": ["Answer the one with the most words first."],
                "length_char": ["Answer the one with the fewest characters first."],
                "reverse_length_char": ["Answer the one with the most characters first."],
                "odd_even": ["Answer the odd-numbered ones, then the even-numbered ones."],
                "even_odd": ["Answer the even-numbered ones, then the odd-numbered ones."],
            },
        },
        "maskout": {
            "list_styles": ["{items}"],
            "list_separators": [", "],
            "rules": {
                "fix": {"one": ["Skip instruction {skip}."], "many": ["Skip instructions {skip}."]},
                "word_long": {
                    "one": ["Skip the longest instruction."],
                    "many": ["Skip the {count} longest."],
                },
                "word_short": {
                    "one": ["Skip the shortest instruction."],
                    "many": ["Skip the {count} shortest."],
                },
                "odd": ["Answer only the even-numbered instructions."],
                "even": ["Answer only the odd-numbered instructions."],
            },
        },
    }


def test_the_packaged_tables_pass_the_walk_over_every_sample_they_can_make():
    assert incoherence(TABLES, STRATEGIES) is None
    assert tables_from_data(small_tables(), "small.yaml").format_tagged_every


@pytest.mark.parametrize(
    ("slot", "wording", "message"),
    [  # each puts back a wording that contradicts a sample it can be drawn in
        (
            ("format", "tagged"),
            PUT_BACK,
            "format.tagged[1]: 'Answer each instruction, placing the answer between {begin} and {end}.' "
            "asks for an answer to every instruction, but it is drawn in a maskout mosaic (rule fix) beside "
            "maskout.rules.fix.one[0] 'Skip instruction {skip}.', which leaves some instructions unanswered",
        ),
        (
            ("format", "generic"),
            "Answer the instructions in the order shown.",
            "format.generic[1]: 'Answer the instructions in the order shown.' asks for the answers in the order "
            "shown, but it is drawn in a permute mosaic (rule fix) beside permute.rules.fix[0] "
            "'Answer in this order: {order}.', which answers in another order than shown",
        ),
        (
            ("format", "tagged_every"),
            "Answer the numbered instructions, each between {begin} and {end}.",
            "refers to instruction numbers, but it is drawn in a mosaic without numbering, which shows no numbers",
        ),
        (
            ("format", "generic"),
            "Answer every task but skip one of them.",
            "asks to leave instructions unanswered, but it is drawn in a mosaic, which answers every instruction",
        ),
        (
            ("format", "tagged"),
            "Answer backwards, each between {begin} and {end}.",
            "asks for another order than the one shown, but it is drawn in a mosaic, which answers in the order shown",
        ),
        (
            ("maskout", "rules", "odd"),
            "Answer all of the instructions.",
            "maskout.rules.odd[1]: 'Answer all of the instructions.' asks for an answer to every instruction, "
            "but it is drawn in a maskout mosaic (rule odd), which leaves some instructions unanswered",
        ),
        (
            ("permute", "rules", "reverse"),
            "Skip the first instruction.",
            "permute.rules.reverse[1]: 'Skip the first instruction.' asks to leave instructions unanswered",
        ),
        (
            ("permute", "rules", "length_word"),
            "Answer instruction number 1 first.",
            "refers to instruction numbers, but it is drawn in a permute mosaic without numbering (rule length_word)",
        ),
    ],
)
def test_a_contradicting_wording_fails_the_walk_naming_its_entry(tmp_path, slot, wording, message):
    data = small_tables()
    node = data
    for key in slot:
        node = node[key]
    node.append(wording)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(MosaicitError) as err:
        load_tables(path)
    line = str(err.value)
    assert line.startswith(f"{path}: ") and "\n" not in line
    assert message in line
    node.remove(wording)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_tables(path).source == str(path), "the same table without it loads"


def test_the_old_contradicting_paraphrase_put_back_in_the_packaged_tables_fails():
    raw = yaml.safe_load(
        resources.files("mosaicit.plan.tables").joinpath("default.yaml").read_text(encoding="utf-8")
    )
    raw["format"]["tagged"].append(PUT_BACK)
    with pytest.raises(MosaicitError, match=r"^mine\.yaml: format\.tagged\[38\]: .* maskout mosaic"):
        tables_from_data(raw, "mine.yaml")


def test_user_tables_with_a_contradiction_stop_the_run_with_one_line(tmp_path):
    data = small_tables()
    data["format"]["tagged"].append(PUT_BACK)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    for args in (
        ["augment", str(SAMPLE), "-o", str(out), "-q", "--tables", str(bad)],
        ["tables", "validate", str(bad)],
    ):
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"mosaicit: error: {bad}: format.tagged[1]: ")
        assert "every instruction" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_tables_without_the_tagged_every_slot_still_load():
    data = small_tables()
    del data["format"]["tagged_every"]
    assert tables_from_data(data, "old.yaml").format_tagged_every == ()
    data["format"]["tagged_all"] = ["Answer all, each between {begin} and {end}."]
    with pytest.raises(MosaicitError, match=r"format: unknown entries \['tagged_all'\]"):
        tables_from_data(data, "old.yaml")


PROMPTS = [PromptFeatures.of(t) for t in ("one two three", "Alpha", "beta gamma", "delta", "x y", "zeta eta")]


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(1, 6),
    tag_rate=st.sampled_from([0.0, 0.5, 1.0]),
    no_numbering_rate=st.sampled_from([0.0, 0.1, 1.0]),
)
def test_a_mosaic_that_skips_never_draws_an_answer_everything_line(seed, size, tag_rate, no_numbering_rate):
    config = MosaicConfig(
        weights={"format": 1, "permute": 1, "maskout": 3},
        tag_rate=tag_rate,
        generic_meta_rate=1.0,
        no_numbering_rate=no_numbering_rate,
    )
    style = draw_style(random.Random(seed), config, TABLES)
    plan = make_plan(style, list(range(size)), PROMPTS[:size], TABLES)
    every = set(TABLES.format_generic)
    if plan.tags:
        every |= {
            t.replace("{begin}", plan.tags.begin).replace("{end}", plan.tags.end)
            for t in TABLES.format_tagged_every
        }
    if style.strategy == MASKOUT:
        assert plan.format_meta not in every
        assert plan.format_meta is None or not ANSWER_ALL.search(plan.format_meta)
    if plan.skipped:
        assert plan.strategy == MASKOUT and plan.answer_order
    if not plan.tags and style.strategy != MASKOUT:
        assert plan.format_meta in TABLES.format_generic, "Format and Permute keep the generic line"


def test_no_maskout_mosaic_of_real_data_says_answer_everything():
    """The 805 AlpacaEval records with Llama-2 at 1200 tokens: 27% of maskout mosaics carried a
    line asking for every answer beside their skip rule before the fix."""
    records = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))
    samples = list(mosaic(records, MosaicConfig(max_length=1200), tokenizer=str(TOKENIZERS / "llama-2")))
    masked = [s for s in samples if s.mosaic["strategy"] == MASKOUT]
    assert len(masked) > 150 and sum(1 for s in masked if s.mosaic["tags"]) > 50
    generic = set(TABLES.format_generic)
    for sample in masked:
        meta = sample.mosaic["format_meta"]
        rule_meta = sample.mosaic["rule_meta"]
        assert sample.mosaic["skipped"] and rule_meta in sample.instruction
        assert not any(line in sample.instruction for line in generic), sample.instruction
        if meta is not None:
            assert not ANSWER_ALL.search(meta), meta
            assert sample.mosaic["tags"]["begin"] in meta
        for sentence in re.split(r"(?<=[.!?])\s", rule_meta):
            assert not ANSWER_ALL.search(sentence) or EXCEPTION.search(sentence), rule_meta
    others = [s for s in samples if s.mosaic["strategy"] != MASKOUT and s.count > 1]
    assert any(s.mosaic["format_meta"] in generic for s in others), "the generic lines are still used"
