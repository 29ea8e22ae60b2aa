"""cache.py: the token-count cache never changes the output, and a tampered, foreign or forged
cache is never trusted."""

from __future__ import annotations

import shutil
import sqlite3

from conftest import augment_alpaca_llama2
from mosaicit.budget.cache import CountCache

augment = augment_alpaca_llama2


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


def _forge(path, checksum, change=lambda n: max(n // 3, 1)) -> int:
    """Rewrite every count of a cache file, each with the checksum ``checksum(key, n)``."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, n FROM counts").fetchall()
        forged = [(change(n), checksum(key, change(n)), key) for key, n in rows]
        db.executemany("UPDATE counts SET n = ?, checksum = ? WHERE key = ?", forged)
    return len(forged)


def test_a_cache_forged_without_the_users_secret_is_ignored(tmp_path, counters):
    """Issue 12: the checksum key was the tokenizer fingerprint, stored in the same file, so
    anyone who could write the cache could rewrite counts with valid checksums."""
    import hashlib
    import json

    cache = tmp_path / "cache"
    plain, forged = tmp_path / "plain.jsonl", tmp_path / "forged.jsonl"
    augment(plain, "--no-cache")
    augment(tmp_path / "fill.jsonl", "--cache-dir", cache)
    path = _cache_file(cache)
    with sqlite3.connect(path) as db:  # all an attacker has: the file, and the fingerprint in it
        (fingerprint,) = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
    salt = hashlib.sha256(fingerprint.encode("ascii")).digest()

    def checksum(key: bytes, n: int) -> int:  # the old scheme, the best guess without the secret
        digest = hashlib.blake2b(key + n.to_bytes(8, "little", signed=True), digest_size=8, key=salt)
        return int.from_bytes(digest.digest(), "little", signed=True)

    assert _forge(path, checksum) == 2 * 805
    augment(forged, "--cache-dir", cache)
    assert forged.read_bytes() == plain.read_bytes()  # every count real: the budget kept
    stats = json.loads((tmp_path / "forged.jsonl.summary.json").read_text())["cache"]
    assert stats["ignored"] == 2 * 805 and stats["hits"] == 0


def test_a_cache_forged_with_the_secret_fails_the_spot_check(tmp_path, counters):
    """Whoever holds the secret can forge valid entries: the run still keeps the budget."""
    cache = tmp_path / "cache"
    plain, forged = tmp_path / "plain.jsonl", tmp_path / "forged.jsonl"
    augment(plain, "--no-cache", "--workers", "2")
    augment(tmp_path / "fill.jsonl", "--cache-dir", cache)
    path = _cache_file(cache)
    insider = CountCache(cache, counters("llama-2").fingerprint)  # this user's secret
    assert _forge(path, insider._checksum) == 2 * 805
    insider.close()
    result = augment(forged, "--cache-dir", cache, "--workers", "2")
    assert forged.read_bytes() == plain.read_bytes()
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "disagrees with the tokenizer" in warnings[0], result.stderr
    with sqlite3.connect(_cache_file(cache)) as db:  # discarded: the lies are gone
        assert db.execute("SELECT COUNT(*) FROM counts").fetchone()[0] == 0


def test_the_secret_is_private_and_outside_the_cache(tmp_path, counters, monkeypatch):
    import os
    import stat

    from mosaicit.budget.cache import secret_path, user_secret

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    secret = user_secret()
    path = secret_path()
    assert secret is not None and path.read_bytes() == secret and len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.parent == tmp_path / "home"
    assert user_secret() == secret  # kept
    other = tmp_path / "another-user.key"  # another user's secret keys other entries
    other.write_bytes(os.urandom(32))
    other.chmod(0o600)
    mine, theirs = CountCache(tmp_path, "f" * 64), CountCache(tmp_path / "b", "f" * 64, user_secret(other))
    assert mine.keys(["hello"]) != theirs.keys(["hello"])
    path.chmod(0o644)  # readable by others: not a secret any more
    assert user_secret() is None
    off = CountCache(tmp_path / "c", "f" * 64)
    off.put(off.keys(["hello"]), [3])
    assert off.get(off.keys(["hello"])) == [None]  # no usable secret: no cache


def test_a_forged_cache_is_recounted_in_every_batch_that_read_it(tmp_path, alpaca_eval, counters):
    from mosaicit.budget.budget import Budget
    from mosaicit.run.counting import batch_ranges
    from mosaicit.run.executors import LocalExecutor, WorkersExecutor
    from mosaicit.types.records import Record

    pairs = [(r["instruction"].strip(), r["output"].strip()) for r in alpaca_eval]
    total = 7000  # two workers: several batches
    n = batch_ranges(total, 2)[-1].start  # batches of AlpacaEval, then a last of texts of its own
    assert 0 < total - n < n
    records = [Record(i, *pairs[i % len(pairs)]) for i in range(n)]
    own = [(f"{a} Briefly, take {i}.", f"{b} Done ({i}).") for i, (a, b) in enumerate(pairs * 2)][: total - n]
    records += [Record(n + i, a, b) for i, (a, b) in enumerate(own)]
    budget = Budget(counters("llama-2"), 2000)
    real = LocalExecutor().count(budget, records)
    cache = CountCache(tmp_path, budget.counter.fingerprint)
    LocalExecutor().count(budget, records, cache=cache)  # fill
    third = [t for r in records[n:] for t in (r.prompt, r.output)]
    lies = [pairs[0][0]] + third  # one lie the first batches read, and all of the last's
    cache.put(cache.keys(lies), [n + 1 for n in budget.count_many(lies)])  # forged with the secret
    assert WorkersExecutor(2).count(budget, records, cache=cache) == real


def _augment_sharegpt(out, *extra):
    """``augment`` in-process on FastChat's 500 dummy conversations (333 of them multi-turn, passed
    through), with Llama-2 under the vicuna_v1.1 template."""
    from click.testing import CliRunner

    from conftest import SHAREGPT, TOKENIZERS
    from mosaicit.cli import main

    args = ["augment", str(SHAREGPT), "-o", str(out), "-q", "--tokenizer", str(TOKENIZERS / "llama-2")]
    args += ["--template", "vicuna_v1.1", "--max-length", "1024", "--workers", "1", *map(str, extra)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def test_passthrough_counts_go_through_the_cache(tmp_path, monkeypatch):
    """A cached rerun counted every passthrough conversation again (as slow as the first run):
    now their texts' counts are read from the cache, and the output is the same bytes."""
    import json

    from mosaicit.budget.tokens import FunctionCounter
    from mosaicit.io.schema import decode_mosaic
    from mosaicit.run.counting import SPOT_CHECKS

    counted: list[str] = []  # the passthrough conversations the tokenizer counted
    count_many = FunctionCounter.count_many

    def watched(self, texts):
        counted.extend(t for t in texts if t.count("USER: ") > 1)  # a multi-turn conversation, rendered
        return count_many(self, texts)

    monkeypatch.setattr(FunctionCounter, "count_many", watched)
    cache = tmp_path / "cache"
    plain, first, second = tmp_path / "plain.jsonl", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    _augment_sharegpt(plain, "--no-cache")
    counted.clear()
    _augment_sharegpt(first, "--cache-dir", cache)
    assert len(counted) == 333
    counted.clear()
    _augment_sharegpt(second, "--cache-dir", cache)
    assert len(counted) <= 2 * SPOT_CHECKS  # only the spot checks of its two batches
    assert plain.read_bytes() == first.read_bytes() == second.read_bytes()
    rows = [json.loads(line) for line in second.read_text(encoding="utf-8").splitlines()]
    assert sum(decode_mosaic(row["mosaic"])["strategy"] == "passthrough" for row in rows) > 100
    stats = json.loads((tmp_path / "second.jsonl.summary.json").read_text())["cache"]
    assert stats["misses"] == 0 and stats["hits"] >= 333


def test_a_passthrough_count_is_never_reused_under_another_template(tmp_path):
    """The cache keys each rendered text, so a conversation under another template is counted anew."""
    import json

    cache = tmp_path / "cache"
    _augment_sharegpt(tmp_path / "vicuna.jsonl", "--cache-dir", cache)
    plain, cached = tmp_path / "plain.jsonl", tmp_path / "cached.jsonl"
    _augment_sharegpt(plain, "--no-cache", "--template", "chatml")
    _augment_sharegpt(cached, "--cache-dir", cache, "--template", "chatml")
    assert cached.read_bytes() == plain.read_bytes()
    stats = json.loads((tmp_path / "cached.jsonl.summary.json").read_text())["cache"]
    assert stats["misses"] >= 333  # no rendered conversation is shared between the two templates


def test_forged_passthrough_counts_fail_the_spot_check(tmp_path, counters):
    cache = tmp_path / "cache"
    plain, forged = tmp_path / "plain.jsonl", tmp_path / "forged.jsonl"
    _augment_sharegpt(plain, "--no-cache")
    _augment_sharegpt(tmp_path / "fill.jsonl", "--cache-dir", cache)
    insider = CountCache(cache, counters("llama-2").fingerprint)  # this user's secret
    assert _forge(_cache_file(cache), insider._checksum, lambda n: n // 3) > 333
    insider.close()
    result = _augment_sharegpt(forged, "--cache-dir", cache)
    assert forged.read_bytes() == plain.read_bytes()  # no conversation passed through on a lie
    assert result.stderr.count("disagrees with the tokenizer") == 1, result.stderr
