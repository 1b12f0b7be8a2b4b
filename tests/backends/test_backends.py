"""The backends on the embedded model: hf in-process, llama.cpp in-process, and the openai
client against a real llama.cpp server on 127.0.0.1."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from swirl.actions import parse_action
from swirl.backends import GenerationRequest, make_backend
from swirl.backends.base import cut_at_stop
from swirl.backends.openai_backend import candidate_logprobs

CONVERSATION = [{"role": "user", "content": "Write the expression 12*7 inside <math_exp></math_exp> tags."}]
STOPS = ("</math_exp>", "</answer>")
TAGS = {"math_exp": "calculator"}


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
    assert backend.count_tokens("Good") == 1 and backend.count_tokens("GOOD") == 2
    [scores] = backend.next_token_logprobs([[{"role": "user", "content": "Reply Good or Bad."}]], ["Good", "Bad"])
    assert set(scores) == {"Good", "Bad"}
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


def test_openai_logprobs_count_only_tokens_that_are_the_whole_label():
    # "G" and "Go" start other words too; only "Good" with or without a space is the label.
    top = {"G": math.log(0.2), "Good": math.log(0.3), " Good": math.log(0.1), "Go": math.log(0.05),
           "Bad": math.log(0.1), "x": math.log(0.01)}
    pooled = candidate_logprobs(top, ["Good", "Bad", "GOOD"])
    assert pooled["Good"] == pytest.approx(math.log(0.4))
    assert pooled["Bad"] == pytest.approx(math.log(0.1))
    assert pooled["GOOD"] == -math.inf


def stop_within(text):
    """A word of ``text`` that first occurs after its start and before its end: a stop string it hits."""
    for word in text.split()[1:]:
        position = text.find(word)
        if 0 < position and position + len(word) < len(text.rstrip()):
            return word
    pytest.fail(f"no stop string to cut {text!r} at")


@pytest.mark.llamacpp
def test_backends_record_the_stop_the_model_wrote(hf_backend, llama_server):
    """The turn a stop string ends is recorded as the model wrote it, by every backend alike.

    Each backend first writes greedily without stops; a word of that text then stops the same
    turn early, next to a closing tag the model never writes. Every backend must report that
    text cut at the word, with the word as its stop: never a guessed closing tag, never none
    (llama.cpp and its server strip stop strings without naming them).
    """
    llamacpp = make_backend("default", "llamacpp")
    backends = {"hf": hf_backend, "llamacpp": llamacpp, "openai": make_backend(llama_server.reference)}
    request = GenerationRequest(max_tokens=32, temperature=0.0, seed=0)
    parsed = {}
    for name, backend in backends.items():
        [free] = backend.generate([CONVERSATION], request)
        stops = ("</math_exp>", stop_within(free.text))
        [stopped] = backend.generate([CONVERSATION], replace(request, stop=stops))
        assert (stopped.text, stopped.stop, stopped.finish_reason) == (*cut_at_stop(free.text, stops), "stop"), name
        written = stopped.text + stopped.stop
        parsed[name] = (parse_action(written, TAGS), parse_action(cut_at_stop(free.text, stops)[0] + stops[1], TAGS))
    llamacpp.close()
    assert all(ours == theirs for ours, theirs in parsed.values()), parsed


@pytest.mark.parametrize("extra, stop", [
    ({"stop_reason": "</answer>"}, "</answer>"),
    ({"stop_reason": None}, None),
    ({"stop_reason": 2}, None),
    ({"matched_stop": "</answer>"}, "</answer>"),
    ({}, "unknown"),
])
def test_openai_backend_takes_the_stop_the_server_names(extra, stop):
    from openai.types.chat import ChatCompletion

    from swirl.backends.openai_backend import _to_completion

    # vLLM and SGLang cannot run here: their reply shape stands in (the stop string, None or a
    # token id for an end of turn); a server that names none must not be guessed for.
    reply = ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "So <answer>16"},
                     **extra}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
    })
    completion = _to_completion(reply, GenerationRequest(stop=STOPS), cut_here=False)
    if stop == "unknown":
        assert completion is None
    else:
        assert (completion.text, completion.stop) == ("So <answer>16", stop)
