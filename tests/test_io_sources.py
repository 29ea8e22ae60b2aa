"""Shape detection, normalisation, the streaming JSON reader, Parquet and saved HF datasets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ALPACA_EVAL, SHAREGPT
from mosaicit.errors import InputError, MosaicitError
from mosaicit.io import jsonstream
from mosaicit.io.formats import Columns
from mosaicit.io.shapes import detect, normalise, to_row
from mosaicit.io.sources import ReadStats, read_conversations

DETECT = [
    ({"instruction": "a", "output": "b"}, Columns(), "alpaca"),
    ({"instruction": "a", "input": "", "output": "b", "history": []}, Columns(), "alpaca"),
    ({"conversations": [{"from": "human", "value": "a"}]}, Columns(), "sharegpt"),
    ({"conversations": [{"role": "user", "content": "a"}]}, Columns(), "messages"),
    ({"messages": [{"role": "user", "content": "a"}]}, Columns(), "messages"),
    ({"messages": [{"from": "human", "value": "a"}]}, Columns(), "sharegpt"),
    ({"prompt": "a", "completion": "b"}, Columns(), "prompt-completion"),
    ({"prompt": [{"role": "user", "content": "a"}], "completion": []}, Columns(), "prompt-completion"),
    ({"question": "a", "answer": "b"}, Columns(instruction="question", output="answer"), "alpaca"),
    ({"dialog": [{"speaker": "user", "text": "a"}]}, Columns(messages="dialog", role="speaker"), "sharegpt"),
    ({"question": "a", "answer": "b"}, Columns(), None),
    ({"text": "a"}, Columns(), None),
    (["instruction", "output"], Columns(), None),
    ("a string", Columns(), None),
]


@pytest.mark.parametrize(("item", "cols", "shape"), DETECT)
def test_detect(item, cols, shape):
    assert detect(item, cols) == shape


ROLE_VARIANTS = (
    ["human", "Human", "USER", "user", "prompter"],
    ["gpt", "assistant", "bot", "chatgpt", "model"],
)


@pytest.mark.parametrize("user", ROLE_VARIANTS[0])
@pytest.mark.parametrize("assistant", ROLE_VARIANTS[1])
def test_role_names_are_normalised(user, assistant):
    item = {"conversations": [{"from": user, "value": "q"}, {"from": assistant, "value": "a"}]}
    conv = normalise(item, "sharegpt", Columns(), "f", 0)
    assert conv.messages() == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def _sg(*roles: str) -> dict:
    return {"conversations": [{"from": r, "value": f"text {i}"} for i, r in enumerate(roles)]}


BAD = [
    (_sg("gpt", "human"), "sharegpt", "roles out of order: message 1 is a assistant message, expected user"),
    (_sg("human", "human", "gpt"), "sharegpt", "message 2 is a user message, expected assistant"),
    (_sg("human", "gpt", "human"), "sharegpt", "ends with a user message"),
    (_sg("human", "gpt", "system", "human", "gpt"), "sharegpt", "a system message after the first message"),
    (_sg("system"), "sharegpt", "empty conversation"),
    (_sg(), "sharegpt", "empty conversation"),
    (_sg("human", "wizard"), "sharegpt", "unknown role 'wizard'"),
    (_sg("human", "function_call"), "sharegpt", "tool-use role 'function_call' is not supported"),
    ({"conversations": [{"from": "human"}]}, "sharegpt", "missing message 1 'value'"),
    ({"conversations": [{"value": "x"}]}, "sharegpt", "no 'from' key"),
    ({"conversations": [{"from": "human", "value": 3}]}, "sharegpt", "must be a string, got int"),
    ({"conversations": ["hi"]}, "sharegpt", "message 1: expected an object"),
    ({"messages": [{"role": "user", "content": "q"}]}, "messages", "ends with a user message"),
    ({"instruction": "a"}, "alpaca", "missing field 'output'"),
    ({"instruction": "a", "output": ["b"]}, "alpaca", "field 'output' must be a string, got list"),
    ({"instruction": "a", "output": "b", "history": [["x"]]}, "alpaca", "'history' item 1 is not"),
    (
        {"instruction": "a", "output": "b", "history": "x"},
        "alpaca",
        "must be a list of [instruction, output]",
    ),
    ({"prompt": "a", "completion": 5}, "prompt-completion", "must be a string or a list of messages"),
    (
        {"system": "s", "messages": [{"role": "system", "content": "t"}]},
        "messages",
        "two system prompts",
    ),
    ("text", "alpaca", "expected an object, got a str"),
]


@pytest.mark.parametrize(("item", "shape", "message"), BAD)
def test_malformed_items_raise_one_clear_error(item, shape, message):
    with pytest.raises(InputError) as err:
        normalise(item, shape, Columns(), "data.json", 7)
    assert str(err.value).startswith("data.json: record 7: ")
    assert message in str(err.value)


def test_alpaca_history_system_and_input_are_kept():
    item = {
        "instruction": "Now translate it.",
        "input": "to French",
        "output": "Bonjour",
        "system": "Be brief.",
        "history": [["Say hello", "Hello"]],
        "id": 12,
    }
    conv = normalise(item, "alpaca", Columns(), "f", 0)
    assert conv.turns == (("Say hello", "Hello"), ("Now translate it.", "Bonjour"))
    assert conv.messages()[0] == {"role": "system", "content": "Be brief."}
    assert conv.messages()[3] == {"role": "user", "content": "Now translate it.\nto French"}
    assert to_row(conv, "alpaca") == item | {"count": None, "mosaic": None}
    assert list(to_row(conv, "alpaca")) == [
        "id",
        "instruction",
        "input",
        "output",
        "system",
        "history",
        "count",
        "mosaic",
    ]


def test_prompt_completion_message_lists_and_strings_agree():
    lists = {
        "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        "completion": [{"role": "assistant", "content": "A"}],
    }
    strings = {"prompt": "Q", "completion": "A", "system": "S"}
    a = normalise(lists, "prompt-completion", Columns(), "f", 0)
    b = normalise(strings, "prompt-completion", Columns(), "f", 0)
    assert a.messages() == b.messages()
    assert to_row(a, "prompt-completion") == {"id": None, **lists, "mosaic": None}


def test_custom_column_names():
    cols = Columns(messages="dialog", role="speaker", content="text", system="persona")
    item = {"persona": "P", "dialog": [{"speaker": "user", "text": "Q"}, {"speaker": "bot", "text": "A"}]}
    conv = normalise(item, detect(item, cols) or "", cols, "f", 0)
    assert conv.messages() == [
        {"role": "system", "content": "P"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]


# ----------------------------------------------------------------------------- JSON streaming


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Make the reader's buffer tiny so items straddle many reads."""
    monkeypatch.setattr(jsonstream, "CHUNK", 7)


