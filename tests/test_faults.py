"""Faults end cleanly: kills, full disks, unwritable places, a dead worker, colliding paths.

Real runs in subprocesses on the 805 AlpacaEval records. Each run gets its own TMPDIR, so
what it leaves there can be checked. Kill points are found by watching the files a run
writes (never by sleeping a fixed time), so that the tests hold on a slow machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, ROOT, SAMPLE
from mosaicit.cli import main

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals, /proc and rlimits as on Linux")

#: Long enough to be stopped at several points on any machine (about 10 s on two cores).
BIG = ["--epochs", "40", "--workers", "2", "--no-cache", "-q"]
DEADLINE = 90.0


def environment(tmp_path: Path) -> dict[str, str]:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "TMPDIR": str(tmp),
        "TOKENIZERS_PARALLELISM": "false",
        "MOSAICIT_KEEP_IN_MEMORY": "0",  # every record waits in the spool file in TMPDIR
    }


def start(tmp_path: Path, out: Path, *extra: str, source: Path = ALPACA_EVAL, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mosaicit", "augment", str(source), "-o", str(out), *extra]
    return subprocess.Popen(
        cmd, env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def finish(proc: subprocess.Popen, timeout: float = DEADLINE) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"never saw {what}")
        time.sleep(0.02)


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part"))


def spool(tmp_path: Path) -> list[str]:
    return sorted(os.listdir(tmp_path / "tmpdir"))


def epoch_folder(tmp_path: Path, pid: int) -> bool:
    return any(name.startswith(f"mosaicit-{pid}-") for name in spool(tmp_path))


def digests(*paths: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def previous_set(out: Path) -> dict[str, str]:
    """A complete earlier run's outputs at ``out``, to show that a failed run leaves them alone."""
    args = ["augment", str(SAMPLE), "-o", str(out), "-q", "--workers", "1", "--no-cache", "--epochs", "1"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return digests(*sorted(out.parent.glob(out.name + "*")))


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# -- kills ---------------------------------------------------------------------------------


def _reading(tmp_path, proc):
    """The run has opened its (nameless) spool file in TMPDIR: it is reading and counting."""
    tmp = str(tmp_path / "tmpdir")

    def spooling() -> bool:
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
            return any(os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith(tmp) for fd in fds)
        except OSError:
            return False

    return spooling


def _composing(tmp_path, proc):
    return lambda: epoch_folder(tmp_path, proc.pid)


def _writing(tmp_path, proc):
    return lambda: any(p.stat().st_size > 1_000_000 for p in parts(tmp_path / "out"))


KILL_POINTS = {"reading": _reading, "composing": _composing, "writing the output": _writing}


@pytest.mark.parametrize(
    ("point", "sig"),
    [(point, signal.SIGTERM) for point in KILL_POINTS]
    + [("writing the output", signal.SIGHUP), ("writing the output", signal.SIGINT)],
)
def test_a_signal_ends_the_run_cleanly_at_any_point(tmp_path, point, sig):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "train.jsonl"
    before = previous_set(out)
    proc = start(tmp_path, out, *BIG)
    wait_for(proc, KILL_POINTS[point](tmp_path, proc), point)
    proc.send_signal(sig)
    status, err = finish(proc)
    assert status == 128 + sig, err
    assert one_line(err) == f"mosaicit: stopped by {signal.Signals(sig).name}; temporary files removed"
    assert digests(*sorted((tmp_path / "out").glob("train.jsonl*"))) == before
    assert parts(tmp_path / "out") == [] and spool(tmp_path) == []
    assert children(proc.pid) == []


def test_an_ignored_sighup_stays_ignored(tmp_path):
    out = tmp_path / "train.jsonl"
    proc = start(
        tmp_path, out, "--epochs", "6", "--workers", "2", "--no-cache", "-q",
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )  # fmt: skip
    wait_for(proc, lambda: parts(tmp_path) != [], "the output's temporary file")
    proc.send_signal(signal.SIGHUP)
    assert finish(proc) == (0, "")  # as under nohup
    assert json.loads((tmp_path / "train.jsonl.summary.json").read_text())["records_read"] == 805


@pytest.mark.parametrize("point", ["composing", "writing the output"])
def test_after_a_sigkill_the_next_run_removes_what_the_killed_run_left(tmp_path, point):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "train.jsonl"
    before = previous_set(out)
    proc = start(tmp_path, out, *BIG)
    wait_for(proc, KILL_POINTS[point](tmp_path, proc), point)
    proc.kill()
    assert finish(proc)[0] == -signal.SIGKILL
    assert digests(*sorted((tmp_path / "out").glob("train.jsonl*"))) == before
    end = time.monotonic() + 10
    while children(proc.pid) and time.monotonic() < end:  # the workers die with their parent
        time.sleep(0.05)
    assert children(proc.pid) == []
    left = parts(tmp_path / "out") + [Path(n) for n in spool(tmp_path)]
    assert left and all(f"mosaicit-{proc.pid}-" in p.name for p in left)
    other = tmp_path / "out" / f".other.jsonl.mosaicit-{proc.pid}-x.part"
    other.write_text("another output's: kept")
    rerun = start(tmp_path, out, "--epochs", "2", "--workers", "2", "--no-cache", "-q", source=SAMPLE)
    assert finish(rerun) == (0, "")
    assert parts(tmp_path / "out") == [other] and spool(tmp_path) == []


def test_a_live_runs_temporary_files_are_never_removed(tmp_path):
    out = tmp_path / "train.jsonl"
    live = tmp_path / f".train.jsonl.mosaicit-{os.getpid()}-x.part"  # this test's process is alive
    live.write_text("in use")
    proc = start(tmp_path, out, "--epochs", "2", "--workers", "2", "--no-cache", "-q", source=SAMPLE)
    assert finish(proc) == (0, "")
    assert live.read_text() == "in use"


def test_a_dead_worker_ends_the_run_with_one_line_within_seconds(tmp_path):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "train.jsonl"
    before = previous_set(out)
    proc = start(tmp_path, out, *BIG)
    wait_for(proc, lambda: epoch_folder(tmp_path, proc.pid) and children(proc.pid), "the workers")
    os.kill(children(proc.pid)[0], signal.SIGKILL)
    killed = time.monotonic()
    status, err = finish(proc, timeout=30)
    assert time.monotonic() - killed < 10
    assert status == 1
    assert one_line(err) == (
        "mosaicit: error: a worker process died (killed, or out of memory); the run stopped and wrote nothing"
    )
    assert digests(*sorted((tmp_path / "out").glob("train.jsonl*"))) == before
    assert parts(tmp_path / "out") == [] and spool(tmp_path) == []


def test_a_closed_stdout_pipe_ends_quietly(tmp_path):
    cmd = [sys.executable, "-m", "mosaicit", "preview", str(SAMPLE), "-n", "200", "--plain"]
    proc = subprocess.Popen(cmd, env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"=== mosaic 1")
    proc.stdout.close()
    assert proc.wait(timeout=DEADLINE) == 128 + signal.SIGPIPE
    assert proc.stderr.read() == b""


# -- full disks and unwritable places --------------------------------------------------------


def _file_size_limit(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("suffix", ["jsonl", "json", "parquet"])
def test_a_file_too_large_leaves_the_previous_outputs(tmp_path, suffix):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / f"train.{suffix}"
    before = previous_set(out)
    limit = _file_size_limit(700_000)  # more than the spool file, less than the output
    proc = start(tmp_path, out, "--epochs", "4", "--workers", "1", "--no-cache", "-q", preexec_fn=limit)
    status, err = finish(proc)
    assert status == 1
    assert one_line(err) == f"mosaicit: error: {out}: cannot write: File too large"
    assert digests(*sorted((tmp_path / "out").glob("train*"))) == before
    assert parts(tmp_path / "out") == [] and spool(tmp_path) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_temporary_folder_is_one_line_naming_it(tmp_path, workers):
    out = tmp_path / "train.jsonl"
    before = previous_set(out)
    limit = _file_size_limit(40_000)  # the output's own files are never reached
    proc = start(tmp_path, out, "--epochs", "4", "--workers", workers, "--no-cache", "-q", preexec_fn=limit)
    status, err = finish(proc)
    assert status == 1
    line = one_line(err)
    assert line.startswith(f"mosaicit: error: {tmp_path / 'tmpdir'}") and line.endswith(": File too large")
    assert digests(*sorted(tmp_path.glob("train*"))) == before
    assert parts(tmp_path) == [] and spool(tmp_path) == []


@pytest.fixture
def small_fs(tmp_path):
    """A 256 kB tmpfs, when this process may mount one (root on Linux); else the test is skipped."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_leaves_the_previous_outputs(tmp_path, small_fs):
    out = small_fs / "train.jsonl"
    before = previous_set(out)
    proc = start(tmp_path, out, "--epochs", "2", "--workers", "1", "--no-cache", "-q")
    status, err = finish(proc)
    assert status == 1
    assert one_line(err) == f"mosaicit: error: {out}: cannot write: No space left on device"
    assert digests(*sorted(small_fs.glob("train*"))) == before
    assert parts(small_fs) == []


def test_a_read_only_place_is_one_line(tmp_path, small_fs):
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    out = small_fs / "train.jsonl"
    proc = start(tmp_path, out, "--epochs", "1", "--workers", "1", "--no-cache", "-q", source=SAMPLE)
    status, err = finish(proc)
    assert status == 1
    assert one_line(err) == f"mosaicit: error: {out}: cannot write: Read-only file system"


@pytest.mark.parametrize("side", ["--rejects", "--summary", "--emit-dataset-info"])
def test_an_unwritable_side_file_leaves_every_output_as_it_was(tmp_path, side):
    out = tmp_path / "train.jsonl"
    before = previous_set(out)
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "side.json"
    args = ["augment", str(SAMPLE), "-o", str(out), "-q", "--workers", "1", "--no-cache", "--epochs", "1"]
    result = CliRunner().invoke(main, [*args, side, str(target)])
    assert result.exit_code == 1
    assert (
        result.stderr == f"mosaicit: error: {target}: cannot write: {tmp_path / 'a-file'} is not a folder\n"
    )
    assert digests(*sorted(tmp_path.glob("train.jsonl*"))) == before
    assert parts(tmp_path) == []


def test_convert_commits_its_outputs_together(tmp_path):
    out = tmp_path / "train.jsonl"
    out.write_text("previous\n")
    (tmp_path / "a-file").write_text("")
    info = tmp_path / "a-file" / "dataset_info.json"
    result = CliRunner().invoke(
        main, ["convert", str(SAMPLE), "-o", str(out), "--emit-dataset-info", str(info)]
    )
    assert result.exit_code == 1 and f"{info}: cannot write" in one_line(result.stderr)
    assert out.read_text() == "previous\n" and parts(tmp_path) == []


def test_outputs_are_committed_together_samples_last(tmp_path, monkeypatch):
    renamed: list[str] = []
    real = os.replace

    def record(src, dst):
        renamed.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", record)
    out = tmp_path / "train.jsonl"
    args = ["augment", str(SAMPLE), "-o", str(out), "-q", "--workers", "1", "--no-cache", "--epochs", "1"]
    result = CliRunner().invoke(main, [*args, "--emit-dataset-info"], catch_exceptions=False)
    assert result.exit_code == 0
    assert renamed[-1] == "train.jsonl"
    assert sorted(renamed) == [
        "dataset_info.json",
        "train.jsonl",
        "train.jsonl.rejects.jsonl",
        "train.jsonl.summary.json",
    ]


# -- colliding paths -------------------------------------------------------------------------


def _collide(tmp_path: Path, case: str) -> tuple[list[str], Path]:
    data = tmp_path / "data.jsonl"
    data.write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out.jsonl"
    out.write_text("{}\n")
    (tmp_path / "link.jsonl").symlink_to(data)
    os.link(data, tmp_path / "hard.jsonl")
    cases = {
        "output is the input": (["augment", data, "-o", data], data),
        "output is a symlink to the input": (["augment", data, "-o", tmp_path / "link.jsonl"], data),
        "input is a symlink to the output": (["augment", tmp_path / "link.jsonl", "-o", data], data),
        "output is a hard link of the input": (["augment", data, "-o", tmp_path / "hard.jsonl"], data),
        "rejects is the input": (["augment", data, "-o", out, "--rejects", data], data),
        "summary is the input": (["augment", data, "-o", out, "--summary", data], data),
        "rejects is the output": (["augment", data, "-o", out, "--rejects", out], out),
        "summary is the output": (["augment", data, "-o", out, "--summary", out], out),
        "summary is the rejects": (
            ["augment", data, "-o", out, "--summary", tmp_path / "s", "--rejects", tmp_path / "s"],
            out,
        ),
        "dataset_info is the output": (["augment", data, "-o", out, "--emit-dataset-info", out], out),
        "output is the tables": (
            ["augment", data, "-o", tmp_path / "t.jsonl", "--tables", tmp_path / "t.jsonl"],
            data,
        ),
        "convert output is the input": (["convert", data, "-o", data], data),
        "convert dataset_info is the input": (
            ["convert", data, "-o", out, "--emit-dataset-info", data],
            data,
        ),
        "eval build output is the input": (["eval", "build", data, "-o", tmp_path / "link.jsonl"], data),
    }
    args, kept = cases[case]
    if case == "output is the tables":
        (tmp_path / "t.jsonl").write_text("")
    return [str(a) for a in args], kept


@pytest.mark.parametrize(
    "case",
    [
        "output is the input",
        "output is a symlink to the input",
        "input is a symlink to the output",
        "output is a hard link of the input",
        "rejects is the input",
        "summary is the input",
        "rejects is the output",
        "summary is the output",
        "summary is the rejects",
        "dataset_info is the output",
        "output is the tables",
        "convert output is the input",
        "convert dataset_info is the input",
        "eval build output is the input",
    ],
)
def test_colliding_paths_are_refused_before_anything_is_read(tmp_path, case):
    args, kept = _collide(tmp_path, case)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert line.startswith("mosaicit: error: ") and line.endswith(
        "name the same file; nothing was read or written"
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert kept.read_bytes() == before[kept.name]


def test_distinct_paths_through_a_symlinked_folder_still_work(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    args = ["augment", str(SAMPLE), "-o", str(tmp_path / "alias" / "a.jsonl"), "-q", "--workers", "1"]
    args += ["--no-cache", "--epochs", "1", "--rejects", str(tmp_path / "real" / "r.jsonl")]
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    assert json.loads((tmp_path / "real" / "a.jsonl.summary.json").read_text())["records_read"] == 120


def test_a_temporary_file_caught_between_creation_and_its_guard_is_removed_at_exit(tmp_path, capsys):
    from mosaicit.clihelp import user_errors
    from mosaicit.exits import Stopped
    from mosaicit.tempfiles import LIVE

    stray = tmp_path / ".train.jsonl.mosaicit-1-x.part"
    stray.write_text("")

    @user_errors
    def command() -> None:
        LIVE.add(str(stray))  # created, and the signal came before its try block
        raise Stopped(signal.SIGTERM)

    with pytest.raises(SystemExit) as ended:
        command()
    assert ended.value.code == 143 and not stray.exists() and not LIVE
    assert capsys.readouterr().err == "mosaicit: stopped by SIGTERM; temporary files removed\n"
