"""Errors that reach the user as one clear line."""

from __future__ import annotations


class MosaicitError(Exception):
    """A problem with the user's input, options or files; shown as one line, no traceback."""


class ParameterError(MosaicitError):
    """A bad library parameter: the message starts with the parameter's name (``epochs must ...``),
    which a command line can replace with its option's name."""

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param}{problem if problem.startswith(':') else ' ' + problem}")
        self.param = param
        self.problem = problem

    def __reduce__(self) -> tuple[type[ParameterError], tuple[str, str]]:
        return (type(self), (self.param, self.problem))

    def naming(self, name: str) -> str:
        """The message with ``name`` (an option, say) in place of the parameter's name."""
        return name + str(self)[len(self.param) :]


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
