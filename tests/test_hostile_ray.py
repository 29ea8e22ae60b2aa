"""Ray fails like the rest: the same inputs as a local run, one error line, and nothing left
behind (no Ray process, no session folder) after a signal or a dead raylet. Rows of
docs/hostile-input.md ("Crashes, hangs, signals and Ray").

One local Ray instance serves the in-process tests of the module; the tests of a whole run in a
subprocess (a signal, a killed raylet) start their own, in their own TMPDIR, and are slow.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from conftest import ALPACA_EVAL, ROOT, SAMPLE, TOKENIZERS
from mosaicit.cli import main
from mosaicit.errors import InputError
from mosaicit.run.ray_reaper import LOST
from ray_helpers import local_ray

pytestmark = pytest.mark.heavy
ray = pytest.importorskip("ray")


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaicit: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for the module (see :func:`ray_helpers.local_ray`)."""
    with local_ray() as ray_module:
        yield ray_module


@pytest.fixture(scope="module")
def compressed(tmp_path_factory) -> list[Path]:
    """The sample, cut in two: a .jsonl.gz and a .jsonl.zst file."""
    folder = tmp_path_factory.mktemp("compressed")
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    gz, zst = folder / "a.jsonl.gz", folder / "b.jsonl.zst"
    gz.write_bytes(gzip.compress(b"".join(lines[:60])))
    zst.write_bytes(zstandard.ZstdCompressor().compress(b"".join(lines[60:])))
    return [gz, zst]


def test_compressed_inputs_under_ray_give_the_bytes_of_a_local_run(cluster, compressed, tmp_path):
    common = ["-q", "--no-cache", "--epochs", "2", "--shards", "2"]
    local = invoke("augment", *compressed, "-o", tmp_path / "local.jsonl", *common, "--workers", "1")
    assert local.exit_code == 0, local.stderr
    remote = invoke("augment", *compressed, "-o", tmp_path / "ray.jsonl", *common, "--executor", "ray")
    assert remote.exit_code == 0, remote.stderr
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()


def test_a_corrupt_zst_under_ray_is_the_line_of_a_local_run(cluster, tmp_path):
    data = tmp_path / "d.jsonl.zst"
    data.write_bytes(zstandard.ZstdCompressor().compress(SAMPLE.read_bytes())[:-1] + b"\xff" * 64)
    local = error_line(invoke("augment", data, "-o", tmp_path / "l.jsonl", "-q", "--workers", "1"))
    remote = error_line(invoke("augment", data, "-o", tmp_path / "r.jsonl", "-q", "--executor", "ray"))
    assert remote == local
    assert local.startswith(f"mosaicit: error: {data}: cannot read: ")


def test_a_record_over_the_limit_under_ray_is_the_line_of_a_local_run(cluster, tmp_path):
    data = tmp_path / "d.jsonl.gz"
    data.write_bytes(gzip.compress(SAMPLE.read_bytes() + b'{"instruction": "' + b"a" * (3 * 2**20) + b'"}\n'))
    args = ["-q", "--max-record-mb", "2"]
    local = error_line(invoke("augment", data, "-o", tmp_path / "l.jsonl", *args, "--workers", "1"))
    remote = error_line(invoke("augment", data, "-o", tmp_path / "r.jsonl", *args, "--executor", "ray"))
    assert (
        remote
        == local
        == (
            f"mosaicit: error: {data}: record 120: line 121 holds over 2 MiB of text without ending a record; "
            "raise --max-record-mb if records this large are meant"
        )
    )


def test_a_record_far_over_the_budget_under_ray_is_rejected_by_its_bound_as_locally(cluster, tmp_path):
    """Ray's counting sets the record aside by the counter's lower bound, untokenized, as a local
    run does: the reject's count is that bound (its real count would differ)."""
    data = tmp_path / "d.jsonl"
    data.write_bytes(
        SAMPLE.read_bytes() + b'{"instruction": "Say it.", "output": "' + b"x" * 400_000 + b'"}\n'
    )
    args = ["-q", "--no-cache", "--max-length", "300", "--tokenizer", TOKENIZERS / "llama-3.1"]
    for name, executor in (("l.jsonl", ["--workers", "1"]), ("r.jsonl", ["--executor", "ray"])):
        result = invoke("augment", data, "-o", tmp_path / name, *args, *executor)
        assert result.exit_code == 0, result.stderr
    local, remote = ((tmp_path / f"{n}.jsonl.rejects.jsonl").read_text() for n in "lr")
    assert remote == local
    far = [json.loads(line) for line in local.splitlines() if json.loads(line)["index"] == 120]
    assert [r["reason"] for r in far] == ["over_budget"]
    assert (tmp_path / "r.jsonl").read_bytes() == (tmp_path / "l.jsonl").read_bytes()


