"""mosaicit.errors: library errors name the parameter; the command line names the option."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import SAMPLE
from mosaicit import MosaicConfig
from mosaicit.cli import main
from mosaicit.errors import ParamError
from mosaicit.run.spec import InputOptions, OutputOptions, RunSpec


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MosaicConfig(epochs=0), "epochs must be at least 1, got 0"),
        (lambda: MosaicConfig(orderings=("sideways",)), "orderings: unknown ['sideways'] (known: fix,"),
        (lambda: InputOptions(on_bad="ignore"), "on_bad must be one of error, skip, got 'ignore'"),
        (lambda: InputOptions(max_bad_share=2), "max_bad_share must be between 0 and 1, got 2"),
        (
            lambda: RunSpec([], outputs=OutputOptions("-", dataset_info="i.json")),
            "dataset_info needs an output file",
        ),
    ],
)
def test_library_errors_name_parameters(make, message):
    with pytest.raises(ParamError) as caught:
        make()
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--max-num", "0"], "--max-num must be at least 1, got 0"),
        (["--mask-rules", "sideways"], "--mask-rules: unknown ['sideways']"),
        (["-o", "-", "--emit-dataset-info"], "--emit-dataset-info needs an output file, not - (stdout)"),
    ],
)
def test_the_command_line_names_options(tmp_path, args, line):
    result = CliRunner().invoke(
        main, ["augment", str(SAMPLE), *args] + ([] if "-o" in args else ["-o", str(tmp_path / "o.jsonl")])
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"mosaicit: error: {line}")
