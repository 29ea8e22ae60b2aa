"""Errors that reach the user as one clear line."""

from __future__ import annotations

from collections.abc import Iterable


class MosaicitError(Exception):
    """A problem with the user's input, options or files; shown as one line, no traceback."""


class ParamError(MosaicitError):
    """A bad value for a named parameter: ``"epochs must be at least 1, got 0"``. The CLI shows it
    under the option's name (``--epochs``: :func:`mosaicit.clihelp.user_errors`)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(_joined(param, message))
        self.param = param
        self.message = message

    def __reduce__(self) -> tuple[type[ParamError], tuple[str, str]]:
        return (type(self), (self.param, self.message))

    def as_option(self, options: dict[str, str] | None = None) -> str:
        """The message with the parameter given as the command-line option that sets it."""
        flag = (options or {}).get(self.param) or "--" + self.param.replace("_", "-")
        return _joined(flag, self.message)


def _joined(name: str, message: str) -> str:
    """``name message``, or ``name: detail`` for a message that starts with a colon."""
    return f"{name}{message}" if message.startswith(":") else f"{name} {message}"


class InputError(MosaicitError):
    """A bad input file or record: names the file and, when known, the record."""

    def __init__(self, path: str, message: str, record: int | None = None) -> None:
        where = f"{path}: record {record}" if record is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.record = record
        self.reason = message

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, int | None]]:
        return (type(self), (self.path, self.reason, self.record))  # survives a worker process


class RecordError(MosaicitError):
    """A record that cannot be processed, found where the input's name is unknown (see InputError)."""

    def __init__(self, record: int, message: str) -> None:
        super().__init__(f"record {record}: {message}")
        self.record = record
        self.reason = message

    def __reduce__(self) -> tuple[type[RecordError], tuple[int, str]]:
        return (type(self), (self.record, self.reason))


def listed(items: Iterable[str], last: str = "or") -> str:
    """Choices as a message names them: ``a, b or c``."""
    names = list(items)
    return f"{', '.join(names[:-1])} {last} {names[-1]}" if len(names) > 1 else "".join(names)
