"""Hostile input and signals that used to hang a run: a huge single-word record, a signal while
a worker pool waits in a suspended generator. Rows of docs/hostile-input.md ("Crashes, hangs,
signals and Ray")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ALPACA_EVAL, ROOT, SAMPLE, TOKENIZERS
from formats_helpers import read_rows
from mosaicit import MosaicConfig, load_tables
from mosaicit.cli import main
from mosaicit.run.counting import AtLeast
from mosaicit.run.groups import Run
from mosaicit.run.workers import can_fork
from mosaicit.types.records import Record

#: The counters whose lower bound (least_tokens) is known; every one the shared assets hold.
BOUNDED = ["cl100k", "llama-2", "mistral-7b-v0.1", "llama-3.1", "qwen3"]
#: Texts where a bound could go wrong: long merges, special-token strings, combining marks and
#: Hangul jamo (which NFC composes), bytes of four, white space.
HARD = [
    "a" * 5000,
    "x" * 3000 + " " + "y" * 3000,
    "<|im_start|><|endoftext|><s></s>" * 200,
    "e\u0301" * 2000,
    "\u1100\u1161\u11a8" * 1500,
    "🙂" * 1000,
    " \n\t" * 1000,
    "The quick brown fox jumps over the lazy dog. " * 200,
]


@pytest.mark.parametrize("name", BOUNDED)
def test_the_lower_bound_holds_on_hard_texts(counters, name):
    counter = counters(name)
    assert counter.least_tokens is not None
    for text in HARD:
        assert counter.least_tokens(text) <= counter.count(text), (name, text[:20])
    assert counter.least_tokens("a" * 100_000) > 0  # and it bounds something


@pytest.mark.parametrize("name", BOUNDED)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(  # (a lone surrogate is refused when the input is read: never counted)
    text=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=400)
    | st.builds(lambda c, n: c * n, st.characters(exclude_categories=["Cs"]), st.integers(50, 3000))
)
def test_the_lower_bound_never_exceeds_the_count(counters, name, text):
    counter = counters(name)
    assert counter.least_tokens(text) <= counter.count_many([text])[0]


def spied(counter):
    """``counter`` with its tokenizer calls watched: the spy, and the lengths of the texts it was given."""
    seen: list[int] = []

    def watched(texts: list[str]) -> list[int]:
        seen.extend(map(len, texts))
        return counter.encode_many(texts)

    return replace(counter, encode_many=watched, encode_one=lambda t: watched([t])[0], word_counts=None), seen


def test_a_record_far_over_the_budget_by_its_bound_is_never_tokenized(counters):
    """The bound sets the record aside before any text of it reaches the tokenizer."""
    counter = counters("llama-3.1")
    spy, seen = spied(counter)
    records = [
        Record(
            0, "Name a colour for the bound test.", "Red, for the bound test."
        ),  # texts no other test counted
        Record(1, "Say it:", "ж" * 1_000_000),  # not plain ASCII: only the tokenizer could count it
        Record(2, "Hi.", "Hello."),
    ]
    run = Run(MosaicConfig(max_length=300), spy, load_tables())
    counts, usable, over = run.measure(records)
    assert usable == [0, 2]
    assert [(r.index, r.reason) for r in over] == [(1, "over_budget")]
    assert all(n < 10_000 for n in seen)  # the long text never reached the tokenizer


def test_a_record_under_twice_the_budget_is_measured_as_before(counters):
    """Near the budget the bound is not used: the record's real count decides."""
    counter = counters("llama-3.1")
    records = [Record(0, "Name a colour.", "Red."), Record(1, "Count:", " ".join(["one"] * 250))]
    counts, usable, over = Run(MosaicConfig(max_length=300), counter, load_tables()).measure(records)
    assert usable == [0, 1] and over == []


