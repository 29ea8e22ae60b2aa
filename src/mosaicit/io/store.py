"""Outputs named by URI (``s3://bucket/prefix``, ``gs://...``, any filesystem pyarrow reaches):
a file is written here first and uploaded when the run commits (:func:`upload`); a folder of part
files is written under a temporary prefix beside the target (:func:`temp_prefix`), by whichever
process composes each part, and moved into place only when the whole run succeeded
(:func:`move_folder`), or removed (:func:`remove`).

An object store has no rename: the move copies each object to its name under the target, then
removes the previous run's objects that the new run did not replace, then the temporary ones.
Each object appears whole or not at all, but the folder does not change at once: a reader that
lists it during the move may see old and new parts side by side. The list of the objects
mosaicit wrote (the marker, ``.NAME.mosaicit-parts.json`` beside the prefix) lists the old and
the new ones while the move runs, so that a move cut short leaves a folder the next run replaces.
Every failure is one :class:`OSError` line naming the object.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
from typing import Any

from mosaicit.tempfiles import owned_prefix

#: Marks a path as a URI rather than a local path.
SCHEME = "://"
#: How the file that lists what mosaicit wrote in a part folder ends.
MARKER = ".mosaicit-parts.json"
#: How a temporary prefix ends.
SUFFIX = ".part"


def is_uri(path: Any) -> bool:
    """True if ``path`` names an object in a store (``s3://...``) rather than a local file."""
    return isinstance(path, str) and SCHEME in path


def _reason(exc: BaseException) -> str:
    """The first line of a filesystem error, cut short."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def open_uri(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem of ``uri`` and the path within it. On S3, an object smaller than
    an upload part is written with one request (``allow_delayed_open``), not a multipart upload."""
    import pyarrow.fs as pafs

    given = uri.rstrip("/")
    if given.startswith("s3://") and "?" not in given:
        given += "?allow_delayed_open=true"
    try:
        return pafs.FileSystem.from_uri(given)  # type: ignore[no-any-return]
    except Exception as exc:  # ArrowInvalid (unknown scheme), OSError (no credentials)
        raise OSError(f"cannot open its filesystem: {_reason(exc)}") from None


def beside(uri: str, name: str) -> str:
    """The URI of ``name`` in the folder (prefix) that holds ``uri``."""
    parent, _, _ = uri.rstrip("/").rpartition("/")
    return f"{parent}/{name}"


def base_name(uri: str) -> str:
    """The last name of ``uri`` (``out`` for ``s3://bucket/out/``)."""
    return uri.rstrip("/").rpartition("/")[2]


def marker_uri(folder: str) -> str:
    """The object beside a part ``folder`` that lists the objects mosaicit wrote in it."""
    return beside(folder, f".{base_name(folder)}{MARKER}")


def temp_prefix(folder: str) -> str:
    """A new temporary prefix beside ``folder``, named after this process (nothing is created)."""
    return beside(folder, f"{owned_prefix(f'.{base_name(folder)}.')}{secrets.token_hex(4)}{SUFFIX}")


def upload(local: str, uri: str) -> None:
    """Copy the local file ``local`` to the object ``uri`` (which appears whole when complete)."""
    fs, path = open_uri(uri)
    try:
        with open(local, "rb") as source, fs.open_output_stream(path) as out:
            shutil.copyfileobj(source, out, 1 << 20)
    except Exception as exc:  # OSError: denied, no bucket, unreachable
        raise OSError(_reason(exc)) from None


def listed(folder: str) -> list[str]:
    """The names of the objects below ``folder`` (relative to it), sorted; none if it is not there."""
    import pyarrow.fs as pafs

    fs, path = open_uri(folder)
    try:
        found = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except Exception as exc:
        raise OSError(_reason(exc)) from None
    root = path.rstrip("/")
    return sorted(e.path[len(root) :].lstrip("/") for e in found if e.type == pafs.FileType.File)


def marker_text(names: list[str]) -> str:
    """A part folder's marker (local or in a store), listing ``names``."""
    return json.dumps({"written_by": "mosaicit", "files": sorted(names)}, indent=1) + "\n"


def marker_names(text: str | bytes) -> set[str]:
    """The names a marker lists (none if it is not one)."""
    try:
        names = json.loads(text).get("files")
    except (ValueError, AttributeError):
        return set()
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


def read_marker(folder: str) -> set[str]:
    """The names that ``folder``'s marker lists (none without a readable one)."""
    fs, path = open_uri(marker_uri(folder))
    try:
        with fs.open_input_stream(path) as stream:
            return marker_names(stream.read())
    except Exception:  # not there, unreadable
        return set()


def write_marker(folder: str, names: list[str]) -> None:
    """Write ``folder``'s marker, listing ``names``."""
    fs, path = open_uri(marker_uri(folder))
    body = marker_text(names)
    try:
        with fs.open_output_stream(path) as out:
            out.write(body.encode("utf-8"))
    except Exception as exc:
        raise OSError(_reason(exc)) from None


def remove(uri: str) -> None:
    """Remove the object ``uri``, or every object below it, if any. Never raises."""
    import pyarrow.fs as pafs

    try:
        fs, path = open_uri(uri)
        kind = fs.get_file_info(path).type
        if kind == pafs.FileType.File:
            fs.delete_file(path)
        elif kind == pafs.FileType.Directory:
            fs.delete_dir(path)
    except Exception:  # gone already, or unreachable: nothing more to do
        pass


def move_folder(tmp: str, folder: str) -> None:
    """Put the objects below ``tmp`` in place below ``folder``, replacing what a previous run wrote
    there (the objects its marker lists), then remove ``tmp``."""
    fs, source = open_uri(tmp)
    _, target = open_uri(folder)
    new = listed(tmp)
    old = read_marker(folder)
    write_marker(folder, sorted(old | set(new)))
    try:
        for name in new:
            fs.copy_file(f"{source}/{name}", f"{target}/{name}")
        for name in sorted(old - set(new)):
            with contextlib.suppress(FileNotFoundError):
                fs.delete_file(f"{target}/{name}")
    except Exception as exc:
        raise OSError(_reason(exc)) from None
    write_marker(folder, new)
    remove(tmp)
