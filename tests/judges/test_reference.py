from __future__ import annotations

import pytest

from swirl.judges.base import StepToJudge
from swirl.judges.reference import ReferenceJudge
from swirl.prompts import format_observation
from swirl.tasks import load_tasks

PROMPT = [{"role": "system", "content": "s"}, {"role": "user", "content": "Question: q"}]


@pytest.fixture(scope="module")
def gsm8k_task(data_dir):
    # Natalia sold 48/2 = 24 clips in May; 48+24 = 72 in all.
    return load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=1)[0]


@pytest.fixture(scope="module")
def hotpot(data_dir):
    tasks = load_tasks(data_dir / "hotpotqa" / "train.jsonl")
    return tasks, ReferenceJudge.for_tasks(tasks)


def verdicts(judge, task, actions, state=PROMPT):
    return [j.verdict for j in judge.judge([StepToJudge(task, state, a) for a in actions])]


def test_gsm8k_calls_and_answers(gsm8k_task):
    assert gsm8k_task.answer == "72"
    judge = ReferenceJudge()
    assert verdicts(judge, gsm8k_task, [
        "<math_exp>48/2</math_exp>",      # intermediate result 24
        "<math_exp>48 + 24</math_exp>",   # final answer 72
        "<math_exp>48*2</math_exp>",      # 96: not in the solution
        "<math_exp>48/</math_exp>",       # calculator error
        "<answer>72</answer>",
        "<answer>$72.00</answer>",
        "<answer>71</answer>",
        "no action",
    ]) == ["GOOD", "GOOD", "BAD", "BAD", "GOOD", "GOOD", "BAD", "BAD"]


def test_hotpot_search_rewards_new_supporting_paragraphs(hotpot):
    tasks, judge = hotpot
    task = next(t for t in tasks if len(t.supporting_titles) == 2 and all(
        any(p.title == s for p in t.passages) for s in t.supporting_titles))
    first, second = task.supporting_titles
    query = next(p for p in task.passages if p.title == first)
    query_text = f"{first} {query.text[:200]}"
    assert verdicts(judge, task, [f"<search_query>{query_text}</search_query>"]) == ["GOOD"]

    seen = PROMPT + [
        {"role": "assistant", "content": f"<search_query>{query_text}</search_query>"},
        {"role": "user", "content": format_observation("search", judge.search.call(query_text), tags=["search_query"])},
    ]
    assert verdicts(judge, task, [f"<search_query>{query_text}</search_query>"], state=seen) == ["BAD"]
    assert verdicts(judge, task, ["<search_query>zzzz qqqq</search_query>"]) == ["BAD"]
    assert verdicts(judge, task, [f"<answer>{task.answer}</answer>", "<answer>certainly not this</answer>"]) == ["GOOD", "BAD"]


def test_actions_are_parsed_with_the_tools_the_policy_had(gsm8k_task):
    judge = ReferenceJudge()
    with_lookup = {"math_exp": "calculator", "find": "lookup"}
    [custom, calculation, answer] = judge.judge([
        StepToJudge(gsm8k_task, PROMPT, "<find>clips</find>", with_lookup),
        StepToJudge(gsm8k_task, PROMPT, "<math_exp>48/2</math_exp>", with_lookup),
        StepToJudge(gsm8k_task, PROMPT, "<answer>72</answer>", with_lookup),
    ])
    assert (custom.verdict, custom.rationale) == ("BAD", "no gold reference for calls of tool 'lookup'")
    assert calculation.verdict == answer.verdict == "GOOD"
    [no_calculator] = judge.judge([StepToJudge(gsm8k_task, PROMPT, "<math_exp>48/2</math_exp>", {"find": "lookup"})])
    assert no_calculator.rationale == "invalid action: no action tag"
