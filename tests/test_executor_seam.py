"""The executor seam (docs/architecture.md, "A new executor"): an executor defined here, in a test
module, is registered and then chosen by name, on the command line and in the Python API, and
writes the same bytes as ``--executor local``; the registry refuses a name it does not hold."""

from __future__ import annotations

import inspect
import sys
import textwrap
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from conftest import ROOT, SAMPLE
from mosaicit.cli import main
from mosaicit.errors import ParamError
from mosaicit.plan.config import MosaicConfig
from mosaicit.run import executors, shards
from mosaicit.run.api import augment_dataset
from mosaicit.run.executors import Executor, executor_named, executor_names, register
from mosaicit.run.shards import unit_results
from mosaicit.run.spec import RunSpec
from mosaicit.types.options import count, option


class Backwards(Executor):
    name = "backwards"

    def measure(self, measure, units):  # a batch of records to count, per unit
        return reversed([measure(u.start, u.end) for u in reversed(units)])

    def compose(self, job, progress=None):  # results in the units' order, always
        done = [list(unit_results(job, unit, progress)) for unit in reversed(job.units)]
        for rows in reversed(done):
            yield from rows


@pytest.fixture
def backwards(monkeypatch):
    """``Backwards`` registered for one test (the registry as it was afterwards); returns the
    units it did, in the order it did them."""
    monkeypatch.setattr(executors, "REGISTRY", dict(executors.REGISTRY))
    register(Backwards)
    done: list[str] = []

    def composing(job, unit, progress):
        done.append(f"compose {unit.group}/{unit.epoch}/{unit.shard}")
        return shards.unit_results(job, unit, progress)

    def measuring(self, measure, units):
        def counted(start, end):
            done.append(f"measure {start}:{end}")
            return measure(start, end)

        return measure_backwards(self, counted, units)

    measure_backwards = Backwards.measure
    monkeypatch.setattr(sys.modules[__name__], "unit_results", composing)
    monkeypatch.setattr(Backwards, "measure", measuring)
    return done


def test_the_worked_example_in_the_docs_is_this_executor():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    example = next(block for block in doc.split("```python\n")[1:] if "class Backwards" in block)
    assert textwrap.indent(inspect.getsource(Backwards), "  ") in example


ARGS = ["--no-cache", "-q", "--epochs", "2", "--shards", "2", "--max-length", "700"]


def _cli(out, executor: str):
    result = CliRunner().invoke(main, ["augment", str(SAMPLE), "-o", str(out), *ARGS, "--executor", executor])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_a_registered_executor_runs_from_the_command_line_with_the_bytes_of_local(tmp_path, backwards):
    local = _cli(tmp_path / "local.jsonl", "local")
    assert _cli(tmp_path / "backwards.jsonl", "backwards") == local and local
    assert backwards == ["measure 0:120", "compose 0/1/1", "compose 0/1/0", "compose 0/0/1", "compose 0/0/0"]
    help_text = CliRunner().invoke(main, ["augment", "--help"]).output
    assert "backwards" in help_text


def test_a_registered_executor_runs_from_the_api_with_the_bytes_of_local(tmp_path, backwards):
    config = MosaicConfig(max_length=700, epochs=2)
    outs = {}
    for name in ("local", "backwards"):
        outs[name] = tmp_path / f"{name}.jsonl"
        summary = augment_dataset(str(SAMPLE), outs[name], config, use_cache=False, executor=name, shards=2)
        assert summary["executor"] == name and summary["workers"] == 1
    assert outs["backwards"].read_bytes() == outs["local"].read_bytes()
    assert backwards == ["measure 0:120", "compose 0/1/1", "compose 0/1/0", "compose 0/0/1", "compose 0/0/0"]


def test_the_registry_refuses_an_unknown_name_with_one_line_naming_the_known_ones(tmp_path, backwards):
    assert executor_names() == ("local", "workers", "ray", "backwards")
    assert executor_named("backwards") is Backwards
    with pytest.raises(ParamError) as caught:
        executor_named("spark")
    assert str(caught.value) == "executor must be one of local, workers, ray, backwards, got 'spark'"
    with pytest.raises(ParamError, match="^executor must be one of .*, got 'spark'$"):
        RunSpec(str(SAMPLE), executor="spark")
    result = CliRunner().invoke(
        main, ["augment", str(SAMPLE), "-o", str(tmp_path / "o.jsonl"), "--executor", "spark"]
    )
    assert result.exit_code == 2 and not (tmp_path / "o.jsonl").exists()
    assert "'spark' is not one of 'local', 'workers', 'ray', 'backwards'" in result.output
    with pytest.raises(ValueError, match="backwards"):
        register(Backwards)  # a name is registered once


def test_an_executor_left_unregistered_is_not_offered(tmp_path):
    assert "backwards" not in executor_names()
    result = CliRunner().invoke(
        main, ["augment", str(SAMPLE), "-o", str(tmp_path / "o.jsonl"), "--executor", "backwards"]
    )
    assert result.exit_code == 2


@dataclass(frozen=True, kw_only=True)
class PaceOptions:
    pace: int = option(1, help="Units per breath.", block="execution", check=count(9))


class Paced(Executor):
    name = "paced"
    options = PaceOptions
    opened: list[tuple[int | None, PaceOptions]] = []

    @classmethod
    def open(cls, workers, options):
        cls.opened.append((workers, options))
        return cls()


def test_an_executor_declares_its_own_options_and_its_open_gets_them(tmp_path, monkeypatch):
    """An executor's own option (as Ray's ``ray_address``) is an API keyword and is checked as
    declared, with no change outside the executor's module; another executor may not declare it
    again."""
    monkeypatch.setattr(executors, "REGISTRY", dict(executors.REGISTRY))
    assert "pace" not in RunSpec.option_names()
    register(Paced)
    assert {"pace", "ray_address"} <= RunSpec.option_names()
    outs = {name: tmp_path / f"{name}.jsonl" for name in ("local", "paced")}
    for name, given in (("local", {}), ("paced", {"pace": 3})):
        augment_dataset(
            str(SAMPLE), outs[name], MosaicConfig(seed=5), use_cache=False, executor=name, **given
        )
    assert outs["paced"].read_bytes() == outs["local"].read_bytes()
    assert Paced.opened == [(None, PaceOptions(pace=3))]
    with pytest.raises(ParamError, match="^pace must be at most 9, got 10$"):
        RunSpec.of(str(SAMPLE), executor="paced", pace=10)
    with pytest.raises(TypeError, match="'pase'"):
        RunSpec.of(str(SAMPLE), executor="paced", pase=3)

    class Again(Paced):
        name = "again"

    with pytest.raises(ValueError, match="another executor declares the option 'pace'"):
        register(Again)
