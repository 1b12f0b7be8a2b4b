"""Append-only JSONL files: how every stage writes records so it can resume after a crash.

A record is one line, written whole and flushed. A crash can leave at most one partial
last line; :func:`open_for_append` cuts it off (and says so) before appending, so a
resumed stage never builds on a torn record.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from pydantic import BaseModel, ValidationError

from swirl.errors import InputError

Record = TypeVar("Record", bound=BaseModel)
logger = logging.getLogger(__name__)


def repair_tail(path: Path) -> int:
    """Remove a partial last line left by a crash; return how many bytes were cut."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the previous newline in blocks; records are short compared to files.
        position = size
        while position > 0:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = position + newline + 1
                break
        else:
            keep = 0
        handle.truncate(keep)
        return size - keep


class JsonlWriter:
    """Appends records to a JSONL file, one flushed line each."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_tail(self.path)
        self._handle: IO[str] = self.path.open("a", encoding="utf-8")

    def write(self, record: BaseModel | dict) -> None:
        data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
        self._handle.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_json_lines(path: str | Path, *, allow_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; bad lines raise :class:`InputError`.

    With ``allow_torn_tail`` an unterminated, unparsable last line (a crash mid-write) is
    skipped instead of raising.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    with path.open("rb") as handle:
        lines = handle.readlines()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InputError(path, "not valid UTF-8", number) from None
        except json.JSONDecodeError as error:
            if allow_torn_tail and number == len(lines) and not raw.endswith(b"\n"):
                logger.warning("%s: skipped 1 truncated last line (left by an interrupted write)", path)
                return
            raise InputError(path, f"invalid JSON ({error.msg})", number) from None
        if not isinstance(obj, dict):
            raise InputError(path, f"expected a JSON object, got {type(obj).__name__}", number)
        yield number, obj


def read_records(path: str | Path, model: type[Record], *, allow_torn_tail: bool = True) -> list[Record]:
    """Read and validate every record of a JSONL file as ``model``."""
    records = []
    for number, obj in iter_json_lines(path, allow_torn_tail=allow_torn_tail):
        try:
            records.append(model.model_validate(obj))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            raise InputError(path, f"not a {model.__name__} record: {where}: {first['msg']}", number) from None
    return records


def write_atomically(path: str | Path, lines: Iterable[str]) -> None:
    """Write a whole file through a temporary name, so readers never see half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
