from __future__ import annotations

import math

import pytest
import torch
from scripted_backend import ScriptedBackend

from swirl.backends.hf import HFBackend
from swirl.errors import SwirlError
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
        # Stated verdicts.
        ("The call helps.\nVerdict: GOOD", "GOOD"),
        ("verdict: bad", "BAD"),
        ("Reasoning... **Verdict:** GOOD", "GOOD"),
        ("It could be GOOD but it repeats. Verdict: BAD", "BAD"),
        ("GOOD", "GOOD"),
        ("  bad.", "BAD"),
        ("The final verdict is GOOD.", "GOOD"),
        ("Verdict: GOOD\nThe call computes the total that the question needs.", "GOOD"),
        ("It does not repeat an earlier call.\nVerdict: GOOD", "GOOD"),
        ("The step is not good.\nVerdict: BAD", "BAD"),
        ("It repeats the search.\n\n**BAD**", "BAD"),
        ("Verdict = GOOD!", "GOOD"),
        # Negated: never a verdict.
        ("the step is not good", None),
        ("The step is not good.", None),
        ("This isn't good", None),
        ("Not bad.", None),
        ("Verdict: not GOOD", None),
        ("The verdict is not BAD", None),
        ("I would not say Verdict: GOOD", None),
        ("Verdict: GOOD. On second thought the step is not good.", None),
        ("It is never a good idea to repeat a call", None),
        # Contradictory or hedged: never a verdict.
        ("This is GOOD and BAD", None),
        ("Verdict: GOOD\nOn reflection, Verdict: BAD", None),
        ("Verdict: BAD. Verdict: GOOD", None),
        ("GOOD\nBAD", None),
        ("Verdict: GOOD or BAD", None),
        ("Verdict: GOOD, but it could be BAD", None),
        ("Verdict: GOOD/BAD", None),
        # Free text that only mentions a label word.
        ("The step is good.", None),
        ("A good step would search for the author.", None),
        ("Reply with GOOD or BAD.", None),
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
    assert good_probability({"Good": math.log(0.3), "Bad": math.log(0.1)}, ("Good", "Bad")) == pytest.approx(0.75)


def test_score_mode_reads_whole_labels_where_the_tokenizer_splits_good(hf_backend):
    # SmolLM2 writes "GOOD" as "GO" + "OD" and "BAD" as "B" + "AD": the first token of
    # "BAD" is the start of every word in B, so the judge must spell its labels otherwise.
    assert hf_backend.count_tokens("GOOD") > 1 and hf_backend.count_tokens("BAD") > 1
    judge = LLMProcessJudge(hf_backend, mode="score")
    assert judge.labels == ("Good", "Bad")
    [user] = [m["content"] for m in judge_messages(STEPS[0], "score", judge.labels) if m["role"] == "user"]
    assert user.endswith("Reply with exactly one word: Good or Bad.")

    # The score is the labels' own tokens' probability, computed here from the model's logits.
    tokenizer, model = hf_backend.tokenizer, hf_backend.model
    prompt = tokenizer.apply_chat_template(judge_messages(STEPS[0], "score", judge.labels), tokenize=False,
                                           add_generation_prompt=True)
    with torch.no_grad():
        logits = model(**tokenizer(prompt, return_tensors="pt", add_special_tokens=False)).logits[0, -1]
    probabilities = torch.softmax(logits.double(), dim=-1)

    def label_probability(label):
        ids = {tokenizer.encode(v, add_special_tokens=False)[0] for v in (label, " " + label)}
        return sum(float(probabilities[i]) for i in ids)

    good, bad = label_probability("Good"), label_probability("Bad")
    [judgement] = judge.judge(STEPS[:1])
    assert judgement.score == pytest.approx(good / (good + bad), abs=1e-4)


def test_score_mode_refuses_a_tokenizer_that_splits_every_label(hf_backend):
    from transformers import ByT5Tokenizer

    byte_level = HFBackend(hf_backend.model, ByT5Tokenizer(), name="bytes")
    with pytest.raises(SwirlError, match="several tokens.*generate judge mode"):
        LLMProcessJudge(byte_level, mode="score")
    with pytest.raises(ValueError, match="several tokens"):
        byte_level.next_token_logprobs([PROMPT], ["Good", "Bad"])


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
def test_score_mode_is_the_same_on_every_backend(hf_backend, llama_server):
    # One model (the embedded GGUF; hf runs its dequantized weights) through three engines:
    # the labels are chosen the same way and the scores agree up to llama.cpp's quantized arithmetic.
    from swirl.backends import make_backend

    engines = {"hf": hf_backend, "llamacpp": make_backend("default", "llamacpp"),
               "openai": make_backend(llama_server.reference)}
    logprobs = {}
    for name, backend in engines.items():
        judge = LLMProcessJudge(backend, mode="score")
        assert judge.labels == ("Good", "Bad"), name
        conversations = [judge_messages(step, "score", judge.labels) for step in STEPS]
        logprobs[name] = backend.next_token_logprobs(conversations, list(judge.labels))
    engines["llamacpp"].close()
    scores = {name: [good_probability(lp, ("Good", "Bad")) for lp in values] for name, values in logprobs.items()}
    assert scores["llamacpp"] == pytest.approx(scores["hf"], abs=0.05)
    # A server lists only its top-20 first tokens, so a label it leaves out has no probability
    # there; every label it lists has the in-process engine's log-probability.
    for served, local in zip(logprobs["openai"], logprobs["llamacpp"]):
        listed = {label: value for label, value in served.items() if value > -math.inf}
        assert listed, "the likelier label is always among the top 20"
        assert listed == pytest.approx({label: local[label] for label in listed}, abs=0.05)


@pytest.mark.llamacpp
def test_judge_through_llama_server(llama_server):
    from swirl.backends import make_backend

    backend = make_backend(llama_server.reference)
    scored = LLMProcessJudge(backend, mode="score").judge(STEPS)
    assert all(0.0 <= j.score <= 1.0 and j.verdict in {"GOOD", "BAD"} for j in scored)
    generated = LLMProcessJudge(backend, mode="generate", max_tokens=32, max_attempts=2).judge(STEPS[:1])
    assert generated[0].verdict in {"GOOD", "BAD", "UNPARSED"}


def test_judge_prompt_names_the_tools_the_policy_had():
    [system, _] = judge_messages(StepToJudge(TASK, PROMPT, "<find>muffins</find>", tool_tags={"find": "lookup"}), "score")
    assert "lookup: <find>...</find>" in system["content"]
    assert "<answer>...</answer>" in system["content"]
    assert "math_exp" not in system["content"] and "search_query" not in system["content"]
    [default, _] = judge_messages(STEPS[0], "score")
    assert "calculator: <math_exp>...</math_exp>" in default["content"]
    assert "search_query" not in default["content"]
