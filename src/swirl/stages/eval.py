"""Stage 6, eval: models x benchmarks -> judged trajectories -> metrics with confidence intervals.

:class:`~swirl.evaluation.plan.EvalSettings` is the stage's settings (its knobs,
:class:`~swirl.evaluation.plan.EvalOptions`, are `swirl run`'s ``eval`` section);
:func:`evaluate` is what `swirl eval` and `swirl run` call. Its jobs, in order:

1. plan (:mod:`swirl.evaluation.plan`): check the settings, load the question subsets.
2. run (here): each model is loaded on its own, in turn, and answers the questions of all
   benchmarks with the same multi-step runner as ``swirl generate``
   (:func:`~swirl.rollout.run_rollouts`): one trajectory per question (greedy by default),
   the default tools of the task type (the search index covers every passage of the
   benchmark file), or no tools for the ``no_tools`` ablation. Finished trajectories are
   graded (outcome judge, and the process judge when one is given; both loaded once for
   the whole run) and appended to ``OUTPUT/trajectories/<label>/<benchmark>.jsonl``. A
   rerun only answers the questions missing from that file.
3. grade and measure (:mod:`swirl.evaluation.metrics`), 4. compare
   (:mod:`swirl.evaluation.compare`), then the files (:mod:`swirl.evaluation.outputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from swirl.backends import Backend, make_backend
from swirl.errors import SwirlError
from swirl.evaluation.metrics import summarize
from swirl.evaluation.outputs import write_outputs
from swirl.evaluation.plan import REFERENCE_JUDGE, Benchmark, EvalPlan, EvalSettings, validate
from swirl.jsonl import JsonlWriter, read_records
from swirl.judges.base import ProcessJudge
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.process import LLMProcessJudge
from swirl.judges.reference import ReferenceJudge
from swirl.models import ModelRef
from swirl.progress import ProgressCallback, counter
from swirl.records import SamplingSettings, Task, Trajectory
from swirl.rollout import RolloutSettings, check_resumable, run_rollouts, start_trajectory
from swirl.stages.generate import ToolSettings, build_toolsets, drop_failed
from swirl.stages.judge import judge_chunk
from swirl.tools import Tool

# Trajectories are graded and written in chunks: one judge call covers many steps, and
# an interruption loses at most this many finished questions.
GRADE_CHUNK = 16


def evaluate(
    settings: EvalSettings,
    *,
    open_backend: Callable[[str], Backend] | None = None,
    on_progress: ProgressCallback | None = None,
    progress_prefix: str = "",
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
            _run_model(plan, ref, label, open_backend, rollout, toolsets, process_judges, outcome_judge, on_progress,
                       progress_prefix)
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
    progress_prefix: str,
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
    advance = {
        b.name: counter(on_progress, f"{progress_prefix}{label}/{b.name}", len(b.tasks), len(b.tasks) - len(todo[b.name]))
        for b in plan.benchmarks
    }
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
        advance[name](1)

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
