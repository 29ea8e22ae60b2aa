"""config.py: run options are validated in one place, and its errors name parameters, not options."""

from __future__ import annotations

import pytest

from mosaicit.clihelp import OPTIONS
from mosaicit.errors import ParamError
from mosaicit.plan.config import MosaicConfig, parse_weights

CASES = [
    ({"epochs": 0}, "epochs", "epochs must be at least 1, got 0"),
    ({"max_num": 0}, "max_num", "max_num must be at least 1, got 0"),
    ({"max_length": 0}, "max_length", "max_length must be at least 1, got 0"),
    ({"wrap_mode": "x"}, "wrap_mode", "wrap_mode must be one of uniform, fix_max, max_length, exp, pareto, "),
    (
        {"version": "x"},
        "version",
        "version must be one of format, order, mask, both, primary, rules, got 'x'",
    ),
    ({"weights": {"shuffle": 1}}, "weights", "weights: unknown strategy 'shuffle' (one of "),
    ({"weights": {"format": 0}}, "weights", "weights: at least one strategy needs a positive weight"),
    ({"orderings": ("sideways",)}, "orderings", "orderings: unknown ['sideways'] (known: fix, "),
    ({"mask_rules": ()}, "mask_rules", "mask_rules: nothing chosen (known: fix, "),
    ({"tag_rate": 2.0}, "tag_rate", "tag_rate must be between 0 and 1, got 2.0"),
]


@pytest.mark.parametrize(("options", "param", "message"), CASES)
def test_errors_name_the_parameter(options, param, message):
    with pytest.raises(ParamError) as caught:
        MosaicConfig(**options)
    assert caught.value.param == param
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format=x", "weights: 'format=x' is not NAME=NUMBER"),
        ("format=-1", "weights: 'format=-1' needs a number"),
    ],
)
def test_parse_weights_errors_name_the_parameter(text, message):
    with pytest.raises(ParamError, match="^" + message):
        parse_weights(text)


def test_the_command_line_names_the_option_instead():
    with pytest.raises(ParamError) as caught:
        MosaicConfig(max_length=0)
    assert caught.value.as_option(OPTIONS) == "--max-length must be at least 1, got 0"
    assert parse_weights("format=1, permute=2.5") == {"format": 1.0, "permute": 2.5}
