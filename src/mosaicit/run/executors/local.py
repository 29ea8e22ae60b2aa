"""The ``local`` executor: every unit in this process, one after the other (the hooks' defaults)."""

from __future__ import annotations

from mosaicit.run.executors.base import Executor


class LocalExecutor(Executor):
    """Every unit in this process, one after the other: one worker, whatever ``--workers`` says."""

    name = "local"
