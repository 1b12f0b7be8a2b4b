"""Warm start: gold trajectories built from a benchmark's own annotations, for SFT before SWiRL.

A policy that never writes a valid action (the embedded SmolLM2-135M) gives SWiRL no
reward that varies within a group, so nothing to learn from. A short SFT on gold
trajectories teaches the action format first:

  * math (GSM8K): every ``<<expr=value>>`` annotation of the gold solution becomes a
    calculator call on ``expr``, in order, then the gold answer;
  * multi-hop QA (HotpotQA, ...): a search for the title of each supporting paragraph,
    then the gold answer.

The gold actions are rolled out by the real runner (:func:`~swirl.rollout.run_rollouts`)
through :class:`GoldPolicy`, a backend that writes them, so prompts, tool results and
records are exactly those of a Stage 1 rollout. The reference judge then keeps only
trajectories whose every step is GOOD and whose answer is right: an annotation the
calculator does not reproduce, or a title search that BM25 ranks below another
paragraph, drops its question rather than teaching a wrong step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop
from swirl.jsonl import write_atomically
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.reference import ReferenceJudge
from swirl.progress import ProgressCallback, counter
from swirl.records import ChatMessage, SamplingSettings, Task, Trajectory
from swirl.rollout import RolloutSettings, run_rollouts
from swirl.stages.filter import keeps
from swirl.stages.generate import ToolSettings, build_toolsets
from swirl.stages.judge import judge_trajectories, read_trajectories

GOLD_MODEL = "gold"
"""The model name gold trajectories record."""
KEPT_STRATEGY = "process+outcome"


def _thought(before: str, expression: str) -> str:
    """The solution's words before a calculation, without the calculation itself (nor its value)."""
    before = re.sub(r"[\s=$]*$", "", before)
    compact = lambda text: re.sub(r"\s+", "", text)  # noqa: E731
    for cut in range(len(before)):
        if compact(before[cut:]) == compact(expression):
            before = re.sub(r"[\s=$]*$", "", before[:cut])
            break
    return before.strip() or "Next I calculate:"


def _calculation_actions(task: Task) -> list[str]:
    """One calculator call per annotation of the solution, its thought the words leading up to it."""
    solution, position, actions = task.solution or "", 0, []
    for calculation in task.calculations:
        opening = solution.find("<<", position)
        line_start = solution.rfind("\n", 0, opening) + 1
        # The text since the previous annotation on the same line, or since the line began.
        before = solution[max(line_start, position) : opening] if opening >= 0 else ""
        actions.append(f"{_thought(before, calculation.expression)} <math_exp>{calculation.expression}</math_exp>")
        closing = solution.find(">>", opening)
        position = closing + 2 if opening >= 0 and closing >= 0 else position
    return actions


def gold_actions(task: Task) -> list[str]:
    """The action texts of the gold trajectory: tool calls in solution order, then the answer."""
    answer = f"So the answer is {task.answer}. <answer>{task.answer}</answer>"
    if task.task_type == "math":
        return [*_calculation_actions(task), answer]
    searches = [f"I need to find {title}. <search_query>{title}</search_query>" for title in task.supporting_titles]
    return [*searches, answer]


class GoldPolicy(Backend):
    """Writes each task's gold actions, one per turn, recognizing the task by its question message."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.actions: dict[str, list[str]] = {}
        for task in tasks:
            self.actions.setdefault(_question_message(task), gold_actions(task))
        self.info = BackendInfo(name=GOLD_MODEL)

    def generate(self, conversations: list[list[ChatMessage]], request: GenerationRequest) -> list[Completion]:
        completions = []
        for conversation in conversations:
            question = next(m["content"] for m in conversation if m["role"] == "user")
            actions = self.actions[question]
            turn = sum(1 for m in conversation if m["role"] == "assistant")
            # Past the gold actions (a step limit below their count) the answer is repeated.
            text, stop = cut_at_stop(actions[min(turn, len(actions) - 1)], request.stop)
            completions.append(Completion(text, 0, 0, "stop", stop=stop))
        return completions


def _question_message(task: Task) -> str:
    from swirl.prompts import build_messages

    return build_messages(task, [], 1)[1]["content"]


def build_gold_trajectories(
    tasks: Sequence[Task],
    corpus: Sequence[Task],
    max_steps: int,
    judged: Path,
    kept: Path,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Roll out and judge the gold trajectories of ``tasks`` into ``judged``; write the kept ones to ``kept``.

    ``corpus`` is the whole split (the search index, as in generation). Judging resumes
    from ``judged``. Returns how many trajectories were kept.
    """
    rolled: list[Trajectory] = []
    settings = RolloutSettings(max_steps=max_steps, sampling=SamplingSettings(temperature=0.0))
    run_rollouts(
        tasks, GoldPolicy(tasks), build_toolsets(tasks, ToolSettings(), corpus), settings, rolled.append,
        model_name=GOLD_MODEL,
    )
    order = {task.id: index for index, task in enumerate(tasks)}
    rolled.sort(key=lambda t: order[t.task.id])
    # The steps are known only once the gold policy has rolled out, so the count starts here.
    advance = counter(progress, "warm-start gold steps", sum(len(t.steps) for t in rolled))
    judge_trajectories(rolled, ReferenceJudge.for_tasks(corpus), OutcomeJudge(), judged, on_progress=advance)
    good = [t for t in read_trajectories(judged) if keeps(t, KEPT_STRATEGY)]
    write_atomically(kept, (t.model_dump_json() + "\n" for t in good))
    return len(good)
