"""Task sources: JSON Lines, whole-file JSON documents and Hugging Face dataset references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swirl.errors import InputError
from swirl.taskfiles import Position, parse_hf_reference, read_records

RECORDS = [{"id": "a", "question": "q1", "answer": "x"}, {"id": "b", "question": "q2", "answer": "y"}]


def _records(path: Path) -> list[tuple[Position, dict]]:
    return list(read_records(path))


def _error(source: str | Path) -> InputError:
    with pytest.raises(InputError) as caught:
        list(read_records(source))
    return caught.value


@pytest.mark.parametrize("text", [
    json.dumps(RECORDS),
    json.dumps(RECORDS, indent=2),
    json.dumps({"version": "1.0", "split": "dev", "data": RECORDS}),
    json.dumps({"version": "1.0", "split": "dev", "data": RECORDS}, indent=1),
    "\ufeff" + json.dumps(RECORDS),
])
def test_documents_are_numbered_by_record(tmp_path, text):
    path = tmp_path / "doc.json"
    path.write_text(text, encoding="utf-8")
    records = _records(path)
    assert [record for _, record in records] == RECORDS
    assert [(p.line, p.record) for p, _ in records] == [(None, 1), (None, 2)]


def test_json_lines_are_numbered_by_line(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n" + json.dumps(RECORDS[1]) + "\n", encoding="utf-8")
    assert [(p.line, p.record) for p, _ in _records(path)] == [(1, None), (3, None)]


def test_document_errors_name_the_record_or_line(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps([RECORDS[0], 7]), encoding="utf-8")
    err = _error(path)
    assert str(err) == f"{path}: record 2: expected a JSON object, got a number"
    path.write_text(json.dumps({"version": "1.0", "data": RECORDS}, indent=2).replace('"b"', '"b",'), encoding="utf-8")
    err = _error(path)
    assert err.line is not None and err.line > 1 and "invalid JSON" in str(err)
    path.write_text('{\n  "version": "1.0",\n  "data": {"x": 1}\n}\n', encoding="utf-8")
    assert "expected JSON Lines, a JSON array of records, or an object whose 'data' is one" in str(_error(path))


@pytest.mark.parametrize("reference, expected", [
    ("hf:openai/gsm8k:main:test", ("openai/gsm8k", "main", "test")),
    ("hf:hotpotqa/hotpot_qa:distractor:validation", ("hotpotqa/hotpot_qa", "distractor", "validation")),
    ("hf:someone/data:train", ("someone/data", None, "train")),
])
def test_hf_reference_parts(reference, expected):
    assert parse_hf_reference(reference) == expected


@pytest.mark.parametrize("reference", ["hf:openai/gsm8k", "hf:a:b:c:d", "hf:openai/gsm8k::test"])
def test_malformed_hf_reference_is_one_line(reference):
    err = _error(reference)
    assert str(err) == f"{reference}: expected hf:NAME[:CONFIG]:SPLIT, for example hf:openai/gsm8k:main:test"
