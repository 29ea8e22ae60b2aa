"""Refuse a run whose outputs would overwrite its inputs or each other, before anything is read.

Two names are the same file when they resolve to the same path (symbolic links followed) or,
for files that exist, when they are the same inode (hard links). A folder input (a saved
dataset) counts as the files that ``datasets`` reads from it; ``-`` as an input is the file
that standard input reads, when it is one (``< data.jsonl``), and as an output the file that
standard output writes (``>> data.jsonl``).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from mosaicit.errors import MosaicitError
from mosaicit.io.streams import STDIN as STREAM

#: The files of a saved dataset folder besides its ``*.arrow`` data.
DATASET_FILES = frozenset({"state.json", "dataset_info.json", "dataset_dict.json"})
#: Folders of a saved dataset searched at most.
FOLDERS = 1_000


def _identities(path: str | os.PathLike[str]) -> list[tuple[Any, ...]]:
    """What makes two names the same file: the resolved path, and the inode if it exists."""
    keys: list[tuple[Any, ...]] = [("path", os.path.realpath(path))]
    try:
        st = os.stat(path)
    except OSError:
        return keys
    return [*keys, ("inode", st.st_dev, st.st_ino)]


def _stream_identities(stream: Any) -> list[tuple[Any, ...]]:
    """The inode of the regular file behind a standard stream (``< file``, ``> file``), if any."""
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's stream), or closed
        return []
    return [("inode", st.st_dev, st.st_ino)] if stat.S_ISREG(st.st_mode) else []


def _files(path: str | os.PathLike[str]) -> Iterator[str | os.PathLike[str]]:
    """``path`` itself, or the files of a saved dataset that a folder holds."""
    if not os.path.isdir(path):
        yield path
        return
    for n, (root, _, names) in enumerate(os.walk(path)):
        for name in names:
            if name.endswith(".arrow") or name in DATASET_FILES:
                yield os.path.join(root, name)
        if n > FOLDERS:
            return


def check_distinct(inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
    """Raise one error if two ``outputs`` name the same file, or an output names an input file.

    Both map a label (``"--rejects"``) to a path, or to None when not used; an input may also be
    a list of paths, or something that is not a path (an in-memory dataset), which is skipped.
    ``-`` (stdin, stdout) is no file.
    """
    seen: dict[tuple[Any, ...], str] = {}
    for label, paths in inputs.items():
        for path in paths if isinstance(paths, list | tuple) else [paths]:
            if isinstance(path, str | os.PathLike) and str(path) == STREAM:
                for key in _stream_identities(sys.stdin):
                    seen.setdefault(key, f"{label} (standard input)")
            elif isinstance(path, str | os.PathLike) and os.path.exists(path):
                for file in _files(path):
                    for key in _identities(file):
                        seen.setdefault(key, label)
    for label, path in outputs.items():
        if path is None:
            continue
        if str(path) == STREAM:
            keys, path = _stream_identities(sys.stdout), f"{STREAM} (standard output)"
        elif os.path.isdir(path):
            raise MosaicitError(f"{path}: {label} is a folder, not a file; nothing was read or written")
        else:
            keys = _identities(path)
        for key in keys:
            if key in seen:
                raise MosaicitError(
                    f"{path}: {label} and {seen[key]} name the same file; nothing was read or written"
                )
        seen.update(dict.fromkeys(keys, label))
