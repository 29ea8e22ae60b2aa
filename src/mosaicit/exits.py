"""How a run ends on a signal: through every cleanup, then one line and status 128 + the signal.

SIGTERM and SIGHUP become a :class:`Stopped` exception in the main thread (SIGINT is Python's
``KeyboardInterrupt``), so temporary files are removed by the same ``finally`` blocks as on an
error. Worker processes leave the signals to the parent, which stops them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

#: The signals turned into :class:`Stopped`.
CAUGHT = (signal.SIGTERM, signal.SIGHUP)
#: Linux ``prctl`` option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
#: The signals held back while a set of outputs is renamed into place.
HELD = (signal.SIGINT, *CAUGHT)


class Stopped(BaseException):
    """The process was asked to stop by a signal; raised where the main thread was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """The signal's name, such as ``SIGTERM``."""
        return signal.Signals(self.signum).name


#: What still runs elsewhere for this process (worker pools, a Ray session), each with the
#: function that stops it; see :func:`stop_running`.
RUNNING: dict[int, Callable[[], None]] = {}


@contextlib.contextmanager
def stopped_at_exit(stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, :func:`stop_running` calls ``stop``: a generator suspended inside the
    block when the run ends on a signal or an error is not closed until the interpreter's own
    exit, which would wait for its workers to finish all their queued work first."""
    RUNNING[id(stop)] = stop
    try:
        yield
    finally:
        RUNNING.pop(id(stop), None)


def stop_running() -> None:
    """Stop everything :func:`stopped_at_exit` registered, newest first. Never raises."""
    while RUNNING:
        _, stop = RUNNING.popitem()
        with contextlib.suppress(Exception):
            stop()


#: The signals received in the current :func:`stopping_on_signals` block.
_received: list[int] = []
#: The signals that the current :func:`stopping_on_signals` block turns into :class:`Stopped`.
_taken: set[int] = set()


def _stop(signum: int, frame: FrameType | None) -> None:
    for sig in HELD:  # a second signal must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    _received.append(signum)
    raise Stopped(signum)


def check_stop() -> None:
    """Raise :class:`Stopped` again if a signal came and its exception was lost.

    Python drops an exception raised where it cannot propagate (in a callback run at fork,
    in a finalizer); the run calls this where it must not go on, such as before committing.
    """
    if _received:
        raise Stopped(_received[0])


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` (main thread only; a signal
    that the process ignores, as under ``nohup``, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in HELD}
    _received.clear()
    for sig in CAUGHT:
        if before[sig] == signal.SIG_DFL:  # an ignored signal stays ignored (nohup)
            signal.signal(sig, _stop)
            _taken.add(sig)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        _received.clear()
        _taken.clear()


def take_signals_back() -> None:
    """Turn the signals of the current :func:`stopping_on_signals` block into :class:`Stopped`
    again, after a library replaced their handlers (``ray.init`` makes SIGTERM exit at once)."""
    if threading.current_thread() is threading.main_thread():
        for sig in _taken:
            signal.signal(sig, _stop)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back during the block; they are delivered after it."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def leave_signals_to_parent(parent: int) -> None:
    """In a worker process: die on SIGTERM and SIGHUP, ignore SIGINT (the parent handles it), and
    on Linux get SIGKILL when the ``parent`` process dies, even killed outright."""
    for sig in CAUGHT:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # forked while the parent held them back
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # the parent died before the request
        os._exit(1)
