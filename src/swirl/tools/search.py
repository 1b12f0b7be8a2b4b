"""The search tool (``<search_query>``): BM25 over a closed corpus of titled paragraphs.

As in the paper, each split of a multi-hop QA benchmark has its own corpus: the union of
its questions' context paragraphs. The BM25 index (bm25s) is built once per corpus and
cached on disk under ``cache_dir()/search/<corpus hash>``, so later runs load it instantly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np
from pydantic import ValidationError

from swirl.errors import InputError, SwirlError
from swirl.jsonl import write_atomically
from swirl.models import cache_dir
from swirl.records import Passage, SearchSettings, Task
from swirl.tools.base import ERROR_PREFIX, Tool

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 1
DEFAULT_MAX_CHARS = 600
NO_RESULTS = "No results."
# No stemmer, on purpose: PyStemmer is optional, and results (and cached indexes) must not
# change with what happens to be installed. Part of the cache key, so changing it re-indexes.
_TOKENIZER = {"stopwords": "en", "stemmer": None, "lower": True}
_PARAMS_FILE = "params.index.json"
_PASSAGES_FILE = "passages.jsonl"


def _tokenize(texts: list[str]) -> list[list[str]]:
    """The single tokenizer for corpus and queries, so both see the same terms."""
    return bm25s.tokenize(
        texts,
        lower=_TOKENIZER["lower"],
        stopwords=_TOKENIZER["stopwords"],
        return_ids=False,
        show_progress=False,
    )


def _document(passage: Passage) -> str:
    # The title is indexed too: multi-hop questions often name the entity they need.
    return f"{passage.title}\n{passage.text}"


def dedupe_by_title(passages: Iterable[Passage]) -> list[Passage]:
    """The passages with each title kept once, first occurrence first."""
    seen: set[str] = set()
    unique: list[Passage] = []
    for passage in passages:
        if passage.title not in seen:
            seen.add(passage.title)
            unique.append(passage)
    return unique


def corpus_key(passages: Sequence[Passage]) -> str:
    """First 16 hex digits of the SHA-256 of the corpus content and the tokenizer settings."""
    payload = {
        "tokenizer": _TOKENIZER,
        "bm25s": bm25s.__version__,
        "passages": [[p.title, p.text] for p in passages],
    }
    digest = hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def _build_index(passages: Sequence[Passage]) -> bm25s.BM25:
    retriever = bm25s.BM25()
    retriever.index(_tokenize([_document(p) for p in passages]), show_progress=False)
    return retriever


def _load_cached(directory: Path, num_docs: int) -> bm25s.BM25 | None:
    if not (directory / _PARAMS_FILE).is_file():
        return None
    try:
        retriever = bm25s.BM25.load(directory, show_progress=False)
    except Exception as exc:  # any damage to the cache entry means: rebuild it
        logger.warning("ignoring unreadable search index cache %s: %s", directory, exc)
        return None
    if retriever.scores.get("num_docs") != num_docs:
        logger.warning("ignoring search index cache %s: it indexes a different corpus", directory)
        return None
    return retriever


def _save_cached(retriever: bm25s.BM25, passages: Sequence[Passage], directory: Path) -> None:
    """Write the index and its passages into a temporary directory, then rename it, so no reader sees half an index.

    The passages are kept so that a judge can reopen exactly this corpus from its key.
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=directory.parent))
    except OSError as exc:
        logger.warning("cannot cache the search index in %s: %s", directory.parent, exc)
        return
    try:
        retriever.save(staging, show_progress=False)
        _write_passages(passages, staging)
        if directory.exists():
            # An unusable entry, or an identical one a concurrent process just finished.
            shutil.rmtree(directory)
        staging.rename(directory)
    except OSError as exc:
        # Typically another process renamed its identical index into place first.
        logger.warning("could not cache the search index in %s: %s", directory, exc)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_passages(passages: Sequence[Passage], directory: Path) -> None:
    """The corpus as JSONL beside its index, written whole through a temporary name."""
    write_atomically(
        directory / _PASSAGES_FILE,
        (json.dumps({"title": p.title, "text": p.text}, ensure_ascii=False) + "\n" for p in passages),
    )


def load_or_build_index(passages: Sequence[Passage]) -> tuple[bm25s.BM25, Path]:
    """The BM25 index of ``passages`` from the cache, building and caching it on a miss."""
    directory = cache_dir() / "search" / corpus_key(passages)
    retriever = _load_cached(directory, len(passages))
    if retriever is None:
        retriever = _build_index(passages)
        _save_cached(retriever, passages, directory)
    elif not (directory / _PASSAGES_FILE).is_file():
        # An index cached before corpora were kept beside it.
        try:
            _write_passages(passages, directory)
        except OSError as exc:
            logger.warning("cannot keep the search corpus in %s: %s", directory, exc)
    return retriever, directory


