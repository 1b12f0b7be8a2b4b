"""The step reward R(a|s) for TRL: a process judge scoring freshly sampled actions.

TRL calls the reward function with the states (``prompts``), the sampled actions
(``completions``) and the dataset's other columns; the ``task`` column (JSON) gives
the judge its question, and ``tool_tags`` the tools the policy had in that state. No tool
runs during training: the judge scores the action in the logged state, as in the paper.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from swirl.actions import action_stop_strings
from swirl.backends.base import cut_at_stop
from swirl.judges.base import ProcessJudge, StepToJudge
from swirl.records import Task


def cut_action(text: str, stops: Sequence[str]) -> str:
    """The action as generation would have cut it: up to and including the first closing tag."""
    kept, stop = cut_at_stop(text, tuple(stops))
    return kept + (stop or "")


def completion_text(completion: Any) -> str:
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")
    return str(completion)


def row_steps(tasks: Iterable[Task], tool_tags: Iterable[str | None]) -> list[StepToJudge]:
    """One empty step per dataset row, carrying the row's tools (a row without ``tool_tags``: the defaults)."""
    return [StepToJudge(task, [], "", json.loads(tags) if tags else None) for task, tags in zip(tasks, tool_tags)]


def action_stops(steps: Iterable[StepToJudge]) -> tuple[str, ...]:
    """Closing tags that end a sampled action in any of these rows, as rollouts stop at them."""
    tags: dict[str, str] = {}
    for step in steps:
        tags.update(step.action_tags())
    return action_stop_strings(tags)


class StepReward:
    """A TRL reward function backed by a :class:`ProcessJudge`."""

    def __init__(self, judge: ProcessJudge) -> None:
        self.judge = judge
        self.__name__ = "process_judge"

    def __call__(
        self, prompts: list, completions: list, task: list[str], tool_tags: list[str | None] | None = None, **_: Any
    ) -> list[float]:
        rows = row_steps((Task.model_validate_json(t) for t in task), tool_tags or [None] * len(task))
        steps = [
            StepToJudge(row.task, list(state), cut_action(completion_text(completion), action_stops([row])), row.tool_tags)
            for row, state, completion in zip(rows, prompts, completions)
        ]
        return [judgement.score for judgement in self.judge.judge(steps)]
