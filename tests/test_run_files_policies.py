"""Conversation and system-prompt policies: what happens to each kind, provenance, determinism."""

from __future__ import annotations

import json

import pytest

from conftest import ALPACA_EVAL
from formats_helpers import read_rows, row_messages
from mosaicit import MosaicConfig
from mosaicit.io.formats import Conversation
from mosaicit.run.api import augment_dataset
from mosaicit.run.routing import route

SYSTEMS = ("", "Be terse.", "Answer in French.")
BUDGET_KEYS = {"over_budget", "turns"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """120 messages records: single-turn with three system prompts (one empty), some multi-turn."""
    alpaca = json.loads(ALPACA_EVAL.read_text(encoding="utf-8"))[:240]
    rows = []
    for i in range(120):
        a, b = alpaca[2 * i], alpaca[2 * i + 1]
        system = SYSTEMS[i % 3]
        messages = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": "user", "content": a["instruction"]},
            {"role": "assistant", "content": a["output"]},
        ]
        if i % 4 == 1:  # multi-turn
            messages += [
                {"role": "user", "content": b["instruction"]},
                {"role": "assistant", "content": b["output"]},
            ]
        rows.append({"id": f"r{i}", "messages": messages})
    path = tmp_path_factory.mktemp("p") / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows


def _run(tmp_path, dataset, name="out.jsonl", seed=1, **formats):
    out = tmp_path / name
    summary = augment_dataset(dataset[0], out, MosaicConfig(epochs=2, max_length=1500, seed=seed), **formats)
    return summary, read_rows(out), out


def _system(row):
    msgs = row_messages(row)
    return msgs[0]["content"] if msgs[0]["role"] == "system" else ""


POLICIES = [
    ("passthrough", "group"),
    ("first-turn", "group"),
    ("split", "group"),
    ("passthrough", "passthrough"),
    ("split", "passthrough"),
]


@pytest.mark.parametrize(("conversations", "system_policy"), POLICIES)
def test_policies_account_for_every_record(tmp_path, dataset, conversations, system_policy):
    path, rows = dataset
    summary, out, _ = _run(
        tmp_path, dataset, output_format="messages", conversations=conversations, system_policy=system_policy
    )
    multi = {i for i, r in enumerate(rows) if len(r["messages"]) > 3}
    with_system = {i for i, r in enumerate(rows) if r["messages"][0]["role"] == "system"}
    passed = [r for r in out if r["mosaic"]["strategy"] == "passthrough"]
    mosaics = [r for r in out if r["mosaic"]["strategy"] != "passthrough"]
    # one set of provenance keys; a row the over-budget policy cut also says how (docs/formats.md)
    assert len({tuple(k for k in r["mosaic"] if k not in BUDGET_KEYS) for r in out}) == 1
    assert all("turns" in r["mosaic"] for r in out if "over_budget" in r["mosaic"])

    expected_passthrough = set()
    if conversations == "passthrough":
        expected_passthrough |= multi
    if system_policy == "passthrough":
        expected_passthrough |= with_system
    assert sorted(i for r in passed for i in r["mosaic"]["sources"]) == sorted(expected_passthrough)
    for r in passed:  # passed through unchanged, in the output shape
        assert r["mosaic"]["rule"] == ("multi_turn" if len(r["messages"]) > 3 else "with_system")
        assert r["messages"] == rows[r["mosaic"]["sources"][0]]["messages"]
        assert r["id"] == rows[r["mosaic"]["sources"][0]]["id"]

    mosaicked = set(range(len(rows))) - expected_passthrough
    uses: dict[tuple[int, int], int] = {}
    for r in mosaics:
        turns = r["mosaic"].get("turns") or [0] * len(r["mosaic"]["sources"])
        assert (conversations == "split") == ("turns" in r["mosaic"])
        for source, turn in zip(r["mosaic"]["sources"], turns, strict=True):
            uses[(source, turn)] = uses.get((source, turn), 0) + 1
            # grouping: every record of a mosaic shares the mosaic's system prompt
            assert _system(r) == (rows[source]["messages"][0]["content"] if source in with_system else "")
    exchanges = {
        (i, t) for i in mosaicked for t in range(2 if i in multi and conversations == "split" else 1)
    }
    assert set(uses) == exchanges
    assert set(uses.values()) == {2}  # each exchange once per epoch

    # datasets reads JSON in chunks and fixes the schema from the first one: passthrough rows at
    # the end must still fit it
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset(
        "json",
        data_files=str(tmp_path / "out.jsonl"),
        split="train",
        chunksize=1 << 17,
        cache_dir=str(tmp_path / "c"),
    )
    assert ds.num_rows == len(out)

    kinds = summary["kinds"]
    assert sum(k["read"] for k in kinds.values()) == len(rows) == summary["records_read"]
    assert summary["passthrough"]["written"] == len(passed)
    assert summary["mosaics_written"] == len(mosaics)
    assert summary["samples_written"] == len(out)
    if conversations == "first-turn":
        assert kinds["multi_turn"]["later_exchanges_unused"] == len(multi)
    expected_groups = 1 if system_policy == "passthrough" else 3
    assert summary["system_groups"] == expected_groups