def test_a_tasks_own_error_is_its_line_not_rays_traceback(cluster):
    from mosaicit.io.streams import open_text
    from mosaicit.run.executors.ray import _failure

    missing = "/nonexistent/data.jsonl"
    with pytest.raises(InputError) as caught:  # Ray's copy of the task's InputError
        ray.get(ray.remote(open_text).remote(missing))
    assert "File " in str(caught.value)  # which carries the remote traceback in its message
    error = _failure("composing on Ray failed", caught.value)
    assert isinstance(error, InputError) and str(error) == f"{missing}: no such file"


def test_a_signal_raised_inside_rays_compiled_code_is_the_stop_not_a_failure(monkeypatch):
    """A SIGTERM while the driver waits in Ray's Cython code (``ray.wait``, ``ray.get``) comes
    out as a ``SystemError`` ('returned a result with an exception set'): the run stops with
    the signal's line and status, not 'composing on Ray failed: <cyfunction ...>' and status 1."""
    from mosaicit import exits
    from mosaicit.exits import Stopped
    from mosaicit.run.executors.ray import _failure

    wrapped = SystemError("<cyfunction CoreWorker.wait at 0x7f> returned a result with an exception set")
    monkeypatch.setattr(exits, "_received", [signal.SIGTERM])
    with pytest.raises(Stopped) as caught:
        _failure("composing on Ray failed", wrapped)
    assert caught.value.signum == signal.SIGTERM
    monkeypatch.setattr(exits, "_received", [])
    assert str(_failure("composing on Ray failed", wrapped)).startswith(
        "composing on Ray failed: <cyfunction"
    )


# -- a whole run in a subprocess, with its own Ray instance ---------------------------------


def _ray_processes(marker: str) -> list[int]:
    """The processes that name ``marker`` (the run's TMPDIR, where its Ray session lives) in their
    command line or have a file open below it (Ray's agents rename themselves, but keep logs)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                fds = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
            except OSError:
                continue
            if marker in cmdline or any(f.startswith(marker) for f in fds):
                found.append(int(entry))
    return found


def _tasks_running(marker: str) -> bool:
    """True once the Ray session has a worker process (``ray::...``, not one of its agents)."""
    for pid in _ray_processes(marker):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmd:
            name = cmd.read().split(b"\0")[0]
            if name.startswith(b"ray::") and b"Agent" not in name:
                return True
    return False


def _raylet(marker: str) -> int | None:
    for pid in _ray_processes(marker):
        with open(f"/proc/{pid}/cmdline", "rb") as cmd:
            if b"raylet/raylet" in cmd.read().split(b"\0")[0]:
                return pid
    return None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc as on Linux")
@pytest.mark.parametrize("fault", ["SIGTERM to the driver", "SIGKILL to the driver", "a killed raylet"])
def test_a_ray_run_ends_in_one_line_and_leaves_no_process_or_folder(tmp_path, fault):
    tmp = Path(tempfile.mkdtemp(prefix="mr", dir="/tmp"))  # Ray's socket paths must stay short
    try:
        _run_and_stop(tmp, tmp_path, fault)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_and_stop(tmp: Path, tmp_path: Path, fault: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TMPDIR": str(tmp)}
    env.pop("RAY_ADDRESS", None)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "mosaicit", "augment", str(ALPACA_EVAL), "-o", str(out), "-q"]
    cmd += ["--epochs", "40", "--shards", "8", "--executor", "ray", "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while (raylet := _raylet(str(tmp))) is None or not _tasks_running(str(tmp)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "Ray never ran a task"
        time.sleep(0.1)
    time.sleep(1)  # the run reads and counts on Ray (a raylet killed while ray.init connects
    # ends the driver inside Ray's C++ core, where nothing of mosaicit runs)
    if fault == "a killed raylet":
        os.kill(raylet, signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGKILL if fault == "SIGKILL to the driver" else signal.SIGTERM)
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run went on for 90 s after {fault}")
    if fault == "a killed raylet":
        assert proc.returncode == 1, stderr
        [line] = stderr.splitlines()  # Ray's C++ core logs no line of its own (not below fatal)
        assert line.startswith("mosaicit: error: ") and "raylet" in line, stderr
        # (mosaicit's, or at times, where Ray's core ends the driver, the watchdog's)
    elif fault == "SIGKILL to the driver":  # no cleanup ran: the watchdog ends the session
        assert proc.returncode == -signal.SIGKILL, stderr
        assert stderr == f"mosaicit: error: {LOST}\n"
    else:
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert stderr == "mosaicit: stopped by SIGTERM; temporary files removed\n"
    assert stdout == ""
    end = time.monotonic() + 20
    while _ray_processes(str(tmp)) and time.monotonic() < end:
        time.sleep(0.2)
    assert _ray_processes(str(tmp)) == []
    assert list(tmp.iterdir()) == []
    if fault != "SIGKILL to the driver":  # (its temporary output stays: nothing of it ran)
        assert not list(tmp_path.glob("out.jsonl*"))
