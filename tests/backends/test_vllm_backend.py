"""The vllm backend's sampling requests: one seed per conversation, stops at the action's closing tags.

vLLM needs a GPU and is not installed on the CPU test machines, so ``vllm.LLM`` and
``vllm.SamplingParams`` are replaced by stand-ins that record what the backend asks
for and answer the way vLLM does (text cut after the stop string when
``include_stop_str_in_output`` is set).
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest

from swirl.actions import action_stop_strings
from swirl.backends.base import GenerationRequest

STOPS = action_stop_strings({"math_exp": "calculator"})
CONVERSATION = [{"role": "user", "content": "What is 12*7?"}]


class SamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


@dataclass
class _Sample:
    text: str
    token_ids: list[int]
    finish_reason: str


@dataclass
class _Output:
    outputs: list[_Sample]
    prompt_token_ids: list[int] = field(default_factory=lambda: [1, 2, 3])


class RecordingLLM:
    """Records every (conversations, sampling params) call; writes past a closing tag like a model would."""

    calls: list[tuple[list, object]] = []

    def __init__(self, model: str, **engine_args):
        self.model = model

    def chat(self, conversations, params, use_tqdm=False):
        RecordingLLM.calls.append((conversations, params))
        per_request = params if isinstance(params, list) else [params] * len(conversations)
        outputs = []
        for p in per_request:
            text = f"<math_exp>{p.seed}*1</math_exp> and the result is"
            cut = min((text.find(s) + len(s) for s in p.stop if s in text), default=None)
            if cut is not None and p.include_stop_str_in_output:
                text = text[:cut]
            outputs.append(_Output([_Sample(text, list(range(len(text.split()))), "stop")]))
        return outputs


@pytest.fixture
def vllm_backend(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = RecordingLLM
    module.SamplingParams = SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    RecordingLLM.calls = []
    from swirl.backends.vllm_backend import VLLMBackend

    return VLLMBackend("/models/policy")


def test_each_conversation_gets_its_own_seed(vllm_backend):
    completions = vllm_backend.generate([CONVERSATION] * 4, GenerationRequest(max_tokens=32, stop=STOPS, seed=10))
    [(_, params)] = RecordingLLM.calls
    assert [p.seed for p in params] == [10, 11, 12, 13]
    assert len({c.text for c in completions}) == 4


def test_unseeded_requests_stay_unseeded(vllm_backend):
    vllm_backend.generate([CONVERSATION] * 2, GenerationRequest(max_tokens=8, stop=STOPS))
    [(_, params)] = RecordingLLM.calls
    assert [p.seed for p in params] == [None, None]


def test_generation_stops_at_the_closing_tag(vllm_backend):
    [completion] = vllm_backend.generate([CONVERSATION], GenerationRequest(max_tokens=32, stop=STOPS, seed=0))
    [(_, [params])] = RecordingLLM.calls
    assert params.stop == list(STOPS)
    assert params.max_tokens == 32
    assert completion.text == "<math_exp>0*1"
    assert completion.stop == "</math_exp>"
    assert completion.finish_reason == "stop"


def test_rollouts_through_vllm_stop_at_tool_and_answer_tags(vllm_backend):
    from swirl.records import Task
    from swirl.rollout import RolloutSettings, run_rollouts
    from swirl.tools import CalculatorTool

    task = Task(id="m1", question="What is 3*4?", answer="12", task_type="math", source="test")
    finished = []
    run_rollouts(
        [task], vllm_backend, lambda _: [CalculatorTool()],
        RolloutSettings(num_trajectories=3, max_steps=1), finished.append, model_name="vllm",
    )
    [(conversations, params)] = RecordingLLM.calls
    assert len(conversations) == 3
    assert len({p.seed for p in params}) == 3
    assert all(set(p.stop) == {"</math_exp>", "</answer>"} and p.include_stop_str_in_output for p in params)
    assert sorted(t.steps[0].action.query for t in finished) == ["0*1", "1*1", "2*1"]
