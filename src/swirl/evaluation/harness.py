"""`swirl eval` pipeline: models x benchmarks -> judged trajectories -> metrics with confidence intervals.

The steps, in order:

1. :func:`validate` checks everything that can be wrong with the settings (benchmark
   names, one input file per benchmark, files that load, model references that resolve)
   before any model is loaded or any output is written, and draws the question subset of
   each benchmark (``sample_tasks`` with the seed: the same subset for every model).
2. Each model is loaded on its own, in turn, and answers the questions of all benchmarks
   with the same multi-step runner as ``swirl generate`` (:func:`~swirl.rollout.run_rollouts`):
   one trajectory per question (greedy by default), the default tools of the task type
   (the search index covers every passage of the benchmark file), or no tools for the
   ``no_tools`` ablation.
3. Finished trajectories are graded (outcome judge, and the process judge when one is
   given; both loaded once for the whole run) and appended to ``OUTPUT/trajectories/<label>/<benchmark>.jsonl``. A rerun
   only answers the questions missing from that file.
4. Metrics are computed from those files (so a rerun over complete files recomputes them
   without loading any model), with bootstrap intervals (:mod:`swirl.evaluation.stats`),
   and written by :mod:`swirl.evaluation.outputs`.

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
unanswered question, and is counted in ``failed`` and listed in ``failures``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from swirl import __version__
from swirl.backends import BACKENDS, Backend, make_backend
from swirl.errors import SwirlError
from swirl.evaluation.outputs import write_outputs
from swirl.evaluation.stats import mean_ci, paired_difference_ci
from swirl.generate import ToolSettings, build_toolsets, drop_failed
from swirl.jsonl import JsonlWriter, read_records
from swirl.judges.base import ProcessJudge
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.process import MODES, LLMProcessJudge
from swirl.judges.reference import ReferenceJudge
from swirl.judging import judge_chunk
from swirl.models import ModelRef, parse_model_ref
from swirl.progress import ProgressCallback
from swirl.prompts import PROMPT_VERSION
from swirl.records import ACTION_MAX_TOKENS, SamplingSettings, Task, Trajectory
from swirl.rollout import RolloutSettings, check_resumable, run_rollouts, start_trajectory
from swirl.tasks import BENCHMARK_FORMATS, load_tasks, sample_tasks
from swirl.tools import Tool
from swirl.training.settings import SETTINGS_FILE

BENCHMARKS = tuple(BENCHMARK_FORMATS)
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
COMPARED_METRICS = ("accuracy", "process_score", "invalid_action_rate", "answered_rate", "mean_tool_calls")
REFERENCE_JUDGE = "reference"
CONFIDENCE = 0.95
# Trajectories are graded and written in chunks: one judge call covers many steps, and
# an interruption loses at most this many finished questions.
GRADE_CHUNK = 16


class EvalSettings(BaseModel):
    """Everything ``swirl eval`` needs; the CLI options map one to one onto these fields."""

    model_config = ConfigDict(extra="forbid")

    models: list[str]
    """Model references (``default``, HF directory, ``.gguf``, ``openai:MODEL@URL``); the first is the baseline."""
    labels: list[str] = Field(default_factory=list)
    """Names of the models in tables and paths; empty = derived from the references."""
    benchmarks: list[str]
    """Benchmark names, one of :data:`BENCHMARKS` each (:data:`~swirl.tasks.BENCHMARK_FORMATS` gives its file format)."""
    inputs: list[Path]
    """One task file per benchmark, in the same order."""
    limit: int = Field(0, ge=0)
    """Questions per benchmark, a seeded random subset (0 = all)."""
    seed: int = 0
    output: Path
    backend: str = "auto"
    batch_size: int = Field(32, ge=1)
    max_tokens: int = Field(ACTION_MAX_TOKENS, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    """0 = greedy decoding."""
    max_steps: int = Field(0, ge=0)
    """Step limit of a trajectory (0 = the task type's default, :func:`swirl.prompts.step_limit`)."""
    no_tools: bool = False
    """Ablation: no tools, the model answers directly."""
    judge: str | None = None
    """Process judge for ``process_score``: a model reference or ``reference``; None = no step scores.
    Independent evidence only when it is not the judge whose scores trained the models."""
    judge_mode: str = "score"
    reward_judges: list[str] = Field(default_factory=list)
    """Judges whose scores were the evaluated models' training reward; with those found in each
    model's ``train_settings.json``, checked against ``judge``."""
    grader: str | None = None
    """LLM outcome grader (answer equivalence); None = programmatic correctness."""
    bootstrap: int = Field(1000, ge=1)
    """Bootstrap resamples of each confidence interval."""


@dataclass
class Benchmark:
    """One benchmark of an evaluation: its file, the questions asked and the search corpus."""

    name: str
    input: Path
    tasks: list[Task]
    """The evaluated subset, in file order."""
    corpus: list[Task]
    """Every task of the file: its passages make the search corpus."""


@dataclass
class EvalPlan:
    """Validated settings: resolved model references, labels and the question subsets."""

    settings: EvalSettings
    models: list[ModelRef]
    labels: list[str]
    benchmarks: list[Benchmark]
    reward_judges: list[str]
    """The given reward judges and those recorded next to the evaluated checkpoints."""

    @property
    def judge_warning(self) -> str | None:
        """Set when the process judge also gave the training reward, so its score is no independent evidence."""
        judge = self.settings.judge
        if not judge or not any(same_model(judge, reward) for reward in self.reward_judges):
            return None
        return (
            f"the process judge {judge} also gave the training reward, so process_score is not independent "
            "evidence; give another --judge (eval.judge)"
        )

    def trajectories_path(self, label: str, benchmark: str) -> Path:
        return self.settings.output / "trajectories" / path_name(label) / f"{benchmark}.jsonl"


def path_name(label: str) -> str:
    """A label made safe as a directory name."""
    return re.sub(r"[^\w.+-]+", "_", label).lstrip(".") or "model"


def default_label(ref: ModelRef) -> str:
    """How a model is named when no label is given: its directory, file stem, served name or reference."""
    if ref.kind == "hf":
        return Path(ref.location).name
    if ref.kind == "openai":
        return ref.location
    if ref.text != "default":
        return Path(ref.location).stem
    return ref.text


def validate(settings: EvalSettings) -> EvalPlan:
    """Check the settings and load the question subsets; raise :class:`SwirlError` on any problem.

    Loads no model and writes nothing.
    """
    if not settings.models:
        raise SwirlError("give at least one model to evaluate")
    if not settings.benchmarks:
        raise SwirlError(f"give at least one benchmark: {', '.join(BENCHMARKS)}")
    for name in settings.benchmarks:
        if name not in BENCHMARKS:
            raise SwirlError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    if len(set(settings.benchmarks)) != len(settings.benchmarks):
        raise SwirlError(f"a benchmark is named twice in {', '.join(settings.benchmarks)}")
    if len(settings.inputs) != len(settings.benchmarks):
        raise SwirlError(
            f"{len(settings.benchmarks)} benchmark(s) ({', '.join(settings.benchmarks)}) but "
            f"{len(settings.inputs)} input file(s); give one input file per benchmark, in the same order"
        )
    if settings.backend not in BACKENDS:
        raise SwirlError(f"unknown backend {settings.backend!r}; choose one of {', '.join(BACKENDS)}")
    if settings.judge_mode not in MODES:
        raise SwirlError(f"unknown judge mode {settings.judge_mode!r}; choose one of {', '.join(MODES)}")
    refs = [parse_model_ref(model) for model in settings.models]
    if settings.judge and settings.judge != REFERENCE_JUDGE:
        parse_model_ref(settings.judge)
    if settings.grader:
        parse_model_ref(settings.grader)
    labels = _labels(settings.labels, refs)
    recorded = [judge for ref in refs if (judge := recorded_reward_judge(ref))]
    reward_judges = list(dict.fromkeys([*settings.reward_judges, *recorded]))
    benchmarks = []
    for name, path in zip(settings.benchmarks, settings.inputs):
        corpus = load_tasks(path, BENCHMARK_FORMATS[name])
        for task in corpus:
            # Finished trajectories find their benchmark by their task's source (see _run_model).
            task.source = name
        benchmarks.append(Benchmark(name, path, sample_tasks(corpus, settings.limit or None, settings.seed), corpus))
    return EvalPlan(settings, refs, labels, benchmarks, reward_judges)


def recorded_reward_judge(ref: ModelRef) -> str | None:
    """The reward judge in the ``train_settings.json`` that ``swirl train`` wrote beside (or above) a checkpoint."""
    if ref.kind != "hf":
        return None
    for directory in (Path(ref.location), Path(ref.location).parent):
        path = directory / SETTINGS_FILE
        if path.is_file():
            try:
                judge = json.loads(path.read_text(encoding="utf-8")).get("judge")
            except (OSError, ValueError, AttributeError):
                return None
            return judge if isinstance(judge, str) else None
    return None


def same_model(first: str, second: str) -> bool:
    """Whether two judge references name the same model (the same file, directory or served model)."""
    if REFERENCE_JUDGE in (first, second):
        return first == second
    try:
        a, b = parse_model_ref(first), parse_model_ref(second)
    except SwirlError:
        return first.strip() == second.strip()
    return (a.kind, a.location) == (b.kind, b.location)


def _labels(given: list[str], refs: list[ModelRef]) -> list[str]:
    if given and len(given) != len(refs):
        raise SwirlError(f"{len(given)} label(s) for {len(refs)} model(s); give one label per model, or none")
    labels = given or [default_label(ref) for ref in refs]
    seen: dict[str, str] = {}
    for label in labels:
        if path_name(label) in seen:
            raise SwirlError(
                f"two models are both named {seen[path_name(label)]!r}"
                + ("" if given else "; name them with one label per model")
            )
        seen[path_name(label)] = label
    return labels


def evaluate(
    settings: EvalSettings,
    *,
    open_backend: Callable[[str], Backend] | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict:
    """Run the whole evaluation and write its outputs; return the content of ``metrics.json``.

    ``open_backend`` turns a model reference into a backend (default: :func:`make_backend`
    with the settings' engine and batch size); tests pass scripted backends through it.
    """
    plan = validate(settings)
    if open_backend is None:

        def open_backend(reference: str) -> Backend:
            return make_backend(reference, settings.backend, batch_size=settings.batch_size)

    rollout = rollout_settings(settings)
    toolsets = {b.name: _toolset(b, settings.no_tools) for b in plan.benchmarks}
    # The judge and the grader stay loaded for the whole run, once each even when they are one model.
    graders: dict[str, Backend] = {}

    def open_grader(reference: str) -> Backend:
        if reference not in graders:
            graders[reference] = open_backend(reference)
        return graders[reference]

    try:
        outcome_judge = OutcomeJudge(open_grader(settings.grader) if settings.grader else None)
        process_judges = _process_judges(plan, open_grader)
        for ref, label in zip(plan.models, plan.labels):
            _run_model(plan, ref, label, open_backend, rollout, toolsets, process_judges, outcome_judge, on_progress)
    finally:
        for backend in graders.values():
            backend.close()
    result = summarize(plan)
    write_outputs(result, settings.output)
    return result


def rollout_settings(settings: EvalSettings) -> RolloutSettings:
    return RolloutSettings(
        num_trajectories=1,
        max_steps=settings.max_steps,
        sampling=SamplingSettings(temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed),
    )


def _toolset(benchmark: Benchmark, no_tools: bool) -> Callable[[Task], Sequence[Tool]]:
    if no_tools:
        # build_toolsets reads an empty tool list as "the defaults", so the ablation bypasses it.
        return lambda task: []
    return build_toolsets(benchmark.tasks, ToolSettings(), corpus_tasks=benchmark.corpus)


def _process_judges(plan: EvalPlan, open_backend: Callable[[str], Backend]) -> dict[str, ProcessJudge | None]:
    """The process judge of each benchmark: one LLM judge for all, or a reference judge per corpus."""
    judge = plan.settings.judge
    if not judge:
        return {b.name: None for b in plan.benchmarks}
    if judge == REFERENCE_JUDGE:
        return {b.name: ReferenceJudge.for_tasks(b.corpus) for b in plan.benchmarks}
    llm_judge = LLMProcessJudge(open_backend(judge), mode=plan.settings.judge_mode, name=judge, seed=plan.settings.seed)
    return {b.name: llm_judge for b in plan.benchmarks}


def _run_model(
    plan: EvalPlan,
    ref: ModelRef,
    label: str,
    open_backend: Callable[[str], Backend],
    rollout: RolloutSettings,
    toolsets: dict[str, Callable[[Task], Sequence[Tool]]],
    process_judges: dict[str, ProcessJudge | None],
    outcome_judge: OutcomeJudge,
    on_progress: ProgressCallback | None,
) -> None:
    """Answer the questions of every benchmark missing from the model's trajectory files.

    The questions of all benchmarks share one rollout pool, so each backend call batches
    as many of them as possible; a finished trajectory goes to its benchmark (its task's
    ``source``, which :func:`validate` sets to the benchmark name).
    """
    todo: dict[str, list[Task]] = {}
    for benchmark in plan.benchmarks:
        path = plan.trajectories_path(label, benchmark.name)
        existing = read_records(path, Trajectory) if path.exists() else []
        tools_for = toolsets[benchmark.name]
        check_resumable(existing, lambda task: start_trajectory(task, 0, tools_for(task), rollout, ref.name), path)
        judge = process_judges[benchmark.name]
        _check_graders(existing, outcome_judge.name, judge.name if judge else None, path)
        done = {t.task.id for t in drop_failed(path, existing)}
        todo[benchmark.name] = [task for task in benchmark.tasks if task.id not in done]
    totals = {b.name: len(b.tasks) for b in plan.benchmarks}
    done_counts = {name: totals[name] - len(tasks) for name, tasks in todo.items()}
    if on_progress:
        for name, count in done_counts.items():
            on_progress(f"{label}/{name}", count, totals[name])
    if not any(todo.values()):
        return
    pending: dict[str, list[Trajectory]] = {name: [] for name in todo}

    def grade(name: str) -> None:
        with JsonlWriter(plan.trajectories_path(label, name)) as writer:
            for judged in judge_chunk(pending[name], process_judges[name], outcome_judge):
                writer.write(judged)
        pending[name] = []

    def on_finished(trajectory: Trajectory) -> None:
        name = trajectory.task.source
        pending[name].append(trajectory)
        if len(pending[name]) >= GRADE_CHUNK:
            grade(name)
        done_counts[name] += 1
        if on_progress:
            on_progress(f"{label}/{name}", done_counts[name], totals[name])

    backend = open_backend(ref.text)
    try:
        run_rollouts(
            [task for tasks in todo.values() for task in tasks], backend,
            lambda task: toolsets[task.source](task), rollout, on_finished, model_name=ref.name,
        )
    finally:
        backend.close()
    for name, trajectories in pending.items():
        if trajectories:
            grade(name)


def _check_graders(existing: list[Trajectory], grader: str, judge: str | None, path: Path) -> None:
    """Refuse to mix questions graded by other judges or graders in one trajectory file."""
    for trajectory in existing:
        judges = {j.judge for j in trajectory.step_judgements or []}
        same = (
            trajectory.outcome is not None
            and trajectory.outcome.grader == grader
            and (trajectory.step_judgements is None) == (judge is None)
            and judges <= {judge}
        )
        if not same:
            raise SwirlError(
                f"{path} holds questions graded by another judge or grader; use another --output or remove the file"
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
        "comparisons": _comparisons(plan, per_question),
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


def _comparisons(plan: EvalPlan, per_question: dict[str, dict[str, dict[str, dict[str, float]]]]) -> list[dict]:
    """Paired differences (model - first model) per benchmark, over the questions both have a value for."""
    baseline = plan.labels[0]
    comparisons = []
    for label in plan.labels[1:]:
        for benchmark in plan.benchmarks:
            ours, theirs = per_question[label][benchmark.name], per_question[baseline][benchmark.name]
            for metric in COMPARED_METRICS:
                ids = [t.id for t in benchmark.tasks if metric in ours[t.id] and metric in theirs[t.id]]
                if not ids:
                    continue
                difference, low, high = paired_difference_ci(
                    [ours[i][metric] for i in ids], [theirs[i][metric] for i in ids],
                    plan.settings.bootstrap, plan.settings.seed, 1 - CONFIDENCE,
                )
                comparisons.append(
                    {
                        "model": label,
                        "baseline": baseline,
                        "benchmark": benchmark.name,
                        "metric": metric,
                        "difference": difference,
                        "low": low,
                        "high": high,
                        "n": len(ids),
                    }
                )
    return comparisons
