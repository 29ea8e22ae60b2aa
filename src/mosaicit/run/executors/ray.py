"""The ``ray`` executor: a run spread over a Ray cluster, with the bytes of a local run.

An augment run over files is spread over the cluster (:mod:`mosaicit.run.spread`): Ray tasks read,
route and measure each file, deal each group's records to its units, compose each unit and write
its part file; the driver holds the files' tallies and writes what comes back in order. This
module gives that flow its :class:`RayCluster` (tasks, object references, one error line for a
failure: :func:`_failure`) and joins the cluster: :func:`connect` joins the one at
``--ray-address`` (or ``RAY_ADDRESS``), or starts a local Ray instance for the run. Files are
fetched from any filesystem pyarrow reaches (local paths, ``s3://``, ``gs://``, ``hf://``: listed
by :mod:`mosaicit.io.remote`). Every failure is one ``MosaicitError`` line.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from mosaicit.errors import MosaicitError, ParamError
from mosaicit.exits import RUNNING, Stopped, check_stop, take_signals_back
from mosaicit.extras import require
from mosaicit.io.remote import SCHEME, first_line, list_remote, ship_items
from mosaicit.io.sources import is_paths
from mosaicit.run.executors.base import Executor, Listed
from mosaicit.run.ray_reaper import end_session, start_watchdog
from mosaicit.run.workers import free_cores
from mosaicit.types.options import between, option

#: Seconds to wait for cancelled compose tasks to end after an error or a signal.
CANCEL_WAIT = 30
#: The environment of the run's Ray workers: each task is given one CPU, so a tokenizer counts
#: in the task's own thread (its thread pool would contend with the other tasks for the CPUs),
#: as in the fork workers (:func:`mosaicit.run.workers._worker_start`).
WORKER_ENV = {"env_vars": {"TOKENIZERS_PARALLELISM": "false"}}
#: How many values a Ray worker process keeps of those that many tasks read
#: (:meth:`RayCluster.shared`: a run and its compose jobs), the latest first.
SHARED_KEPT = 4
_SHARED: OrderedDict[str, Any] = OrderedDict()
#: Ray's C++ core logs at this level and above in the local instances a run starts (not
#: below: a killed raylet's own ``E`` line would come before mosaicit's one line).
FATAL = "fatal"
BACKEND_LOG_LEVEL = "RAY_BACKEND_LOG_LEVEL"
#: MiB of object store of a local Ray instance (``--ray-object-store-mb``): the records beyond it
#: are spilled to disk. Ray's own default, 30% of the memory, lets a run's records fill it first.
LOCAL_STORE_MB = 512
#: The Ray settings of a local instance: one worker process of each kind that spills objects to
#: disk or restores them (Ray's default, 4 of each, starts up to 8 processes of ~90 MB that each
#: import Ray, for one local disk).
LOCAL_SYSTEM_CONFIG = {"max_io_workers": 1}


def require_ray() -> Any:
    """The ray module, or one clear error saying how to install it."""
    return require("ray")


def _quiet(ray: Any) -> None:
    """No INFO lines or tracebacks from Ray on the terminal: mosaicit reports progress itself,
    and a failure as one line with its cause (:func:`_failure`)."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    # Ray's driver prints the cluster's errors (a dead raylet, with its log) to stdout, where
    # the output may be going: a private function, replaced where it exists.
    with contextlib.suppress(AttributeError):
        ray._private.worker.print_to_stdstream = lambda *args, **kwargs: None


