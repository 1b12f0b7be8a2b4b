"""Stage 1, generate: tasks + policy model + tools -> trajectories.jsonl.

:class:`GenerateSettings` is the stage's settings: the options of `swirl generate` and
the ``generate`` section of `swirl run`; :func:`run` is what both call. It builds the
tools of each task type once (the search index over the split's own passages, or a user
corpus), then streams finished trajectories into an append-only
JSONL file. Rerunning with the same output file resumes: trajectories already there
are skipped, a torn last line is cut off, and nothing is duplicated; trajectories that
ended in a backend error are generated again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from swirl.backends.base import Backend
from swirl.errors import SwirlError
from swirl.jsonl import JsonlWriter, read_records, write_atomically
from swirl.progress import ProgressCallback, counter
from swirl.prompts import DEFAULT_STEP_LIMITS, default_tools
from swirl.records import SamplingSettings, Task, Trajectory
from swirl.rollout import (
    RolloutSettings,
    check_resumable,
    run_rollouts,
    start_trajectory,
    trajectory_id,
)
from swirl.tools import Tool, build_tool

RENAMED_STEP_KEYS = ("max_steps_math", "max_steps_qa")
"""Keys of earlier experiment files, refused with a pointer to ``max_steps``."""
_SAMPLING = SamplingSettings()


class GenerateSettings(BaseModel):
    """How trajectories are sampled: `swirl generate`'s options and `swirl run`'s ``generate`` section."""

    model_config = ConfigDict(extra="forbid")

    num_trajectories: int = Field(1, ge=1)
    """Trajectories per question."""
    max_steps: int = Field(0, ge=0)
    """Step limit of a trajectory (0 = the task type's default, :func:`swirl.prompts.step_limit`)."""
    # The sampling defaults are those a trajectory records (SamplingSettings), written once there.
    temperature: float = Field(_SAMPLING.temperature, ge=0)
    top_p: float = Field(_SAMPLING.top_p, gt=0, le=1)
    max_tokens: int = Field(_SAMPLING.max_tokens, ge=1)
    """Token limit of one action."""
    tools: list[str] = Field(default_factory=list)
    """Tool names or ``module:attr`` specs for every task; empty = defaults per task type."""
    corpus: Path | None = None
    """Search corpus JSONL of {title, text}; None = the split's own passages."""
    search_top_k: int = Field(1, ge=1)
    """Passages returned per search."""

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        old = [key for key in RENAMED_STEP_KEYS if isinstance(data, dict) and key in data]
        if old:
            raise ValueError(f"{old[0]} is replaced by max_steps (one limit for every task type; 0 = {DEFAULT_STEP_LIMITS})")
        return data

    def rollout(self, seed: int, max_live: int = RolloutSettings.max_live) -> RolloutSettings:
        sampling = SamplingSettings(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, seed=seed)
        return RolloutSettings(
            num_trajectories=self.num_trajectories, max_steps=self.max_steps, sampling=sampling, max_live=max_live
        )

    def tool_settings(self) -> ToolSettings:
        return ToolSettings(tools=self.tools, corpus=self.corpus, search_top_k=self.search_top_k)


@dataclass
class ToolSettings:
    """The tools of a run (see :class:`GenerateSettings` for the fields); evaluation uses the defaults."""

    tools: list[str] = field(default_factory=list)
    corpus: Path | None = None
    search_top_k: int = GenerateSettings.model_fields["search_top_k"].default
    search_chars: int = 600


def build_toolsets(
    tasks: Sequence[Task], settings: ToolSettings, corpus_tasks: Sequence[Task] | None = None
) -> Callable[[Task], list[Tool]]:
    """Instantiate the tools once and return the lookup of a task's tools.

    Search indexes ``corpus_tasks`` (the whole split, even when only some of its
    questions are run), falling back to ``tasks``.
    """
    built: dict[str, Tool] = {}

    def get(name: str) -> Tool:
        if name not in built:
            built[name] = build_tool(
                name,
                tasks=corpus_tasks or tasks,
                corpus_path=settings.corpus,
                top_k=settings.search_top_k,
                max_chars=settings.search_chars,
            )
        return built[name]

    by_type = {
        task_type: [get(n) for n in (settings.tools or default_tools(task_type))]
        for task_type in sorted({t.task_type for t in tasks})
    }
    return lambda task: by_type[task.task_type]


def existing_trajectories(output: Path) -> list[Trajectory]:
    return read_records(output, Trajectory) if output.exists() else []


def is_data(trajectory: Trajectory) -> bool:
    """A trajectory cut short by a backend error (server down, timeouts) says nothing about
    the model: it is regenerated on the next run instead of counting as done."""
    return trajectory.termination != "error"


def drop_failed(output: Path, existing: list[Trajectory]) -> list[Trajectory]:
    """Rewrite ``output`` without its backend-error trajectories (atomically); return the rest."""
    kept = [t for t in existing if is_data(t)]
    if len(kept) < len(existing):
        write_atomically(output, (t.model_dump_json() + "\n" for t in kept))
    return kept


@dataclass
class GenerateSummary:
    written: int = 0
    skipped: int = 0
    regenerated: int = 0
    """Trajectories of an earlier run that had ended in a backend error, generated again."""
    seconds: float = 0.0
    terminations: dict[str, int] = field(default_factory=dict)


def generate_trajectories(
    tasks: Sequence[Task],
    backend: Backend,
    settings: RolloutSettings,
    tool_settings: ToolSettings,
    output: Path,
    *,
    model_name: str,
    corpus_tasks: Sequence[Task] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> GenerateSummary:
    existing = existing_trajectories(output)
    task_types = {task.task_type for task in tasks}
    foreign = next((t for t in existing if t.task.task_type not in task_types), None)
    if foreign is not None:
        raise SwirlError(
            f"{output} holds {foreign.task.task_type} trajectories ({foreign.id}) but this run has only "
            f"{', '.join(sorted(task_types))} tasks; use another --output or remove the file"
        )
    tools_for = build_toolsets(tasks, tool_settings, corpus_tasks)
    check_resumable(existing, lambda task: start_trajectory(task, 0, tools_for(task), settings, model_name), output)
    kept = drop_failed(output, existing)
    done = {t.id for t in kept}
    expected = {trajectory_id(task, k) for task in tasks for k in range(settings.num_trajectories)}
    summary = GenerateSummary(skipped=len(done & expected), regenerated=len(existing) - len(kept))
    started = time.perf_counter()
    with JsonlWriter(output) as writer:

        def finished(trajectory: Trajectory) -> None:
            writer.write(trajectory)
            summary.written += 1
            summary.terminations[trajectory.termination] = summary.terminations.get(trajectory.termination, 0) + 1
            if on_progress:
                on_progress(1)

        run_rollouts(tasks, backend, tools_for, settings, finished, model_name=model_name, skip_ids=done)
    summary.seconds = time.perf_counter() - started
    return summary


def run(
    settings: GenerateSettings,
    tasks: Sequence[Task],
    corpus_tasks: Sequence[Task],
    backend: Backend,
    output: Path,
    *,
    model_name: str,
    seed: int,
    progress: ProgressCallback | None = None,
    progress_name: str = "trajectories",
    max_live: int = RolloutSettings.max_live,
) -> GenerateSummary:
    """The stage as `swirl generate` and `swirl run` call it: roll out ``tasks`` into ``output`` (resuming)."""
    total = len(tasks) * settings.num_trajectories
    done = len({t.id for t in existing_trajectories(output) if is_data(t)})
    return generate_trajectories(
        tasks, backend, settings.rollout(seed, max_live), settings.tool_settings(), output,
        model_name=model_name, corpus_tasks=corpus_tasks, on_progress=counter(progress, progress_name, total, min(done, total)),
    )
