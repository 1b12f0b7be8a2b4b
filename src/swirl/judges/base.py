"""What a process judge sees and returns, shared by the LLM judge and the reference judge.

A step is judged in its state: the task, the chat messages before the action, and the
action text. The same call labels logged steps (``swirl judge``) and scores fresh
actions during step-wise RL, where it is the reward R(a|s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from swirl.records import ChatMessage, SearchSettings, StepJudgement, Task, Trajectory


@dataclass(frozen=True)
class StepToJudge:
    task: Task
    """Judges that must not see the gold answer (the LLM judge) read only its question."""
    state: list[ChatMessage]
    action_text: str
    search: SearchSettings | None = None
    """The search the policy had in this state (corpus and top-k), for judges that re-run it."""


class ProcessJudge(Protocol):
    name: str

    def judge(self, steps: list[StepToJudge]) -> list[StepJudgement]:
        """One judgement per step, in order."""
        ...


def steps_of(trajectory: Trajectory) -> list[StepToJudge]:
    return [
        StepToJudge(trajectory.task, trajectory.state_messages(step.index), step.action_text, trajectory.search)
        for step in trajectory.steps
    ]


def history_after_question(state: list[ChatMessage]) -> list[ChatMessage]:
    """The turns after the policy's system prompt and question: actions and tool results."""
    first_user = next((i for i, m in enumerate(state) if m["role"] == "user"), len(state) - 1)
    return state[first_user + 1 :]