def _reachable(address: str) -> None:
    """One clear error unless ``host:port`` (or ``ray://host:port``) answers a TCP connection."""
    if address in ("auto", "local"):
        return
    target = address.split(SCHEME, 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise MosaicitError(f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise MosaicitError(
            f"--ray-address {address}: cannot reach a Ray cluster there: {exc.strerror or exc}"
        ) from None


def connect(address: str | None, workers: int, store_mb: int = LOCAL_STORE_MB) -> Any:
    """Join the Ray cluster at ``address`` (else ``RAY_ADDRESS``), or start a local instance
    with ``workers`` CPUs, an object store of ``store_mb`` MiB (what does not fit is spilled to
    disk) and no dashboard; an already initialised Ray is used as it is.

    A run that connects ends its Ray session when it ends (:func:`mosaicit.exits.stop_running`,
    on success, an error or a signal): a local instance's processes stop and its session folder
    is removed; a watchdog process does the same if the driver dies without its cleanup
    (SIGKILL; :mod:`mosaicit.run.ray_reaper`). A local instance's C++ core logs only fatal
    errors (a killed raylet is mosaicit's one line). SIGTERM and SIGHUP stop the run as in a
    local run (``ray.init`` makes SIGTERM exit at once, without the cleanups)."""
    ray = require_ray()
    _quiet(ray)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _reachable(address)
    if ray.is_initialized():
        return ray
    watchdog = None if address else start_watchdog(_ray_folder())
    RUNNING[id(ray)] = partial(_shutdown, ray, watchdog)  # also a half-started instance
    try:
        if address:
            ray.init(
                address=address, log_to_driver=False, logging_level=logging.ERROR, runtime_env=WORKER_ENV
            )
        else:
            with _backend_logs(FATAL):
                ray.init(
                    address="local",  # a new instance, not one another process started here
                    num_cpus=workers,
                    object_store_memory=store_mb << 20,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    runtime_env=WORKER_ENV,
                    _system_config=LOCAL_SYSTEM_CONFIG,
                )
            session = _session_folder(ray)
            if session and watchdog:
                _tell(watchdog, session)
    except MosaicitError:
        raise
    except SystemExit as exc:  # the SIGTERM handler that ray.init sets while it starts
        if exc.code == signal.SIGTERM:
            raise Stopped(signal.SIGTERM) from None
        raise
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        where = f"at {address}" if address else "locally"
        raise MosaicitError(f"cannot start Ray {where}: {str(exc).splitlines()[0][:200]}") from None
    finally:
        take_signals_back()
    return ray


def _ray_folder() -> str:
    """Ray's temporary folder, where a local instance's session folder goes."""
    return os.path.join(tempfile.gettempdir(), "ray")


@contextlib.contextmanager
def _backend_logs(level: str) -> Iterator[None]:
    """Ray's C++ core (of this process and of the instance it starts) logs only at ``level`` and
    above, unless the user set ``RAY_BACKEND_LOG_LEVEL``: the core reads it when it starts, in
    the block, and says so on stderr, which the block holds back (all else written there is
    written on after it)."""
    if BACKEND_LOG_LEVEL in os.environ:
        yield
        return
    os.environ[BACKEND_LOG_LEVEL] = level
    sys.stderr.flush()
    stderr = os.dup(2)
    try:
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(stderr, 2)
                caught.seek(0)
                for line in caught:
                    if BACKEND_LOG_LEVEL.encode() not in line:
                        os.write(2, line)
    finally:
        os.close(stderr)
        os.environ.pop(BACKEND_LOG_LEVEL, None)


def _tell(watchdog: IO[bytes], line: str) -> None:
    """Write one line to the watchdog (which may have ended: then nothing)."""
    with contextlib.suppress(OSError, ValueError):
        watchdog.write(line.encode() + b"\n")
        watchdog.flush()


def _session_folder(ray: Any) -> str | None:
    """The session folder of the local Ray instance this process started (in Ray's temporary
    folder, named after this process), or None if there is none."""
    with contextlib.suppress(Exception):  # a private attribute, set once the instance is up
        return str(ray._private.worker._global_node.get_session_dir_path())
    found = glob.glob(os.path.join(_ray_folder(), f"session_*_{os.getpid()}"))
    return found[0] if len(found) == 1 else None


def _shutdown(ray: Any, watchdog: IO[bytes] | None) -> None:
    """End this process's Ray session. For a local instance (one with a ``watchdog``), also end
    its processes that outlive ``ray.shutdown`` (the agents linger for a minute), remove its
    session folder, and tell the watchdog that all is done."""
    if watchdog is not None:
        _tell(watchdog, "ending")  # the run's last line is out: the watchdog has nothing to say
    session = _session_folder(ray) if watchdog else None
    ray.shutdown()
    if session is not None:
        end_session(session)
    if watchdog is not None:
        _tell(watchdog, "done")
        with contextlib.suppress(OSError):
            watchdog.close()


# --- failures -------------------------------------------------------------------------------


def _failure(what: str, exc: BaseException) -> MosaicitError:
    """One error line for an exception raised through Ray: the task's own error where it was
    one of mosaicit's (Ray's copy of it carries the whole remote traceback in its message),
    else ``what`` with the last line of the cause (a lost worker, a dead raylet). A signal whose
    exception was raised inside Ray's compiled code (which turns it into a ``SystemError``) is
    the stop it asked for."""
    check_stop()
    cause = exc
    while isinstance(getattr(cause, "cause", None), BaseException):  # RayTaskError, nested
        cause = cause.cause  # type: ignore[attr-defined]
    if isinstance(cause, MosaicitError):
        return cause
    return MosaicitError(f"{what}: {first_line(cause)}")


# --- the cluster --------------------------------------------------------------------------


class RayCluster:
    """The :class:`~mosaicit.run.spread.Cluster` of a Ray run: each task a Ray task (one CPU),
    references Ray object references, every failure one clear line (:func:`_failure`). It
    travels to the tasks that fetch references or name their node (holding nothing there)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._remote: dict[tuple[Any, Any], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"workers": self.workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["workers"])  # type: ignore[misc]

    def _task(self, fn: Callable[..., Any], returns: Any) -> Any:
        import ray

        key = (fn, returns)
        if key not in self._remote:
            self._remote[key] = ray.remote(num_returns=returns)(fn)
        return self._remote[key]

    def put(self, value: Any) -> Any:
        import ray

        return ray.put(value)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._task(fn, 1).remote(*args)

    def stream(self, fn: Callable[..., Iterator[Any]], *args: Any) -> Iterator[Any]:
        return _Stream(self._task(fn, "streaming").remote(*args))

    def get(self, ref: Any) -> Any:
        import ray

        try:
            return ray.get(ref)
        except Exception as exc:
            raise _failure("a Ray task failed", exc) from None

    def shared(self, held: Any) -> Any:
        """The value of ``held.ref``, read once in this process and kept with the latest few
        (:data:`SHARED_KEPT`) read so."""
        key = held.ref.hex()
        if key not in _SHARED:
            _SHARED[key] = self.get(held.ref)
            while len(_SHARED) > SHARED_KEPT:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return _SHARED[key]

    def finished(self, refs: Sequence[Any]) -> Iterator[int]:
        import ray

        ready, _ = ray.wait(list(refs), num_returns=1)
        yield next(i for i, ref in enumerate(refs) if ref == ready[0])

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def stop(self, refs: Iterable[Any]) -> None:
        """Cancel the tasks and wait (up to :data:`CANCEL_WAIT` s) for them to end, so that none
        writes a part file after the run's temporary folder is removed."""
        import ray

        tasks = [getattr(task, "generator", task) for task in refs]
        for task in tasks:
            with contextlib.suppress(Exception):
                ray.cancel(task)
        deadline = time.monotonic() + CANCEL_WAIT
        for task in tasks:
            with contextlib.suppress(Exception):
                if isinstance(task, ray.ObjectRef):
                    ray.wait([task], timeout=max(0.0, deadline - time.monotonic()))
                    continue
                for _ in task:  # a streaming task's references end, or raise, once it has ended
                    if time.monotonic() > deadline:
                        return


class _Stream:
    """A streaming task's references, as they come (``generator``: Ray's); a failure met while
    waiting for the next one is one line (:func:`_failure`: a signal is the stop it asked for)."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self.generator)
        except StopIteration:
            raise
        except Exception as exc:
            raise _failure("a Ray task failed", exc) from None


@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """The options of the ``ray`` executor: the cluster it joins."""

    ray_address: str | None = option(
        None,
        help="The Ray cluster for --executor ray (HOST:PORT, ray://HOST:PORT or auto) "
        "[default: $RAY_ADDRESS, else a local Ray instance with --workers CPUs].",
        block="execution",
        metavar="ADDRESS",
        recorded=False,
    )
    ray_object_store_mb: int = option(
        LOCAL_STORE_MB,
        help="MiB of object store for the local Ray instance a run starts; the records beyond it "
        "are spilled to disk, so the run's memory stays bounded (a cluster joined keeps its own).",
        block="execution",
        metavar="MIB",
        recorded=False,
        check=between(80, 2**30),
    )


class RayExecutor(Executor):
    """An executor (:mod:`mosaicit.run.executors`) on a Ray cluster: an augment run is spread over
    it (:meth:`cluster`, :mod:`mosaicit.run.spread`), each file read, routed and measured by a Ray
    task and each unit composed by one; other commands read the files with Ray tasks
    (:meth:`read`). Its counts do not go through the count cache, a file on this machine."""

    name = "ray"
    uses_cache = False
    options = RayOptions

    def __init__(self, workers: int) -> None:
        self.workers = workers

    @classmethod
    def list_inputs(cls, source: Any) -> Listed:
        """The input files, listed here (:func:`mosaicit.io.remote.list_remote`; one clear error
        for an input Ray cannot read): ``source`` may hold ``s3://``, ``gs://`` or ``hf://`` URIs."""
        if not is_paths(source):
            raise ParamError("executor", "ray reads files (paths or URIs), not an in-memory dataset")
        found, names, local = list_remote(source)
        return Listed(source, names, local, found)

    @classmethod
    def open(cls, workers: int | None, options: RayOptions) -> RayExecutor:
        """Join the cluster at ``options.ray_address`` (or start a local instance: :func:`connect`)
        with ``workers`` CPUs at most (None: the cluster's CPUs; a local instance's are the CPUs
        that other work leaves free)."""
        ray = connect(options.ray_address, workers or free_cores(), options.ray_object_store_mb)
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return cls(workers)

    def read(self, listed: Listed, split: str | None, max_record_mb: int) -> Iterator[tuple[str, int, Any]]:
        """The items of the listed files, each file fetched and parsed by a Ray task
        (:func:`~mosaicit.io.remote.ship_items`) and handed over here in reading order, for a
        command that reads here, such as ``convert`` (``augment`` spreads the whole run over the
        cluster: :meth:`cluster`)."""
        fs, files = listed.found
        cluster = self.cluster()
        shipped = [cluster.stream(ship_items, fs, path, name, max_record_mb) for path, name in files]
        for (_, name), lists in zip(files, shipped, strict=True):
            row = 0
            for ref in lists:
                for item in cluster.get(ref):
                    yield name, row, item
                    row += 1

    def cluster(self) -> RayCluster:
        """An augment run is spread over the cluster (:mod:`mosaicit.run.spread`), with
        :attr:`workers` setting how many compose tasks run ahead."""
        return RayCluster(self.workers)
