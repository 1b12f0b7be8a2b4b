"""Task sources: JSON Lines, whole-file JSON documents and Hugging Face dataset references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swirl.errors import InputError
from swirl.taskfiles import Position, parse_hf_reference, read_records
from swirl.tasks import load_tasks

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


# --- Hugging Face dataset references, from a local cache (there is no hub here) ---------------


def cache_dataset(cache: Path, name: str, config: str, split: str, records: list[dict]) -> None:
    """Lay ``records`` out as `datasets` caches a hub dataset after its first download."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    dataset = datasets.Dataset.from_list(records)
    namespace, short = name.split("/")
    directory = cache / f"{namespace}___{short}" / config / "0.0.0" / "0123456789abcdef"
    directory.mkdir(parents=True)
    with ArrowWriter(path=str(directory / f"{short}-{split}.arrow")) as writer:
        writer.write_table(dataset.data.table)
        writer.finalize()
    splits = datasets.SplitDict({split: datasets.SplitInfo(name=split, num_examples=len(records), dataset_name=short)})
    datasets.DatasetInfo(features=dataset.features, config_name=config, dataset_name=short,
                         splits=splits).write_to_directory(str(directory))


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An offline `datasets` (HF_HUB_OFFLINE=1) whose cache is an empty directory."""
    datasets = pytest.importorskip("datasets")
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


def _lines(path: Path, n: int) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n]]


def test_hf_references_load_from_the_local_cache(offline_cache, data_dir):
    gsm8k = _lines(data_dir / "gsm8k" / "test_sample500.jsonl", 5)
    hotpotqa = _lines(data_dir / "hotpotqa" / "dev.jsonl", 3)
    cache_dataset(offline_cache, "openai/gsm8k", "main", "test", gsm8k)
    cache_dataset(offline_cache, "hotpotqa/hotpot_qa", "distractor", "validation", hotpotqa)

    reference = "hf:openai/gsm8k:main:test"
    records = list(read_records(reference))
    assert [record for _, record in records] == gsm8k
    assert [(p.source, p.record) for p, _ in records] == [(reference, n) for n in range(1, 6)]
    # A hub dataset gives the same tasks, with the same ids, as the same rows in a file.
    assert load_tasks(reference) == load_tasks(data_dir / "gsm8k" / "test_sample500.jsonl", limit=5)
    assert load_tasks("hf:hotpotqa/hotpot_qa:distractor:validation") == load_tasks(
        data_dir / "hotpotqa" / "dev.jsonl", limit=3)


def test_dataset_neither_on_the_hub_nor_cached_is_a_one_line_error(offline_cache):
    err = _error("hf:openai/gsm8k:main:test")
    message = str(err)
    assert message.startswith("hf:openai/gsm8k:main:test: cannot load it from the Hugging Face hub or the local cache: ")
    assert "\n" not in message and "openai/gsm8k" in message.split(": ", 2)[2]
