"""What a process judge sees and returns, shared by the LLM judge and the reference judge.

A step is judged in its state: the task, the chat messages before the action, and the
action text. The same call labels logged steps (``swirl judge``) and scores fresh
actions during step-wise RL, where it is the reward R(a|s).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    tool_tags: Mapping[str, str] | None = None
    """Tag -> name of the tools the policy could call; None = the task type's default tools."""

    def action_tags(self) -> Mapping[str, str]:
        """The tool tags the action is parsed with (the answer tag is always an action)."""
        if self.tool_tags is not None:
            return self.tool_tags
        from swirl.tools import default_tool_tags

        return default_tool_tags(self.task.task_type)


class ProcessJudge(Protocol):
    name: str

    def judge(self, steps: list[StepToJudge]) -> list[StepJudgement]:
        """One judgement per step, in order."""
        ...


def steps_of(trajectory: Trajectory) -> list[StepToJudge]:
    tags = action_tags_of(trajectory)
    return [
        StepToJudge(
            trajectory.task, trajectory.state_messages(step.index), step.action_text,
            search=trajectory.search, tool_tags=tags,
        )
        for step in trajectory.steps
    ]


def action_tags_of(trajectory: Trajectory) -> dict[str, str]:
    """Tag -> name of the tools the trajectory's policy could call."""
    if trajectory.tool_tags or not trajectory.tools:
        return dict(trajectory.tool_tags)
    # Trajectories written before tags were recorded name their tools only; builtin names say their tags.
    from swirl.tools import BUILTIN_TOOLS, tool_tags

    return tool_tags([name for name in trajectory.tools if name in BUILTIN_TOOLS])


def history_after_question(state: list[ChatMessage]) -> list[ChatMessage]:
    """The turns after the policy's system prompt and question: actions and tool results."""
    first_user = next((i for i, m in enumerate(state) if m["role"] == "user"), len(state) - 1)
    return state[first_user + 1 :]
