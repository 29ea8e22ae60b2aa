"""Sharded output: a folder of part files, one per compose unit, each written where its unit is
composed (in this process, a fork worker or a Ray task).

A part is named so that the names sort in the order a one-file output is written: the
passthrough conversations first (``part-0-passthrough.jsonl``), then each (group, epoch, shard)
unit (``part-gGGGGG-eEEEEE-sSSSSS.jsonl``, numbers from 0, five digits), as
:mod:`mosaicit.run.shards` orders them, then the records passed through unbudgeted, if any
(``part-z-unbudgeted.jsonl``, ``--over-budget pass``). JSONL parts concatenated in name
order are the bytes of the one-file JSONL output; Parquet parts hold the same rows. The
folder is written as one temporary folder beside the target and committed with the run's
other outputs (:func:`mosaicit.io.atomic.atomic_folder`, :mod:`mosaicit.io.commit`). A unit
that gives no row has no part file.

Beside the folder, committed with it, mosaicit writes the list of the files it wrote there
(:func:`marker_path`: ``.out.mosaicit-parts.json`` for ``out/``; beside, not inside, since
loaders such as LLaMA-Factory read every file of the folder). A run replaces an existing folder
only when it holds nothing else (:func:`check_part_folder`): a folder of the user's own files is
never replaced, whatever their names.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mosaicit.errors import MosaicitError
from mosaicit.io import store
from mosaicit.io.atomic import atomic_open
from mosaicit.io.dataset_info import ColumnSeen
from mosaicit.io.filetypes import FileType
from mosaicit.io.store import MARKER, is_uri, upload

#: The part that holds the conversations passed through unchanged (it sorts first).
PASSTHROUGH = "part-0-passthrough"
#: The part that holds the records passed through over the budget, written last (it sorts last).
UNBUDGETED = "part-z-unbudgeted"
#: A name that every part file's name starts with.
PREFIX = "part-"


class Unit(Protocol):
    """A compose unit as far as its name goes (:class:`mosaicit.run.shards.ComposeUnit`)."""

    @property
    def group(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def shard(self) -> int: ...


def part_name(unit: Unit) -> str:
    """The name (no extension) of a unit's part file; names sort as the units are written."""
    return f"{PREFIX}g{unit.group:05d}-e{unit.epoch:05d}-s{unit.shard:05d}"


@dataclass(frozen=True)
class Part:
    """What writing a part file gives back: its ``name``, its ``rows``, the optional columns that
    hold a value in any row (``system``, ``history``: see :class:`mosaicit.io.dataset_info.ColumnSeen`)
    and, for Parquet, its ``id`` column's type."""

    name: str
    rows: int
    present: frozenset[str]
    id_type: Any = None


@dataclass(frozen=True)
class PartWriter:
    """Writes part files of ``kind`` (a file type with a ``write_part``: JSONL, Parquet) and
    output ``shape`` into ``folder``; small to pickle, so it travels to fork workers and Ray tasks.
    ``id_type`` fixes the Parquet ``id`` column's type for every part (that of the passthrough part,
    which the driver writes first)."""

    folder: str
    kind: FileType
    shape: str
    id_type: Any = None

    def __call__(self, unit: Unit, rows: Iterable[Any]) -> Part:
        """Write one unit's rows as its part file (see :data:`mosaicit.run.shards.WritePart`)."""
        return self.write(part_name(unit), rows)

    def write(self, name: str, rows: Iterable[Any]) -> Part:
        """Write ``rows`` (encoded JSON rows or dicts, as ``kind`` takes them) as ``name``; no file
        when there is no row."""
        assert self.kind.write_part is not None
        file = f"{name}.{self.kind.name}"
        path = f"{self.folder}/{file}" if is_uri(self.folder) else os.path.join(self.folder, file)
        seen = ColumnSeen()
        watched = iter(seen.watch(rows))
        first = next(watched, None)
        if first is None:
            return Part(name, 0, frozenset(), self.id_type)
        chained = itertools.chain([first], watched)
        try:
            if not is_uri(path):
                n, id_type = self.kind.write_part(path, chained, self.shape, self.id_type)
            else:  # written here, then uploaded: the bytes of a local part
                with tempfile.TemporaryDirectory(prefix="mosaicit-part-") as local:
                    here = os.path.join(local, file)
                    n, id_type = self.kind.write_part(here, chained, self.shape, self.id_type)
                    upload(here, path)
        except OSError as exc:
            raise MosaicitError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return Part(name, n, frozenset(seen.present), id_type)


def marker_path(folder: str | Path) -> Path:
    """The file beside a local part ``folder`` that lists the files mosaicit wrote in it (for a
    folder in an object store: :func:`mosaicit.io.store.marker_uri`)."""
    target = Path(folder)
    return target.with_name(f".{target.name}{MARKER}")


def write_marker(folder: str | Path, parts: Iterable[Part], kind: str) -> None:
    """Write :func:`marker_path` of ``folder`` (atomically): the names of the part files written.
    A folder in an object store has its marker written as it is moved into place
    (:func:`mosaicit.io.store.move_folder`)."""
    if is_uri(folder):
        return
    names = [f"{part.name}.{kind}" for part in parts if part.rows]
    with atomic_open(marker_path(folder)) as out:
        out.write(store.marker_text(names))


def _written(folder: Path) -> set[str]:
    """The names that ``folder``'s marker lists (none when it has no marker, or one that is not
    a regular file)."""
    try:
        fd = os.open(marker_path(folder), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return set()
    try:
        with os.fdopen(fd, "rb") as handle:
            return store.marker_names(handle.read())
    except OSError:
        return set()


def check_part_folder(path: str | Path) -> None:
    """A clear error, before anything is read, unless ``path`` can take a run's part files: a new
    name, an empty folder, or a folder holding only what a previous run wrote (listed beside it:
    :func:`marker_path`), which the run replaces."""
    if is_uri(path):
        _check_stored_folder(str(path))
        return
    target = Path(path)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise MosaicitError(f"{path}: --output-parts writes a folder here, and a file is in the way")
    if not target.is_dir():
        return
    root = os.path.realpath(target)
    if os.path.commonpath([root, os.path.realpath(os.getcwd())]) == root:
        raise MosaicitError(f"{path}: --output-parts replaces this folder, and the current folder lies in it")
    written = _written(target)
    others = sorted(
        p.name for p in target.iterdir() if p.name not in written or p.is_symlink() or not p.is_file()
    )
    _refuse_others(path, others)


def _refuse_others(path: str | Path, others: list[str]) -> None:
    """The error for a part folder holding ``others``, files mosaicit did not write there."""
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise MosaicitError(
            f"{path}: --output-parts replaces this folder, but it holds files that mosaicit did not "
            f"write there ({shown}); give a new or empty folder"
        )


def _check_stored_folder(uri: str) -> None:
    """:func:`check_part_folder` for a prefix in an object store (``s3://bucket/out/``), reading
    only: its bucket exists and it holds only what a previous run wrote there (whether this
    process may write there: :func:`check_writable`)."""
    import pyarrow.fs as pafs

    try:
        fs, path = store.open_uri(uri)
        bucket, _, below = path.strip("/").partition("/")
        if fs.type_name in ("s3", "gcs"):
            if not below:
                raise MosaicitError(
                    f"{uri}: --output-parts needs a folder (a prefix) in the bucket, not the bucket"
                )
            if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise MosaicitError(f"{uri}: no such bucket ({bucket})")
        if fs.get_file_info(path.rstrip("/")).type == pafs.FileType.File:
            raise MosaicitError(f"{uri}: --output-parts writes a folder here, and an object is in the way")
        written = store.read_marker(uri)
        others = [name for name in store.listed(uri) if name not in written]
    except OSError as exc:  # denied, unreachable, no credentials
        raise MosaicitError(f"{uri}: cannot write: {exc}") from None
    _refuse_others(uri, others)


def check_writable(path: str | Path) -> None:
    """A clear error, before anything is read, unless this process may write beside the part
    folder ``path`` in an object store: an empty object is written there and removed (nothing
    is done for a local folder). A run that writes calls it; a dry run, which writes nothing
    anywhere, does not."""
    if not is_uri(path):
        return
    probe = store.temp_prefix(str(path))
    try:
        with tempfile.NamedTemporaryFile(prefix="mosaicit-probe-") as empty:
            store.upload(empty.name, probe)
        store.remove(probe)
    except OSError as exc:  # denied, unreachable, no credentials
        raise MosaicitError(f"{path}: cannot write: {exc}") from None
