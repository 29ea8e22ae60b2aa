"""Fuzzing: the readers give records or one MosaicitError, never another exception; the composer
uses every record exactly ``epochs`` times or rejects it with a reason."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaicit.budget.tokens import load_counter
from mosaicit.errors import MosaicitError
from mosaicit.io.shapes import to_row
from mosaicit.io.sources import ReadStats, read_conversations
from mosaicit.plan.config import MosaicConfig
from mosaicit.plan.tables.loader import load_tables
from mosaicit.run.groups import Run
from mosaicit.types.records import Record

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Text with the awkward parts: lone surrogates, NUL, BOM, line and paragraph separators, emoji.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(["\ud800", "\udfff", "\x00", "\ufeff", "\u2028", "\r", "\n", " ", "😀", "{", '"']),
    ),
    max_size=20,
)
KEYS = st.sampled_from(
    ["instruction", "input", "output", "id", "system", "history", "conversations", "messages", "from",
     "value", "role", "content", "prompt", "completion", "human", "gpt", "user", "assistant"]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT | KEYS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | TEXT, inner, max_size=5),
    max_leaves=20,
)


def read_all(path: Path, on_bad: str) -> None:
    """Read every record; anything but a MosaicitError fails the test."""
    stats = ReadStats()
    try:
        conversations = list(read_conversations(path, on_bad=on_bad, stats=stats))
    except MosaicitError:
        return  # the CLI shows it as one line (see mosaicit.clihelp.user_errors)
    assert len(conversations) + len(stats.rejects) <= stats.read
    for conv in conversations:  # a record that is read can be tokenized and written as UTF-8
        json.dumps(to_row(conv, "messages"), ensure_ascii=False).encode("utf-8")
    for reject in stats.rejects:  # the rejects file can hold every set-aside record
        from mosaicit.io.wellformed import dumps_escaped

        dumps_escaped(reject.raw()).encode("utf-8")


@FUZZ
@given(
    data=st.binary(max_size=300),
    suffix=st.sampled_from([".jsonl", ".json"]),
    on_bad=st.sampled_from(["error", "skip"]),
)
def test_random_bytes_are_records_or_one_error(tmp_path_factory, data, suffix, on_bad):
    path = tmp_path_factory.mktemp("bytes") / f"d{suffix}"
    path.write_bytes(data)
    read_all(path, on_bad)


#: A value nested ``depth`` lists deep, as JSON text.
DEEP = st.integers(0, 20_000).map(lambda depth: "[" * depth + "]" * depth)


@settings(FUZZ, max_examples=60)
@given(
    items=st.lists(JSON.map(json.dumps) | DEEP, max_size=5),
    layout=st.sampled_from(["jsonl", "array"]),
    on_bad=st.sampled_from(["error", "skip"]),
)
def test_random_json_shapes_are_records_or_one_error(tmp_path_factory, items, layout, on_bad):
    folder = tmp_path_factory.mktemp("json")
    if layout == "jsonl":
        path = folder / "d.jsonl"
        path.write_text("".join(item + "\n" for item in items), encoding="utf-8")
    else:
        path = folder / "d.json"
        path.write_text("[" + ", ".join(items) + "]", encoding="utf-8")
    read_all(path, on_bad)


@settings(FUZZ, max_examples=40)
@given(items=st.lists(st.dictionaries(KEYS, JSON, max_size=4), max_size=5))
def test_random_record_dicts_are_records_or_one_error(items):
    try:
        conversations = list(read_conversations(items, on_bad="skip"))
    except MosaicitError:
        return
    for conv in conversations:
        json.dumps(to_row(conv, "messages"), ensure_ascii=False).encode("utf-8")


COUNTER = load_counter(None)
TABLES = load_tables()
WORDS = st.text(alphabet=st.sampled_from("ab c\n!?.1é😀 "), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=30),
    epochs=st.integers(1, 3),
    max_num=st.integers(1, 6),
    max_length=st.integers(8, 120),
    wrap_mode=st.sampled_from(["uniform", "max_length", "fix_max", "pareto"]),
    seed=st.integers(0, 2**16),
)
def test_the_composer_uses_every_record_epochs_times_or_rejects_it(
    texts, epochs, max_num, max_length, wrap_mode, seed
):
    records = [Record(i, a.strip(), b.strip()) for i, (a, b) in enumerate(texts) if a.strip() and b.strip()]
    config = MosaicConfig(
        epochs=epochs, max_num=max_num, max_length=max_length, wrap_mode=wrap_mode, seed=seed
    )
    run = Run(config, COUNTER, TABLES)
    used: Counter[int] = Counter()
    by_index = {r.index: r for r in records}
    for sample in run.samples(records):
        assert sample.mosaic["tokens"] <= max_length
        assert wrap_mode == "max_length" or len(sample.mosaic["sources"]) <= max_num  # else: as many as fit
        used.update(sample.mosaic["sources"])
    rejected = {r.index for r in run.rejects}
    assert all(r.reason == "over_budget" and r.detail for r in run.rejects)
    assert rejected.isdisjoint(used)
    assert set(used) | rejected == set(by_index)
    assert all(n == epochs for n in used.values())
    assert run.usable == len(used)
