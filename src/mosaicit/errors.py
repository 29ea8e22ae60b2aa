"""Errors that reach the user as one clear line."""

from __future__ import annotations


class MosaicitError(Exception):
    """A problem with the user's input, options or files; shown as one line, no traceback."""


class InputError(MosaicitError):
    """A bad input file or record: names the file and, when known, the record."""

    def __init__(self, path: str, message: str, record: int | None = None) -> None:
        where = f"{path}: record {record}" if record is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.record = record
        self.reason = message
