"""User-facing errors: each prints as one line on stderr and makes the CLI exit non-zero."""

from __future__ import annotations


class SwirlError(Exception):
    """An error whose message is shown to the user as is."""


class InputError(SwirlError):
    """Bad input data, located by file and (when known) line number."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
