"""Our training options map onto TRL's configs, and the shipped accelerate configs parse.
(Multi-GPU runs cannot happen here; this checks everything up to the launch.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from swirl.training.settings import TrainSettings

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
