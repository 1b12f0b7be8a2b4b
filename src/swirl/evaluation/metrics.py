"""Evaluation, job 3 (grade and measure): judged trajectory files -> ``metrics.json``.

Per-question metrics, each averaged over the questions of a benchmark:

* ``accuracy``: the outcome judge's ``correct`` (the LLM grader's verdict when a grader
  is given, else the programmatic check).
* ``programmatic_accuracy``: numeric match for math, exact match for QA, whatever the grader.
* ``exact_match`` (both task types) and ``f1`` (QA only): SQuAD/HotpotQA answer metrics.
* ``process_score`` (only with a process judge): the mean step score of the question's
  trajectory; questions without any step are left out. It is independent evidence only
  when the judge is not the one whose scores trained the models (``reward_judges``, and
  the ``train_settings.json`` beside a checkpoint): ``judges`` in ``metrics.json`` says
  who graded what and warns otherwise.
* ``answered_rate``: 1 when the trajectory ended with an answer.
* ``mean_steps`` and ``mean_tool_calls``: actions and tool calls of the trajectory.
* ``invalid_action_rate``: the fraction of the trajectory's actions that were invalid
  (no tool call or answer, or a malformed one), averaged over questions, so every
  question weighs the same however many actions it took; questions without any action
  are left out.

A question whose inference failed (termination ``error``) stays in every metric, as an
unanswered question, and is counted in ``failed`` and listed in ``failures``. Metrics are
computed from the files alone, so a rerun over complete files loads no model.
"""

from __future__ import annotations

from swirl import __version__
from swirl.errors import SwirlError
from swirl.evaluation.compare import CONFIDENCE, comparisons
from swirl.evaluation.plan import REFERENCE_JUDGE, EvalPlan, EvalSettings
from swirl.evaluation.stats import mean_ci
from swirl.jsonl import read_records
from swirl.prompts import PROMPT_VERSION
from swirl.records import Trajectory

METRICS = (
    "accuracy",
    "programmatic_accuracy",
    "exact_match",
    "f1",
    "process_score",
    "answered_rate",
    "mean_steps",
    "mean_tool_calls",
    "invalid_action_rate",
)


def question_metrics(trajectory: Trajectory) -> dict[str, float]:
    """The per-question values of every metric that applies to this judged trajectory (see module doc)."""
    outcome = trajectory.outcome
    if outcome is None:
        raise SwirlError(f"trajectory {trajectory.id} has no outcome judgement")
    is_math = trajectory.task.task_type == "math"
    kinds = [step.action.kind for step in trajectory.steps]
    values = {
        "accuracy": float(outcome.correct),
        "programmatic_accuracy": float(bool(outcome.numeric_match) if is_math else outcome.exact_match == 1.0),
        "exact_match": outcome.exact_match,
        "answered_rate": float(trajectory.termination == "answered"),
        "mean_steps": float(len(kinds)),
        "mean_tool_calls": float(kinds.count("tool")),
    }
    if not is_math:
        values["f1"] = outcome.f1
    if kinds:
        values["invalid_action_rate"] = kinds.count("invalid") / len(kinds)
    if trajectory.step_judgements:
        values["process_score"] = sum(j.score for j in trajectory.step_judgements) / len(trajectory.step_judgements)
    return values


def _interval(values: list[float], settings: EvalSettings) -> dict[str, float | int]:
    mean, low, high = mean_ci(values, settings.bootstrap, settings.seed, 1 - CONFIDENCE)
    return {"mean": mean, "low": low, "high": high, "n": len(values)}


def summarize(plan: EvalPlan) -> dict:
    """Metrics, intervals and paired comparisons from the trajectory files: the content of ``metrics.json``."""
    settings = plan.settings
    per_question: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    results: dict[str, dict[str, dict]] = {}
    for label in plan.labels:
        per_question[label], results[label] = {}, {}
        for benchmark in plan.benchmarks:
            path = plan.trajectories_path(label, benchmark.name)
            by_task = {t.task.id: t for t in read_records(path, Trajectory)} if path.exists() else {}
            missing = [task.id for task in benchmark.tasks if task.id not in by_task]
            if missing:
                raise SwirlError(f"{path} lacks {len(missing)} evaluated question(s), e.g. {missing[0]}; rerun to complete it")
            trajectories = [by_task[task.id] for task in benchmark.tasks]
            values = {t.task.id: question_metrics(t) for t in trajectories}
            per_question[label][benchmark.name] = values
            failures = [{"id": t.task.id, "error": t.error or ""} for t in trajectories if t.termination == "error"]
            metrics = {}
            for metric in METRICS:
                column = [v[metric] for v in values.values() if metric in v]
                if column:
                    metrics[metric] = _interval(column, settings)
            results[label][benchmark.name] = {
                "n": len(trajectories),
                "failed": len(failures),
                "failures": failures,
                "metrics": metrics,
            }
    return {
        "swirl_version": __version__,
        "prompt_version": PROMPT_VERSION,
        "settings": settings.model_dump(mode="json"),
        "judges": graded_by(plan),
        "confidence": CONFIDENCE,
        "bootstrap": {"method": "percentile", "resamples": settings.bootstrap, "seed": settings.seed},
        "models": [
            {
                "label": label,
                "reference": ref.text,
                "trajectories": {
                    b.name: plan.trajectories_path(label, b.name).relative_to(settings.output).as_posix()
                    for b in plan.benchmarks
                },
            }
            for ref, label in zip(plan.models, plan.labels)
        ],
        "benchmarks": [
            {"name": b.name, "input": str(b.input), "questions": len(b.tasks), "task_ids": [t.id for t in b.tasks]}
            for b in plan.benchmarks
        ],
        "results": results,
        "comparisons": comparisons(plan, per_question),
    }


def graded_by(plan: EvalPlan) -> dict:
    """Which judge produced which metric, the models' training-reward judges, and any warning."""
    settings = plan.settings
    process = None
    if settings.judge:
        process = settings.judge if settings.judge == REFERENCE_JUDGE else f"{settings.judge} ({settings.judge_mode} mode)"
    return {
        "accuracy": f"LLM grader {settings.grader}" if settings.grader else "programmatic",
        "programmatic_accuracy": "programmatic",
        "process_score": process,
        "training_reward": plan.reward_judges,
        "warnings": [plan.judge_warning] if plan.judge_warning else [],
    }
