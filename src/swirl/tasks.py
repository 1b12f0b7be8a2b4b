"""Benchmark loaders: read GSM8K, HotpotQA, MuSiQue, 2WikiMultiHopQA or generic JSONL files
into :class:`~swirl.records.Task` records, the input of ``generate`` and ``eval``.

Every file is JSON Lines. Bad data never surfaces as a traceback: it raises
:class:`~swirl.errors.InputError` naming the file and the 1-based line.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swirl.errors import InputError, SwirlError
from swirl.records import Calculation, Passage, Task

FORMATS = ("gsm8k", "hotpotqa", "musique", "2wiki", "jsonl")

MAX_LINE_BYTES = 10 * 1024 * 1024

# The result never contains "=", so a greedy expression keeps any "=" it has.
_CALCULATION = re.compile(r"<<([^<>]*)=([^<>=]*)>>")

_M = TypeVar("_M", bound=BaseModel)

_JSON_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", int: "a number",
                    float: "a number", bool: "a boolean", type(None): "null"}


# Raw schemas of each source format: pydantic does the type checking, and
# `_validate` turns its first complaint into a one-line message.

class _GSM8KRecord(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: str | None = None
    question: str
    answer: str


class _HFSupportingFacts(BaseModel):
    title: list[str]


class _HFContext(BaseModel):
    title: list[str]
    sentences: list[list[str]]


class _HotpotHFRecord(BaseModel):
    id: str
    question: str
    answer: str
    supporting_facts: _HFSupportingFacts
    context: _HFContext


class _HotpotOriginalRecord(BaseModel):
    id: str = Field(alias="_id")
    question: str
    answer: str
    supporting_facts: list[tuple[str, int]]
    context: list[tuple[str, list[str]]]


class _MusiqueParagraph(BaseModel):
    title: str
    paragraph_text: str
    is_supporting: bool = False


class _MusiqueRecord(BaseModel):
    id: str
    question: str
    answer: str
    answer_aliases: list[str] = Field(default_factory=list)
    paragraphs: list[_MusiqueParagraph]


class _TwoWikiRecord(BaseModel):
    id: str
    question: str
    answer: str
    supporting_facts: list[tuple[str, int]]
    context: list[tuple[str, list[str]]]


class _GenericPassage(BaseModel):
    title: str
    text: str
    is_supporting: bool | None = None


class _GenericCalculation(BaseModel):
    expression: str
    result: str


class _GenericRecord(BaseModel):
    # Numbers are accepted for ids and answers because hand-written files often use them.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    id: str | None = None
    question: str
    answer: str
    aliases: list[str] = Field(default_factory=list)
    task_type: Literal["math", "qa"] = "qa"
    # source, solution and calculations let a dump of `Task` records load back unchanged.
    source: str = "jsonl"
    passages: list[_GenericPassage] = Field(default_factory=list)
    supporting_titles: list[str] = Field(default_factory=list)
    solution: str | None = None
    calculations: list[_GenericCalculation] = Field(default_factory=list)


def load_tasks(path: str | Path, fmt: str = "auto", limit: int | None = None) -> list[Task]:
    """Load the tasks of a JSONL benchmark file, in file order.

    ``fmt`` is one of :data:`FORMATS`, or ``"auto"`` to detect it from the first record.
    ``limit`` keeps the first N tasks; lines after them are not read.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(path, f"unknown format {fmt!r}; expected 'auto' or one of: {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise SwirlError(f"limit must be at least 1, got {limit}")
    tasks: list[Task] = []
    first_line: dict[str, int] = {}
    for line, record in _read_records(path):
        if fmt == "auto":
            try:
                fmt = detect_format(record)
            except ValueError as err:
                raise InputError(path, str(err), line) from None
        task = _PARSERS[fmt](record, path, line)
        if not task.question.strip():
            raise InputError(path, "empty question", line)
        if not task.answer:
            raise InputError(path, "empty answer", line)
        if task.id in first_line:
            raise InputError(path, f"duplicate task id {task.id} (first at line {first_line[task.id]})", line)
        first_line[task.id] = line
        tasks.append(task)
        if limit is not None and len(tasks) >= limit:
            break
    if not tasks:
        raise InputError(path, "no tasks found")
    return tasks


def detect_format(record: dict[str, Any]) -> str:
    """Name the format of one parsed record; raise ValueError when it matches none."""
    if "question" in record and "paragraphs" in record:
        return "musique"
    if "question" in record and "context" in record and "supporting_facts" in record:
        # 2Wiki shares HotpotQA's original layout; only it carries evidence triples.
        return "2wiki" if "evidences" in record else "hotpotqa"
    if "question" in record and "answer" in record:
        answer = record["answer"]
        if set(record) <= {"id", "question", "answer"} and isinstance(answer, str) and "####" in answer:
            return "gsm8k"
        return "jsonl"
    keys = ", ".join(sorted(record)) or "none"
    raise ValueError(f"cannot detect the format from the record's keys ({keys}); "
                     f"give the format explicitly, one of: {', '.join(FORMATS)}")


def sample_tasks(tasks: Sequence[Task], n: int | None, seed: int) -> list[Task]:
    """A seeded random subset of ``n`` tasks, in their original order; all tasks when n is None or too large."""
    if n is None or n >= len(tasks):
        return list(tasks)
    keep = sorted(random.Random(seed).sample(range(len(tasks)), n))
    return [tasks[i] for i in keep]


def _read_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a JSONL file") from None
    except OSError as err:
        raise InputError(path, f"cannot read file: {err.strerror}") from None
    with handle:
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
                text = text.removeprefix("\ufeff")  # editors on Windows add a byte-order mark
            if not text.strip():
                continue
            yield line, _parse_json(text, path, line)


def _parse_json(text: str, path: str | Path, line: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON: {err.msg} (column {err.colno})", line) from None
    except RecursionError:
        raise InputError(path, "invalid JSON: nested too deeply", line) from None
    except ValueError as err:  # valid syntax past a limit, e.g. an integer of over 4300 digits
        raise InputError(path, f"invalid JSON: {err}", line) from None
    if not isinstance(record, dict):
        raise InputError(path, f"expected a JSON object, got {_JSON_TYPE_NAMES[type(record)]}", line)
    return record


def _validate(model: type[_M], record: dict[str, Any], path: str | Path, line: int) -> _M:
    try:
        return model.model_validate(record)
    except ValidationError as err:
        first = err.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
        where = where.removeprefix(".")
        if first["type"] == "missing":
            message = f"missing field '{where}'"
        else:
            got = _JSON_TYPE_NAMES.get(type(first["input"]), type(first["input"]).__name__)
            message = f"field '{where}': {first['msg']}, got {got}"
        raise InputError(path, message, line) from None


def _parse_gsm8k(record: dict[str, Any], path: str | Path, line: int) -> Task:
    raw = _validate(_GSM8KRecord, record, path, line)
    if "####" not in raw.answer:
        raise InputError(path, "answer has no '#### <final answer>' marker", line)
    # Thousands separators appear in some golds ("1,200"); graders compare plain numbers.
    gold = raw.answer.rpartition("####")[2].strip().replace(",", "")
    calculations = [Calculation(expression=expr.strip(), result=result.strip())
                    for expr, result in _CALCULATION.findall(raw.answer)]
    return Task(id=raw.id if raw.id is not None else f"gsm8k-{line}", question=raw.question, answer=gold,
                task_type="math", source="gsm8k", solution=raw.answer, calculations=calculations)


def _parse_hotpotqa(record: dict[str, Any], path: str | Path, line: int) -> Task:
    raw: _HotpotHFRecord | _HotpotOriginalRecord
    if isinstance(record.get("context"), dict):
        raw = _validate(_HotpotHFRecord, record, path, line)
        if len(raw.context.title) != len(raw.context.sentences):
            raise InputError(path, "context.title and context.sentences differ in length", line)
        paragraphs = list(zip(raw.context.title, raw.context.sentences))
        supporting = raw.supporting_facts.title
    else:
        raw = _validate(_HotpotOriginalRecord, record, path, line)
        paragraphs = raw.context
        supporting = [title for title, _ in raw.supporting_facts]
    # HotpotQA sentences keep their own leading spaces (and some splits fall mid-word).
    return _qa_task(raw.id, raw.question, raw.answer, "hotpotqa", paragraphs, supporting, joiner="")


def _parse_2wiki(record: dict[str, Any], path: str | Path, line: int) -> Task:
    raw = _validate(_TwoWikiRecord, record, path, line)
    supporting = [title for title, _ in raw.supporting_facts]
    # Unlike HotpotQA, 2Wiki sentences carry no leading space.
    return _qa_task(raw.id, raw.question, raw.answer, "2wiki", raw.context, supporting, joiner=" ")


def _qa_task(task_id: str, question: str, answer: str, source: str,
             paragraphs: Iterable[tuple[str, list[str]]], supporting: Iterable[str], joiner: str) -> Task:
    titles = list(dict.fromkeys(supporting))
    passages = [Passage(title=title, text=joiner.join(sentences).strip(), is_supporting=title in titles)
                for title, sentences in paragraphs]
    return Task(id=task_id, question=question, answer=answer.strip(), task_type="qa", source=source,
                passages=passages, supporting_titles=titles)


def _parse_musique(record: dict[str, Any], path: str | Path, line: int) -> Task:
    raw = _validate(_MusiqueRecord, record, path, line)
    passages = [Passage(title=p.title, text=p.paragraph_text.strip(), is_supporting=p.is_supporting)
                for p in raw.paragraphs]
    # MuSiQue repeats titles, some copies supporting and some not; the flag is per paragraph.
    supporting = list(dict.fromkeys(p.title for p in passages if p.is_supporting))
    aliases = [alias.strip() for alias in raw.answer_aliases if alias.strip()]
    return Task(id=raw.id, question=raw.question, answer=raw.answer.strip(), aliases=aliases, task_type="qa",
                source="musique", passages=passages, supporting_titles=supporting)


def _parse_jsonl(record: dict[str, Any], path: str | Path, line: int) -> Task:
    raw = _validate(_GenericRecord, record, path, line)
    titles = list(dict.fromkeys(raw.supporting_titles))
    passages = [Passage(title=p.title, text=p.text,
                        is_supporting=p.title in titles if p.is_supporting is None else p.is_supporting)
                for p in raw.passages]
    calculations = [Calculation(expression=c.expression, result=c.result) for c in raw.calculations]
    return Task(id=raw.id if raw.id is not None else f"{raw.source}-{line}", question=raw.question,
                answer=raw.answer.strip(), aliases=raw.aliases, task_type=raw.task_type, source=raw.source,
                passages=passages, supporting_titles=titles, solution=raw.solution, calculations=calculations)


_PARSERS = {"gsm8k": _parse_gsm8k, "hotpotqa": _parse_hotpotqa, "musique": _parse_musique,
            "2wiki": _parse_2wiki, "jsonl": _parse_jsonl}
