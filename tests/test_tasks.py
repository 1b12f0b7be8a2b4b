"""Benchmark loading: the shipped data files in every format, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swirl.data import find_sample
from swirl.errors import InputError, SwirlError
from swirl.records import Calculation, Passage, Task
from swirl.taskfiles import MAX_LINE_BYTES
from swirl.tasks import BENCHMARK_FORMATS, FORMATS, detect_format, load_tasks, sample_tasks


def _shared_data() -> Path | None:
    for candidate in (Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return None


DATA = _shared_data()
needs_data = pytest.mark.skipif(DATA is None, reason="shared benchmark data not available")


def _write(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _check_qa(tasks: list[Task], source: str) -> None:
    for task in tasks:
        assert task.task_type == "qa" and task.source == source
        assert task.question.strip() and task.answer
        assert task.passages and all(p.title and p.text for p in task.passages)
        titles = {p.title for p in task.passages}
        assert task.supporting_titles and set(task.supporting_titles) <= titles
        assert {p.title for p in task.passages if p.is_supporting} == set(task.supporting_titles)
    assert len({t.id for t in tasks}) == len(tasks)


# --- shipped data -----------------------------------------------------------------


@needs_data
def test_gsm8k_train_with_limit() -> None:
    tasks = load_tasks(DATA / "gsm8k" / "train.jsonl", limit=25)
    assert len(tasks) == 25
    first = tasks[0]
    assert first.id.startswith("gsm8k-") and first.source == "gsm8k" and first.task_type == "math"
    assert first.question.startswith("Natalia sold clips to 48 of her friends")
    assert first.answer == "72"
    assert first.solution is not None and first.solution.endswith("#### 72")
    assert first.calculations == [Calculation(expression="48/2", result="24"),
                                  Calculation(expression="48+24", result="72")]
    assert len({t.id for t in tasks}) == 25


@needs_data
def test_ids_without_a_dataset_id_are_stable_across_files(tmp_path: Path) -> None:
    # GSM8K records have no id: the same question has the same id in any file, at any line.
    lines = (DATA / "gsm8k" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    moved = tmp_path / "other.jsonl"
    moved.write_text("\n".join(["", *reversed(lines)]) + "\n", encoding="utf-8")
    original = {t.question: t.id for t in load_tasks(DATA / "gsm8k" / "train.jsonl", limit=5)}
    assert {t.question: t.id for t in load_tasks(moved)} == original
    # A different question (or gold answer) gets a different id.
    changed = json.loads(lines[0]) | {"answer": json.loads(lines[0])["answer"].replace("#### 72", "#### 73")}
    [other] = load_tasks(_write(tmp_path / "changed.jsonl", changed))
    assert other.id != original[changed["question"]]


@needs_data
def test_gsm8k_test_sample() -> None:
    tasks = load_tasks(DATA / "gsm8k" / "test_sample500.jsonl")
    assert len(tasks) == 500
    for task in tasks:
        assert task.task_type == "math" and task.solution and "####" in task.solution
        float(task.answer)  # every GSM8K gold is a plain number once commas are gone
    # line 90 ends in "#### 276,000"
    assert tasks[89].answer == "276000"
    assert tasks[89].calculations[0] == Calculation(expression="20000*12", result="240000")
    assert sum(bool(t.calculations) for t in tasks) > 480


@needs_data
@pytest.mark.parametrize("name", ["train.jsonl", "dev.jsonl"])
def test_hotpotqa_hugging_face_schema(name: str) -> None:
    tasks = load_tasks(DATA / "hotpotqa" / name)
    assert len(tasks) == 300
    _check_qa(tasks, "hotpotqa")
    assert all(len(t.supporting_titles) == 2 for t in tasks)


@needs_data
def test_hotpotqa_sentences_keep_their_own_spacing() -> None:
    task = load_tasks(DATA / "hotpotqa" / "dev.jsonl", limit=1)[0]
    assert task.id == "5a8ce55f554299441c6b9f62" and task.answer == "Tulsa"
    first = task.passages[0]
    assert first.title == "Act of Congress (music group)"
    assert first.text.startswith("Act of Congress is a Birmingham, Alabama based singer-songwriter group. They play")


@needs_data
def test_hotpotqa_original_schema() -> None:
    tasks = load_tasks(DATA / "hotpotqa" / "train_extra_original_format.jsonl")
    assert len(tasks) == 416
    assert tasks[0].id == "5a7166395542994082a3e814"
    for task in tasks:
        assert task.source == "hotpotqa" and len(task.supporting_titles) == 2
        titles = {p.title for p in task.passages}
        assert {p.title for p in task.passages if p.is_supporting} == set(task.supporting_titles) & titles
    # Unlike the Hugging Face files, this one often lacks gold paragraphs in its context
    # (the first question's answer paragraph "Kansas Song" is absent), and two rows have
    # no context at all; the loader keeps what the file says.
    assert "Kansas Song" not in {p.title for p in tasks[0].passages}
    assert sum(not t.passages for t in tasks) == 2


@needs_data
def test_musique() -> None:
    tasks = load_tasks(DATA / "musique" / "sample20.jsonl")
    assert len(tasks) == 20
    _check_qa(tasks, "musique")
    assert all(len(t.passages) == 20 for t in tasks)
    assert tasks[0].id == "2hop__50936_90973" and tasks[0].answer == "Lacey Chabert"
    assert any(t.aliases for t in tasks)
    assert all(t.answer in t.gold_answers for t in tasks)


@needs_data
def test_2wiki() -> None:
    tasks = load_tasks(DATA / "2wiki" / "sample20.jsonl")
    assert len(tasks) == 20
    _check_qa(tasks, "2wiki")
    first = tasks[0]
    assert first.id == "6281" and first.answer == "Maureen O'Sullivan"
    farrow = next(p for p in first.passages if p.title == "John Farrow")
    # 2Wiki sentences have no leading space, so they are joined with one
    assert "screenwriter. In 1957" in farrow.text


def _beerqa_sample() -> dict:
    return json.loads(find_sample("beerqa-dev").resource().read_text(encoding="utf-8"))


def test_beerqa_official_file_format(tmp_path: Path) -> None:
    document = _beerqa_sample()
    path = tmp_path / "beerqa_dev_v1.0.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    tasks = load_tasks(path)
    assert len(tasks) == len(document["data"]) == 20
    _check_qa(tasks, "beerqa")
    for task, record in zip(tasks, document["data"]):
        assert task.id == record["id"] and task.question == record["question"]
        assert task.gold_answers == [a.strip() for a in record["answers"]]
        # The context is the question's gold paragraphs: every one is supporting and searchable.
        assert [(p.title, p.text) for p in task.passages] == [(t, x.strip()) for t, x in record["context"]]
    assert {len(t.passages) for t in tasks} >= {1, 2}
    # The same records as JSON Lines, and pretty-printed, load the same.
    assert load_tasks(_write(tmp_path / "beerqa.jsonl", *document["data"])) == tasks
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(document, indent=2), encoding="utf-8")
    assert load_tasks(pretty, fmt="beerqa", limit=3) == tasks[:3]


def test_beerqa_every_answer_is_gold(tmp_path: Path) -> None:
    record = {"id": "b1", "src": "hotpotqa", "question": "Which city?", "answers": [" Paris ", "City of Paris", "Paris"],
              "context": [["Paris", "Paris is the capital of France."]]}
    [task] = load_tasks(_write(tmp_path / "b.jsonl", record))
    assert task.answer == "Paris" and task.aliases == ["City of Paris"]


def test_beerqa_record_without_answers_names_file_and_record(tmp_path: Path) -> None:
    document = _beerqa_sample()
    document["split"] = "test"
    del document["data"][2]["answers"]
    path = tmp_path / "beerqa_test_questions_v1.0.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    err = _error(path)
    record_id = document["data"][2]["id"]
    assert err.record == 3 and err.line is None
    assert str(err) == (f"{path}: record 3: question (id {record_id}) has no answers; "
                        "BeerQA's test file has none, use its dev file")
    # As JSON Lines, the same record is named by its line.
    err = _error(_write(tmp_path / "test.jsonl", *document["data"]))
    assert err.line == 3 and "has no answers" in str(err) and "\n" not in str(err)


def test_cofca_record_in_hotpotqa_original_schema(tmp_path: Path) -> None:
    # CofCA ships HotpotQA's original schema, with `type` giving the number of hops.
    record = {"_id": "cofca-0001", "type": 3, "question": "Who founded the company that made the Zephyr?",
              "answer": "Ada Byron",
              "context": [["Zephyr (car)", ["The Zephyr was made by ", "Northwind Motors."]],
                          ["Northwind Motors", ["Northwind Motors was founded by Ada Byron."]]]}
    with_facts = record | {"_id": "cofca-0002",
                           "supporting_facts": [["Zephyr (car)", 0], ["Northwind Motors", 0]]}
    path = tmp_path / "cofca.json"
    path.write_text(json.dumps([record, with_facts]), encoding="utf-8")
    first, second = load_tasks(path)
    assert first.id == "cofca-0001" and first.source == "hotpotqa" and first.answer == "Ada Byron"
    assert [p.title for p in first.passages] == ["Zephyr (car)", "Northwind Motors"]
    assert first.passages[0].text == "The Zephyr was made by Northwind Motors."
    assert first.supporting_titles == []
    assert second.supporting_titles == ["Zephyr (car)", "Northwind Motors"]
    assert load_tasks(_write(tmp_path / "cofca.jsonl", record, with_facts), fmt="hotpotqa") == [first, second]


@needs_data
def test_explicit_format_matches_detection() -> None:
    path = DATA / "musique" / "sample20.jsonl"
    assert load_tasks(path, fmt="musique", limit=3) == load_tasks(path, limit=3)


# --- format detection and the generic format ---------------------------------------


def test_detect_format() -> None:
    assert detect_format({"question": "q", "answer": "work\n#### 3"}) == "gsm8k"
    assert detect_format({"question": "q", "answer": "3"}) == "jsonl"
    assert detect_format({"question": "q", "answer": "#### 3", "aliases": []}) == "jsonl"
    assert detect_format({"question": "q", "answer": "a", "context": {}, "supporting_facts": {}}) == "hotpotqa"
    assert detect_format({"question": "q", "answer": "a", "context": [], "supporting_facts": [],
                          "evidences": []}) == "2wiki"
    assert detect_format({"question": "q", "answer": "a", "paragraphs": []}) == "musique"
    assert detect_format({"id": "1", "question": "q", "answers": ["a"], "context": []}) == "beerqa"
    assert detect_format({"id": "1", "src": "squad", "question": "q", "context": []}) == "beerqa"
    assert detect_format({"_id": "1", "type": 2, "question": "q", "answer": "a", "context": []}) == "hotpotqa"
    assert detect_format({"question": "q", "answer": "a", "context": "free text"}) == "jsonl"
    with pytest.raises(ValueError, match="cannot detect"):
        detect_format({"text": "q"})
    assert set(FORMATS) == {"gsm8k", "hotpotqa", "musique", "2wiki", "beerqa", "jsonl"}
    assert set(BENCHMARK_FORMATS.values()) <= set(FORMATS)


def test_generic_jsonl_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl",
                  {"question": "Who?", "answer": " Ada ",
                   "passages": [{"title": "A", "text": "x"}, {"title": "B", "text": "y"}],
                   "supporting_titles": ["B"]},
                  {"id": 7, "question": "1+1?", "answer": 2, "task_type": "math"})
    first, second = load_tasks(path)
    assert first.id.startswith("jsonl-") and first.answer == "Ada" and first.task_type == "qa"
    assert [p.is_supporting for p in first.passages] == [False, True]
    assert second.id == "7" and second.answer == "2" and second.task_type == "math"


def test_generic_jsonl_round_trip(tmp_path: Path) -> None:
    tasks = [
        Task(id="q1", question="Who wrote it?", answer="Ada", aliases=["Ada Lovelace"], task_type="qa",
             source="mine", passages=[Passage(title="A", text="Ada wrote it.", is_supporting=True),
                                      Passage(title="B", text="Unrelated.")],
             supporting_titles=["A"]),
        Task(id="q2", question="2*3?", answer="6", task_type="math", source="mine", solution="2*3=<<2*3=6>>6",
             calculations=[Calculation(expression="2*3", result="6")]),
    ]
    path = _write(tmp_path / "tasks.jsonl", *(t.model_dump() for t in tasks))
    assert load_tasks(path) == tasks
    assert load_tasks(path, fmt="jsonl") == tasks


def test_gsm8k_record_id_and_commas(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.jsonl",
                  {"id": "g7", "question": " Keep  me ", "answer": "a <<1200*1=1200>>1,200\n#### 1,200"})
    [task] = load_tasks(path)
    assert task.id == "g7" and task.question == " Keep  me " and task.answer == "1200"
    assert task.calculations == [Calculation(expression="1200*1", result="1200")]


def test_limit_stops_reading(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"question": "a", "answer": "b"}\n{"question": "c", "answer": "d"}\nnot json\n',
                    encoding="utf-8")
    assert [t.question for t in load_tasks(path, limit=2)] == ["a", "c"]
    with pytest.raises(SwirlError, match="limit"):
        load_tasks(path, limit=0)


def test_blank_lines_and_bom_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"question": "a", "answer": "b"}\n\n  \r\n{"question": "c", "answer": "d"}')
    assert [t.question for t in load_tasks(path)] == ["a", "c"]


# --- bad input ----------------------------------------------------------------------


def _error(path: Path, fmt: str = "auto") -> InputError:
    with pytest.raises(InputError) as caught:
        load_tasks(path, fmt=fmt)
    return caught.value


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"question": "a", "answer": "b"}\n\n{"question": "c", \n', encoding="utf-8")
    err = _error(path)
    assert err.line == 3 and f"{path}:3: invalid JSON" in str(err)


def test_record_not_an_object(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "t.jsonl", ["question", "answer"]))
    assert err.line == 1 and "expected a JSON object, got an array" in str(err)


def test_missing_field_is_named(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "t.jsonl", {"question": "a", "answer": "b"}, {"question": "c"}))
    assert err.line == 2 and "missing field 'answer'" in str(err)
    hotpot = {"id": "1", "question": "q", "answer": "a", "supporting_facts": [["T", 0]], "context": [["T"]]}
    err = _error(_write(tmp_path / "h.jsonl", hotpot))
    assert "missing field '_id'" in str(err)


def test_hotpotqa_original_and_2wiki_name_the_first_missing_field_alike(tmp_path: Path) -> None:
    # The two schemas share one definition; its field order decides which missing field is named.
    context = [["T", ["s"]]]
    cases = [
        ({"question": "q", "context": context, "evidences": []}, "2wiki", "missing field 'id'"),
        ({"question": "q", "context": context}, "hotpotqa", "missing field '_id'"),
        ({"id": "1", "question": "q", "context": context, "evidences": []}, "2wiki", "missing field 'answer'"),
        ({"_id": "1", "question": "q", "context": context}, "hotpotqa", "missing field 'answer'"),
        ({"id": "1", "question": "q", "answer": "a", "evidences": []}, "2wiki", "missing field 'supporting_facts'"),
        ({"_id": "1", "question": "q", "answer": "a"}, "hotpotqa", "missing field 'context'"),
    ]
    for index, (record, fmt, message) in enumerate(cases):
        err = _error(_write(tmp_path / f"{index}.jsonl", record), fmt=fmt)
        assert message in str(err), (fmt, record, str(err))
    # HotpotQA-original files (CofCA) may leave the supporting facts out; 2Wiki's may not.
    assert load_tasks(_write(tmp_path / "cofca.jsonl", {"_id": "1", "question": "q", "answer": "a", "context": context}),
                      "hotpotqa")[0].supporting_titles == []


def test_wrong_type_is_named(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "t.jsonl", {"question": ["a"], "answer": "b"}))
    assert err.line == 1 and "field 'question'" in str(err) and "got an array" in str(err)
    hotpot = {"id": "1", "question": "q", "answer": "a", "supporting_facts": {"title": ["T"], "sent_id": [0]},
              "context": {"title": ["T"], "sentences": [["ok", 3]]}}
    err = _error(_write(tmp_path / "h.jsonl", hotpot))
    assert "field 'context.sentences[0][1]'" in str(err)


def test_empty_question_and_answer(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "q.jsonl", {"question": "  ", "answer": "b"}))
    assert err.line == 1 and "empty question" in str(err)
    err = _error(_write(tmp_path / "a.jsonl", {"question": "a", "answer": "b"}, {"question": "c", "answer": ""}))
    assert err.line == 2 and "empty answer" in str(err)


def test_gsm8k_without_final_answer(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "g.jsonl", {"question": "q", "answer": "42"}), fmt="gsm8k")
    assert err.line == 1 and "####" in str(err)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    err = _error(path)
    assert err.line is None and "no tasks found" in str(err)


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "a", "answer": "b"}\n{"question": "caf\xe9", "answer": "b"}\n')
    err = _error(path)
    assert err.line == 2 and "not valid UTF-8" in str(err)


def test_duplicate_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", {"id": "x", "question": "a", "answer": "b"},
                  {"id": "y", "question": "c", "answer": "d"}, {"id": "x", "question": "e", "answer": "f"})
    err = _error(path)
    assert err.line == 3 and "duplicate task id x (first at line 1)" in str(err)


def test_unknown_format_and_undetectable_record(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", {"question": "a", "answer": "b"})
    err = _error(path, fmt="csv")
    assert err.line is None and "unknown format 'csv'" in str(err) and all(f in str(err) for f in FORMATS)
    err = _error(_write(tmp_path / "u.jsonl", {"prompt": "a"}))
    assert err.line == 1 and "cannot detect" in str(err)


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in str(_error(tmp_path / "nope.jsonl"))


def test_overlong_line(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"question": "a", "answer": "b"}\n' + b" " * (MAX_LINE_BYTES + 1) + b"\n")
    err = _error(path)
    assert err.line == 2 and "longer than 10 MB" in str(err)


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    assert "nested too deeply" in str(_error(path))


# --- sampling -----------------------------------------------------------------------


def test_sample_tasks_is_seeded_and_ordered() -> None:
    tasks = [Task(id=f"t{i}", question="q", answer="a", task_type="qa", source="s") for i in range(50)]
    first = sample_tasks(tasks, 10, seed=3)
    assert first == sample_tasks(tasks, 10, seed=3)
    assert len(first) == 10 and len({t.id for t in first}) == 10
    assert [tasks.index(t) for t in first] == sorted(tasks.index(t) for t in first)
    assert sample_tasks(tasks, 10, seed=4) != first
    assert sample_tasks(tasks, None, seed=0) == tasks
    assert sample_tasks(tasks, 80, seed=0) == tasks
