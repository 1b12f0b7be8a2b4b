"""Typed records that cross stage boundaries: tasks in, trajectories out of `generate`.

One trajectory is followed through the whole pipeline:
``Task`` -> ``Trajectory`` (generate) -> ``Trajectory`` with ``StepJudgement``s and an
``OutcomeJudgement`` (judge) -> kept or dropped (filter) -> one sub-trajectory per step
(split). A trajectory keeps its initial messages and every action/observation, so the
state before any step can be rebuilt exactly (:meth:`Trajectory.state_messages`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

TaskType = Literal["math", "qa"]
ChatMessage = dict[str, str]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Passage(BaseModel):
    """A titled paragraph of a per-question context (HotpotQA, MuSiQue, 2Wiki)."""

    title: str
    text: str
    is_supporting: bool = False


class Calculation(BaseModel):
    """One ``<<expr=value>>`` annotation of a GSM8K gold solution."""

    expression: str
    result: str


class Task(BaseModel):
    """One question of a benchmark, normalized across source formats."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    answer: str
    aliases: list[str] = Field(default_factory=list)
    task_type: TaskType
    source: str
    passages: list[Passage] = Field(default_factory=list)
    supporting_titles: list[str] = Field(default_factory=list)
    solution: str | None = None
    calculations: list[Calculation] = Field(default_factory=list)

    @property
    def gold_answers(self) -> list[str]:
        return [self.answer, *self.aliases]


class ParsedAction(BaseModel):
    """What one model output means: a thought, then a tool call, an answer, or nothing valid."""

    kind: Literal["tool", "answer", "invalid"]
    thought: str = ""
    tool: str | None = None
    query: str | None = None
    answer: str | None = None
    problem: str | None = None
    """Why the action is invalid, or a note on what the parser repaired."""


ACTION_MAX_TOKENS = 256
"""Token budget of one action, the same where actions are sampled: rollouts, training, evaluation."""


class SamplingSettings(BaseModel):
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = ACTION_MAX_TOKENS
    seed: int = 0


class SearchSettings(BaseModel):
    """The search a trajectory's policy used, so that a judge can search exactly the same way."""

    model_config = ConfigDict(frozen=True)

    corpus_key: str
    """Content hash of the indexed passages (the key of the cached index and corpus)."""
    top_k: int
    max_chars: int


class Step(BaseModel):
    """One action of a trajectory and what the environment answered."""

    index: int
    action_text: str
    action: ParsedAction
    observation: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class StepJudgement(BaseModel):
    """A process judge's verdict on one step."""

    verdict: Literal["GOOD", "BAD", "UNPARSED"]
    score: float
    rationale: str = ""
    judge: str
    mode: str


class OutcomeJudgement(BaseModel):
    """Whether the final answer is right, by programmatic metrics and optionally an LLM grader."""

    correct: bool
    exact_match: float
    f1: float
    numeric_match: bool | None = None
    llm_verdict: Literal["YES", "NO", "UNPARSED"] | None = None
    grader: str = "programmatic"


ROLLOUT_SETTINGS = {"model", "sampling", "prompt_version", "max_steps", "tools", "tool_tags", "search"}
"""Fields of :class:`Trajectory` fixed by the run's settings rather than by what the model did."""

Termination = Literal["answered", "max_steps", "invalid", "error"]


class Trajectory(BaseModel):
    """A complete multi-step attempt at one task, with full provenance."""

    schema_version: int = SCHEMA_VERSION
    id: str
    task: Task
    sample_index: int
    messages: list[ChatMessage]
    """The initial state: system and user prompt."""
    steps: list[Step] = Field(default_factory=list)
    final_answer: str | None = None
    termination: Termination = "max_steps"
    error: str | None = None
    model: str
    sampling: SamplingSettings
    prompt_version: str
    max_steps: int
    tools: list[str] = Field(default_factory=list)
    search: SearchSettings | None = None
    """Corpus and top-k of the search tool, when the trajectory had one."""
    tool_tags: dict[str, str] = Field(default_factory=dict)
    """Tag -> tool name of every tool the policy could call (the action vocabulary besides the answer)."""
    started_at: str = Field(default_factory=utc_now)
    finished_at: str | None = None
    step_judgements: list[StepJudgement] | None = None
    outcome: OutcomeJudgement | None = None

    def rollout_settings(self) -> dict:
        """Every recorded setting that shapes how the trajectory was rolled out; a file mixes none."""
        return self.model_dump(include=ROLLOUT_SETTINGS)

    def state_messages(self, step_index: int) -> list[ChatMessage]:
        """Chat messages of state s_i: the prompt, then every earlier action and tool result."""
        messages = [dict(m) for m in self.messages]
        for step in self.steps[:step_index]:
            messages.append({"role": "assistant", "content": step.action_text})
            if step.observation is not None:
                messages.append({"role": "user", "content": step.observation})
        return messages

    def all_messages(self) -> list[ChatMessage]:
        """The whole conversation, including the last action and its observation."""
        return self.state_messages(len(self.steps))
