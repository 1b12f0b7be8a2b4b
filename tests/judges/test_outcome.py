from __future__ import annotations

from scripted_backend import ScriptedBackend

from swirl.judges.outcome import OutcomeJudge, grader_messages, parse_yes_no
from swirl.records import Task

MATH = Task(id="m", question="How much?", answer="10", task_type="math", source="t")
QA = Task(id="q", question="Who?", answer="Barack Obama", aliases=["Obama"], task_type="qa", source="t")


def test_programmatic_only():
    judgements = OutcomeJudge().judge([(MATH, "$10.00"), (MATH, "11"), (QA, "obama"), (QA, None)])
    assert [j.correct for j in judgements] == [True, False, True, False]
    assert all(j.grader == "programmatic" and j.llm_verdict is None for j in judgements)


def test_llm_grader_decides_and_no_answer_is_never_asked():
    backend = ScriptedBackend(lambda conversation: "YES" if "PREDICTED: ten dollars" in conversation[1]["content"] else "No.")
    judgements = OutcomeJudge(backend).judge([(MATH, "ten dollars"), (MATH, "10"), (MATH, None)])
    assert [j.llm_verdict for j in judgements] == ["YES", "NO", None]
    assert [j.correct for j in judgements] == [True, False, False]
    assert judgements[0].numeric_match is False  # the programmatic metric is kept beside the verdict
    assert sum(len(c) for c in backend.calls) == 2


def test_unparsable_grader_reply_is_recorded():
    backend = ScriptedBackend(lambda conversation: "maybe")
    [judgement] = OutcomeJudge(backend, max_attempts=2).judge([(QA, "Obama")])
    assert judgement.llm_verdict == "UNPARSED" and judgement.correct is False
    assert len(backend.calls) == 2


def test_grader_prompt_and_parser():
    [_, user] = grader_messages(QA, "Obama")
    assert "GOLD: Barack Obama | Obama" in user["content"]
    assert parse_yes_no("Yes, they match.") == "YES"
    assert parse_yes_no("no") == "NO"
    assert parse_yes_no("unsure") is None


def test_llm_grader_on_embedded_model(hf_backend):
    [judgement] = OutcomeJudge(hf_backend).judge([(MATH, "$10")])
    assert judgement.llm_verdict in {"YES", "NO", "UNPARSED"}
    assert judgement.correct == (judgement.llm_verdict == "YES")