def test_split_turns_point_at_the_right_exchange(tmp_path, dataset):
    _, rows = dataset
    _, out, _ = _run(tmp_path, dataset, output_format="alpaca", conversations="split")
    checked = set()
    for r in out:
        m = r["mosaic"]
        for source, turn in zip(m["sources"], m["turns"], strict=True):
            user = [x for x in rows[source]["messages"] if x["role"] == "user"][turn]["content"]
            assert user.strip() in r["instruction"]
            checked.add(turn)
    assert {0, 1} <= checked  # first and later exchanges were both checked


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, dataset):
    *_, a = _run(tmp_path, dataset, "a.jsonl", seed=5, output_format="sharegpt", conversations="split")
    *_, b = _run(tmp_path, dataset, "b.jsonl", seed=5, output_format="sharegpt", conversations="split")
    *_, c = _run(tmp_path, dataset, "c.jsonl", seed=6, output_format="sharegpt", conversations="split")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_file_and_python_apis_give_the_same_mosaics(tmp_path):
    """augment_dataset (a file) and mosaic() (dicts in memory) compose the same samples."""
    import json

    from mosaicit import mosaic

    config = MosaicConfig(epochs=2, max_length=1200)
    augment_dataset(ALPACA_EVAL, tmp_path / "file.jsonl", config, use_cache=False)
    written = [json.loads(line) for line in (tmp_path / "file.jsonl").read_text().splitlines()]
    records = json.loads(ALPACA_EVAL.read_text())
    in_memory = list(mosaic(records, config))
    assert [(s.instruction, s.output, s.mosaic) for s in in_memory] == [
        (r["instruction"], r["output"], json.loads(r["mosaic"])) for r in written
    ]


def test_route_rejects_empty_exchanges_with_a_reason():
    convs = [
        Conversation(0, (("", "answer"),)),
        Conversation(1, (("question", "  "),)),
        Conversation(2, (("q", "a"), ("", "b")), "S"),
        Conversation(3, (("q", "a"),), "S"),
    ]
    routed = route(convs, "split", "group")
    assert [(r.index, r.reason) for r in routed.rejects] == [
        (0, "empty_instruction"),
        (1, "empty_output"),
        (2, "empty_instruction"),
    ]
    assert routed.rejects[2].record["turn"] == 1
    assert [(r.index, r.turn, r.system) for r in routed.records] == [(2, 0, "S"), (3, 0, "S")]
    assert routed.kinds == {
        "single_turn": {"read": 2, "empty_instruction": 1, "empty_output": 1},
        "multi_turn": {"read": 1, "exchanges_to_mosaic": 1, "empty_instruction": 1},
        "with_system": {"read": 1, "to_mosaic": 1},
    }


def test_passthrough_over_budget_is_reported(tmp_path, dataset):
    out = tmp_path / "o.jsonl"
    config = MosaicConfig(epochs=1, max_length=300)
    summary = augment_dataset(dataset[0], out, config, over_budget="reject", rejects_full=True)
    rejects = [json.loads(x) for x in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    over = [r for r in rejects if r["reason"] == "over_budget" and "messages" in r["record"]]
    assert over and summary["passthrough"]["over_budget"] == len(over)
    assert all(r["mosaic"]["tokens"] <= 300 for r in read_rows(out))


def test_split_exchange_over_budget_names_its_turn(tmp_path, dataset):
    out = tmp_path / "o.jsonl"
    config = MosaicConfig(epochs=1, max_length=120)
    augment_dataset(dataset[0], out, config, conversations="split", rejects_full=True)
    rejects = [json.loads(x) for x in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    over = [r for r in rejects if r["reason"] == "over_budget"]
    assert over and all("turn" in r["record"] for r in over)
    assert {r["record"]["turn"] for r in over} == {0, 1}