def test_a_conversation_far_over_the_budget_by_its_bound_is_never_tokenized(counters):
    """Passthrough conversations are counted whole: the bound sets one aside as it does a record."""
    counter = counters("llama-3.1")
    spy, seen = spied(counter)
    items = [
        SimpleNamespace(index=0, texts=["Hi, bound test.", "Hello, bound test."]),  # not counted before
        SimpleNamespace(index=1, texts=["Say:", "ж" * 1_000_000]),
    ]
    items.append(
        SimpleNamespace(index=2, texts=["Count for the bound test:", " ".join(["one"] * 250)])
    )  # under twice the budget
    run = Run(MosaicConfig(max_length=300), spy, load_tables())
    totals = run.count_conversations(items, lambda item: item.texts)
    assert [isinstance(n, AtLeast) for n in totals] == [False, True, False]
    assert totals[1] > 600 and totals[::2] == [sum(counter.count_many(i.texts)) for i in items[::2]]
    assert all(n < 10_000 for n in seen)  # the long text never reached the tokenizer


def test_a_huge_passthrough_conversation_is_rejected_unread_or_passed_with_its_exact_count(tmp_path):
    """The local passthrough path: ``--over-budget reject`` says its count is at least the bound;
    ``pass`` writes its exact count, the count of a run whose budget it fits."""
    word = "x" * 400_000
    rows = [
        {"messages": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}] * 2},
        {"messages": [{"role": "user", "content": "Say it."}, {"role": "assistant", "content": word}] * 2},
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def run(name: str, *args: str) -> list[dict]:
        out = tmp_path / name
        common = ["-q", "--no-cache", "--workers", "1", "--tokenizer", str(TOKENIZERS / "llama-3.1")]
        result = CliRunner().invoke(main, ["augment", str(data), "-o", str(out), *common, *args])
        assert result.exit_code == 0, result.stderr
        return read_rows(out)

    run("reject.jsonl", "--max-length", "300", "--over-budget", "reject")
    [reject] = [json.loads(x) for x in (tmp_path / "reject.jsonl.rejects.jsonl").read_text().splitlines()]
    assert (reject["index"], reject["reason"]) == (1, "over_budget")
    assert reject["detail"].startswith("at least ") and reject["detail"].endswith(" tokens > max_length 300")
    passed = run("pass.jsonl", "--max-length", "300", "--over-budget", "pass")
    fits = run("fits.jsonl", "--max-length", "1000000")
    assert [r["mosaic"]["tokens"] for r in passed] == [r["mosaic"]["tokens"] for r in fits]
    assert passed[1]["mosaic"]["tokens"] > int(reject["detail"].split()[2]) > 600


