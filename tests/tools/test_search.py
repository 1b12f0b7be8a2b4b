"""The search tool: BM25 retrieval over a real HotpotQA corpus, output format, and the on-disk index cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import bm25s
import pytest

from swirl.errors import InputError, SwirlError
from swirl.records import Passage, Task
from swirl.tools import SearchTool, run_tool
from swirl.tools.search import corpus_key

HOTPOTQA_TRAIN = Path("/work/shared/data/hotpotqa/train.jsonl")
pytestmark = pytest.mark.skipif(not HOTPOTQA_TRAIN.is_file(), reason="HotpotQA sample not available")


def read_hotpotqa(path: Path) -> list[dict]:
    """Questions in the Hugging Face schema: gold titles, context passages, and their sentences."""
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        context = list(zip(row["context"]["title"], row["context"]["sentences"]))
        questions.append(
            {
                "gold": list(dict.fromkeys(row["supporting_facts"]["title"])),
                "passages": [Passage(title=t, text="".join(sents).strip()) for t, sents in context],
                "sentences": dict(context),
            }
        )
    return questions


@pytest.fixture(scope="module")
def hotpotqa() -> list[dict]:
    return read_hotpotqa(HOTPOTQA_TRAIN)


@pytest.fixture(scope="module")
def corpus(hotpotqa: list[dict]) -> list[Passage]:
    return [p for q in hotpotqa for p in q["passages"]]


@pytest.fixture(scope="module")
def tool(corpus: list[Passage], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchTool]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWIRL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield SearchTool(corpus, top_k=1, max_chars=600)


def first_by_title(passages: list[Passage]) -> dict[str, Passage]:
    kept: dict[str, Passage] = {}
    for passage in passages:
        kept.setdefault(passage.title, passage)
    return kept


def test_gold_title_and_phrase_find_the_gold_paragraph(
    hotpotqa: list[dict], corpus: list[Passage], tool: SearchTool
) -> None:
    by_title = first_by_title(corpus)
    # Sentences of each title's first occurrence, the paragraph the corpus keeps.
    sentences_by_title: dict[str, list[str]] = {}
    for question in hotpotqa:
        for title, sentences in question["sentences"].items():
            sentences_by_title.setdefault(title, sentences)
    checked = 0
    for question in hotpotqa:
        for title in question["gold"]:
            # The last sentence rather than the first: openings repeat the title, which makes
            # short related paragraphs ("List of X episodes") legitimately outscore long ones.
            phrase = sentences_by_title[title][-1].strip()
            hits = tool.search(f"{title} {phrase}")
            assert hits[0] == by_title[title], f"query for {title!r} found {hits[0].title!r}"
            checked += 1
    assert checked == sum(len(q["gold"]) for q in hotpotqa) > 500


def test_corpus_is_deduplicated_by_title_keeping_the_first(corpus: list[Passage], tool: SearchTool) -> None:
    assert len({p.title for p in corpus}) < len(corpus)  # the sample does repeat titles
    assert tool.passages == list(first_by_title(corpus).values())


def test_call_format(hotpotqa: list[dict], corpus: list[Passage], tool: SearchTool) -> None:
    title = hotpotqa[0]["gold"][0]
    gold = first_by_title(corpus)[title]
    observation = tool.call(f"{title} {' '.join(gold.text.split()[:8])}")
    header, body = observation.split("\n", 1)
    assert header == f"Title: {title}"
    expected = gold.text if len(gold.text) <= 600 else gold.text[:600].rstrip() + "…"
    assert body == expected
    assert run_tool(tool, title)[1]


def test_top_k_is_respected(corpus: list[Passage], tool: SearchTool) -> None:
    query = "Russian Civil War Bolsheviks"
    assert len(tool.search(query)) == 1
    five = tool.search(query, k=5)
    assert len(five) == 5
    assert five[0] == tool.search(query)[0]
    three = SearchTool(corpus, top_k=3)
    observation = three.call(query)
    blocks = observation.split("\n\n")
    assert len(blocks) == 3
    assert [b.split("\n", 1)[0] for b in blocks] == [f"Title: {p.title}" for p in five[:3]]


def test_k_larger_than_the_corpus_is_clamped(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    small = SearchTool(
        [Passage(title="Alpha", text="apples, pears, plums and kiwis"), Passage(title="Beta", text="apples")],
        top_k=10,
    )
    assert [p.title for p in small.search("apples")] == ["Beta", "Alpha"]  # shorter document wins
    assert [p.title for p in small.search("pears", k=50)] == ["Alpha"]  # no zero-score padding


def test_truncation_to_max_chars(corpus: list[Passage], tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    short = SearchTool(corpus, top_k=2, max_chars=40)
    for block in short.call("Russian Civil War").split("\n\n"):
        title_line, text = block.split("\n", 1)
        assert title_line.startswith("Title: ")
        assert text.endswith("…")
        assert len(text) <= 41


def test_empty_queries_and_misses(tool: SearchTool) -> None:
    assert tool.call("") == "Error: empty search query"
    assert tool.call("   \n") == "Error: empty search query"
    assert run_tool(tool, "") == ("Error: empty search query", False)
    assert tool.call("the of and") == "No results."  # stopwords only
    assert tool.call("qwxzzyv") == "No results."
    assert run_tool(tool, "qwxzzyv") == ("No results.", True)
    with pytest.raises(ValueError):
        tool.search("war", k=0)


def test_ties_go_to_corpus_order(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    twins = [Passage(title=f"Twin {i}", text="identical words about rivers") for i in range(6)]
    tool = SearchTool(twins, top_k=6)
    assert [p.title for p in tool.search("rivers")] == [f"Twin {i}" for i in range(6)]
    assert tool.search("rivers") == SearchTool(twins, top_k=6).search("rivers")


def test_query_matches_corpus_tokenization(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    tool = SearchTool(
        [Passage(title="Paris", text="The capital of France."), Passage(title="Berlin", text="Capital of Germany.")]
    )
    assert tool.search("CAPITAL of FRANCE?!")[0].title == "Paris"
    assert tool.search("berlin")[0].title == "Berlin"  # titles are indexed


def test_index_is_cached_and_reused(corpus: list[Passage], tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    first = SearchTool(corpus)
    unique = list(first_by_title(corpus).values())
    expected_dir = tmp_path / "search" / corpus_key(unique)
    assert first.index_dir == expected_dir
    assert (expected_dir / "params.index.json").is_file()
    assert [p.name for p in (tmp_path / "search").iterdir()] == [expected_dir.name]  # no partial dirs

    def no_indexing(*args, **kwargs):
        raise AssertionError("the cached index should have been loaded, not rebuilt")

    monkeypatch.setattr(bm25s.BM25, "index", no_indexing)
    second = SearchTool(corpus, top_k=4)
    query = "American football quarterback"
    assert second.search(query) == first.search(query, k=4)


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    passages = [Passage(title="Oslo", text="Oslo is in Norway."), Passage(title="Lima", text="Lima is in Peru.")]
    directory = SearchTool(passages).index_dir
    (directory / "vocab.index.json").write_text("{not json")
    rebuilt = SearchTool(passages)
    assert rebuilt.search("Peru")[0].title == "Lima"
    assert json.loads((directory / "vocab.index.json").read_text())


def test_different_corpora_get_different_cache_entries(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))
    a = SearchTool([Passage(title="A", text="one")])
    b = SearchTool([Passage(title="A", text="two")])
    assert a.index_dir != b.index_dir
    assert b.search("two")[0].text == "two"


def test_from_tasks_uses_every_task_passage(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path))

    def task(i: int, *passages: Passage) -> Task:
        return Task(id=f"q{i}", question="?", answer="x", task_type="qa", source="test", passages=list(passages))

    tool = SearchTool.from_tasks(
        [
            task(1, Passage(title="Nile", text="The Nile flows north."), Passage(title="Amazon", text="A river.")),
            task(2, Passage(title="Nile", text="A duplicate paragraph."), Passage(title="Danube", text="Flows east.")),
        ],
        top_k=2,
        max_chars=100,
    )
    assert [p.title for p in tool.passages] == ["Nile", "Amazon", "Danube"]
    assert tool.passages[0].text == "The Nile flows north."
    assert tool.search("Danube east")[0].title == "Danube"
    with pytest.raises(SwirlError, match="corpus is empty"):
        SearchTool.from_tasks([task(3)])


def test_invalid_settings() -> None:
    passages = [Passage(title="A", text="a")]
    with pytest.raises(SwirlError, match="top_k"):
        SearchTool(passages, top_k=0)
    with pytest.raises(SwirlError, match="max_chars"):
        SearchTool(passages, max_chars=0)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_corpus_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SWIRL_CACHE_DIR", str(tmp_path / "cache"))
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"title": "Mount Everest", "text": "Earth's highest mountain above sea level."}),
            "",
            json.dumps({"title": "K2", "text": "The second-highest mountain on Earth.", "extra": 1}),
        ],
    )
    tool = SearchTool.from_corpus_file(path, top_k=2)
    assert [p.title for p in tool.passages] == ["Mount Everest", "K2"]
    assert tool.search("second highest mountain")[0].title == "K2"


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"title": "No text"}', "missing field 'text'"),
        ('{"title": 3, "text": "x"}', "field 'title' must be a string"),
    ],
)
def test_corpus_file_bad_line(tmp_path, bad_line: str, reason: str) -> None:
    good = json.dumps({"title": "Fine", "text": "A fine line."})
    path = write_lines(tmp_path / "corpus.jsonl", [good, good, bad_line, good])
    with pytest.raises(InputError, match=reason) as info:
        SearchTool.from_corpus_file(path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")


def test_corpus_file_missing_or_empty(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        SearchTool.from_corpus_file(tmp_path / "absent.jsonl")
    with pytest.raises(InputError, match="no passages"):
        SearchTool.from_corpus_file(write_lines(tmp_path / "empty.jsonl", [""]))
