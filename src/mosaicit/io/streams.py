"""Open an input as a stream of text: a file, a named pipe or stdin, ``.gz``/``.zst`` decompressed.

The readers of the text file types (:mod:`mosaicit.io.jsonstream`) open their inputs here, and
:mod:`mosaicit.io.outputs` names the compression of an output by :func:`split_suffix`.
"""

from __future__ import annotations

import gzip
import io
import os
import select
import stat
import sys
from pathlib import Path
from typing import IO, Any

from mosaicit.errors import InputError
from mosaicit.extras import require

STDIN = "-"
COMPRESSIONS = (".gz", ".zst")
#: How long a named pipe given as input may stay silent before its first byte (or its end): long
#: enough for any producer that has started (``<(zcat data.jsonl.gz)``), short enough that a pipe
#: nobody writes to is reported rather than waited on forever.
FIFO_WAIT_S = 30.0


def require_zstandard() -> Any:
    """The zstandard module, or a clear error saying how to install it."""
    return require("zstandard")


class ZstdStream(io.RawIOBase):
    """The decompressed bytes of a ``.zst`` stream of one or more frames, read from ``raw``.

    The stream must end where a frame ends: a file cut anywhere else (even between two lines
    of the text inside) raises :class:`EOFError` instead of reading as a shorter, complete file.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._maker = require_zstandard().ZstdDecompressor()
        self._frame: Any = None
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            data = self._raw.read(1 << 16)
            if not data:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("the .zst stream ends inside a frame (the file is truncated)")
                return 0
            self._pending = memoryview(self._decompress(data))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._frame is None or self._frame.eof:
                self._frame = self._maker.decompressobj()
            out.append(self._frame.decompress(data))
            data = self._frame.unused_data if self._frame.eof else b""
        return b"".join(out)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def split_suffix(path: str | Path) -> tuple[str, str]:
    """``(data suffix, compression suffix)`` of a path: ``data.jsonl.gz`` gives ``(".jsonl", ".gz")``."""
    p = Path(str(path))
    compression = p.suffix.lower() if p.suffix.lower() in COMPRESSIONS else ""
    data = Path(p.stem).suffix.lower() if compression else p.suffix.lower()
    return data, compression


def open_text(path: str | Path) -> IO[str]:
    """Open an input as UTF-8 text: stdin for ``-``, decompressing ``.gz`` and ``.zst``.

    Only a regular file or a pipe is read: a named pipe is opened without blocking and given
    :data:`FIFO_WAIT_S` seconds to start (a pipe nobody writes to is an error, not a hang); a
    device or a socket is refused.
    """
    name = str(path)
    if name == STDIN:
        return (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
            if hasattr(sys.stdin, "buffer")
            else sys.stdin
        )
    compression = split_suffix(name)[1]
    raw = open_input(name)
    if compression == ".gz":
        unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
        unzipped.myfileobj = raw  # type: ignore[assignment]  # closed with it, as when GzipFile opens it
        return io.TextIOWrapper(unzipped, encoding="utf-8")
    if compression == ".zst":
        stream = io.BufferedReader(ZstdStream(raw))  # closes raw with it
        return io.TextIOWrapper(stream, encoding="utf-8")
    return io.TextIOWrapper(raw, encoding="utf-8")


def open_input(name: str) -> IO[bytes]:
    """:func:`open_binary`, with one clear error naming the input that cannot be opened."""
    try:
        return open_binary(name)
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except IsADirectoryError:
        raise InputError(name, "a folder where a file was expected") from None
    except OSError as exc:
        raise InputError(name, f"cannot read: {exc.strerror}") from None


def open_binary(name: str) -> IO[bytes]:
    """A regular file or a named pipe, opened for reading (see :func:`open_text`)."""
    kind = os.stat(name).st_mode
    if stat.S_ISDIR(kind):
        raise IsADirectoryError(name)
    if stat.S_ISREG(kind):
        return open(name, "rb")  # noqa: SIM115 - the caller closes it
    if not stat.S_ISFIFO(kind):
        raise InputError(name, "not a regular file or a pipe (a device or a socket is not read)")
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open() waits for a writer
    try:
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        if not poll.poll(int(FIFO_WAIT_S * 1000)):
            raise InputError(name, f"a named pipe that nothing wrote to in {FIFO_WAIT_S:g} s")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_head(name: str, limit: int) -> bytes:
    """The first ``limit + 1`` bytes of a small file the user names (tables, a config file),
    read from a regular file or a named pipe (see :func:`open_binary`): a device (``/dev/zero``)
    is refused and a pipe is waited for at most :data:`FIFO_WAIT_S`, where reading it whole
    could fill the memory or wait for ever; the caller refuses more than ``limit`` bytes."""
    with open_binary(name) as handle:
        return handle.read(limit + 1)


def read_errors() -> tuple[type[BaseException], ...]:
    """What reading a corrupt or truncated ``.gz``/``.zst`` stream raises."""
    errors: tuple[type[BaseException], ...] = (OSError, EOFError)
    zstandard = sys.modules.get("zstandard")
    return (*errors, zstandard.ZstdError) if zstandard is not None else errors
