"""Executors: where the units of work of a run are done, found by name in a registry. The steps
(:mod:`mosaicit.run.steps`) are the outer orchestration; an executor is the inner one, and does
the same units whatever it is:

- **measure one batch**: :class:`~mosaicit.run.counting.MeasureUnit` ``(start, end)``, records
  ``start:end`` of one system-prompt group (:func:`mosaicit.run.counting.measure_range`);
- **compose one unit**: :class:`~mosaicit.run.shards.ComposeUnit` ``(group, epoch, shard)``: one pass
  over one shard of one group's usable records (all of them unsharded), by
  :func:`mosaicit.run.shards.unit_results` with the group's composer and the unit's seed. What a
  group's units share (composer, records, counts, usable, units, finish, keys, part writer) is
  one frozen :class:`~mosaicit.run.shards.ComposeJob`.

An executor is a subclass of :class:`~mosaicit.run.executors.base.Executor`, whose hooks (``read``,
``count``, ``measure``, ``compose``) do everything here by default; one module each:

- ``local`` (:mod:`~mosaicit.run.executors.local`): one process, the caller's;
- ``workers`` (:mod:`~mosaicit.run.executors.workers`): a pool of forked processes on this
  machine (:mod:`mosaicit.run.workers`), which share the parent's memory;
- ``ray`` (:mod:`~mosaicit.run.executors.ray`): a Ray cluster, over which an augment run is
  spread whole (:mod:`mosaicit.run.spread`): the records stay in its tasks.

:func:`register` adds one (the built-in ones are registered here); ``--executor`` offers, and
:class:`~mosaicit.run.spec.RunSpec` accepts, the names registered (:func:`executor_names`). The
options an executor declares (:attr:`~mosaicit.run.executors.base.Executor.options`, as Ray's
``--ray-address``) are options of the run too (:func:`executor_options`).
"""

from __future__ import annotations

from mosaicit.errors import ParamError
from mosaicit.run.counting import MeasureUnit
from mosaicit.run.executors.base import Executor, Listed
from mosaicit.run.executors.local import LocalExecutor
from mosaicit.run.executors.ray import RayExecutor
from mosaicit.run.executors.workers import WorkersExecutor
from mosaicit.run.shards import ComposeJob, ComposeUnit
from mosaicit.types.options import Declared, declared

__all__ = [
    "ComposeJob",
    "ComposeUnit",
    "Executor",
    "Listed",
    "LocalExecutor",
    "MeasureUnit",
    "RayExecutor",
    "WorkersExecutor",
    "executor_for",
    "executor_named",
    "executor_names",
    "executor_options",
    "register",
]

#: The executors by name, in the order registered.
REGISTRY: dict[str, type[Executor]] = {}


def register(cls: type[Executor]) -> type[Executor]:
    """Class decorator: make ``cls`` the executor named ``cls.name`` (a new name), with options
    that no registered executor declares."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"executor {cls.name!r}: needs a name that no registered executor has")
    taken = {d.name for d in executor_options()} & {d.name for d in declared(cls.options)}
    if taken:
        raise ValueError(f"executor {cls.name!r}: another executor declares the option {min(taken)!r}")
    REGISTRY[cls.name] = cls
    return cls


def executor_named(name: str) -> type[Executor]:
    """The executor registered as ``name``; a :class:`~mosaicit.errors.ParamError` naming the
    registered ones for any other name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParamError("executor", f"must be one of {', '.join(REGISTRY)}, got {name!r}") from None


def executor_names() -> tuple[str, ...]:
    """The names of the registered executors, in the order registered."""
    return tuple(REGISTRY)


def executor_options() -> list[Declared]:
    """The options that the registered executors declare, in the order registered."""
    return [d for cls in REGISTRY.values() for d in declared(cls.options)]


def executor_for(workers: int | None | Executor) -> Executor:
    """The executor for ``workers`` processes (1: :class:`LocalExecutor`; None: as many as there
    are free CPUs), or ``workers`` itself."""
    if workers is None or isinstance(workers, int):
        return LocalExecutor() if workers == 1 else WorkersExecutor(workers)
    return workers


for _builtin in (LocalExecutor, WorkersExecutor, RayExecutor):
    register(_builtin)
