"""Where input records come from: several files, globs, folders of shards, .gz/.zst files and stdin.

Every reader (``augment``, ``convert``, ``preview``, ``eval build``) takes its input through
:func:`expand`, so each accepts the same forms:

- a file: JSON array, JSONL or Parquet (any file type of :mod:`mosaicit.io.filetypes`), by
  extension; ``.gz`` or ``.zst`` after the extension of a type that may be compressed (JSON,
  JSONL) is decompressed while reading (``data.jsonl.zst``, :mod:`mosaicit.io.streams`);
- ``-``: JSON or JSONL on standard input;
- a glob (``shards/*.jsonl.gz``), expanded in sorted order;
- a folder: a folder saved with ``datasets``' ``save_to_disk``, or else every data file
  inside it (recursively), in sorted path order;
- several of these, read one after the other as one dataset.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from mosaicit.errors import InputError, MosaicitError
from mosaicit.io.filetypes import data_suffixes, data_type
from mosaicit.io.streams import STDIN

GLOB_CHARS = "*?["


def is_data_file(path: Path) -> bool:
    """True for a file mosaicit reads by its name (see :func:`mosaicit.io.filetypes.data_type`)."""
    return path.is_file() and data_type(path) is not None


class Expanded(tuple[str | Path, ...]):
    """Inputs already expanded (see :func:`expand`), with the ``name`` the user gave them and
    ``keys``: how the stable record keys name each file (see :mod:`mosaicit.run.shards`), a file found
    in a folder given as input by its path below that folder, any other as given."""

    name: str
    keys: dict[str, str]

    def __new__(cls, paths: Sequence[str | Path], name: str, keys: dict[str, str] | None = None) -> Expanded:
        made = super().__new__(cls, paths)
        made.name = name
        made.keys = {str(p): str(p) for p in paths} if keys is None else keys
        return made

    def __reduce__(self) -> tuple[type[Expanded], tuple[tuple[str | Path, ...], str, dict[str, str]]]:
        return (type(self), (tuple(self), self.name, self.keys))


def given_name(source: str | Path | Sequence[str | Path]) -> str:
    """How to name inputs in messages: the path given (the first of several, with how many more)."""
    if isinstance(source, Expanded):
        return source.name
    if isinstance(source, str | Path):
        return str(source)
    return str(source[0]) if len(source) == 1 else f"{source[0]} (+{len(source) - 1} more)"


def expand(source: str | Path | Sequence[str | Path]) -> Expanded:
    """The inputs named by ``source`` (one or several paths, globs, folders or ``-``), in reading order.

    A saved ``datasets`` folder stays one input; any other folder gives its data files.
    A glob or a folder that names no data file is an error. Inputs already expanded are
    returned as they are, so a run expands its inputs once.
    """
    from mosaicit.io.hf import is_saved_dataset

    if isinstance(source, Expanded):
        return source
    names = [source] if isinstance(source, str | Path) else list(source)
    if not names:
        raise MosaicitError("no input given")
    out: list[str | Path] = []
    keys: dict[str, str] = {}
    for name in names:
        text = str(name)
        if text == STDIN:
            out.append(STDIN)
        elif Path(text).is_dir():
            if is_saved_dataset(text):
                out.append(Path(text))
            else:
                files = sorted(p for p in Path(text).rglob("*") if is_data_file(p) and not _hidden(p, text))
                if not files:
                    raise InputError(
                        text,
                        f"a folder with no data files ({data_suffixes()}) and no state.json",
                    )
                out.extend(files)
                keys.update((str(f), f.relative_to(text).as_posix()) for f in files)
        elif any(c in text for c in GLOB_CHARS) and not Path(text).exists():
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True) if is_data_file(Path(p)))
            if not matched:
                raise InputError(text, "no data file matches this pattern")
            out.extend(matched)
        else:
            out.append(name)
    if out.count(STDIN) > 1:
        raise MosaicitError("'-' (standard input) can be read only once")
    for path in out:
        keys.setdefault(str(path), str(path))
    return Expanded(out, given_name(names), keys)


def _hidden(path: Path, root: str) -> bool:
    """True for a file under a hidden folder (or hidden itself) below ``root``."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)
