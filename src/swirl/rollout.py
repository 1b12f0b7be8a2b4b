"""Stage 1 runner: multi-step tool-use rollouts, N trajectories per task.

Every live trajectory advances one action per round, and all of them are sent to the
backend as one batch (the backend chunks it), so batched engines stay busy. The pool
of live trajectories is refilled as others finish, and each finished trajectory is
handed to ``on_finished`` at once, so an interrupted run loses only the trajectories
in flight.

A rerun adds to an output file only when every trajectory already in it was rolled out
with the same settings (:func:`check_resumable`, shared by ``generate`` and ``eval``).

One round for one trajectory:
  state messages -> backend continuation (stops at a closing tag) -> parse the action
  -> tool call: run the tool, append its result | answer: finish | invalid: feedback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from swirl.actions import action_stop_strings, parse_action
from swirl.backends.base import Backend, Completion, GenerationRequest
from swirl.errors import SwirlError
from swirl.prompts import PROMPT_VERSION, build_messages, format_invalid_feedback, format_observation, step_limit
from swirl.records import SamplingSettings, Step, Task, Trajectory, utc_now
from swirl.tools import SearchTool, Tool, run_tool


@dataclass
class RolloutSettings:
    num_trajectories: int = 1
    max_steps: int = 0
    """Step limit of every trajectory; 0 = the task type's default (:func:`swirl.prompts.step_limit`)."""
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    max_consecutive_invalid: int = 2
    """End a trajectory after this many invalid actions in a row (it is not getting anywhere)."""
    observation_chars: int = 1500
    max_live: int = 256
    """Trajectories in flight at once; bounds memory and the work lost to an interruption."""


def trajectory_id(task: Task, sample_index: int) -> str:
    return f"{task.id}#{sample_index}"


class _Live:
    """A trajectory being built, with the tools of its task."""

    def __init__(self, trajectory: Trajectory, tools: Sequence[Tool]) -> None:
        self.trajectory = trajectory
        self.tools_by_name = {tool.name: tool for tool in tools}
        self.tool_tags = {tool.tag: tool.name for tool in tools}
        self.invalid_in_a_row = 0

    def conversation(self) -> list[dict[str, str]]:
        return self.trajectory.all_messages()


def start_trajectory(
    task: Task, sample_index: int, tools: Sequence[Tool], settings: RolloutSettings, model_name: str
) -> Trajectory:
    max_steps = step_limit(task.task_type, settings.max_steps)
    return Trajectory(
        id=trajectory_id(task, sample_index),
        task=task,
        sample_index=sample_index,
        messages=build_messages(task, tools, max_steps),
        model=model_name,
        sampling=settings.sampling,
        prompt_version=PROMPT_VERSION,
        max_steps=max_steps,
        tools=[tool.name for tool in tools],
        search=next((tool.settings for tool in tools if isinstance(tool, SearchTool)), None),
        tool_tags={tool.tag: tool.name for tool in tools},
    )


def check_resumable(existing: Iterable[Trajectory], expected: Callable[[Task], Trajectory], path: Path) -> None:
    """Refuse to add to ``path`` unless every trajectory in it was rolled out as ``expected`` would be.

    ``expected(task)`` is the trajectory this run would start for the task; every setting
    that shapes a trajectory (:meth:`Trajectory.rollout_settings`) must match, record by record.
    Those settings depend on a task only through its type, so ``expected`` runs once per type.
    """
    by_type: dict[str, dict] = {}
    for trajectory in existing:
        task = trajectory.task
        if task.task_type not in by_type:
            by_type[task.task_type] = expected(task).rollout_settings()
        ours = by_type[task.task_type]
        theirs = trajectory.rollout_settings()
        different = [key for key in ours if ours[key] != theirs[key]]
        if different:
            raise SwirlError(
                f"{path} holds trajectories rolled out with other settings ({', '.join(different)} of "
                f"{trajectory.id} differ); use another output or remove the file"
            )


def advance(live: _Live, completion: Completion, seconds: float, settings: RolloutSettings) -> bool:
    """Apply one model continuation to a trajectory; return True when it has finished."""
    trajectory = live.trajectory
    if completion.finish_reason == "error":
        trajectory.termination = "error"
        trajectory.error = completion.error or "backend error"
        return True
    action_text = completion.text + (completion.stop or "")
    action = parse_action(action_text, live.tool_tags)
    step = Step(
        index=len(trajectory.steps),
        action_text=action_text,
        action=action,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        seconds=round(seconds, 4),
    )
    trajectory.steps.append(step)
    if action.kind == "answer":
        trajectory.final_answer = action.answer
        trajectory.termination = "answered"
        return True
    if action.kind == "tool":
        live.invalid_in_a_row = 0
        tool = live.tools_by_name[action.tool or ""]
        result, _ok = run_tool(tool, action.query or "")
        step.observation = format_observation(
            tool.name, result, max_chars=settings.observation_chars, tags=live.tool_tags
        )
    else:
        live.invalid_in_a_row += 1
        step.observation = format_invalid_feedback(action.problem or "no valid action")
        if live.invalid_in_a_row >= settings.max_consecutive_invalid:
            trajectory.termination = "invalid"
            return True
    if len(trajectory.steps) >= trajectory.max_steps:
        trajectory.termination = "max_steps"
        return True
    return False


def run_rollouts(
    tasks: Iterable[Task],
    backend: Backend,
    tools_for: Callable[[Task], Sequence[Tool]],
    settings: RolloutSettings,
    on_finished: Callable[[Trajectory], None],
    *,
    model_name: str,
    skip_ids: set[str] | None = None,
    on_round: Callable[[int], None] | None = None,
) -> None:
    """Roll out ``settings.num_trajectories`` trajectories per task, skipping ``skip_ids``.

    ``on_round`` receives the number of live trajectories after each backend call (for
    progress displays).
    """
    skip_ids = skip_ids or set()
    pending = (
        (task, k)
        for task in tasks
        for k in range(settings.num_trajectories)
        if trajectory_id(task, k) not in skip_ids
    )
    live: list[_Live] = []
    round_index = 0
    while True:
        while len(live) < settings.max_live:
            item = next(pending, None)
            if item is None:
                break
            task, k = item
            tools = tools_for(task)
            live.append(_Live(start_trajectory(task, k, tools, settings, model_name), tools))
        if not live:
            return
        stops = tuple(sorted({stop for item in live for stop in action_stop_strings(item.tool_tags)}))
        request = GenerationRequest(
            max_tokens=settings.sampling.max_tokens,
            temperature=settings.sampling.temperature,
            top_p=settings.sampling.top_p,
            stop=stops,
            seed=settings.sampling.seed + round_index,
        )
        started = time.perf_counter()
        completions = backend.generate([item.conversation() for item in live], request)
        seconds = time.perf_counter() - started
        round_index += 1
        still_live = []
        for item, completion in zip(live, completions):
            if advance(item, completion, seconds, settings):
                item.trajectory.finished_at = utc_now()
                on_finished(item.trajectory)
            else:
                still_live.append(item)
        live = still_live
        if on_round:
            on_round(len(live))
