"""The step reward R(a|s) for TRL: a process judge scoring freshly sampled actions.

TRL calls the reward function with the states (``prompts``), the sampled actions
(``completions``) and the dataset's other columns; the ``task`` column (JSON) gives
the judge its question, ``tool_tags`` the tools the policy had in that state and
``search`` (JSON) the search it had. No tool runs during training: the judge scores the
action in the logged state, as in the paper (the reference judge re-runs the policy's
search itself).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from swirl.actions import action_stop_strings
from swirl.backends.base import cut_at_stop
from swirl.judges.base import ProcessJudge, StepToJudge
from swirl.records import SearchSettings, Task


def cut_action(text: str, stops: Sequence[str]) -> str:
    """The action as generation would have cut it: up to and including the first closing tag."""
    kept, stop = cut_at_stop(text, tuple(stops))
    return kept + (stop or "")


def completion_text(completion: Any) -> str:
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")
    return str(completion)


def row_steps(
    tasks: Iterable[Task], tool_tags: Iterable[str | None], searches: Iterable[str] | None = None
) -> list[StepToJudge]:
    """One empty step per dataset row, carrying the row's tools and search.

    A row without ``tool_tags`` has the task type's default tools; one without ``search``
    the judge's default search.
    """
    return [
        StepToJudge(
            task, [], "",
            search=SearchSettings.model_validate_json(search) if search else None,
            tool_tags=json.loads(tags) if tags else None,
        )
        for task, tags, search in zip(tasks, tool_tags, searches or itertools.repeat(""))
    ]


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
        self,
        prompts: list,
        completions: list,
        task: list[str],
        tool_tags: list[str | None] | None = None,
        search: list[str] | None = None,
        **_: Any,
    ) -> list[float]:
        rows = row_steps(
            (Task.model_validate_json(t) for t in task), tool_tags or [None] * len(task), search or [""] * len(task)
        )
        steps = [
            replace(row, state=list(state), action_text=cut_action(completion_text(completion), action_stops([row])))
            for row, state, completion in zip(rows, prompts, completions)
        ]
        return [judgement.score for judgement in self.judge.judge(steps)]