def read_corpus_file(path: str | Path) -> list[Passage]:
    """Passages from a JSONL file of ``{"title": ..., "text": ...}`` objects (blank lines skipped)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the corpus file: {exc}") from None
    passages = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON: {exc.msg}", number) from None
        if not isinstance(record, dict):
            raise InputError(path, "expected a JSON object with 'title' and 'text'", number)
        try:
            passages.append(Passage(title=record["title"], text=record["text"]))
        except KeyError as exc:
            raise InputError(path, f"missing field {exc.args[0]!r}", number) from None
        except ValidationError as exc:
            field = ".".join(str(part) for part in exc.errors()[0]["loc"])
            raise InputError(path, f"field {field!r} must be a string", number) from None
    return passages


class SearchTool(Tool):
    """BM25 search over titled paragraphs; returns the best ``top_k`` paragraphs with titles."""

    name = "search"
    tag = "search_query"
    description = (
        "Searches a collection of encyclopedia paragraphs and returns the best match with its "
        "title; write keywords such as a person, place or work and what you want to know about it."
    )

    def __init__(
        self,
        passages: Iterable[Passage],
        top_k: int = DEFAULT_TOP_K,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        if top_k < 1:
            raise SwirlError(f"search top_k must be at least 1, got {top_k}")
        if max_chars < 1:
            raise SwirlError(f"search max_chars must be at least 1, got {max_chars}")
        self.passages = dedupe_by_title(passages)
        if not self.passages:
            raise SwirlError("the search corpus is empty: no passages to index")
        self.top_k = top_k
        self.max_chars = max_chars
        self.retriever, self.index_dir = load_or_build_index(self.passages)
        self.corpus_key = self.index_dir.name

    @classmethod
    def from_tasks(
        cls, tasks: Iterable[Task], top_k: int = DEFAULT_TOP_K, max_chars: int = DEFAULT_MAX_CHARS
    ) -> SearchTool:
        """Search over every context paragraph of ``tasks`` (the paper's per-split corpus)."""
        return cls((p for task in tasks for p in task.passages), top_k=top_k, max_chars=max_chars)

    @classmethod
    def from_corpus_file(
        cls, path: str | Path, top_k: int = DEFAULT_TOP_K, max_chars: int = DEFAULT_MAX_CHARS
    ) -> SearchTool:
        """Search over a JSONL corpus file of ``{"title", "text"}`` objects."""
        passages = read_corpus_file(path)
        if not passages:
            raise InputError(path, "the corpus file has no passages")
        return cls(passages, top_k=top_k, max_chars=max_chars)

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> SearchTool:
        """The search a trajectory recorded: its corpus (reopened from the cache by key) and top-k."""
        path = cache_dir() / "search" / settings.corpus_key / _PASSAGES_FILE
        if not path.is_file():
            raise SwirlError(
                f"the search corpus {settings.corpus_key} of these trajectories is not in {path.parent.parent}; "
                "judge them where they were generated, or generate them again here"
            )
        tool = cls(read_corpus_file(path), top_k=settings.top_k, max_chars=settings.max_chars)
        if tool.corpus_key != settings.corpus_key:
            raise SwirlError(f"the cached search corpus {path} does not match its key {settings.corpus_key}")
        return tool

    @property
    def settings(self) -> SearchSettings:
        """What a trajectory records so that a judge can search exactly as its policy did."""
        return SearchSettings(corpus_key=self.corpus_key, top_k=self.top_k, max_chars=self.max_chars)

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        """The ``k`` (default ``top_k``) best passages by BM25; ties go to the earlier passage.

        Passages sharing no term with the query are never returned, so the list may be
        shorter than ``k``, or empty.
        """
        k = self.top_k if k is None else k
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        token_ids = self.retriever.get_tokens_ids(_tokenize([query])[0])
        if not token_ids:
            return []
        scores = self.retriever.get_scores_from_ids(token_ids)
        # A stable sort rather than bm25s's top-k selection, which orders ties arbitrarily.
        order = np.argsort(-scores, kind="stable")[: min(k, len(self.passages))]
        return [self.passages[i] for i in order if scores[i] > 0]

    def format_passage(self, passage: Passage) -> str:
        text = passage.text.strip()
        if len(text) > self.max_chars:
            text = text[: self.max_chars].rstrip() + "…"
        return f"Title: {passage.title}\n{text}"

    def call(self, text: str) -> str:
        if not text.strip():
            return f"{ERROR_PREFIX}empty search query"
        hits = self.search(text)
        if not hits:
            return NO_RESULTS
        return "\n\n".join(self.format_passage(p) for p in hits)
