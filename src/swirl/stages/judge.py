"""Stage 2, judge: trajectories.jsonl -> judged.jsonl (process labels per step, outcome per trajectory).

:class:`JudgeSettings` is the stage's settings: the options of `swirl judge` and the
``judge`` section of `swirl run`; :func:`run` is what both call. Trajectories are judged in chunks of at most ``chunk_size`` steps, so that one backend
call covers the steps of many trajectories; each judged trajectory is appended to the output at once, so a rerun
resumes after the last one written. ``calibrate`` compares one labeling of the steps
with another (e.g. an LLM judge against the reference judge).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from swirl.backends.base import AUTO, Backend
from swirl.errors import InputError
from swirl.jsonl import JsonlWriter, read_records
from swirl.judges.base import ProcessJudge, steps_of
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.process import DEFAULT_MODE, GENERATE_MAX_TOKENS
from swirl.models import DEFAULT_MODEL
from swirl.progress import ProgressCallback, counter
from swirl.records import SCHEMA_VERSION, Trajectory

CHUNK_STEPS = 16
"""Steps judged per backend call (whole trajectories): one call covers many steps, and an
interruption loses at most one chunk."""


class JudgeSettings(BaseModel):
    """Who judges: `swirl judge`'s options and `swirl run`'s ``judge`` section."""

    model_config = ConfigDict(extra="forbid")

    model: str = DEFAULT_MODEL
    """Process judge: a model reference (independent of the policy), or ``reference`` for the gold-guided judge."""
    mode: Literal["score", "generate"] = DEFAULT_MODE
    """score (P(GOOD) from log-probabilities) or generate (reasoning + verdict)."""
    backend: str = AUTO
    """Engine for judge models: auto, hf, openai, llamacpp, vllm."""
    outcome_model: str | None = None
    """LLM grader for answer equivalence; None = programmatic metrics only."""


def read_trajectories(path: Path) -> list[Trajectory]:
    trajectories = read_records(path, Trajectory)
    for trajectory in trajectories:
        if trajectory.schema_version != SCHEMA_VERSION:
            raise InputError(
                path, f"trajectory schema version {trajectory.schema_version} is not supported (expected {SCHEMA_VERSION})"
            )
    seen: set[str] = set()
    for trajectory in trajectories:
        if trajectory.id in seen:
            raise InputError(path, f"duplicate trajectory id {trajectory.id!r}")
        seen.add(trajectory.id)
    return trajectories


@dataclass
class JudgeSummary:
    judged: int = 0
    skipped: int = 0
    verdicts: Counter = field(default_factory=Counter)
    score_sum: float = 0.0
    steps: int = 0
    correct: int = 0

    def add(self, trajectory: Trajectory) -> None:
        self.judged += 1
        for judgement in trajectory.step_judgements or []:
            self.verdicts[judgement.verdict] += 1
            self.score_sum += judgement.score
            self.steps += 1
        self.correct += bool(trajectory.outcome and trajectory.outcome.correct)

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.steps if self.steps else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.judged if self.judged else 0.0


def judge_trajectories(
    trajectories: Sequence[Trajectory],
    process_judge: ProcessJudge,
    outcome_judge: OutcomeJudge,
    output: Path,
    *,
    chunk_size: int = CHUNK_STEPS,
    on_progress: Callable[[int], None] | None = None,
) -> JudgeSummary:
    """Judge the trajectories missing from ``output`` and append them to it.

    ``output`` is read once, to skip what an earlier run wrote. Each judge call covers
    at most ``chunk_size`` steps (whole trajectories); ``on_progress(n)`` is called with
    the number of steps judged since its last call (first: those already in ``output``).
    """
    done = {t.id for t in read_records(output, Trajectory)} if output.exists() else set()
    todo = [t for t in trajectories if t.id not in done]
    summary = JudgeSummary(skipped=len(trajectories) - len(todo))
    if on_progress:
        on_progress(sum(len(t.steps) for t in trajectories if t.id in done))
    with JsonlWriter(output) as writer:
        for chunk in chunks_of_steps(todo, chunk_size):
            for judged in judge_chunk(chunk, process_judge, outcome_judge):
                writer.write(judged)
                summary.add(judged)
            if on_progress:
                on_progress(sum(len(t.steps) for t in chunk))
    return summary


@dataclass
class JudgeRun:
    """What :func:`run` judged with (for the command's replica counts and calibration) and its summary."""

    summary: JudgeSummary
    process_judge: ProcessJudge
    grader: Backend | None


def run(
    settings: JudgeSettings,
    trajectories: Sequence[Trajectory],
    output: Path,
    *,
    seed: int,
    max_tokens: int = GENERATE_MAX_TOKENS,
    chunk_size: int = CHUNK_STEPS,
    progress: ProgressCallback | None = None,
    progress_name: str = "judging steps",
) -> JudgeRun:
    """The stage as `swirl judge` and `swirl run` call it: judge ``trajectories`` into ``output`` (resuming)."""
    from swirl.backends import make_backend
    from swirl.judges import make_process_judge
    from swirl.models import parse_model_ref

    tasks = list({t.task.id: t.task for t in trajectories}.values())
    process_judge = make_process_judge(
        settings.model, tasks, mode=settings.mode, backend=settings.backend, seed=seed, max_tokens=max_tokens
    )
    grader = make_backend(parse_model_ref(settings.outcome_model), settings.backend) if settings.outcome_model else None
    summary = judge_trajectories(
        trajectories, process_judge, OutcomeJudge(grader), output, chunk_size=chunk_size,
        on_progress=counter(progress, progress_name, sum(len(t.steps) for t in trajectories)),
    )
    return JudgeRun(summary, process_judge, grader)


def chunks_of_steps(trajectories: Sequence[Trajectory], max_steps: int) -> Iterator[list[Trajectory]]:
    """Consecutive groups of whole trajectories holding at most ``max_steps`` steps (or one trajectory)."""
    chunk: list[Trajectory] = []
    steps = 0
    for trajectory in trajectories:
        if chunk and steps + len(trajectory.steps) > max_steps:
            yield chunk
            chunk, steps = [], 0
        chunk.append(trajectory)
        steps += len(trajectory.steps)
    if chunk:
        yield chunk


def judge_chunk(
    chunk: Sequence[Trajectory], process_judge: ProcessJudge | None, outcome_judge: OutcomeJudge
) -> list[Trajectory]:
    """The trajectories with their outcome and, given a process judge, their step judgements.

    The steps of the whole chunk go to the process judge in one call, so one backend
    batch covers many trajectories.
    """
    outcomes = outcome_judge.judge([(t.task, t.final_answer) for t in chunk])
    if process_judge is None:
        return [t.model_copy(update={"outcome": o}) for t, o in zip(chunk, outcomes)]
    judgements = iter(process_judge.judge([step for trajectory in chunk for step in steps_of(trajectory)]))
    return [
        t.model_copy(update={"step_judgements": [next(judgements) for _ in t.steps], "outcome": o})
        for t, o in zip(chunk, outcomes)
    ]


@dataclass
class Calibration:
    """Agreement of a judge with a reference labeling; positive = GOOD."""

    true_positive: int = 0
    false_positive: int = 0
    true_negative: int = 0
    false_negative: int = 0
    unparsed: int = 0

    @property
    def total(self) -> int:
        return self.true_positive + self.false_positive + self.true_negative + self.false_negative

    @property
    def false_positive_rate(self) -> float:
        negatives = self.false_positive + self.true_negative
        return self.false_positive / negatives if negatives else 0.0

    @property
    def false_negative_rate(self) -> float:
        positives = self.false_negative + self.true_positive
        return self.false_negative / positives if positives else 0.0

    @property
    def agreement(self) -> float:
        return (self.true_positive + self.true_negative) / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "steps": self.total,
            "agreement": self.agreement,
            "true_positive": self.true_positive,
            "false_positive": self.false_positive,
            "true_negative": self.true_negative,
            "false_negative": self.false_negative,
            "false_positive_rate": self.false_positive_rate,
            "false_negative_rate": self.false_negative_rate,
            "unparsed": self.unparsed,
        }


def calibrate(judged: Sequence[Trajectory], reference: ProcessJudge | dict[str, list[str]]) -> Calibration:
    """Compare the step verdicts of ``judged`` with a reference judge or with labels by trajectory id."""
    result = Calibration()
    for trajectory in judged:
        if isinstance(reference, dict):
            expected = reference.get(trajectory.id)
            if expected is None:
                continue
        else:
            expected = [j.verdict for j in reference.judge(steps_of(trajectory))]
        for judgement, truth in zip(trajectory.step_judgements or [], expected):
            if judgement.verdict == "UNPARSED" or truth == "UNPARSED":
                result.unparsed += 1
            elif judgement.verdict == "GOOD":
                if truth == "GOOD":
                    result.true_positive += 1
                else:
                    result.false_positive += 1
            elif truth == "GOOD":
                result.false_negative += 1
            else:
                result.true_negative += 1
    return result
