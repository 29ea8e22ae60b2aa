"""The ``ray`` executor: read, count and compose on a Ray cluster, with the bytes of a local run.

- **Reading.** Ray Data's ``read_binary_files`` fetches each input file (local paths, ``s3://``,
  ``gs://``, ``hf://``: any filesystem pyarrow reaches, listed by :mod:`mosaicit.io.remote`) and a
  Ray task parses it with mosaicit's own readers (:func:`mosaicit.io.remote.parse_file`) into
  rows of a few thousand items, so the items are exactly those a local run reads (Ray Data's
  typed JSON/Parquet readers would fill missing keys and coerce types). The same task
  normalises each item it can decide alone (shape, repairs: :mod:`mosaicit.io.prepared`); the
  driver takes those conversations, decides the other items as a local run does, routes them
  in file order, one row at a time, and spools the records to disk
  (:class:`mosaicit.run.store.RecordStore`).
- **Counting.** ``map_batches`` with an actor class: each actor receives the tokenizer once
  and finds the whole measure of each record of its batches (:meth:`RayExecutor.count`, the
  executor's ``count`` hook, in place of measuring batch units); the driver only unpickles them.
- **Composing.** Each (group, epoch, shard) unit (see :mod:`mosaicit.run.shards`) is one Ray
  task; the driver takes the unit's own records from its spool and puts them, with their
  measures, in the object store as one pickled :class:`Members` as the task is submitted, so
  a task fetches only its members wherever it runs. With one output file the driver writes
  the units' rows in their order; with part files
  (:mod:`mosaicit.io.parts`) each task writes its unit's part itself and returns only its tally,
  and the driver writes the one summary and rejects file, all committed together
  (:mod:`mosaicit.io.commit`).

:func:`connect` joins the cluster at ``--ray-address`` (or ``RAY_ADDRESS``), or starts a local
Ray instance for the run. Every failure is one ``MosaicitError`` line.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import pickle
import signal
import socket
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import islice
from typing import IO, Any, NamedTuple

from mosaicit.budget.budget import Budget, Measured
from mosaicit.budget.cache import CountCache
from mosaicit.errors import MosaicitError, ParamError, RecordError
from mosaicit.exits import RUNNING, Stopped, check_stop, take_signals_back
from mosaicit.extras import require
from mosaicit.io.jsonstream import MAX_RECORD_MB
from mosaicit.io.prepared import Prepare
from mosaicit.io.remote import SCHEME, file_items, first_line, list_remote, parse_file
from mosaicit.io.sources import is_paths
from mosaicit.plan.compose import Tally
from mosaicit.run.counting import COUNT_BATCH, at_least, far_over
from mosaicit.run.executors.base import Executor, Listed
from mosaicit.run.ray_reaper import end_session, start_watchdog
from mosaicit.run.shards import ComposeJob, ComposeUnit, unit_results
from mosaicit.run.store import take
from mosaicit.run.workers import free_cores
from mosaicit.types.features import PromptFeatures
from mosaicit.types.options import option
from mosaicit.types.records import Record

#: Results per item that a compose task streams back (rows with one output file).
RESULTS_PER_ITEM = 1024
#: A unit's records pickled together (:class:`Members`).
MEMBERS_PER_BLOB = 1024
#: Compose tasks submitted ahead, per CPU: the driver holds the counts of only these units.
IN_FLIGHT = 2
#: Seconds to wait for cancelled compose tasks to end after an error or a signal.
CANCEL_WAIT = 30
#: Ray's C++ core logs at this level and above in the local instances a run starts (not
#: below: a killed raylet's own ``E`` line would come before mosaicit's one line).
FATAL = "fatal"
BACKEND_LOG_LEVEL = "RAY_BACKEND_LOG_LEVEL"


def require_ray() -> Any:
    """The ray module (with Ray Data), or one clear error saying how to install it."""
    require("ray.data")
    return require("ray")


def _quiet(ray: Any) -> None:
    """No progress bars, INFO lines or tracebacks from Ray on the terminal: mosaicit reports
    progress itself, and a failure as one line with its cause (:func:`_failure`)."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    for name in ("ray.data", "ray.data._internal"):  # it logs a task's failure with its traceback
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # Ray's driver prints the cluster's errors (a dead raylet, with its log) to stdout, where
    # the output may be going: a private function, replaced where it exists.
    with contextlib.suppress(AttributeError):
        ray._private.worker.print_to_stdstream = lambda *args, **kwargs: None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = True
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False


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


