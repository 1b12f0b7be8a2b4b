"""KV reuse on the embedded model: multi-step rollouts of the hf backend, and generation
from repeated prompts (GRPO's G actions per state), come out the same with and without it,
while far fewer tokens go through the model."""

from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from transformers import GenerationConfig

from swirl.backends.hf import (
    HFBackend,
    PrefixStore,
    common_prefix_length,
    prefill_repeated_prompts,
)
from swirl.stages.generate import ToolSettings, build_toolsets
from swirl.records import SamplingSettings
from swirl.rollout import RolloutSettings, run_rollouts
from swirl.tasks import load_tasks

DATA = Path(__file__).resolve().parents[2] / "src" / "swirl" / "data" / "quickstart_gsm8k_train.jsonl"


@contextmanager
def counting_tokens(model):
    """Counts the token positions every forward of ``model`` computes (padding included)."""
    counted = [0]
    handle = model.register_forward_pre_hook(
        lambda _module, _args, kwargs: counted.__setitem__(0, counted[0] + kwargs["input_ids"].numel()),
        with_kwargs=True,
    )
    try:
        yield counted
    finally:
        handle.remove()


def rollouts(backend: HFBackend, temperature: float) -> list[tuple[str, list[str]]]:
    tasks = load_tasks(DATA, "gsm8k", limit=2)
    settings = RolloutSettings(
        num_trajectories=2, max_steps=3, max_consecutive_invalid=3,
        sampling=SamplingSettings(temperature=temperature, max_tokens=24, seed=0),
    )
    finished = []
    run_rollouts(tasks, backend, build_toolsets(tasks, ToolSettings()), settings, finished.append, model_name="default")
    return sorted((t.id, [s.action_text + (s.observation or "") for s in t.steps]) for t in finished)


def test_prefix_store_finds_the_longest_shared_prefix():
    rng = random.Random(0)
    stored = [tuple(rng.choice((1, 2, 3)) for _ in range(rng.randint(0, 12))) for _ in range(60)]
    store = PrefixStore()
    for ids in stored:
        store.add(ids, [])
    for _ in range(200):
        query = tuple(rng.choice((1, 2, 3)) for _ in range(rng.randint(1, 12)))
        assert store.longest_prefix(query)[0] == max(common_prefix_length(ids, query) for ids in stored)


def test_greedy_rollouts_are_the_same_with_kv_reuse(hf_backend):
    plain = HFBackend(hf_backend.model, hf_backend.tokenizer, kv_reuse=False)
    reusing = HFBackend(hf_backend.model, hf_backend.tokenizer, kv_reuse=True)
    with counting_tokens(hf_backend.model) as plain_tokens:
        expected = rollouts(plain, temperature=0.0)
    with counting_tokens(hf_backend.model) as reused_tokens:
        assert rollouts(reusing, temperature=0.0) == expected
    assert max(len(steps) for _, steps in expected) == 3
    assert reused_tokens[0] < plain_tokens[0] / 2


@pytest.mark.slow
def test_seeded_sampling_with_kv_reuse_is_deterministic(hf_backend):
    backend = HFBackend(hf_backend.model, hf_backend.tokenizer, kv_reuse=True)
    first = rollouts(backend, temperature=0.7)
    # Again on a fresh backend, and on this one, whose caches now hold the first run's ends.
    assert rollouts(HFBackend(hf_backend.model, hf_backend.tokenizer, kv_reuse=True), temperature=0.7) == first
    assert rollouts(backend, temperature=0.7) == first


def test_repeated_prompts_are_encoded_once_with_the_same_samples(hf_backend):
    model, tokenizer = hf_backend.model, hf_backend.tokenizer
    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
        for question in ("What is 12*7?", "Name a prime number larger than ten, please.")
        for _ in range(4)
    ]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    config = GenerationConfig(do_sample=True, temperature=0.9, top_k=0, max_new_tokens=12,
                              pad_token_id=tokenizer.pad_token_id)

    def sample():
        torch.manual_seed(0)
        return model.generate(**inputs, generation_config=config)

    with counting_tokens(model) as plain_tokens:
        expected = sample()
    with prefill_repeated_prompts(model), counting_tokens(model) as shared_tokens:
        shared = sample()
    assert torch.equal(shared, expected)
    assert len({tuple(row) for row in expected[:4, inputs["input_ids"].shape[1]:].tolist()}) > 1
    assert shared_tokens[0] < plain_tokens[0] / 2
    assert "generate" not in vars(model)
