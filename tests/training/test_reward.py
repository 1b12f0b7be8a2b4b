"""The step reward: sampled actions cut at the closing tags of the row's own tools, then judged with them."""

from __future__ import annotations

import json

from swirl.judges.reference import ReferenceJudge
from swirl.records import StepJudgement, Task
from swirl.training.reward import StepReward, action_stops, row_steps

TASK = Task(id="q", question="Natalia sold 48/2 clips. How many?", answer="24", task_type="math", source="t")
STATE = [{"role": "system", "content": "s"}, {"role": "user", "content": "Question: q"}]


class RecordingJudge:
    name = "recording"

    def __init__(self):
        self.steps = []

    def judge(self, steps):
        self.steps.extend(steps)
        return [StepJudgement(verdict="GOOD", score=1.0, judge=self.name, mode="test") for _ in steps]


def reward_on(actions, tool_tags):
    judge = RecordingJudge()
    StepReward(judge)(prompts=[STATE] * len(actions), completions=[[{"role": "assistant", "content": a}] for a in actions],
                      task=[TASK.model_dump_json()] * len(actions), tool_tags=tool_tags)
    return judge.steps


def test_sampled_action_is_cut_at_its_own_tools_closing_tag():
    custom = json.dumps({"find": "lookup"})
    [cut, answer] = reward_on(["I look. <find>clips</find> Result: 3 <answer>3</answer>", "<answer>24</answer> more"],
                              [custom, custom])
    assert cut.action_text == "I look. <find>clips</find>"
    assert cut.action_tags() == {"find": "lookup"}
    assert answer.action_text == "<answer>24</answer>"
    # A row from before tags were recorded has the task type's default tools.
    [default] = reward_on(["<math_exp>48/2</math_exp> and <find>x</find>"], None)
    assert default.action_text == "<math_exp>48/2</math_exp>"
    assert default.action_tags() == {"math_exp": "calculator"}


def test_training_stops_cover_every_rows_tools():
    rows = row_steps([TASK, TASK.model_copy(update={"task_type": "qa"})], [json.dumps({"find": "lookup"}), None])
    assert set(action_stops(rows)) == {"</find>", "</search_query>", "</answer>"}


def test_reference_judge_as_reward_sees_the_rows_tools():
    scores = StepReward(ReferenceJudge())(
        prompts=[STATE] * 2, completions=["<math_exp>48/2</math_exp>", "<math_exp>48/2</math_exp>"],
        task=[TASK.model_dump_json()] * 2, tool_tags=[json.dumps({"math_exp": "calculator"}), json.dumps({"find": "lookup"})],
    )
    assert scores == [1.0, 0.0]
