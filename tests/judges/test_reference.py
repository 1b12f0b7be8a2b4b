from __future__ import annotations

import pytest

from swirl.judges.base import StepToJudge
from swirl.judges.reference import ReferenceJudge
from swirl.prompts import format_observation
from swirl.stages.generate import ToolSettings, build_toolsets
from swirl.rollout import RolloutSettings, start_trajectory
from swirl.tasks import load_tasks
from swirl.tools import SearchTool
from swirl.tools.calculator import evaluate

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


def test_a_gold_calculation_repeated_is_good_once(gsm8k_task):
    # A policy rewarded by this judge must not earn reward by repeating a right calculation.
    expressions = ["48/2", "48/2", "24 * 1", "48 + 24", "48 + 24"]
    state = list(PROMPT)
    labels = []
    for expression in expressions:
        call = f"<math_exp>{expression}</math_exp>"
        labels += verdicts(ReferenceJudge(), gsm8k_task, [call], state=state)
        state += [{"role": "assistant", "content": call},
                  {"role": "user", "content": format_observation("calculator", evaluate(expression))}]
    assert labels == ["GOOD", "BAD", "BAD", "GOOD", "BAD"]


def test_search_is_judged_with_the_corpus_and_top_k_generation_used(data_dir):
    # Generation indexed the whole split with top-2; `swirl judge` sees only the judged tasks.
    split = load_tasks(data_dir / "hotpotqa" / "train.jsonl")
    judged_tasks = split[:5]
    tools_for = build_toolsets(judged_tasks, ToolSettings(search_top_k=2), corpus_tasks=split)
    search = next(t for t in tools_for(judged_tasks[0]) if isinstance(t, SearchTool))

    # A query whose supporting paragraph comes second: only a top-2 search retrieves it.
    task, query = next(
        (task, title)
        for task in judged_tasks
        for title in task.supporting_titles
        if [p.title in task.supporting_titles for p in search.search(title)] == [False, True]
    )
    trajectory = start_trajectory(task, 0, tools_for(task), RolloutSettings(), "policy")
    assert trajectory.search == search.settings
    step = StepToJudge(task, trajectory.messages, f"<search_query>{query}</search_query>", trajectory.search)

    judge = ReferenceJudge.for_tasks(judged_tasks)
    assert judge.search.corpus_key != search.corpus_key  # the judged tasks alone are another corpus
    assert judge.search_for(step).corpus_key == search.corpus_key
    assert judge.search_for(step).top_k == 2
    [judgement] = judge.judge([step])
    assert judgement.verdict == "GOOD", judgement.rationale


def test_actions_are_parsed_with_the_tools_the_policy_had(gsm8k_task):
    judge = ReferenceJudge()
    with_lookup = {"math_exp": "calculator", "find": "lookup"}
    [custom, calculation, answer] = judge.judge([
        StepToJudge(gsm8k_task, PROMPT, "<find>clips</find>", tool_tags=with_lookup),
        StepToJudge(gsm8k_task, PROMPT, "<math_exp>48/2</math_exp>", tool_tags=with_lookup),
        StepToJudge(gsm8k_task, PROMPT, "<answer>72</answer>", tool_tags=with_lookup),
    ])
    assert (custom.verdict, custom.rationale) == ("BAD", "no gold reference for calls of tool 'lookup'")
    assert calculation.verdict == answer.verdict == "GOOD"
    [no_calculator] = judge.judge([StepToJudge(gsm8k_task, PROMPT, "<math_exp>48/2</math_exp>", tool_tags={"find": "lookup"})])
    assert no_calculator.rationale == "invalid action: no action tag"