@pytest.mark.parametrize("path", [ALPACA_EVAL, SHAREGPT])
def test_array_stream_matches_json_load(path, tiny_chunks):
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert [item for _, item in jsonstream.iter_json(path)] == expected


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(
                st.integers(),
                st.floats(allow_nan=False, allow_infinity=False),
                st.text(max_size=30),
                st.booleans(),
                st.none(),
            ),
            max_size=4,
        )
        | st.integers(),
        max_size=8,
    ),
    indent=st.sampled_from([None, 0, 2]),
    chunk=st.integers(min_value=1, max_value=40),
)
def test_array_stream_property(tmp_path_factory, items, indent, chunk):
    path = tmp_path_factory.mktemp("j") / "a.json"
    path.write_text(json.dumps(items, indent=indent, ensure_ascii=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonstream, "CHUNK", chunk)
        assert [item for _, item in jsonstream.iter_json(path)] == items


#: Any Unicode scalar value (no lone surrogates: a record holding one is set aside when read).
SCALARS = st.characters(blacklist_categories=("Cs",))


@settings(max_examples=200, deadline=None)
@given(
    row=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(SCALARS),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(SCALARS, max_size=6), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_rows_are_written_as_compact_standard_json(row):
    """The fast encoder writes what ``json.dumps`` writes with compact separators and non-ASCII
    kept, for every string (control characters, separators U+2028/9, emoji...), integer and nesting."""
    assert jsonstream.dumps_line(row) == json.dumps(row, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("row", [{"id": 2**70}, {"id": -(2**64)}, {1: "a key that is not a string"}])
def test_rows_orjson_refuses_are_written_in_the_same_shape(row):
    line = jsonstream.dumps_line(row)
    assert line == json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    assert json.loads(line) == {str(k) if isinstance(k, int) else k: v for k, v in row.items()}


@pytest.mark.parametrize("kind", ["buffered", "text only"])
def test_rows_to_stdout_are_utf8_jsonl_whatever_stdout_is(kind, capsysbinary):
    """Rows are written as bytes: to stdout's binary buffer, or through a stdout that has none
    (a ``StringIO`` put in its place), as the same text."""
    import contextlib
    import io

    rows = [{"text": "é — ✓ \u2028"}, jsonstream.encode_row({"n": 1})]
    want = '{"text":"é — ✓ \u2028"}\n{"n":1}\n'
    if kind == "buffered":
        assert jsonstream.write_rows("-", rows) == 2
        assert capsysbinary.readouterr().out.decode("utf-8") == want
    else:
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            assert jsonstream.write_rows("-", rows) == 2
        assert text.getvalue() == want


def test_jsonl_and_bom(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('\ufeff{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(jsonstream.iter_json(path)) == [(0, {"a": 1}), (1, {"a": 2})]


BROKEN = [
    ('[{"a": 1}, ', "the array ends early, in record 1"),
    ('[{"a": 1}, {"a": ', "record 1: invalid JSON at line 1, column 18: Expecting value"),
    ('[\n\n  {"a": 1},\n  {"b": [1,2,\n   3,, 4]}]', "record 1: invalid JSON at line 5, column 6"),
    ('[{"a": 1} {"a": 2}]', "after record 0: expected ',' or ']'"),
    ('[{"a": 1}] x', "extra data after the array"),
    ('[{"a": 1}, {"a" 2}]', "record 1: invalid JSON"),
    ('[{"a": 1}', "expected ',' or ']', got the end of the file"),
    ("hello", "not JSON"),
    ('{"a": 1}\n{"a": \n', "record 1: invalid JSON on line 2"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_json_names_the_record(tmp_path, tiny_chunks, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        list(jsonstream.iter_json(path))
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


# ----------------------------------------------------------------------------- reading


def test_mixed_shapes_is_an_error(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [{"instruction": "a", "output": "b"}, _sg("human", "gpt")]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"record 1: mixed shapes: this record is sharegpt"):
        list(read_conversations(path, on_bad="error"))
    stats = ReadStats()
    assert len(list(read_conversations(path, stats=stats))) == 1, "by default: set aside"
    assert [(r.index, r.reason) for r in stats.rejects] == [(1, "malformed")]
    assert "mixed shapes" in stats.rejects[0].detail


def test_skip_sets_malformed_items_aside(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [_sg("human", "gpt"), _sg("human", "wizard"), _sg("human", "gpt", "human", "gpt")]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    stats = ReadStats()
    convs = list(read_conversations(path, on_bad="skip", stats=stats))
    assert [c.index for c in convs] == [0, 2]
    assert [(r.index, r.reason) for r in stats.rejects] == [(1, "malformed")]
    assert stats.read == 3 and stats.shape == "sharegpt"


def test_forced_format_reads_the_keys_it_names(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"q": "Q", "a": "A"}]), encoding="utf-8")
    with pytest.raises(InputError, match="no known dataset shape"):
        list(read_conversations(path))
    cols = Columns(instruction="q", output="a")
    [conv] = read_conversations(path, "alpaca", cols)
    assert conv.turns == (("Q", "A"),)


def test_parquet_and_saved_dataset_read_like_json(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    expected = [c.messages() for c in read_conversations(SHAREGPT)]
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(tmp_path / "a.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds, "test": ds.select(range(3))}).save_to_disk(str(tmp_path / "dict"))
    assert [c.messages() for c in read_conversations(tmp_path / "a.parquet")] == expected
    assert [c.messages() for c in read_conversations(tmp_path / "saved")] == expected
    assert [c.messages() for c in read_conversations(ds)] == expected
    assert len(list(read_conversations(tmp_path / "dict", split="test"))) == 3
    with pytest.raises(InputError, match="pick a split with --split"):
        list(read_conversations(tmp_path / "dict"))


def test_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(InputError, match="a folder with no data file"):
        list(read_conversations(tmp_path))


def test_missing_optional_dependency_is_one_clear_line(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MosaicitError, match=r"pip install 'mosaicit\[parquet\]'"):
        list(read_conversations(tmp_path / "x.parquet"))


def test_augment_a_dataset_object(tmp_path):
    """The Python API takes a datasets.Dataset as it is."""
    datasets = pytest.importorskip("datasets")
    from mosaicit import MosaicConfig, augment_dataset

    rows = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))[:50]
    ds = datasets.Dataset.from_list(rows)
    out = tmp_path / "o.jsonl"
    summary = augment_dataset(ds, out, MosaicConfig(epochs=1), output_format="messages")
    assert summary["input"] == "<dataset>" and summary["formats"]["input"] == "alpaca"
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(i for r in lines for i in json.loads(r["mosaic"])["sources"]) == list(range(50))
