"""The backends on the embedded model: hf in-process, llama.cpp in-process, and the openai
client against a real llama.cpp server on 127.0.0.1."""

from __future__ import annotations

import math

import pytest

from swirl.backends import GenerationRequest, make_backend
from swirl.backends.base import cut_at_stop
from swirl.backends.openai_backend import candidate_logprobs

CONVERSATION = [{"role": "user", "content": "Write the expression 12*7 inside <math_exp></math_exp> tags."}]
STOPS = ("</math_exp>", "</answer>")


def check_completions(completions, n, max_tokens):
    assert len(completions) == n
    for completion in completions:
        assert completion.finish_reason in {"stop", "length"}
        assert 0 < completion.completion_tokens <= max_tokens + 1
        assert completion.prompt_tokens > 10
        if completion.stop:
            assert completion.stop in STOPS
            assert completion.stop not in completion.text


def check_logprobs(backend):
    [scores] = backend.next_token_logprobs([[{"role": "user", "content": "Reply GOOD or BAD."}]], ["GOOD", "BAD"])
    assert set(scores) == {"GOOD", "BAD"}
    assert all(v <= 0.0 and math.isfinite(v) for v in scores.values())


def test_hf_batched_generation_and_logprobs(hf_backend):
    completions = hf_backend.generate([CONVERSATION] * 3 + [[{"role": "user", "content": "Hi"}]],
                                      GenerationRequest(max_tokens=24, temperature=0.7, stop=STOPS, seed=3))
    check_completions(completions, 4, 24)
    check_logprobs(hf_backend)


def test_hf_greedy_is_deterministic(hf_backend):
    request = GenerationRequest(max_tokens=16, temperature=0.0)
    first = hf_backend.generate([CONVERSATION], request)[0].text
    assert hf_backend.generate([CONVERSATION], request)[0].text == first


@pytest.mark.llamacpp
def test_llamacpp_in_process():
    pytest.importorskip("llama_cpp")
    backend = make_backend("default", "llamacpp")
    check_completions(backend.generate([CONVERSATION] * 2, GenerationRequest(max_tokens=24, stop=STOPS, seed=1)), 2, 24)
    check_logprobs(backend)
    backend.close()


@pytest.mark.llamacpp
def test_openai_backend_against_llama_server(llama_server):
    backend = make_backend(llama_server.reference)
    completions = backend.generate([CONVERSATION] * 3, GenerationRequest(max_tokens=24, stop=STOPS, seed=5))
    check_completions(completions, 3, 24)
    check_logprobs(backend)


@pytest.mark.llamacpp
def test_openai_backend_spreads_over_replicas(llama_server):
    # The same server listed twice under two spellings stands in for two replicas.
    reference = f"openai:smollm2@{llama_server.base_url},http://localhost:{llama_server.port}/v1"
    backend = make_backend(reference)
    assert len(backend.base_urls) == 2
    completions = backend.generate([CONVERSATION] * 4, GenerationRequest(max_tokens=8))
    check_completions(completions, 4, 8)


def test_unreachable_server_gives_error_completions_not_exceptions():
    backend = make_backend("openai:m@http://127.0.0.1:9/v1", max_retries=1)
    backend.backoff_base = 0.01
    [completion] = backend.generate([CONVERSATION], GenerationRequest(max_tokens=4))
    assert completion.finish_reason == "error"
    assert "Connection" in completion.error


def test_stop_helpers():
    assert cut_at_stop("a <math_exp>1</math_exp> b</answer>", STOPS) == ("a <math_exp>1", "</math_exp>")
    assert cut_at_stop("plain", STOPS) == ("plain", None)
    pooled = candidate_logprobs({"G": math.log(0.2), "GOOD": math.log(0.3), "BAD": math.log(0.1), "x": 0.0}, ["GOOD", "BAD"])
    assert pooled["GOOD"] == pytest.approx(math.log(0.5))
    assert pooled["BAD"] == pytest.approx(math.log(0.1))
