"""Where text output goes: a file written atomically, compressed by its extension, or stdout (``-``)."""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mosaicit.io.atomic import atomic_open
from mosaicit.io.inputs import STDIN, require_zstandard, split_suffix

STDOUT = STDIN


@contextlib.contextmanager
def open_output(path: str | Path) -> Iterator[IO[str]]:
    """A UTF-8 text handle on ``path``: stdout for ``-``; else a temporary file renamed at the end,
    gzip- or zstd-compressed when ``path`` ends in ``.gz`` or ``.zst`` (same bytes for the same rows:
    the gzip header holds no time or name)."""
    if str(path) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    compression = split_suffix(path)[1]
    if not compression:
        with atomic_open(path) as out:
            yield out
        return
    with atomic_open(path, "wb") as raw:
        packed: Any
        if compression == ".gz":
            packed = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)
        else:
            packed = require_zstandard().ZstdCompressor().stream_writer(raw, closefd=False)
        text = io.TextIOWrapper(packed, encoding="utf-8", newline="\n")
        try:
            yield text
        finally:
            text.close()  # flushes and closes the compressor (its frame end), not ``raw``
