"""mosaicit.run.routing: what happens to each kind of conversation under each policy."""

from __future__ import annotations

import pytest

from mosaicit.errors import ParamError
from mosaicit.io.sources import read_conversations
from mosaicit.run.routing import route


def chat(*texts: str, system: str = "") -> dict:
    """A messages record: optional system prompt, then user/assistant turns."""
    messages = [{"role": "system", "content": system}] if system else []
    roles = ("user", "assistant")
    messages += [{"role": roles[i % 2], "content": t} for i, t in enumerate(texts)]
    return {"messages": messages}


DATA = [
    chat("Name a colour.", "Blue."),  # 0: single exchange
    chat("Add 2 and 2.", "4.", system="Be brief."),  # 1: with a system prompt
    chat("Hi.", "Hello!", "Tell me a joke.", "Why did...", "continue", "...the chicken."),  # 2: three turns
    chat("Say nothing.", "   "),  # 3: empty answer
    chat("Spell cat.", "C-A-T.", system="Be brief."),  # 4: same system prompt as 1
]


def routed(conversations: str = "passthrough", system_policy: str = "group"):
    return route(read_conversations(DATA, on_bad="error"), conversations, system_policy)


@pytest.mark.parametrize(
    ("conversations", "system_policy", "groups", "passthrough", "rejects"),
    [
        (
            "passthrough",
            "group",
            {"": [(0, None)], "Be brief.": [(1, None), (4, None)]},
            [2],
            [(3, "empty_output")],
        ),
        ("passthrough", "passthrough", {"": [(0, None)]}, [1, 2, 4], [(3, "empty_output")]),
        (
            "first-turn",
            "group",
            {"": [(0, None), (2, None)], "Be brief.": [(1, None), (4, None)]},
            [],
            [(3, "empty_output")],
        ),
        (
            "split",
            "group",
            {"": [(0, 0), (2, 0), (2, 1)], "Be brief.": [(1, 0), (4, 0)]},
            [],
            [(2, "continuation_turn"), (3, "empty_output")],
        ),
    ],
)
def test_each_item_goes_to_one_place(conversations, system_policy, groups, passthrough, rejects):
    out = routed(conversations, system_policy)
    assert {system: [(r.index, r.turn) for r in group] for system, group in out.groups.items()} == groups
    assert [conv.index for conv, _ in out.passthrough] == passthrough
    assert sorted((r.index, r.reason) for r in out.rejects) == rejects


def test_split_keeps_each_exchange_text_and_counts_every_kind():
    out = routed("split")
    first, second = out.groups[""][1:]
    assert (first.instruction, first.output) == ("Hi.", "Hello!")
    assert (second.instruction, second.output) == ("Tell me a joke.", "Why did...")
    assert out.kinds == {
        "single_turn": {"read": 2, "to_mosaic": 1, "empty_output": 1},
        "with_system": {"read": 2, "to_mosaic": 2},
        "multi_turn": {"read": 1, "exchanges_to_mosaic": 2, "continuation_turn": 1},
    }
    assert out.record_count == 5


def test_first_turn_counts_the_unused_exchanges():
    assert routed("first-turn").kinds["multi_turn"] == {
        "read": 1,
        "later_exchanges_unused": 2,
        "exchanges_to_mosaic": 1,
    }


@pytest.mark.parametrize(
    ("conversations", "system_policy", "param"),
    [("all", "group", "conversations"), ("split", "drop", "system_policy")],
)
def test_unknown_policy_names_the_parameter(conversations, system_policy, param):
    with pytest.raises(ParamError, match=f"^{param} must be one of") as caught:
        routed(conversations, system_policy)
    assert caught.value.as_option() == f"--{param.replace('_', '-')} {caught.value.message}"
