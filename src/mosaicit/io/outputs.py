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
from mosaicit.io.streams import STDIN, require_zstandard, split_suffix

STDOUT = STDIN


@contextlib.contextmanager
def open_output(path: str | Path) -> Iterator[IO[bytes]]:
    """A binary handle on ``path`` for UTF-8 text: stdout for ``-``; else a temporary file renamed
    at the end, gzip- or zstd-compressed when ``path`` ends in ``.gz`` or ``.zst`` (same bytes for
    the same rows: the gzip header holds no time or name)."""
    if str(path) == STDOUT:
        sys.stdout.flush()
        out: Any = getattr(sys.stdout, "buffer", None) or _TextSink(sys.stdout)
        yield out
        out.flush()
        return
    compression = split_suffix(path)[1]
    if not compression:
        with atomic_open(path, "wb") as out:
            yield out
        return
    with atomic_open(path, "wb") as raw:
        packed: Any
        if compression == ".gz":
            packed = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)
        else:
            packed = require_zstandard().ZstdCompressor().stream_writer(raw, closefd=False)
        try:
            yield packed
        finally:
            packed.close()  # flushes and ends the compressed stream; ``raw`` stays open


class _TextSink(io.RawIOBase):
    """Bytes written to a text stream that has no binary buffer (a ``StringIO`` stdout)."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._text.write(bytes(data).decode("utf-8"))
        return len(data)

    def flush(self) -> None:
        self._text.flush()
