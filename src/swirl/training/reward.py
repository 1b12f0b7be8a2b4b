"""The step reward R(a|s) for TRL: a process judge scoring freshly sampled actions.

TRL calls the reward function with the states (``prompts``), the sampled actions
(``completions``) and the dataset's other columns; the ``task`` column (JSON) gives
the judge its question and the ``search`` column (JSON) the search its policy had. No
tool runs during training: the judge scores the action in the logged state, as in the
paper (the reference judge re-runs the policy's search itself).
"""

from __future__ import annotations

from typing import Any

from swirl.actions import ANSWER_TAG
from swirl.backends.base import cut_at_stop
from swirl.judges.base import ProcessJudge, StepToJudge
from swirl.records import SearchSettings, Task

DEFAULT_STOPS = ("</math_exp>", "</search_query>", f"</{ANSWER_TAG}>")


def cut_action(text: str, stops: tuple[str, ...] = DEFAULT_STOPS) -> str:
    """The action as generation would have cut it: up to and including the first closing tag."""
    kept, stop = cut_at_stop(text, stops)
    return kept + (stop or "")


def completion_text(completion: Any) -> str:
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")
    return str(completion)


class StepReward:
    """A TRL reward function backed by a :class:`ProcessJudge`."""

    def __init__(self, judge: ProcessJudge, stops: tuple[str, ...] = DEFAULT_STOPS) -> None:
        self.judge = judge
        self.stops = stops
        self.__name__ = "process_judge"

    def __call__(
        self, prompts: list, completions: list, task: list[str], search: list[str] | None = None, **_: Any
    ) -> list[float]:
        tasks = [Task.model_validate_json(t) for t in task]
        searches = [SearchSettings.model_validate_json(s) if s else None for s in search or [""] * len(tasks)]
        steps = [
            StepToJudge(t, list(state), cut_action(completion_text(completion), self.stops), s)
            for t, state, completion, s in zip(tasks, prompts, completions, searches)
        ]
        return [judgement.score for judgement in self.judge.judge(steps)]
