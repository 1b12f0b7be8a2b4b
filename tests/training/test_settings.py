"""Our training options map onto TRL's configs, and the shipped accelerate configs parse.
(Multi-GPU runs cannot happen here; this checks everything up to the launch.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from swirl.training.settings import TrainSettings

STOPS = ("</math_exp>", "</search_query>", "</answer>")

REPO = Path(__file__).resolve().parents[2]


def test_grpo_mapping(tmp_path):
    settings = TrainSettings(
        input="split", output=tmp_path, num_generations=8, batch_size=16, learning_rate=2e-6, kl_coef=0.04,
        max_completion_tokens=256, max_steps=100, temperature=0.9, report_to=["tensorboard"], seed=7,
        use_vllm=True, vllm_mode="server", vllm_server_base_url="http://gen-node:8000", save_steps=25,
    )
    config = settings.to_grpo_config(tmp_path)
    assert config.num_generations == 8
    assert config.per_device_train_batch_size == 16
    assert config.learning_rate == 2e-6
    assert config.beta == 0.04
    assert config.max_completion_length == 256
    assert config.max_steps == 100
    assert config.temperature == 0.9
    assert config.report_to == ["tensorboard"]
    assert config.seed == 7
    assert config.save_steps == 25
    assert (config.use_vllm, config.vllm_mode, config.vllm_server_base_url) == (True, "server", "http://gen-node:8000")
    assert config.remove_unused_columns is False


def test_sft_mapping_and_lora(tmp_path):
    settings = TrainSettings(algo="sft", input="split", output=tmp_path, lora=True, lora_r=8,
                             max_prompt_tokens=1024, max_completion_tokens=128)
    config = settings.to_sft_config(tmp_path)
    assert config.completion_only_loss is True
    assert config.max_length == 1152
    lora = settings.lora_config()
    assert lora.r == 8 and lora.lora_alpha == 32
    assert TrainSettings(input="s", output=tmp_path).lora_config() is None


def test_settings_reject_unknown_and_bad_values(tmp_path):
    with pytest.raises(ValidationError):
        TrainSettings(input="s", output=tmp_path, num_generation=4)
    with pytest.raises(ValidationError):
        TrainSettings(input="s", output=tmp_path, num_generations=1)
    with pytest.raises(ValidationError):
        TrainSettings(input="s", output=tmp_path, algo="ppo")


@pytest.mark.parametrize("name, kind", [("deepspeed_zero2.yaml", "DEEPSPEED"), ("deepspeed_zero3.yaml", "DEEPSPEED"),
                                        ("fsdp.yaml", "FSDP")])
def test_accelerate_configs_parse(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO / "configs" / "accelerate" / name))
    assert config.distributed_type.name == kind
    assert config.num_processes >= 1
    assert config.mixed_precision == "bf16"


def test_default_objective_is_the_papers_expected_step_reward(tmp_path):
    config = TrainSettings(input="split", output=tmp_path).to_grpo_config(tmp_path)
    # group-mean baseline, no division by a std, and a constant normaliser (REINFORCE up to scale)
    assert config.scale_rewards == "none"
    assert config.loss_type == "dr_grpo"


@pytest.mark.parametrize("scale, loss", [("group", "dapo"), ("batch", "grpo"), ("none", "bnpo")])
def test_objective_options_reach_trl(tmp_path, scale, loss):
    config = TrainSettings(input="split", output=tmp_path, scale_rewards=scale, loss_type=loss).to_grpo_config(tmp_path)
    assert (config.scale_rewards, config.loss_type) == (scale, loss)


def test_objective_options_reject_unknown_values(tmp_path):
    with pytest.raises(ValidationError):
        TrainSettings(input="s", output=tmp_path, scale_rewards="std")
    with pytest.raises(ValidationError):
        TrainSettings(input="s", output=tmp_path, loss_type="ppo")


def test_objective_options_in_experiment_yaml(tmp_path):
    from swirl.experiment import ExperimentConfig

    config = ExperimentConfig.model_validate(
        {"data": [{"path": "t.jsonl", "format": "gsm8k"}], "train": {"scale_rewards": "group", "loss_type": "dapo"}}
    )
    settings = TrainSettings(**config.train.model_dump(exclude={"judge"}), input="s", output=tmp_path)
    assert (settings.scale_rewards, settings.loss_type) == ("group", "dapo")


def test_one_action_budget_for_rollouts_training_and_eval(tmp_path):
    import inspect

    from swirl.cli.eval import eval_command
    from swirl.cli.generate import generate
    from swirl.cli.train import train
    from swirl.evaluation.plan import EvalSettings
    from swirl.experiment import EvalSection, GenerateSection
    from swirl.records import ACTION_MAX_TOKENS, SamplingSettings

    budgets = {
        "train": TrainSettings(input="s", output=tmp_path).max_completion_tokens,
        "rollouts": SamplingSettings().max_tokens,
        "eval": EvalSettings.model_fields["max_tokens"].default,
        "yaml generate": GenerateSection().max_tokens,
        "yaml eval": EvalSection().max_tokens,
        "cli train": inspect.signature(train).parameters["max_completion_tokens"].default.default,
        "cli generate": inspect.signature(generate).parameters["max_tokens"].default.default,
        "cli eval": inspect.signature(eval_command).parameters["max_tokens"].default.default,
    }
    assert set(budgets.values()) == {ACTION_MAX_TOKENS}, budgets


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")) + [REPO / "src/swirl/data/quickstart.yaml"],
                         ids=lambda p: p.name)
def test_shipped_configs_sample_actions_with_one_budget(path):
    from swirl.experiment import load_experiment

    config = load_experiment(path)
    assert config.train.max_completion_tokens == config.generate.max_tokens == config.eval.max_tokens


def test_trl_vllm_generation_stops_at_the_action_closing_tags(tmp_path, monkeypatch):
    """Our GRPO config, through TRL's own colocated-vLLM generation, asks vLLM to stop at the tags.

    vLLM needs a GPU and is not installed here: ``SamplingParams`` and the engine are
    stand-ins that record what TRL builds from our config.
    """
    from types import SimpleNamespace

    import torch
    from accelerate import Accelerator
    from trl.generation import vllm_generation

    class SamplingParams:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    class RecordingLLM:
        received: list = []

        def generate(self, prompts, sampling_params, use_tqdm=False):
            self.received.append(sampling_params)
            return [SimpleNamespace(prompt_token_ids=p["prompt_token_ids"],
                                    outputs=[SimpleNamespace(token_ids=[7, 8], logprobs=None)]) for p in prompts]

    monkeypatch.setattr(vllm_generation, "SamplingParams", SamplingParams, raising=False)
    monkeypatch.setattr(vllm_generation.VLLMGeneration, "_init_vllm", lambda self: setattr(self, "llm", RecordingLLM()))
    config = TrainSettings(input="split", output=tmp_path, use_vllm=True, max_completion_tokens=64).to_grpo_config(
        tmp_path, STOPS
    )
    generation = vllm_generation.VLLMGeneration(
        model=torch.nn.Linear(1, 1), accelerator=Accelerator(cpu=True), processing_class=None, mode=config.vllm_mode,
        max_completion_length=config.max_completion_length, generation_kwargs=config.generation_kwargs,
    )
    _, completion_ids, _, _ = generation.generate(prompts=[[1, 2, 3]], images=None, num_generations=1)
    [params] = RecordingLLM.received
    assert completion_ids == [[7, 8]]
    assert params.stop == list(STOPS)
    assert params.include_stop_str_in_output is True
    assert params.max_tokens == 64


def test_transformers_generation_gets_no_stop_strings(tmp_path):
    # transformers' generate cannot take stop strings from TRL (no tokenizer is passed);
    # without vLLM the trainer cuts actions after generation instead.
    config = TrainSettings(input="split", output=tmp_path).to_grpo_config(tmp_path)
    assert not (config.generation_kwargs or {}).get("stop")


def test_prefix_sharing_defaults_to_trajectory_and_rejects_unknown_modes(tmp_path):
    # the fastest exact mode measured (README, 'Prefix sharing')
    assert TrainSettings(input="s", output=tmp_path).prefix_sharing == "trajectory"
    assert TrainSettings(input="s", output=tmp_path, prefix_sharing="group").prefix_sharing == "group"
    with pytest.raises(ValidationError):
        TrainSettings(input="s", output=tmp_path, prefix_sharing="tree")
