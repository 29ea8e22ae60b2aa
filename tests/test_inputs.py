"""Inputs as real corpora come: several files, globs, folders of shards, .gz/.zst, stdin; output to
stdout or compressed; the same readers for augment, convert, preview and eval build; -h and --mix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, SAMPLE, SHAREGPT
from formats_helpers import read_rows, run_cli
from mosaicit import __version__
from mosaicit.cli import main
from mosaicit.errors import InputError
from mosaicit.io.sources import ReadStats, read_conversations

zstandard = pytest.importorskip("zstandard")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """SHAREGPT cut in four shards: plain JSONL, .jsonl.gz, .json.zst and Parquet, in a folder."""
    rows = json.loads(SHAREGPT.read_text(encoding="utf-8"))
    folder = tmp_path_factory.mktemp("corpus") / "shards"
    folder.mkdir()
    parts = [rows[:100], rows[100:250], rows[250:400], rows[400:]]
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in parts[0]), encoding="utf-8")
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in parts[1])
    (folder / "c.json.zst").write_bytes(zstandard.ZstdCompressor().compress(json.dumps(parts[2]).encode()))
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(parts[3]), folder / "d.parquet")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "junk.jsonl").write_text("not json\n")
    (folder / "README.md").write_text("not data")
    return folder, rows


def _messages(source):
    return [c.messages() for c in read_conversations(source)]


def test_folder_glob_and_list_read_as_one_dataset(shards):
    folder, rows = shards
    expected = _messages(SHAREGPT)
    assert _messages(folder) == expected
    assert _messages(str(folder / "*")) == expected
    files = [folder / n for n in ("a.jsonl", "b.jsonl.gz", "c.json.zst", "d.parquet")]
    stats = ReadStats()
    convs = list(read_conversations(files, stats=stats))
    assert [c.messages() for c in convs] == expected and [c.index for c in convs] == list(range(500))
    assert stats.origin(0) == (str(files[0]), 0) and stats.origin(260) == (str(files[2]), 10)


def test_glob_or_folder_without_data_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="no data file matches this pattern"):
        list(read_conversations(str(tmp_path / "*.jsonl")))


def test_rejects_name_the_shard_and_row(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"instruction": "a", "output": "b"}\n' * 3)
    (tmp_path / "b.jsonl").write_text(
        '{"instruction": "a", "output": "b"}\n{"instruction": 1, "output": "b"}\n'
    )
    out = tmp_path / "out" / "o.jsonl"
    assert run_cli("augment", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "-o", out, "-q").exit_code == 0
    [reject] = read_rows(tmp_path / "out" / "o.jsonl.rejects.jsonl")
    assert (reject["index"], reject["file"], reject["row"]) == (4, str(tmp_path / "b.jsonl"), 1)


def test_stdin_in_and_stdout_out(tmp_path):
    text = SAMPLE.read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["augment", "-", "-o", "-", "--epochs", "1", "-q"], input=text)
    assert result.exit_code == 0, result.stderr
    piped = [json.loads(line) for line in result.stdout.splitlines()]
    file_out = tmp_path / "o.jsonl"
    assert run_cli("augment", SAMPLE, "-o", file_out, "--epochs", "1", "-q").exit_code == 0
    assert result.stdout == file_out.read_text(encoding="utf-8")
    assert len(piped) > 10
    assert not Path("-.summary.json").exists() and not Path("-.rejects.jsonl").exists(), "no side files"
    no_info = CliRunner().invoke(main, ["augment", "-", "-o", "-", "--emit-dataset-info", "-q"], input=text)
    assert no_info.exit_code == 1 and "--emit-dataset-info needs an output file" in no_info.stderr


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst", ".json.gz"])
def test_compressed_output_has_the_same_rows_and_reads_back(tmp_path, suffix):
    plain = tmp_path / ("o" + suffix.rsplit(".", 1)[0])
    packed = tmp_path / ("o" + suffix)
    for out in (plain, packed):
        assert run_cli("augment", SAMPLE, "-o", out, "--epochs", "1", "-q").exit_code == 0
    raw = packed.read_bytes()
    unpacked = (
        gzip.decompress(raw)
        if suffix.endswith(".gz")
        else zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    )
    assert unpacked == plain.read_bytes()
    assert (
        run_cli("augment", SAMPLE, "-o", tmp_path / ("again" + suffix), "--epochs", "1", "-q").exit_code == 0
    )
    assert (tmp_path / ("again" + suffix)).read_bytes() == raw, "same seed, same compressed bytes"
    assert [c.messages() for c in read_conversations(packed)] == [
        c.messages() for c in read_conversations(plain)
    ]


def test_every_command_takes_the_same_inputs(tmp_path, shards):
    folder, _ = shards
    pattern = str(folder / "*")
    converted = tmp_path / "c.jsonl.zst"
    assert run_cli("convert", pattern, "-o", converted, "-q").exit_code == 0
    assert len(list(read_conversations(converted))) == 500
    shown = run_cli("preview", folder, "-n", "1", "--plain")
    assert shown.exit_code == 0 and "=== mosaic" in shown.output
    evals = tmp_path / "e.jsonl"
    built = run_cli("eval", "build", ALPACA_EVAL, pattern, "-o", evals, "--size", "5", "-q")
    assert built.exit_code == 0, built.stderr
    assert len(evals.read_text().splitlines()) == 5


def test_help_short_option_mix_and_version():
    runner = CliRunner()
    for args in (["-h"], ["augment", "-h"], ["eval", "build", "-h"], ["tables", "list", "-h"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args
    assert "--mix, --version" in runner.invoke(main, ["augment", "-h"]).output
    assert runner.invoke(main, ["--version"]).output.strip() == f"mosaicit, version {__version__}"


def test_version_is_kept_as_an_alias_of_mix(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run_cli("augment", SAMPLE, "-o", a, "--mix", "primary", "--epochs", "1", "-q").exit_code == 0
    assert run_cli("augment", SAMPLE, "-o", b, "--version", "primary", "--epochs", "1", "-q").exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert {r["mosaic"]["strategy"] for r in read_rows(a)} == {"primary"}
