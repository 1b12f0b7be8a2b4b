"""Deterministic trajectories over real benchmark rows, rolled out by the real runner
with scripted actions (the embedded model rarely writes valid actions on demand)."""

from __future__ import annotations

from collections import Counter

from scripted_backend import ScriptedBackend

from swirl.records import Task, Trajectory
from swirl.rollout import RolloutSettings, run_rollouts
from swirl.stages.generate import ToolSettings, build_toolsets


def scripted_trajectories(tasks: list[Task], script, num_trajectories: int = 1) -> list[Trajectory]:
    """Roll out with ``script(task, sample_index, step_index) -> action text``."""
    by_question = {f"Question: {t.question.strip()}": t for t in tasks}
    starts: Counter = Counter()

    def reply(conversation):
        task = by_question[conversation[1]["content"]]
        step = sum(1 for m in conversation if m["role"] == "assistant")
        if step == 0:
            starts[task.id] += 1
        return script(task, starts[task.id] - 1, step)

    finished: list[Trajectory] = []
    run_rollouts(
        tasks, ScriptedBackend(reply), build_toolsets(tasks, ToolSettings()),
        RolloutSettings(num_trajectories=num_trajectories, max_live=1), finished.append, model_name="scripted",
    )
    return finished


def gold_action(task: Task, step: int) -> str:
    """The action that follows the gold solution: its next calculation, then the answer."""
    if step < len(task.calculations):
        return f"Next: <math_exp>{task.calculations[step].expression}</math_exp>"
    return f"So <answer>{task.answer}</answer>"


def gold_then_wrong(task: Task, sample: int, step: int) -> str:
    """Sample 0 follows the gold solution; other samples make one wrong call, then answer wrongly."""
    if sample == 0:
        return gold_action(task, step)
    return "<math_exp>1+1</math_exp>" if step == 0 else "<answer>-1</answer>"
