"""Warm-start gold trajectories: built from real GSM8K annotations and HotpotQA supporting
facts, rolled out by the real runner with the real tools, judged by the reference judge."""

from __future__ import annotations

from importlib import resources

import pytest

from swirl.actions import parse_action
from swirl.prompts import PROMPT_VERSION, format_observation
from swirl.stages.judge import read_trajectories
from swirl.tasks import load_tasks
from swirl.tools import CalculatorTool
from swirl.warmstart import GOLD_MODEL, build_gold_trajectories, gold_actions

MAX_STEPS = 0  # the task type's default step limit
TOOL_TAGS = {"math_exp": "calculator", "search_query": "search"}


def bundled(name: str):
    return resources.files("swirl.data") / name


@pytest.fixture(scope="module")
def gsm8k():
    return load_tasks(bundled("study_gsm8k_warm.jsonl"), "gsm8k", limit=40)


@pytest.fixture(scope="module")
def hotpotqa():
    return load_tasks(bundled("study_hotpotqa_warm.jsonl"), "hotpotqa")


def test_math_actions_follow_the_annotations_without_giving_their_values(gsm8k):
    task = gsm8k[0]
    actions = [parse_action(text, TOOL_TAGS) for text in gold_actions(task)]
    assert [a.query for a in actions[:-1]] == [c.expression for c in task.calculations]
    assert actions[-1].kind == "answer" and actions[-1].answer == task.answer
    for action, calculation in zip(actions, task.calculations):
        assert action.thought and calculation.result not in action.thought.split()


def test_qa_actions_search_each_supporting_title_then_answer(hotpotqa):
    task = hotpotqa[0]
    actions = [parse_action(text, TOOL_TAGS) for text in gold_actions(task)]
    assert [a.query for a in actions[:-1]] == task.supporting_titles
    assert actions[-1].answer == task.answer


def test_gold_trajectories_are_rollouts_that_the_reference_judge_keeps(tmp_path, gsm8k, hotpotqa):
    tasks = gsm8k + hotpotqa[:30]
    judged, kept = tmp_path / "judged.jsonl", tmp_path / "gold.jsonl"
    reports: list[tuple[str, int, int]] = []
    count = build_gold_trajectories(tasks, gsm8k + hotpotqa, MAX_STEPS, judged, kept,
                                    progress=lambda *report: reports.append(report))

    everything, good = read_trajectories(judged), read_trajectories(kept)
    assert len(everything) == len(tasks) and len(good) == count
    # Progress counts judged steps against their real total, ending exactly at it.
    steps = sum(len(t.steps) for t in everything)
    assert reports[-1] == ("warm-start gold steps", steps, steps)
    assert all(done <= total for _, done, total in reports)
    # Most gold solutions survive; the rest show what the judge rejects (a lossy annotation, a missed search).
    assert count >= 0.7 * len(tasks) and count < len(tasks) + 1
    assert {t.task.source for t in good} == {"gsm8k", "hotpotqa"}
    for trajectory in good:
        assert trajectory.model == GOLD_MODEL and trajectory.prompt_version == PROMPT_VERSION
        assert trajectory.termination == "answered" and trajectory.outcome.correct
        assert all(j.verdict == "GOOD" for j in trajectory.step_judgements)
    math = next(t for t in good if t.task.task_type == "math")
    first = math.steps[0]
    # The observation is exactly what the calculator answers, formatted as in any rollout.
    assert first.observation == format_observation("calculator", CalculatorTool().call(first.action.query))
    dropped = {t.id for t in everything} - {t.id for t in good}
    assert all(any(j.verdict != "GOOD" for j in t.step_judgements) or not t.outcome.correct
               for t in everything if t.id in dropped)
