"""Where benchmark records come from, before :mod:`swirl.tasks` parses them into tasks.

A task source is one of:

* a JSON Lines file, one record per line; errors name the 1-based line;
* a file holding one JSON document: an array of records (HotpotQA's and CofCA's original
  files) or an object whose ``data`` array holds them (BeerQA's ``{version, split, data}``);
  errors name the 1-based record;
* a Hugging Face dataset reference ``hf:NAME[:CONFIG]:SPLIT``, read with
  :func:`datasets.load_dataset` (from the hub, or offline from its local cache); errors name
  the record.

Bad data never surfaces as a traceback: it raises :class:`~swirl.errors.InputError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from swirl.errors import InputError

HF_PREFIX = "hf:"
HF_EXAMPLE = "hf:openai/gsm8k:main:test"
MAX_LINE_BYTES = 10 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"  # editors on Windows add a byte-order mark

_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", int: "a number",
                    float: "a number", bool: "a boolean", type(None): "null"}


@dataclass(frozen=True)
class Position:
    """Where one record sits: its source and its line (JSON Lines) or record number (documents, datasets)."""

    source: str
    line: int | None = None
    record: int | None = None

    def error(self, message: str) -> InputError:
        return InputError(self.source, message, line=self.line, record=self.record)

    def describe(self) -> str:
        return f"line {self.line}" if self.line is not None else f"record {self.record}"


def json_type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def is_hf_reference(source: str | Path) -> bool:
    return str(source).startswith(HF_PREFIX)


def parse_hf_reference(reference: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:CONFIG]:SPLIT`` as (name, config or None, split)."""
    parts = reference.removeprefix(HF_PREFIX).split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(reference, f"expected hf:NAME[:CONFIG]:SPLIT, for example {HF_EXAMPLE}")
    name, *config, split = parts
    return name, (config[0] if config else None), split


def read_records(source: str | Path) -> Iterator[tuple[Position, dict[str, Any]]]:
    """Every record of the source, in order, with its position; each is a JSON object."""
    if is_hf_reference(source):
        return _dataset_records(str(source))
    return _file_records(Path(source))


def _dataset_records(reference: str) -> Iterator[tuple[Position, dict[str, Any]]]:
    name, config, split = parse_hf_reference(reference)
    import datasets

    try:
        with _quiet_hub_logs():
            dataset = datasets.load_dataset(name, config, split=split)
    except Exception as error:  # noqa: BLE001 (hub, network and cache fail in many ways; each means "not available")
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(reference, f"cannot load it from the Hugging Face hub or the local cache: {reason}") from None
    for number, record in enumerate(dataset, 1):
        yield Position(reference, record=number), record


@contextmanager
def _quiet_hub_logs() -> Iterator[None]:
    """Keep the hub's retry notices and cache warnings off the console; failures still raise."""
    loggers = [logging.getLogger(name) for name in ("datasets", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _file_records(path: Path) -> Iterator[tuple[Position, dict[str, Any]]]:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a JSONL or JSON file") from None
    except OSError as err:
        raise InputError(path, f"cannot read file: {err.strerror}") from None
    with handle:
        head = handle.readline(MAX_LINE_BYTES + 1)
        handle.seek(0)
        if _is_document(head):
            yield from _document_records(path, handle.read())
        else:
            yield from _line_records(path, handle)


def _is_document(head: bytes) -> bool:
    """Whether a file whose first line is ``head`` holds one JSON document rather than JSON Lines."""
    if len(head) > MAX_LINE_BYTES:  # too long for a JSON Lines record, as a whole file on one line can be
        return True
    text = head.removeprefix(_BOM).strip()
    if text in (b"[", b"{"):  # a pretty-printed document
        return True
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if isinstance(value, list):
        return bool(value) and isinstance(value[0], dict)
    return isinstance(value, dict) and isinstance(value.get("data"), list) and "question" not in value


def _document_records(path: Path, raw: bytes) -> Iterator[tuple[Position, dict[str, Any]]]:
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON: {err.msg} (column {err.colno})", err.lineno) from None
    except RecursionError:
        raise InputError(path, "invalid JSON: nested too deeply") from None
    records = document.get("data") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise InputError(path, "expected JSON Lines, a JSON array of records, or an object whose 'data' is one")
    for number, record in enumerate(records, 1):
        position = Position(str(path), record=number)
        if not isinstance(record, dict):
            raise position.error(f"expected a JSON object, got {json_type_name(record)}")
        yield position, record


def _line_records(path: Path, handle: IO[bytes]) -> Iterator[tuple[Position, dict[str, Any]]]:
    line = 0
    # Bytes, not text mode, so the length cap holds before anything is decoded.
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        line += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise InputError(path, f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MB", line)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(path, f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1})",
                             line) from None
        if line == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        yield Position(str(path), line=line), _parse_json(text, path, line)


def _parse_json(text: str, path: Path, line: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON: {err.msg} (column {err.colno})", line) from None
    except RecursionError:
        raise InputError(path, "invalid JSON: nested too deeply", line) from None
    except ValueError as err:  # valid syntax past a limit, e.g. an integer of over 4300 digits
        raise InputError(path, f"invalid JSON: {err}", line) from None
    if not isinstance(record, dict):
        raise InputError(path, f"expected a JSON object, got {json_type_name(record)}", line)
    return record
