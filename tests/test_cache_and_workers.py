"""Worker processes and the token-count cache never change the output."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, TOKENIZERS
from mosaicit.cache import CountCache
from mosaicit.cli import main

LLAMA2 = str(TOKENIZERS / "llama-2")


def augment(out, *extra):
    args = ["augment", str(ALPACA_EVAL), "-o", str(out), "-q", "--tokenizer", LLAMA2, "--max-length", "1200"]
    result = CliRunner().invoke(main, args + [str(e) for e in extra], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.parametrize("epochs", ["1", "3"])
def test_workers_give_the_same_bytes(tmp_path, epochs):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    augment(one, "--workers", "1", "--no-cache", "--epochs", epochs)
    augment(two, "--workers", "2", "--no-cache", "--epochs", epochs)
    assert one.read_bytes() == two.read_bytes()
    summary = (tmp_path / "two.jsonl.summary.json").read_text()
    assert (
        summary.replace('"workers": 2', '"workers": 1').replace("two.jsonl", "one.jsonl")
        == (tmp_path / "one.jsonl.summary.json").read_text()
    )


def test_cached_rerun_equals_uncached_run(tmp_path):
    cache = tmp_path / "cache"
    plain, first, second = tmp_path / "plain.jsonl", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    augment(plain, "--no-cache")
    augment(first, "--cache-dir", cache)
    augment(second, "--cache-dir", cache)
    assert plain.read_bytes() == first.read_bytes() == second.read_bytes()
    import json

    stats = json.loads((tmp_path / "second.jsonl.summary.json").read_text())["cache"]
    assert stats["hits"] == 2 * 805 and stats["misses"] == 0


def _cache_file(folder):
    (path,) = folder.glob("counts-*.sqlite3")
    return path


def test_tampered_entries_are_ignored(tmp_path):
    cache = tmp_path / "cache"
    plain, tampered = tmp_path / "plain.jsonl", tmp_path / "tampered.jsonl"
    augment(plain, "--no-cache")
    augment(tmp_path / "fill.jsonl", "--cache-dir", cache)
    with sqlite3.connect(_cache_file(cache)) as db:
        db.execute("UPDATE counts SET n = n + 7")
    augment(tampered, "--cache-dir", cache)
    assert tampered.read_bytes() == plain.read_bytes()
    import json

    stats = json.loads((tmp_path / "tampered.jsonl.summary.json").read_text())["cache"]
    assert stats["ignored"] == 2 * 805 and stats["hits"] == 0


def test_corrupted_or_foreign_cache_files_are_ignored(tmp_path, counters):
    cache = tmp_path / "cache"
    plain = tmp_path / "plain.jsonl"
    augment(plain, "--no-cache")
    augment(tmp_path / "fill.jsonl", "--cache-dir", cache)
    path = _cache_file(cache)
    path.write_bytes(b"this is not a database" * 100)
    result = augment(tmp_path / "corrupt.jsonl", "--cache-dir", cache)
    assert "ignoring unreadable count cache" in result.stderr
    assert (tmp_path / "corrupt.jsonl").read_bytes() == plain.read_bytes()

    other = CountCache(tmp_path / "other", counters("qwen3").fingerprint)
    other.put(other.keys(["x"]), [1])
    other.close()
    shutil.copy(_cache_file(tmp_path / "other"), path)  # a file of another tokenizer under this name
    augment(tmp_path / "foreign.jsonl", "--cache-dir", cache)
    assert (tmp_path / "foreign.jsonl").read_bytes() == plain.read_bytes()


def test_entries_are_bound_to_the_tokenizer(tmp_path, counters):
    llama, qwen = counters("llama-2").fingerprint, counters("qwen3").fingerprint
    a, b = CountCache(tmp_path, llama), CountCache(tmp_path, qwen)
    a.put(a.keys(["hello"]), [3])
    assert a.get(a.keys(["hello"])) == [3]
    assert b.get(b.keys(["hello"])) == [None]
    assert a.keys(["hello"]) != b.keys(["hello"])
