"""Judges: process (step) judges, outcome judges and their metrics."""

from __future__ import annotations

from collections.abc import Sequence

from swirl.backends.base import AUTO, RETRIES
from swirl.judges.base import ProcessJudge
from swirl.judges.process import DEFAULT_MODE
from swirl.records import Task

REFERENCE = "reference"


def make_process_judge(
    reference: str,
    tasks: Sequence[Task],
    *,
    mode: str = DEFAULT_MODE,
    backend: str = AUTO,
    seed: int = 0,
    max_retries: int = RETRIES,
    max_tokens: int | None = None,
) -> ProcessJudge:
    """The process judge named by ``reference``: ``reference`` for the gold-guided judge
    (its search index built over ``tasks``), else a model reference for the LLM judge.

    ``max_tokens`` is the generate mode's reply budget (default :data:`GENERATE_MAX_TOKENS`)."""
    from swirl.judges.process import GENERATE_MAX_TOKENS, LLMProcessJudge
    from swirl.judges.reference import ReferenceJudge

    if reference == REFERENCE:
        return ReferenceJudge.for_tasks(tasks)
    from swirl.backends import make_backend
    from swirl.models import parse_model_ref

    ref = parse_model_ref(reference)
    engine = make_backend(ref, backend, max_retries=max_retries)
    return LLMProcessJudge(engine, mode=mode, name=ref.name, seed=seed, max_tokens=max_tokens or GENERATE_MAX_TOKENS)
