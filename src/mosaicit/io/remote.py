"""Input files named by URI (``s3://``, ``gs://``, ``hf://``, ``file://``): listed through their
pyarrow (or fsspec) filesystem, and parsed by mosaicit's own readers from the bytes fetched, so
that the items are those a local run reads from the same files on disk.

Every executor reads URIs with these: Ray in its tasks (:func:`read_file`, one task per file:
:mod:`mosaicit.run.spread`), the others in this process (:func:`read_files`). A failure is one :class:`~mosaicit.errors.InputError` line naming
the input (a missing bucket, a denied read, an object cut short).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.filetypes import check_plain, data_suffixes, data_type, input_type
from mosaicit.io.inputs import expand
from mosaicit.io.jsonstream import MAX_RECORD_MB
from mosaicit.io.prepared import Prepare, Preparer, ready_items
from mosaicit.io.streams import STDIN, split_suffix

#: Marks a path as a URI for a pyarrow (or fsspec) filesystem rather than a local path.
SCHEME = "://"
#: The pyarrow filesystems whose paths start with a bucket.
BUCKETED = ("s3", "gcs")
#: Items per row of a parsed file (:func:`parse_file`): what this process unpickles at a time.
ITEMS_PER_ROW = 4096


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


def parse_file(
    row: dict[str, Any], max_record_mb: int = MAX_RECORD_MB, prepare: Prepare | None = None
) -> list[dict[str, Any]]:
    """A file's bytes, as stored (``{"path", "bytes"}``) -> its items, parsed by mosaicit's
    readers, as rows of up to :data:`ITEMS_PER_ROW` items each (pickled; ``count`` of them;
    ``last`` marks the file's last row), or one row holding the reader's error (``reason``,
    ``record``). With ``prepare``, each row also holds its items normalised here (``ready``: see
    :mod:`mosaicit.io.prepared`) and the file's shape so far (``shape``: "" if none yet)."""
    path = row["path"]
    data, compression = split_suffix(path)
    kind = input_type(path)
    preparer = None if prepare is None else Preparer(prepare, path)

    def out(items: bytes = b"", last: bool = True, reason: str = "", record: int = -1) -> dict[str, Any]:
        row = {"path": path, "items": items, "last": last, "reason": reason, "record": record}
        return {**row, "ready": b"", "count": 0, "shape": ""}

    def chunk_row(items: list[Any]) -> dict[str, Any]:
        parsed = out(pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL))
        parsed["ready"] = b"" if preparer is None else preparer(items)
        parsed["count"], parsed["shape"] = len(items), (preparer and preparer.shape) or ""
        return parsed

    try:
        check_plain(kind, path)
    except InputError as exc:
        return [out(reason=exc.reason)]
    with tempfile.TemporaryDirectory(prefix="mosaicit-ray-") as folder:
        local = os.path.join(folder, "input" + data + compression)
        with open(local, "wb") as handle:
            handle.write(row["bytes"])
        try:
            reader = kind.read(local, max_record_mb)
            chunks: list[dict[str, Any]] = []
            chunk: list[Any] = []
            for _, item in reader:
                chunk.append(item)
                if len(chunk) == ITEMS_PER_ROW:
                    chunks.append(chunk_row(chunk))
                    chunk = []
            if chunk or not chunks:
                chunks.append(chunk_row(chunk))
        except InputError as exc:
            return [out(reason=exc.reason, record=-1 if exc.record is None else exc.record)]
    for parsed in chunks[:-1]:
        parsed["last"] = False
    return chunks


class FileRead(NamedTuple):
    """What reading a file found: how many items, the shape of its first item that has one (for
    ``--input-format auto``), and the reader's error, if any."""

    items: int
    shape: str | None
    error: InputError | None


def read_file(
    fs: Any, path: str, name: str, max_record_mb: int = MAX_RECORD_MB, prepare: Prepare | None = None
) -> tuple[FileRead, list[dict[str, Any]]]:
    """Fetch the file at ``path`` (named ``name``) through ``fs`` and parse it (:func:`parse_file`,
    normalising as ``prepare`` says): what it found, and the parsed rows (a cluster's reading
    task: :mod:`mosaicit.run.spread`)."""
    try:
        with fs.open_input_stream(path, compression=None) as stream:
            stored = stream.read()
    except Exception as exc:  # OSError, ArrowInvalid: unreachable, denied, gone
        return FileRead(0, None, InputError(name, f"cannot read: {first_line(exc)}")), []
    rows = parse_file({"path": path, "bytes": stored}, max_record_mb, prepare)
    last = rows[-1]
    if last["reason"]:
        record = None if last["record"] < 0 else last["record"]
        return FileRead(0, None, InputError(name, last["reason"], record)), []
    return FileRead(sum(row["count"] for row in rows), last["shape"] or None, None), rows


def read_files(
    fs: Any, files: Sequence[tuple[str, str]], max_record_mb: int = MAX_RECORD_MB
) -> Iterator[tuple[str, int, Any]]:
    """``(file, row, item)`` of every item of ``files`` (as :func:`list_inputs` gives them), read
    and parsed in this process: how an executor without a cluster reads ``s3://``, ``gs://`` and
    ``hf://`` inputs. Each file is fetched whole, as a Ray task does."""
    for path, name in files:
        found, rows = read_file(fs, path, name, max_record_mb)
        if found.error is not None:
            raise found.error
        yield from file_items(name, iter(rows).__next__)


def file_items(name: str, next_row: Callable[[], dict[str, Any]]) -> Iterator[tuple[str, int, Any]]:
    """``(name, row, item)`` of one file's items, from the rows :func:`parse_file` made of it
    (``next_row`` hands them over in order), each item as read or, where the rows hold it,
    normalised (:func:`mosaicit.io.prepared.ready_items`); the reader's error is the file's one error."""
    row = 0
    while True:
        parsed = next_row()
        if parsed["reason"]:
            raise InputError(name, parsed["reason"], None if parsed["record"] < 0 else parsed["record"])
        for item in ready_items(parsed["items"], parsed["ready"]):
            yield name, row, item
            row += 1
        if parsed["last"]:
            return


def first_line(exc: BaseException) -> str:
    """The last meaningful line of a (Ray-wrapped) exception's message, cut short."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]
