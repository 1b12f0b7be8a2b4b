"""User-facing errors: each prints as one line on stderr and makes the CLI exit non-zero."""

from __future__ import annotations


class SwirlError(Exception):
    """An error whose message is shown to the user as is."""


class InputError(SwirlError):
    """Bad input data, located by file and (when known) line number, or record number in a whole-file document."""

    def __init__(self, path: object, message: str, line: int | None = None, record: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.record = record
        self.reason = message
        where = self.path
        if line is not None:
            where = f"{self.path}:{line}"
        elif record is not None:
            where = f"{self.path}: record {record}"
        super().__init__(f"{where}: {message}")
