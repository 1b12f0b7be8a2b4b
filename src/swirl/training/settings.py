"""Training settings for `swirl train`, and how they map onto TRL's configs.

One pydantic model holds every option (command line or ``--config`` YAML); the
``to_grpo_config`` / ``to_sft_config`` methods are the single place where swirl's
names meet TRL's, so scaling switches (vLLM generation, DeepSpeed via accelerate)
are plain settings here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from swirl.backends.base import AUTO, RETRIES
from swirl.judges.process import DEFAULT_MODE
from swirl.models import DEFAULT_MODEL
from swirl.records import ACTION_MAX_TOKENS

ALGORITHMS = ("swirl", "sft")
SETTINGS_FILE = "train_settings.json"
"""Written into the training output: the settings a model was trained with (its reward judge included)."""

RewardScaling = Literal["none", "group", "batch"]
"""How TRL divides the group-centred rewards: not at all, by the group's std, or by the batch's std."""
LossType = Literal["dr_grpo", "dapo", "grpo", "bnpo"]
"""How TRL sums the per-token policy-gradient terms. swirl samples each batch once (TRL's
``num_iterations`` 1), so the importance ratio is 1 and these differ only in what the token sum
is divided by; TRL's off-policy variants (cispo, sapo, ...) would add nothing."""
PrefixSharing = Literal["off", "group", "trajectory"]


class TrainOptions(BaseModel):
    """The knobs of a training run, shared by `swirl train` and the `train` section of `swirl run`."""

    model_config = ConfigDict(extra="forbid")

    algo: Literal["swirl", "sft"] = "swirl"
    num_generations: int = Field(4, ge=2)
    """G: fresh actions sampled per state."""
    learning_rate: float = Field(1e-5, gt=0)
    batch_size: int = Field(4, ge=1)
    """Completions per optimizer micro-step (GRPO: a multiple of G)."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_steps: int = Field(-1)
    """Optimizer steps; -1 trains for ``epochs`` instead."""
    epochs: float = Field(1.0, gt=0)
    kl_coef: float = Field(0.0, ge=0)
    """beta of the KL penalty to the start model (0 = no reference model kept)."""
    scale_rewards: RewardScaling = "none"
    """The paper's objective is the plain expected step reward: advantages are rewards minus their
    group mean, not divided by a std (a near-constant judge score would turn noise into +-1)."""
    loss_type: LossType = "dr_grpo"
    """``dr_grpo`` divides the token sum by a constant (completions x ``max_completion_tokens``), so
    the gradient is the REINFORCE estimate sum_i A_i grad log pi(a_i|s_i) up to a fixed scale; the
    others divide by a count that depends on the sampled lengths."""
    temperature: float = Field(1.0, gt=0)
    max_prompt_tokens: int = Field(2048, ge=16)
    """States longer than this are left out (and counted) instead of being cut mid-conversation."""
    max_completion_tokens: int = Field(ACTION_MAX_TOKENS, ge=1)
    """Token budget of a sampled action, shared with rollouts and evaluation."""
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    report_to: list[str] = Field(default_factory=list)
    """``tensorboard``, ``wandb``: passed to TRL's ``report_to``."""
    bf16: bool = False
    gradient_checkpointing: bool = False
    use_vllm: bool = False
    vllm_mode: Literal["server", "colocate"] = "colocate"
    vllm_server_base_url: str | None = None
    prefix_sharing: PrefixSharing = "trajectory"
    """How the log-prob forwards share state tokens (see :mod:`swirl.training.prefix_sharing`): the fastest
    exact mode measured (README, 'Prefix sharing'); with one state per batch it packs as ``group`` does."""


class TrainSettings(TrainOptions):
    """A complete training run: the options plus data, policy and reward model."""

    input: Path
    output: Path
    model: str = DEFAULT_MODEL
    judge: str = DEFAULT_MODEL
    """Process judge (the reward model R(a|s)): a model reference, or ``reference`` for the gold-guided judge."""
    judge_mode: Literal["score", "generate"] = DEFAULT_MODE
    judge_backend: str = AUTO
    judge_retries: int = Field(RETRIES, ge=0)
    """Retries of a failed judge request (HTTP judges) before the run stops."""
    seed: int = 0
    limit: int = Field(0, ge=0)
    """Train on the first N states only (0 = all)."""

    def _common(self, output_dir: Path) -> dict[str, Any]:
        import torch

        # transformers warns about gradient_checkpointing whenever it is passed, so only when on.
        extra = {"gradient_checkpointing": True} if self.gradient_checkpointing else {}
        return extra | {
            "output_dir": str(output_dir),
            "learning_rate": self.learning_rate,
            "per_device_train_batch_size": self.batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "max_steps": self.max_steps,
            "num_train_epochs": self.epochs,
            "seed": self.seed,
            "save_strategy": "steps",
            "save_steps": self.save_steps,
            "save_total_limit": self.save_total_limit,
            "logging_steps": self.logging_steps,
            "report_to": self.report_to or "none",
            "bf16": self.bf16,
            "remove_unused_columns": False,
            # the trainer prints one line per step instead of a bar and the raw metrics dict
            "disable_tqdm": True,
            # pinning needs an accelerator; on CPU torch only warns that it is ignored
            "dataloader_pin_memory": torch.cuda.is_available(),
        }

    def to_grpo_config(self, output_dir: Path, action_stops: Sequence[str] = ()):
        """TRL's config; ``action_stops`` are the closing tags that end a sampled action (vLLM stops there)."""
        from trl import GRPOConfig

        vllm: dict[str, Any] = {}
        if self.use_vllm:
            # TRL hands generation_kwargs to vLLM's SamplingParams (colocated engine or
            # `trl vllm-serve`): sampled actions end at their closing tag, kept in the text,
            # as in rollouts. transformers' generate cannot take stop strings from TRL (it
            # gets no tokenizer), so that path cuts actions after generation instead.
            vllm = {
                "use_vllm": True,
                "vllm_mode": self.vllm_mode,
                "generation_kwargs": {"stop": list(action_stops), "include_stop_str_in_output": True},
            }
            if self.vllm_server_base_url:
                vllm["vllm_server_base_url"] = self.vllm_server_base_url
        return GRPOConfig(
            **self._common(output_dir),
            num_generations=self.num_generations,
            max_completion_length=self.max_completion_tokens,
            beta=self.kl_coef,
            scale_rewards=self.scale_rewards,
            loss_type=self.loss_type,
            temperature=self.temperature,
            **vllm,
        )

    def to_sft_config(self, output_dir: Path):
        from trl import SFTConfig

        return SFTConfig(
            **self._common(output_dir),
            max_length=self.max_prompt_tokens + self.max_completion_tokens,
            completion_only_loss=True,
        )

    def lora_config(self):
        if not self.lora:
            return None
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_r, lora_alpha=self.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
        )
