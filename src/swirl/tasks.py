"""Benchmark loaders: read GSM8K, HotpotQA (and CofCA, in HotpotQA's original schema), MuSiQue,
2WikiMultiHopQA, BeerQA or generic records into :class:`~swirl.records.Task` records, the input
of ``generate`` and ``eval``.

Records come from JSON Lines files, whole-file JSON documents or Hugging Face dataset references
(:mod:`swirl.taskfiles`). Bad data never surfaces as a traceback: it raises
:class:`~swirl.errors.InputError` naming the source and the 1-based line or record.

A task's id is the dataset's own id where the record has one, else a hash of its question and
gold answer, so the same question has the same id in every file it appears in.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swirl.errors import InputError, SwirlError
from swirl.records import Calculation, Passage, Task
from swirl.taskfiles import Position, json_type_name, read_records

FORMATS = ("gsm8k", "hotpotqa", "musique", "2wiki", "beerqa", "jsonl")
BENCHMARK_FORMATS = {"gsm8k": "gsm8k", "hotpotqa": "hotpotqa", "musique": "musique", "2wiki": "2wiki",
                     "beerqa": "beerqa", "cofca": "hotpotqa"}
"""The benchmarks ``swirl eval`` knows, each with the format its files are read in
(CofCA is distributed in HotpotQA's original schema)."""

# The result never contains "=", so a greedy expression keeps any "=" it has.
_CALCULATION = re.compile(r"<<([^<>]*)=([^<>=]*)>>")

_M = TypeVar("_M", bound=BaseModel)


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


class _TwoWikiRecord(BaseModel):
    """HotpotQA's original layout, which 2Wiki shares: [title, sentences] context pairs, [title, index] facts."""

    id: str
    question: str
    answer: str
    supporting_facts: list[tuple[str, int]]
    context: list[tuple[str, list[str]]]


class _HotpotOriginalRecord(_TwoWikiRecord):
    # pydantic keeps a redeclared field in its first place, so the first missing field named is the same for both.
    id: str = Field(alias="_id")
    # CofCA's files, in this schema, may leave the supporting facts out.
    supporting_facts: list[tuple[str, int]] = Field(default_factory=list)


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


class _BeerQARecord(BaseModel):
    id: str
    question: str
    answers: list[str]
    # [title, paragraph] pairs: the gold paragraphs of the question.
    context: list[tuple[str, str]]


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
    """Load the tasks of a benchmark file or ``hf:`` dataset reference, in order.

    ``fmt`` is one of :data:`FORMATS`, or ``"auto"`` to detect it from the first record.
    ``limit`` keeps the first N tasks; records after them are not read.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(path, f"unknown format {fmt!r}; expected 'auto' or one of: {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise SwirlError(f"limit must be at least 1, got {limit}")
    tasks: list[Task] = []
    first_seen: dict[str, Position] = {}
    for position, record in read_records(path):
        if fmt == "auto":
            try:
                fmt = detect_format(record)
            except ValueError as err:
                raise position.error(str(err)) from None
        task = _PARSERS[fmt](record, position)
        if not task.question.strip():
            raise position.error("empty question")
        if not task.answer:
            raise position.error("empty answer")
        if task.id in first_seen:
            raise position.error(f"duplicate task id {task.id} (first at {first_seen[task.id].describe()})")
        first_seen[task.id] = position
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
    if "question" in record and "context" in record:
        # 2Wiki shares HotpotQA's original layout; only it carries evidence triples.
        if "evidences" in record:
            return "2wiki"
        # BeerQA lists every gold answer; its test file has no answers but still says where each question is from.
        if "answers" in record or "src" in record:
            return "beerqa"
        if "supporting_facts" in record or "_id" in record:
            return "hotpotqa"
    if "question" in record and "answer" in record:
        answer = record["answer"]
        if set(record) <= {"id", "question", "answer"} and isinstance(answer, str) and "####" in answer:
            return "gsm8k"
        return "jsonl"
    keys = ", ".join(sorted(record)) or "none"
    raise ValueError(f"cannot detect the format from the record's keys ({keys}); "
                     f"give the format explicitly, one of: {', '.join(FORMATS)}")


def content_id(source: str, question: str, answer: str) -> str:
    """The id of a record without one: the same question and gold answer give the same id in any file."""
    digest = hashlib.sha256(f"{question.strip()}\n{answer}".encode("utf-8")).hexdigest()
    return f"{source}-{digest[:12]}"


def sample_tasks(tasks: Sequence[Task], n: int | None, seed: int) -> list[Task]:
    """A seeded random subset of ``n`` tasks, in their original order; all tasks when n is None or too large."""
    if n is None or n >= len(tasks):
        return list(tasks)
    keep = sorted(random.Random(seed).sample(range(len(tasks)), n))
    return [tasks[i] for i in keep]


def _validate(model: type[_M], record: dict[str, Any], position: Position) -> _M:
    try:
        return model.model_validate(record)
    except ValidationError as err:
        first = err.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
        where = where.removeprefix(".")
        if first["type"] == "missing":
            message = f"missing field '{where}'"
        else:
            message = f"field '{where}': {first['msg']}, got {json_type_name(first['input'])}"
        raise position.error(message) from None


def _parse_gsm8k(record: dict[str, Any], position: Position) -> Task:
    raw = _validate(_GSM8KRecord, record, position)
    if "####" not in raw.answer:
        raise position.error("answer has no '#### <final answer>' marker")
    # Thousands separators appear in some golds ("1,200"); graders compare plain numbers.
    gold = raw.answer.rpartition("####")[2].strip().replace(",", "")
    calculations = [Calculation(expression=expr.strip(), result=result.strip())
                    for expr, result in _CALCULATION.findall(raw.answer)]
    task_id = raw.id if raw.id is not None else content_id("gsm8k", raw.question, gold)
    return Task(id=task_id, question=raw.question, answer=gold,
                task_type="math", source="gsm8k", solution=raw.answer, calculations=calculations)


def _parse_hotpotqa(record: dict[str, Any], position: Position) -> Task:
    raw: _HotpotHFRecord | _HotpotOriginalRecord
    if isinstance(record.get("context"), dict):
        raw = _validate(_HotpotHFRecord, record, position)
        if len(raw.context.title) != len(raw.context.sentences):
            raise position.error("context.title and context.sentences differ in length")
        paragraphs = list(zip(raw.context.title, raw.context.sentences))
        supporting = raw.supporting_facts.title
    else:
        raw = _validate(_HotpotOriginalRecord, record, position)
        paragraphs = raw.context
        supporting = [title for title, _ in raw.supporting_facts]
    # HotpotQA sentences keep their own leading spaces (and some splits fall mid-word).
    return _qa_task(raw.id, raw.question, raw.answer, "hotpotqa", paragraphs, supporting, joiner="")


def _parse_2wiki(record: dict[str, Any], position: Position) -> Task:
    raw = _validate(_TwoWikiRecord, record, position)
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


def _parse_musique(record: dict[str, Any], position: Position) -> Task:
    raw = _validate(_MusiqueRecord, record, position)
    passages = [Passage(title=p.title, text=p.paragraph_text.strip(), is_supporting=p.is_supporting)
                for p in raw.paragraphs]
    # MuSiQue repeats titles, some copies supporting and some not; the flag is per paragraph.
    supporting = list(dict.fromkeys(p.title for p in passages if p.is_supporting))
    aliases = [alias.strip() for alias in raw.answer_aliases if alias.strip()]
    return Task(id=raw.id, question=raw.question, answer=raw.answer.strip(), aliases=aliases, task_type="qa",
                source="musique", passages=passages, supporting_titles=supporting)


def _parse_beerqa(record: dict[str, Any], position: Position) -> Task:
    if not record.get("answers"):
        # BeerQA's official test file withholds its answers.
        name = f" (id {record['id']})" if isinstance(record.get("id"), str) else ""
        raise position.error(f"question{name} has no answers; BeerQA's test file has none, use its dev file")
    raw = _validate(_BeerQARecord, record, position)
    golds = list(dict.fromkeys(answer.strip() for answer in raw.answers if answer.strip())) or [""]
    # The context holds the question's gold paragraphs only (one for SQuAD questions, two or more otherwise).
    passages = [Passage(title=title, text=text.strip(), is_supporting=True) for title, text in raw.context]
    return Task(id=raw.id, question=raw.question, answer=golds[0], aliases=golds[1:], task_type="qa",
                source="beerqa", passages=passages, supporting_titles=list(dict.fromkeys(p.title for p in passages)))


def _parse_jsonl(record: dict[str, Any], position: Position) -> Task:
    raw = _validate(_GenericRecord, record, position)
    titles = list(dict.fromkeys(raw.supporting_titles))
    passages = [Passage(title=p.title, text=p.text,
                        is_supporting=p.title in titles if p.is_supporting is None else p.is_supporting)
                for p in raw.passages]
    calculations = [Calculation(expression=c.expression, result=c.result) for c in raw.calculations]
    answer = raw.answer.strip()
    task_id = raw.id if raw.id is not None else content_id(raw.source, raw.question, answer)
    return Task(id=task_id, question=raw.question, answer=answer, aliases=raw.aliases, task_type=raw.task_type,
                source=raw.source, passages=passages, supporting_titles=titles, solution=raw.solution, calculations=calculations)


_PARSERS = {"gsm8k": _parse_gsm8k, "hotpotqa": _parse_hotpotqa, "musique": _parse_musique,
            "2wiki": _parse_2wiki, "beerqa": _parse_beerqa, "jsonl": _parse_jsonl}
