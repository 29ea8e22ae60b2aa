"""Ending a local Ray instance's processes and removing its session folder, also after the
driver dies.

:func:`end_session` is what a run does when it shuts down the Ray instance it started. A driver
killed by SIGKILL runs no cleanup, so before it starts the instance it starts this file as a
watchdog (:func:`start_watchdog`, a script with no imports beyond the standard library): it
blocks reading a pipe whose write end only the driver holds, so end of file means the driver is
gone, however it died. It then ends the session's processes and removes its folder, unless the
driver did so and said ``done`` first.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import IO

#: Seconds a session's processes get to end on SIGTERM before SIGKILL.
SHUTDOWN_WAIT = 2.0
#: What the watchdog says when the driver ended without its cleanup.
LOST = (
    "the run ended without its cleanup (killed, or ended by Ray's core when its raylet died); "
    "its local Ray instance was ended and its session folder removed"
)
#: Scans for a session's processes after the driver's death (one may start while others end).
SCANS = 5


def session_processes(session: str) -> list[int]:
    """The processes (of this user) with a file open in ``session``: every process of a Ray
    instance writes its log there (Linux; none found elsewhere)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                fds = os.listdir(f"/proc/{entry}/fd")
                if any(os.readlink(f"/proc/{entry}/fd/{fd}").startswith(session + os.sep) for fd in fds):
                    found.append(int(entry))
    return found


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (one that ended, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def end_processes(pids: list[int]) -> None:
    """SIGTERM ``pids``, then SIGKILL those still running after :data:`SHUTDOWN_WAIT` seconds."""
    left = pids
    for sig, wait in ((signal.SIGTERM, SHUTDOWN_WAIT), (signal.SIGKILL, 0.0)):
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [pid for pid in left if _running(pid)]


def remove_session(session: str) -> None:
    """Remove ``session``, the ``session_latest`` link to it, and Ray's folder if that is empty then."""
    shutil.rmtree(session, ignore_errors=True)
    parent = os.path.dirname(session)
    latest = os.path.join(parent, "session_latest")
    with contextlib.suppress(OSError):
        if os.path.islink(latest) and not os.path.exists(latest):
            os.unlink(latest)
    with contextlib.suppress(OSError):
        os.rmdir(parent)


def end_session(session: str, scans: int = 1) -> None:
    """End the processes of the Ray session in folder ``session`` (looking ``scans`` times, until
    none is found) and remove the folder."""
    for _ in range(scans):
        left = session_processes(session)
        if not left:
            break
        end_processes(left)
    remove_session(session)


def start_watchdog(ray_folder: str) -> IO[bytes]:
    """Start the watchdog of the local Ray instance this process is about to start in
    ``ray_folder`` (its session folder there is named after this process); returns the write end
    of its pipe: write the session folder to it once known, ``ending`` when the run has said its
    last line and ends the session, and ``done`` once the session is ended."""
    watchdog = subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), ray_folder, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # not in the terminal's process group: Ctrl-C is the driver's
    )
    assert watchdog.stdin is not None
    return watchdog.stdin


def _watch(ray_folder: str, driver: int) -> None:
    """Wait for the driver's end (end of file on stdin); if it did not say ``done``, end its
    session (the folder it wrote, else the one named after it in ``ray_folder``) and, unless the
    driver said ``ending`` (its last line was out), say so in one line on the driver's stderr
    (a driver ended by Ray's C++ core says nothing itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    said = sys.stdin.buffer.read().decode(errors="replace").splitlines()
    if "done" in said:
        return
    named = [line for line in said if line.startswith(os.sep)]
    sessions = named or glob.glob(os.path.join(ray_folder, f"session_*_{driver}"))
    for session in sessions:
        if os.path.isdir(session):
            end_session(session, SCANS)
    if "ending" in said:  # the driver died in its cleanup, after its own last line
        return
    with contextlib.suppress(OSError):
        sys.stderr.write(f"mosaicit: error: {LOST}\n")
        sys.stderr.flush()


if __name__ == "__main__":
    _watch(sys.argv[1], int(sys.argv[2]))