def connect(address: str | None, workers: int) -> Any:
    """Join the Ray cluster at ``address`` (else ``RAY_ADDRESS``), or start a local instance
    with ``workers`` CPUs and no dashboard; an already initialised Ray is used as it is.

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
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        else:
            with _backend_logs(FATAL):
                ray.init(
                    address="local",  # a new instance, not one another process started here
                    num_cpus=workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
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


# --- reading -------------------------------------------------------------------------------


def raw_files(ray: Any, paths: list[str], fs: Any) -> tuple[Any, bool]:
    """A Ray Data dataset of ``{"path", "bytes"}`` rows, one per file, and whether the bytes are
    as stored: a ``.gz``/``.zst`` file is not decompressed on the way (mosaicit's reader
    decompresses it, with its bounds on a record's size) where the Ray version lets a
    datasource say so; elsewhere Ray Data decompresses what pyarrow knows by its name."""
    from ray.data.datasource import FileBasedDatasource

    class RawFiles(FileBasedDatasource):  # type: ignore[misc]
        def resolve_compression(self, path: str, open_args: dict[str, Any]) -> None:
            return None

        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            import pyarrow as pa

            yield pa.table({"bytes": pa.array([f.readall()], pa.binary())})

        def _rows_per_file(self) -> int:
            return 1

    if not hasattr(FileBasedDatasource, "resolve_compression"):
        return ray.data.read_binary_files(paths, include_paths=True, filesystem=fs), False
    return ray.data.read_datasource(RawFiles(paths, include_paths=True, filesystem=fs)), True


def read_items(
    ray: Any,
    fs: Any,
    files: Sequence[tuple[str, str]],
    max_record_mb: int = MAX_RECORD_MB,
    prepare: Prepare | None = None,
) -> Iterator[tuple[str, int, Any]]:
    """``(file, row, item)`` of every item of ``files`` (as :func:`mosaicit.io.remote.list_inputs`
    gives them) in reading order: the files are fetched by Ray Data and parsed in Ray tasks
    (:func:`~mosaicit.io.remote.parse_file`), which also normalise what they can as ``prepare``
    says (:mod:`mosaicit.io.prepared`); this process unpickles one row of items at a time."""
    by_path = dict(files)

    def items() -> Iterator[tuple[str, int, Any]]:
        try:
            stored, as_stored = raw_files(ray, [path for path, _ in files], fs)
            options = {"max_record_mb": max_record_mb, "as_stored": as_stored, "prepare": prepare}
            dataset = stored.flat_map(parse_file, fn_kwargs=options)
            waiting: dict[str, deque[dict[str, Any]]] = {}
            rows = iter(dataset.iter_rows())

            def next_of(path: str) -> dict[str, Any]:
                """The next row of ``path``'s items (rows of other files wait their turn)."""
                if waiting.get(path):
                    return waiting[path].popleft()
                while True:
                    parsed = next(rows)
                    at = _strip(parsed["path"], by_path)
                    if at == path:
                        return parsed
                    waiting.setdefault(at, deque()).append(parsed)

            for path, name in files:
                yield from file_items(name, partial(next_of, path))
        except Exception as exc:  # Ray wraps the reader's OSError (unreadable, denied) in its own
            raise _failure("cannot read the input with Ray", exc) from None

    return items()


def _strip(path: str, known: dict[str, str]) -> str:
    """The listed path that Ray's ``path`` column names (Ray may add or drop a leading slash)."""
    if path in known:
        return path
    for candidate in ("/" + path, path.lstrip("/")):
        if candidate in known:
            return candidate
    return path


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


# --- counting and composing ---------------------------------------------------------------


class Texts(NamedTuple):
    """A record's texts, as :func:`mosaicit.run.counting.far_over` reads them."""

    prompt: str
    output: str


class CountTokens:
    """A Ray Data actor: receives the budget (the tokenizer) once, then measures batches of
    records from their texts: each batch becomes one row holding its positions and their
    :class:`~mosaicit.budget.budget.Measured` (pickled), and the position of its first record the
    tokenizer cannot count (-1 if none). So the counts, the texts' joins and the instructions'
    features are all found here, not in the driver."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """One row: ``measured`` (the pickled positions and measures) and ``bad``."""
        import numpy as np

        budget = self.budget
        prompts, outputs = [str(t) for t in batch["prompt"]], [str(t) for t in batch["output"]]
        systems = [str(t) for t in batch["system"]]
        n = len(prompts)
        far = far_over(budget, [Texts(p, o) for p, o in zip(prompts, outputs, strict=True)])  # type: ignore[misc]
        texts = ["" if i in far else t for i, t in enumerate(prompts)]  # far over: not tokenized
        texts += ["" if i in far else t for i, t in enumerate(outputs)]
        bad = -1
        try:
            plain = budget.count_many(texts)
        except MosaicitError:
            plain = [0] * (2 * n)
            for i in range(n):
                try:
                    plain[i], plain[n + i] = budget.count_many([texts[i], texts[n + i]])
                except MosaicitError:
                    bad = i if bad < 0 else bad
        both = budget.counts_from(texts, plain)
        measured = [
            at_least(far[i]) if i in far else Measured(both[i], both[n + i], PromptFeatures.of(p), systems[i])
            for i, p in enumerate(prompts)
        ]
        positions = [int(at) for at in batch["position"]]
        blob = pickle.dumps((positions, measured), protocol=pickle.HIGHEST_PROTOCOL)
        return {
            "measured": np.array([blob], dtype=object),
            "bad": np.array([positions[bad] if bad >= 0 else -1], dtype=np.int64),
        }


@dataclass(frozen=True)
class UnitDone:
    """The last item a compose task streams: its unit's tally and the Ray node it ran on."""

    tally: Tally
    node: str


class Members(NamedTuple):
    """A unit's records and their measures, in member order, pickled :data:`MEMBERS_PER_BLOB`
    at a time: Ray would pickle each record and measure apart, at a cost per object in the
    driver, which also never holds all of a unit's records at once."""

    blobs: tuple[bytes, ...]

    @classmethod
    def of(cls, records: Iterable[Record], counts: Sequence[Measured]) -> Members:
        blobs, taken = [], iter(records)
        for start in range(0, len(counts), MEMBERS_PER_BLOB):
            some = (list(islice(taken, MEMBERS_PER_BLOB)), counts[start : start + MEMBERS_PER_BLOB])
            blobs.append(pickle.dumps(some, protocol=pickle.HIGHEST_PROTOCOL))
        return cls(tuple(blobs))

    def unpack(self) -> tuple[list[Record], list[Measured]]:
        """The records and their measures."""
        records: list[Record] = []
        counts: list[Measured] = []
        for blob in self.blobs:
            some, measured = pickle.loads(blob)
            records += some
            counts += measured
        return records, counts


def _compose_task(job: ComposeJob, unit: ComposeUnit, given: Members) -> Iterator[list[Any] | UnitDone]:
    """Compose one unit where Ray puts it (a streaming generator): what the unit yields (its
    finished rows, or its part file's result) in lists of up to :data:`RESULTS_PER_ITEM`, then
    :class:`UnitDone`. ``given`` holds exactly the unit's members (Ray fetches them from the
    object store to this node: see :meth:`RayExecutor.compose`)."""
    import ray

    members = unit.members or ()
    records, counts = given.unpack()
    job = replace(
        job,
        records=dict(zip(members, records, strict=True)),
        counts=dict(zip(members, counts, strict=True)),
    )
    job.composer.tally = Tally()
    batch: list[Any] = []
    for result in unit_results(job, unit):
        batch.append(result)
        if len(batch) == RESULTS_PER_ITEM:
            yield batch
            batch = []
    yield batch
    yield UnitDone(job.composer.tally, ray.get_runtime_context().get_node_id())


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


class RayExecutor(Executor):
    """An executor (:mod:`mosaicit.run.executors`) on a Ray cluster: the input is read by Ray
    Data (:meth:`read`), records are counted by Ray Data actors (:meth:`count`), and each compose
    unit is one Ray task. Its counts do not go through the count cache, a file on this machine.
    :attr:`nodes` counts the units composed on each node (by node id)."""

    name = "ray"
    uses_cache = False
    options = RayOptions

    def __init__(self, ray: Any, workers: int) -> None:
        self.ray = ray
        self.workers = workers
        self.nodes: Counter[str] = Counter()
        self._remote = ray.remote(num_returns="streaming")(_compose_task)

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
        ray = connect(options.ray_address, workers or free_cores())
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return cls(ray, workers)

    def read(
        self, listed: Listed, split: str | None, max_record_mb: int, prepare: Prepare | None = None
    ) -> Iterator[tuple[str, int, Any]]:
        """The items of the listed files, fetched by Ray Data, parsed and (as ``prepare`` says)
        normalised in Ray tasks (:func:`read_items`)."""
        fs, files = listed.found
        return read_items(self.ray, fs, files, max_record_mb, prepare)

    def runs_elsewhere(self, units: int) -> bool:
        """Always: Ray tasks run in Ray's worker processes."""
        return True

    def count(
        self,
        budget: Budget,
        records: Sequence[Record],
        progress: Callable[[int], None] | None = None,
        cache: CountCache | None = None,
        on_batch: Callable[[int, int, list[Measured]], None] | None = None,
    ) -> list[Measured]:
        """Every record's measures, found by :class:`CountTokens` actors (in input order; ``cache``
        is not used, ``on_batch`` is called once with them all): this process reads the texts from
        its spool into the object store a block at a time, and only unpickles what the actors
        found (each made :meth:`Budget.shared`)."""
        if not records:
            return []
        import pyarrow as pa

        total = len(records)
        refs = []
        for start in range(0, total, COUNT_BATCH):
            chunk = records[start : start + COUNT_BATCH]
            table = pa.table(
                {
                    "position": pa.array(range(start, start + len(chunk)), pa.int64()),
                    "prompt": [r.prompt for r in chunk],
                    "output": [r.output for r in chunk],
                    "system": [r.system for r in chunk],
                }
            )
            refs.append(self.ray.put(table))
        dataset = self.ray.data.from_arrow_refs(refs).map_batches(
            CountTokens,
            fn_constructor_args=(budget,),
            batch_size=COUNT_BATCH,
            concurrency=max(1, min(self.workers, len(refs))),
            batch_format="numpy",
        )
        measured: list[Measured | None] = [None] * total
        try:
            for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
                bad = [int(at) for at in batch["bad"] if at >= 0]
                if bad:
                    raise RecordError(records[min(bad)].index, "a text the tokenizer cannot count")
                for blob in batch["measured"]:
                    positions, found = pickle.loads(blob)
                    for at, m in zip(positions, found, strict=True):
                        measured[at] = budget.shared(m)
                    if progress:
                        progress(len(positions))
        except Exception as exc:
            raise _failure("counting tokens on Ray failed", exc) from None
        assert all(m is not None for m in measured), "every record is measured once"
        if on_batch:
            on_batch(0, total, measured)  # type: ignore[arg-type]
        return measured  # type: ignore[return-value]

    def compose(self, job: ComposeJob, progress: Callable[[int], None] | None = None) -> Iterator[Any]:
        """What each unit yields, in the units' order, each unit composed by one Ray task.

        Each task receives only its own unit's records with their counts, grouped here from the
        spool and put in the object store, pickled as one :class:`Members`, as the task is
        submitted (units with the same members, the epochs of an unsharded run, share one
        copy); it streams its results back
        :data:`RESULTS_PER_ITEM` at a time. At most :data:`IN_FLIGHT` tasks per CPU of the
        cluster are submitted ahead, so the object store holds the records of those units only,
        and this process a few units' counts and (one output file) one item of rows at a time.
        """
        units = [u if u.members is not None else replace(u, members=tuple(job.usable)) for u in job.units]
        shared = self.ray.put(replace(job, records={}, counts={}, usable=(), units=()))
        records, counts = job.records, job.counts
        last: list[Any] = [None, None]  # the members and object-store copy of the last unit put

        def submit(unit: ComposeUnit) -> Any:
            members = unit.members or ()
            if last[0] != members:
                given = Members.of(take(records, members), [counts[i] for i in members])
                last[:] = [members, self.ray.put(given)]
            return self._remote.remote(shared, unit, last[1])

        waiting = iter(units)
        pending: deque[tuple[ComposeUnit, Any]] = deque()
        for unit in islice(waiting, max(2, IN_FLIGHT * self.workers)):
            pending.append((unit, submit(unit)))
        started = [task for _, task in pending]  # every task not known to have ended
        try:
            while pending:
                unit, task = pending[0]
                for item in self._items(task):
                    if isinstance(item, UnitDone):
                        job.composer.tally.merge(item.tally)
                        self.nodes[item.node] += 1
                    else:
                        yield from item
                pending.popleft()
                started.remove(task)
                following = next(waiting, None)
                if following is not None:
                    pending.append((following, submit(following)))
                    started.append(pending[-1][1])
                if progress:
                    progress(len(unit.members or ()))
        except BaseException:  # an error, a signal, or the caller stopped reading: stop the rest
            self._stop(started)
            raise

    def _items(self, task: Any) -> Iterator[Any]:
        """The items a compose task streams, as they come; its failure is one clear error."""
        try:
            for ref in task:
                yield self.ray.get(ref)
        except Exception as exc:
            raise _failure("composing on Ray failed", exc) from None

    def _stop(self, tasks: list[Any]) -> None:
        """Cancel compose tasks and wait (up to :data:`CANCEL_WAIT` s) for them to end, so that
        none writes a part file after the run's temporary folder is removed."""
        for task in tasks:
            with contextlib.suppress(Exception):
                self.ray.cancel(task)
        deadline = time.monotonic() + CANCEL_WAIT
        for task in tasks:
            with contextlib.suppress(Exception):
                for _ in task:  # ends, or raises, when the task has ended
                    if time.monotonic() > deadline:
                        return
