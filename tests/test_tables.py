"""The template tables: packaged defaults are complete, and bad tables fail at load time."""

from __future__ import annotations

import re

import pytest
import yaml

from mosaicit.errors import MosaicitError
from mosaicit.plan.strategies.maskout import MASK_RULES, MASKOUT
from mosaicit.plan.strategies.permute import PERMUTE, PERMUTE_RULES
from mosaicit.plan.tables.check import fill
from mosaicit.plan.tables.loader import _parse, load_tables, tables_from_data


@pytest.fixture(scope="module")
def tables():
    return load_tables()


def packaged_text() -> str:
    from importlib import resources

    return resources.files("mosaicit.plan.tables").joinpath("default.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def raw():
    return yaml.safe_load(packaged_text())


def test_packaged_tables_read_by_the_fast_loader_are_what_the_guarded_loader_reads(tables):
    """The packaged tables skip the alias guard (libyaml is faster): they must hold no alias,
    and give the same tables either way."""
    guarded = tables_from_data(_parse(packaged_text(), "default.yaml"), "default.yaml")  # raises on an alias
    assert guarded == tables


def test_defaults_have_at_least_the_variants_the_method_describes(tables):
    counts = tables.counts()
    minimums = {
        "numbering.styles": 10,
        "numbering.punctuation": 3,
        "tags.words": 17,
        "tags.brackets": 27,
        "format.tagged": 30,
        "format.tagged_every": 5,
        "format.generic": 7,
    }
    for slot, least in minimums.items():
        assert counts[slot] >= least, slot
    for rule in PERMUTE_RULES:
        assert counts[f"permute.rules.{rule}"] >= 5
    assert "{n}" in tables.numbering_styles, "the plain numbering style is offered"
    assert set(tables.punctuation) == {"", ".", ":"}


def test_no_typos_or_position_words(tables):
    texts = [*tables.format_tagged, *tables.format_tagged_every, *tables.format_generic]
    mask = tables.section(MASKOUT)
    texts += [t for rule in PERMUTE_RULES for t in tables.section(PERMUTE).rules[rule]]
    texts += [t for rule in MASK_RULES for t in mask.one[rule] + mask.many[rule]]
    assert all("BEGAIN" not in w for pair in tables.tag_words for w in pair)
    for text in texts:
        assert not re.search(r"\b(above|below|following)\b", text, re.I), text
        assert text[-1] in ".!?", f"not a finished sentence: {text!r}"
        assert not re.search(r"[a-z] [A-Z][a-z]", text.replace(" A to Z", "")), f"run-on? {text!r}"


def test_fill_is_one_plain_pass():
    assert fill("{begin} and {end}", begin="{end}", end="x") == "{end} and x"
    assert fill("100% {w} {other}", w="{n}") == "100% {n} {other}"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["format"]["tagged"].append("Wrap answers in {begin} only."), "{end}"),
        (
            lambda d: d["format"]["tagged"].append("Use {begin} {end} {colour}."),
            "unknown placeholder {colour}",
        ),
        (lambda d: d["numbering"]["styles"].append("({num})"), "unknown placeholder {num}"),
        (lambda d: d["tags"]["brackets"].append("<{w}{w}>"), "exactly once"),
        (lambda d: d["format"]["generic"].append(d["format"]["generic"][0]), "duplicate"),
        (lambda d: d["format"].__setitem__("generic", []), "non-empty list"),
        (lambda d: d["permute"]["rules"].pop("alpha"), "permute.rules.alpha: missing"),
        (lambda d: d["permute"]["rules"].__setitem__("shout", ["A."]), "unknown entries"),
        (lambda d: d["maskout"]["rules"]["word_long"]["many"].append("Skip the longest."), "{count}"),
        (lambda d: d["permute"]["rules"]["fix"].append("Answer in order."), "{order}"),
        (lambda d: d["tags"]["words"].append(["SAME", "SAME"]), "two different plain words"),
        (lambda d: d["format"]["generic"].append(" padded."), "whitespace"),
        (lambda d: d.__setitem__("version", 2), "version"),
    ],
)
def test_bad_tables_fail_at_load_with_the_slot_named(raw, mutate, message):
    mutate(raw)
    with pytest.raises(MosaicitError) as err:
        tables_from_data(raw, "mine.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("mine.yaml: ")


def test_user_tables_replace_the_defaults(tmp_path, raw):
    raw["format"]["generic"] = ["Do all of these."]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    loaded = load_tables(path)
    assert loaded.format_generic == ("Do all of these.",)
    assert loaded.source == str(path)


def test_unreadable_or_invalid_tables(tmp_path):
    with pytest.raises(MosaicitError, match="cannot read"):
        load_tables(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("numbering: [\n", encoding="utf-8")
    with pytest.raises(MosaicitError, match="not valid YAML"):
        load_tables(bad)