@pytest.mark.parametrize("policy", ["split", "trim"])
def test_a_huge_exchange_inside_a_conversation_is_never_tokenized_when_it_is_cut(
    tmp_path, counters, monkeypatch, policy
):
    """``--over-budget split|trim`` count each exchange alone to cut a conversation: an exchange
    far over the budget by its bound is rejected unread (a 100 MB one took minutes), the others
    are kept."""
    spy, seen = spied(counters("llama-3.1"))
    monkeypatch.setattr("mosaicit.run.assemble.load_counter", lambda spec: spy)
    turn = [
        {"role": "user", "content": "Name a colour, cut test."},
        {"role": "assistant", "content": "Blue."},
    ]
    huge = [
        {"role": "user", "content": "Say it, cut test."},
        {"role": "assistant", "content": "ж" * 1_000_000},
    ]
    rows = [{"messages": turn + huge + turn}, {"messages": turn}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    args = ["augment", str(data), "-o", str(out), "-q", "--no-cache", "--workers", "1", "--max-length", "300"]
    result = CliRunner().invoke(main, [*args, "--over-budget", policy])
    assert result.exit_code == 0, result.stderr
    rejects = [json.loads(x) for x in (tmp_path / "o.jsonl.rejects.jsonl").read_text().splitlines()]
    if policy == "split":
        assert [(r["turn"], r["reason"]) for r in rejects] == [(1, "over_budget")]
        assert rejects[0]["detail"].startswith("at least ")
    else:
        assert [(r["turn"], r["reason"]) for r in rejects] == [(1, "trimmed")]
    kept = [r["mosaic"]["turns"] for r in read_rows(out) if r["mosaic"].get("turns")]
    assert kept == ([[0], [2]] if policy == "split" else [[0]])
    assert all(n < 10_000 for n in seen)  # the long text never reached the tokenizer


@pytest.mark.slow
def test_a_100_mb_single_word_record_is_rejected_in_seconds(tmp_path):
    data = tmp_path / "d.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        f.write(SAMPLE.read_text(encoding="utf-8"))
        f.write(json.dumps({"instruction": "Say it.", "output": "x" * 100_000_000}) + "\n")
    out = tmp_path / "out.jsonl"
    start = time.monotonic()
    args = [
        "augment",
        data,
        "-o",
        out,
        "-q",
        "--workers",
        "1",
        "--no-cache",
        "--tokenizer",
        TOKENIZERS / "llama-3.1",
    ]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - start < 60  # it took 197 s and 5.3 GB
    [reject] = [json.loads(line) for line in (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()]
    assert (reject["index"], reject["reason"]) == (120, "over_budget")


# -- signals ---------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _slow(i: int) -> int:
    time.sleep(0.2)
    return i


@pytest.mark.skipif(not can_fork() or not os.path.isdir("/proc"), reason="forks, and looks in /proc")
def test_a_pool_in_a_suspended_generator_is_stopped_by_the_cleanup():
    """A signal while the run writes rows leaves the pool's generator suspended, not closed: the
    CLI's cleanup stops its workers, where the interpreter's exit used to wait for all its work."""
    from mosaicit.exits import RUNNING, stop_running
    from mosaicit.run.workers import map_parallel

    results = map_parallel(_slow, [(i,) for i in range(200)], 2)
    assert next(results) == 0
    assert _children(os.getpid()) and RUNNING
    start = time.monotonic()
    stop_running()
    assert time.monotonic() - start < 10
    assert not RUNNING
    end = time.monotonic() + 10
    while _children(os.getpid()) and time.monotonic() < end:
        time.sleep(0.05)
    assert _children(os.getpid()) == []
    results.close()


@pytest.mark.skipif(not can_fork() or not os.path.isdir("/proc"), reason="forks, and looks in /proc")
def test_a_signal_while_the_pool_shuts_down_stops_it_and_leaves_nothing_for_the_exit(monkeypatch):
    """A signal while the workers finish (the pool's ``shutdown(wait=True)``, at the end of a
    phase) stops the pool as one during its work does: its manager thread ends and leaves the
    table that the interpreter's exit wakes (its wakeup pipe, closed by then, gave a 'Bad file
    descriptor' traceback after the one line, about 1 SIGTERM in 15 during a --workers 2 run)."""
    import concurrent.futures.process as process

    from mosaicit.exits import Stopped
    from mosaicit.run.workers import worker_pool

    def interrupted(pool, wait=True, **kwargs):
        if wait:  # the signal comes as the workers are told to end
            raise Stopped(signal.SIGTERM)
        shutdown(pool, wait=False, **kwargs)

    shutdown = process.ProcessPoolExecutor.shutdown
    monkeypatch.setattr(process.ProcessPoolExecutor, "shutdown", interrupted)
    before = set(process._threads_wakeups)
    with pytest.raises(Stopped), worker_pool(2) as pool:
        futures = [pool.submit(_slow, i) for i in range(20)]
        assert futures[0].result() == 0
        manager = pool._executor_manager_thread
    monkeypatch.undo()
    assert _children(os.getpid()) == [] and not manager.is_alive()
    assert set(process._threads_wakeups) == before


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc as on Linux")
@pytest.mark.parametrize("delay", [1.5, 3.0, 4.5, 6.0])
def test_sigterm_at_any_moment_of_a_workers_run_ends_it_within_seconds(tmp_path, delay):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TMPDIR": str(tmp_path),
        "TOKENIZERS_PARALLELISM": "false",
    }
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "mosaicit", "augment", str(ALPACA_EVAL), "-o", str(out), "--epochs", "40"]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--no-cache", "-q"], env=env, stderr=subprocess.PIPE, text=True
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the run went on for 30 s after SIGTERM")
    assert time.monotonic() - start < 15
    if proc.returncode == 0:  # it had finished before the signal
        return
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err == "mosaicit: stopped by SIGTERM; temporary files removed\n"
    assert _children(proc.pid) == []
    assert not list(tmp_path.glob("out.jsonl*")) and not list(tmp_path.glob("mosaicit-*"))
