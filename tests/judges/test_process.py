from __future__ import annotations

import pytest
from scripted_backend import ScriptedBackend

from swirl.judges.base import StepToJudge
from swirl.judges.process import LLMProcessJudge, good_probability, judge_messages, parse_verdict
from swirl.records import Task

TASK = Task(id="q", question="What is 3 trays of 12 muffins minus 20?", answer="16", task_type="math", source="t")
PROMPT = [{"role": "system", "content": "policy prompt"}, {"role": "user", "content": "Question: ..."}]
STEPS = [
    StepToJudge(TASK, PROMPT, "First the total. <math_exp>3*12</math_exp>"),
    StepToJudge(TASK, PROMPT + [{"role": "assistant", "content": "<math_exp>3*12</math_exp>"},
                                {"role": "user", "content": "Result from calculator:\n<result>\n36\n</result>"}],
                "36 - 20 = 16. <answer>16</answer>"),
    StepToJudge(TASK, PROMPT, "I like muffins."),
]


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("The call helps.\nVerdict: GOOD", "GOOD"),
        ("verdict: bad", "BAD"),
        ("Reasoning... **Verdict:** GOOD", "GOOD"),
        ("It could be GOOD but it repeats. Verdict: BAD", "BAD"),
        ("GOOD", "GOOD"),
        ("  bad.", "BAD"),
        ("Verdict: GOOD\nOn reflection, Verdict: BAD", "BAD"),
        ("This is GOOD and BAD", None),
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_judge_prompt_hides_gold_answer_and_shows_history():
    task = TASK.model_copy(update={"answer": "UNIQUEGOLD"})
    [system, user] = judge_messages(StepToJudge(task, STEPS[1].state, STEPS[1].action_text), "generate")
    assert "UNIQUEGOLD" not in system["content"] + user["content"]
    assert "policy prompt" not in user["content"]
    assert "[Step 1] Tool result" in user["content"] and "36" in user["content"]
    assert user["content"].rstrip().endswith("'Verdict: BAD'.")


def test_good_probability():
    assert good_probability({"GOOD": -1.0, "BAD": -1.0}) == pytest.approx(0.5)
    assert good_probability({"GOOD": 0.0, "BAD": float("-inf")}) == 1.0
    assert good_probability({"GOOD": float("-inf"), "BAD": float("-inf")}) is None


def test_score_mode_on_embedded_model(hf_backend):
    judgements = LLMProcessJudge(hf_backend, mode="score", name="default").judge(STEPS)
    assert len(judgements) == 3
    for judgement in judgements:
        assert 0.0 <= judgement.score <= 1.0
        assert judgement.verdict == ("GOOD" if judgement.score >= 0.5 else "BAD")
        assert judgement.mode == "score" and "P(GOOD)" in judgement.rationale


def test_generate_mode_on_embedded_model(hf_backend):
    judgements = LLMProcessJudge(hf_backend, mode="generate", max_tokens=48, max_attempts=2).judge(STEPS[:2])
    assert len(judgements) == 2
    for judgement in judgements:
        assert judgement.verdict in {"GOOD", "BAD", "UNPARSED"}
        assert judgement.score == {"GOOD": 1.0, "BAD": 0.0, "UNPARSED": 0.0}[judgement.verdict]
        assert judgement.rationale


def test_generate_mode_retries_then_records_unparsed():
    replies = iter(["hmm", "Verdict: GOOD", "no idea", "still no idea", "nope"])
    backend = ScriptedBackend(lambda conversation: next(replies))
    judgements = LLMProcessJudge(backend, mode="generate", max_attempts=3).judge(STEPS[:2])
    assert [j.verdict for j in judgements] == ["UNPARSED", "GOOD"]
    assert judgements[0].score == 0.0
    assert "no verdict after 3 attempts" in judgements[0].rationale
    assert [len(call) for call in backend.calls] == [2, 1, 1]


@pytest.mark.llamacpp
def test_judge_through_llama_server(llama_server):
    from swirl.backends import make_backend

    backend = make_backend(llama_server.reference)
    scored = LLMProcessJudge(backend, mode="score").judge(STEPS)
    assert all(0.0 <= j.score <= 1.0 and j.verdict in {"GOOD", "BAD"} for j in scored)
    generated = LLMProcessJudge(backend, mode="generate", max_tokens=32, max_attempts=2).judge(STEPS[:1])
    assert generated[0].verdict in {"GOOD", "BAD", "UNPARSED"}


def test_judge_prompt_names_the_tools_the_policy_had():
    [system, _] = judge_messages(StepToJudge(TASK, PROMPT, "<find>muffins</find>", {"find": "lookup"}), "score")
    assert "lookup: <find>...</find>" in system["content"]
    assert "<answer>...</answer>" in system["content"]
    assert "math_exp" not in system["content"] and "search_query" not in system["content"]
    [default, _] = judge_messages(STEPS[0], "score")
    assert "calculator: <math_exp>...</math_exp>" in default["content"]
    assert "search_query" not in default["content"]
