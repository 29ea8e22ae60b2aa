"""Write a file completely or not at all: a temporary file beside it, renamed at the end.
An output named by URI (``s3://...``) is written to a local temporary file and uploaded at the
end; a folder there, under a temporary prefix moved into place at the end (:mod:`mosaicit.io.store`).

The temporary file is ``.<name>.mosaicit-<pid>-<random>.part`` in the target's folder, so a
later run for the same target removes the ones left by a killed run (see
:mod:`mosaicit.tempfiles`). Inside :func:`mosaicit.io.commit.committed_together` the rename
waits until every output of the run is written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import IO

from mosaicit.errors import MosaicitError
from mosaicit.exits import signals_held
from mosaicit.io import store
from mosaicit.tempfiles import LIVE, owned_prefix, remove_stale

SUFFIX = ".part"
#: Errors that a write to the output can raise (the file system is full, read-only, too small...).
WRITE_ERRORS = frozenset({errno.EFBIG, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES})
#: (temporary file, target) pairs written and waiting to be renamed together; None: rename at once.
STAGED: ContextVar[list[tuple[str, Path | str]] | None] = ContextVar("mosaicit_staged", default=None)


def cannot_write(target: str | Path, exc: OSError) -> MosaicitError:
    """The one-line error for an output that cannot be written."""
    return MosaicitError(f"{target}: cannot write: {exc.strerror or exc}")


def discard(tmp: str) -> None:
    """Remove a temporary file or folder (or prefix in an object store), if it is still there."""
    if store.is_uri(tmp):
        store.remove(tmp)
        return
    with contextlib.suppress(OSError):
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp)
        else:
            os.unlink(tmp)
    LIVE.discard(tmp)


def rename(tmp: str, target: Path | str) -> None:
    """Rename a written temporary file (or folder) to its target. A folder that replaces a folder
    moves the old one aside first (renamed back if the new one cannot take its place), then
    removes it. A target in an object store is uploaded, or moved into place from its temporary
    prefix (:func:`mosaicit.io.store.move_folder`)."""
    if isinstance(target, str):  # a URI (a local target is a Path)
        if store.is_uri(tmp):
            store.move_folder(tmp, target)
        else:
            store.upload(tmp, target)
            discard(tmp)
        return
    if not (os.path.isdir(tmp) and target.is_dir() and not target.is_symlink()):
        os.replace(tmp, target)
        LIVE.discard(tmp)
        return
    aside = os.path.join(target.parent, f"{owned_prefix(f'.{target.name}.')}replaced{SUFFIX}")
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(aside, target)
        raise
    LIVE.discard(tmp)
    shutil.rmtree(aside, ignore_errors=True)


def _new_beside(target: Path, folder: bool) -> tuple[int | None, str]:
    """Create this process's temporary file (``(fd, path)``) or folder (``(None, path)``) for
    ``target``, after removing dead runs' ones; its mode is what the umask gives a new one."""
    base = f".{target.name}."
    fd: int | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target.parent, base, SUFFIX)
        with signals_held():
            if folder:
                tmp = tempfile.mkdtemp(prefix=owned_prefix(base), suffix=SUFFIX, dir=target.parent)
            else:
                fd, tmp = tempfile.mkstemp(prefix=owned_prefix(base), suffix=SUFFIX, dir=target.parent)
            LIVE.add(tmp)
    except FileExistsError:  # from mkdir: a file stands where the folder should be
        raise MosaicitError(f"{target}: cannot write: {target.parent} is not a folder") from None
    except OSError as exc:
        raise cannot_write(target, exc) from None
    umask = os.umask(0)
    os.umask(umask)
    if fd is None:
        os.chmod(tmp, 0o777 & ~umask)
    else:
        os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def temp_beside(target: Path) -> tuple[int, str]:
    """Create this process's temporary file for ``target`` (after removing dead runs' ones)."""
    fd, tmp = _new_beside(target, folder=False)
    assert fd is not None
    return fd, tmp


def _commit(tmp: str, target: Path | str) -> None:
    """Rename a written temporary file or folder to ``target``, or stage it (see :data:`STAGED`)."""
    staged = STAGED.get()
    if staged is not None:
        staged.append((tmp, target))
        return
    try:
        rename(tmp, target)
    except OSError as exc:
        raise cannot_write(target, exc) from None


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[str]:
    """A temporary folder beside ``path`` (named as :func:`temp_beside` names files); when the
    block ends without error it becomes ``path`` (or is staged, see :data:`STAGED`), replacing a
    previous folder there; when it fails, it is removed with everything in it. For a URI, the
    temporary folder is a prefix beside it in the object store."""
    target: Path | str
    if store.is_uri(path):
        target, tmp = str(path), store.temp_prefix(str(path))
    else:
        target = Path(path)
        _, tmp = _new_beside(target, folder=True)
    try:
        yield tmp
        _commit(tmp, target)
    except BaseException:
        discard(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it to ``path`` (or stage it, see
    :data:`STAGED`), else delete it. A failed write is one error line that names ``path``. A URI's
    temporary file is a local one, uploaded in place of the rename."""
    target: Path | str
    if store.is_uri(path):
        target = str(path)
        with signals_held():
            fd, tmp = tempfile.mkstemp(prefix="mosaicit-upload-", suffix=SUFFIX)
            LIVE.add(tmp)
    else:
        target = Path(path)
        fd, tmp = temp_beside(target)
    try:
        encoding, newline = (None, None) if "b" in mode else ("utf-8", "\n")
        try:
            with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
                yield handle
        except OSError as exc:
            if exc.errno not in WRITE_ERRORS or exc.filename not in (None, tmp):
                raise
            raise cannot_write(target, exc) from None
        _commit(tmp, target)
    except BaseException:
        discard(tmp)
        raise
