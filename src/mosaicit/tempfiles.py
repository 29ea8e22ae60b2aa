"""Temporary files and folders named after the process that owns them.

A run removes its temporary files on every exit it can see (errors, signals). A process
killed outright (SIGKILL, a power cut) cannot, so each name holds the owner's pid, as
``<base>mosaicit-<pid>-<random><suffix>``, and a later run removes the ones whose process is
gone. A pid reused by an unrelated live process keeps its file until that process ends too.
Each one is created with the signals held back and entered in :data:`LIVE` at once, so that
no signal can leave one behind unnoticed.
"""

from __future__ import annotations

import os
import shutil

#: What comes between the base of a temporary name and the owner's pid.
TAG = "mosaicit-"
#: This process's temporary files and folders not yet renamed or removed: the last resort of
#: the cleanup on a signal that comes between creating one and guarding it (see remove_live).
LIVE: set[str] = set()


def remove_live() -> None:
    """Remove every temporary file and folder of :data:`LIVE`. Never raises."""
    for path in list(LIVE):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            pass
        LIVE.discard(path)


def owned_prefix(base: str = "") -> str:
    """The prefix of a temporary name owned by this process: ``<base>mosaicit-<pid>-``."""
    return f"{base}{TAG}{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (one of another user's counts too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner(name: str, base: str, suffix: str) -> int | None:
    """The pid in a temporary name ``<base>mosaicit-<pid>-...<suffix>``, or None if it is not one."""
    head = base + TAG
    if not (name.startswith(head) and name.endswith(suffix)):
        return None
    pid, sep, _ = name[len(head) :].partition("-")
    return int(pid) if sep and pid.isdigit() else None


def remove_stale(folder: str | os.PathLike[str], base: str = "", suffix: str = "") -> int:
    """Remove the temporary files and folders in ``folder`` named ``<base>mosaicit-<pid>-...<suffix>``
    whose process is gone; returns how many. Never raises."""
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    for name in names:
        pid = owner(name, base, suffix)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed
