"""Input files named by URI (``s3://``, ``gs://``, ``hf://``, ``file://``): listed through their
pyarrow (or fsspec) filesystem, and parsed by mosaicit's own readers from the bytes fetched, so
that the items are those a local run reads from the same files on disk.

Every executor reads URIs with these: Ray in its tasks (:func:`iter_file`, in a task per file:
:mod:`mosaicit.run.spread`), the others in this process (:func:`read_files`). A failure is one
:class:`~mosaicit.errors.InputError` line naming the input (a missing bucket, a denied read, an
object cut short).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.filetypes import FileType, check_plain, data_suffixes, data_type, input_type
from mosaicit.io.inputs import expand
from mosaicit.io.jsonstream import MAX_RECORD_MB
from mosaicit.io.streams import STDIN, split_suffix

#: Marks a path as a URI for a pyarrow (or fsspec) filesystem rather than a local path.
SCHEME = "://"
#: The pyarrow filesystems whose paths start with a bucket.
BUCKETED = ("s3", "gcs")
#: Items per list a cluster's task hands back (:func:`ship_items`).
ITEMS_PER_LIST = 4096


def _filesystem(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem of ``uri`` and the path within it (``hf://`` through fsspec)."""
    import pyarrow.fs as pafs

    if uri.startswith("hf://"):
        try:
            from huggingface_hub import HfFileSystem
        except ImportError:
            raise MosaicitError(f"{uri}: hf:// needs huggingface_hub: pip install huggingface_hub") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(HfFileSystem())), uri[len("hf://") :]
    try:
        return pafs.FileSystem.from_uri(uri)  # type: ignore[no-any-return]
    except Exception as exc:  # pyarrow: ArrowInvalid (unknown scheme), OSError (no credentials)
        raise InputError(uri, f"cannot open its filesystem: {str(exc).splitlines()[0][:200]}") from None


def _remote_files(uri: str) -> tuple[Any, list[tuple[str, str, str]]]:
    """``(filesystem, [(path in it, name for messages, key name)])`` for a remote file or folder."""
    import pyarrow.fs as pafs

    fs, path = _filesystem(uri)
    try:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            bucket = path.split("/", 1)[0]
            if fs.type_name in BUCKETED and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise InputError(uri, f"no such bucket ({bucket})")
            raise InputError(uri, "no such file or folder")
        if info.type != pafs.FileType.Directory:
            return fs, [(path, uri, uri)]
        found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    except InputError:
        raise
    except Exception as exc:  # OSError, ArrowInvalid: unreachable, denied, no credentials
        raise InputError(uri, f"cannot read: {str(exc).splitlines()[0][:200]}") from None
    root = path.rstrip("/")
    files = []
    for entry in sorted(found, key=lambda e: e.path):
        below = entry.path[len(root) :].lstrip("/")
        hidden = any(part.startswith(".") for part in below.split("/"))
        if entry.type == pafs.FileType.File and data_type(below) is not None and not hidden:
            files.append((entry.path, f"{uri.rstrip('/')}/{below}", below))
    if not files:
        raise InputError(uri, f"a folder with no data files ({data_suffixes()})")
    return fs, files


class Remote(NamedTuple):
    """Input files listed through a filesystem (:func:`list_remote`): ``[(path in it, name)]``."""

    fs: Any
    files: list[tuple[str, str]]


def has_uri(source: Any) -> bool:
    """True if ``source`` (a path or a list of paths) names a URI (``s3://...``)."""
    given = source if isinstance(source, list | tuple) else [source]
    return any(isinstance(s, str) and SCHEME in s for s in given)


def list_remote(source: Any) -> tuple[Remote, dict[str, str], list[str]]:
    """The files of ``source`` (paths and URIs, :func:`list_inputs`), the key name of each file
    by its name, and the local paths among them."""
    given = [source] if isinstance(source, str | Path) else list(source)
    fs, files, names = list_inputs(given)
    return Remote(fs, files), names, [name for _, name in files if SCHEME not in name]


def list_inputs(source: Sequence[str | Path]) -> tuple[Any, list[tuple[str, str]], dict[str, str]]:
    """The filesystem of the inputs, ``[(path in it, name)]`` in reading order, and the key name
    of each file by its name (see :attr:`mosaicit.io.inputs.Expanded.keys`). Local paths are
    expanded as a local run expands them; all inputs must share one filesystem."""
    import pyarrow.fs as pafs

    chosen: Any = None
    files: list[tuple[str, str]] = []
    names: dict[str, str] = {}
    for item in source:
        text = str(item)
        if text == STDIN:
            raise MosaicitError("--executor ray and URI inputs read files, not - (standard input)")
        if SCHEME in text:
            fs, found = _remote_files(text)
            entries = [(path, name) for path, name, _ in found]
            names.update({name: key for _, name, key in found})
        else:
            fs = pafs.LocalFileSystem()
            local = expand(text)
            if any(Path(p).is_dir() for p in local):
                why = "--executor ray and URI inputs read data files, not a saved datasets folder"
                raise InputError(text, why)
            entries = [(os.path.abspath(p), str(p)) for p in local]
            names.update(local.keys)
        if chosen is not None and fs.type_name != chosen.type_name:
            raise MosaicitError("inputs are read from one filesystem at a time (--executor ray, or URIs)")
        chosen = chosen or fs
        files.extend(entries)
    return chosen, files, names


def fetch(fs: Any, path: str, name: str) -> bytes:
    """The bytes of the file at ``path`` in ``fs``, as stored (one clear error naming ``name``)."""
    try:
        with fs.open_input_stream(path, compression=None) as stream:
            return stream.read()  # type: ignore[no-any-return]
    except Exception as exc:  # OSError, ArrowInvalid: unreachable, denied, gone
        raise InputError(name, f"cannot read: {first_line(exc)}") from None


def iter_file(
    fs: Any, path: str, name: str, max_record_mb: int = MAX_RECORD_MB
) -> Iterator[tuple[str, int, Any]]:
    """``(name, row, item)`` of the file at ``path`` in ``fs``, parsed by mosaicit's readers (by
    its name's suffixes): in place on a local filesystem, else fetched whole and read from a
    local copy; a reader's error names ``name``."""
    kind = input_type(path)
    try:
        check_plain(kind, path)
        if fs.type_name == "local":  # (a reader gives one line for a file it cannot open)
            rows = kind.read(path, max_record_mb)
        else:
            rows = _read_bytes(kind, fetch(fs, path, name), "".join(split_suffix(path)), max_record_mb)
        for row, item in rows:
            yield name, row, item
    except InputError as exc:
        raise InputError(name, exc.reason, exc.record) from None


def _read_bytes(kind: FileType, data: bytes, suffix: str, max_record_mb: int) -> Iterator[tuple[int, Any]]:
    """``(row, item)`` of ``data`` read by ``kind``'s reader from a temporary file named with
    ``suffix``. The file is removed as soon as the reader has it open (a reader opens its file
    before its first item), so none is left behind whatever becomes of this iterator: a task
    killed while reading, an abandoned or never-closed generator."""
    folder = tempfile.mkdtemp(prefix="mosaicit-read-")
    try:
        local = os.path.join(folder, "input" + suffix)
        with open(local, "wb") as handle:
            handle.write(data)
        del data
        rows = kind.read(local, max_record_mb)
        first = next(rows, None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if first is not None:
        yield first
        yield from rows


def ship_items(fs: Any, path: str, name: str, max_record_mb: int = MAX_RECORD_MB) -> Iterator[list[Any]]:
    """The items of a file (:func:`iter_file`) in lists of up to :data:`ITEMS_PER_LIST`: what a
    cluster's task hands back to a command that reads in its own process."""
    items: list[Any] = []
    for _, _, item in iter_file(fs, path, name, max_record_mb):
        items.append(item)
        if len(items) == ITEMS_PER_LIST:
            yield items
            items = []
    yield items


def read_files(
    fs: Any, files: Sequence[tuple[str, str]], max_record_mb: int = MAX_RECORD_MB
) -> Iterator[tuple[str, int, Any]]:
    """``(file, row, item)`` of every item of ``files`` (as :func:`list_inputs` gives them), read
    and parsed in this process: how an executor without a cluster reads ``s3://``, ``gs://`` and
    ``hf://`` inputs. Each file is read as a cluster's task reads it (:func:`iter_file`)."""
    for path, name in files:
        yield from iter_file(fs, path, name, max_record_mb)


def first_line(exc: BaseException) -> str:
    """The last meaningful line of a (Ray-wrapped) exception's message, cut short."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]
