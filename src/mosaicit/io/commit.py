"""The outputs of one run, committed together: every file is renamed into place, or none is.

Each output is first written to a temporary file in its own folder (see
:func:`mosaicit.io.atomic.atomic_open`). Only when all of them are written are they renamed,
in the reverse order of writing: the samples file, written first, is renamed last, so a new
samples file always has its rejects, summary and dataset_info.json beside it. The renames are
sequential: if one fails (the folder became read-only mid-run) or the machine stops between
two of them, the files renamed before it are new and the others are the previous ones; the
error names both. SIGINT, SIGTERM and SIGHUP are held back during the renames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from mosaicit.errors import MosaicitError
from mosaicit.exits import check_stop, signals_held
from mosaicit.io.atomic import STAGED, discard, rename


@contextlib.contextmanager
def committed_together() -> Iterator[None]:
    """Files written with ``atomic_open`` in the block are committed when it ends without error,
    and removed when it fails. Nested blocks join the outermost one."""
    if STAGED.get() is not None:
        yield
        return
    staged: list[tuple[str, Path | str]] = []
    token = STAGED.set(staged)
    try:
        yield
    except BaseException:
        for tmp, _ in staged:
            discard(tmp)
        raise
    finally:
        STAGED.reset(token)
    try:
        check_stop()
    except BaseException:
        for tmp, _ in staged:
            discard(tmp)
        raise
    commit(staged)


def commit(staged: list[tuple[str, Path | str]]) -> None:
    """Rename the written files into place, the first written last."""
    done: list[str] = []
    with signals_held():
        pending = list(reversed(staged))
        for i, (tmp, target) in enumerate(pending):
            try:
                rename(tmp, target)
            except OSError as exc:
                for left, _ in pending[i:]:
                    discard(left)
                replaced = f"; already replaced: {', '.join(done)}" if done else "; nothing replaced"
                raise MosaicitError(f"{target}: cannot write: {exc.strerror or exc}{replaced}") from None
            done.append(str(target))
