"""Stage 2: step-wise RL (SWiRL) and the SFT baseline, both built on TRL.

SWiRL: for every logged state s of the split dataset, TRL's GRPOTrainer samples G
actions from the current policy, :class:`~swirl.training.reward.StepReward` scores each
with the process judge, and the group-relative policy gradient (optional KL penalty
to the start model) raises the expected step reward. Sampled actions are cut right
after their first closing tag, as generation and evaluation cut them, so the loss
covers action tokens only.

SFT: TRL's SFTTrainer on the same (state, action) rows, loss on the action only.

Both write periodic checkpoints (resumable), a JSONL of per-step metrics, one plain
console line per step, and a final HF checkpoint (LoRA merged) that `swirl generate` /
`swirl eval` accept as ``--model``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import PrinterCallback, TrainerCallback

from swirl.errors import SwirlError
from swirl.jsonl import write_atomically
from swirl.judges.base import ProcessJudge
from swirl.models import hf_checkpoint, parse_model_ref
from swirl.records import Task
from swirl.training.metrics import VALID_ACTIONS, ZERO_VARIANCE_GROUPS, is_valid_action, step_line, zero_variance_fraction
from swirl.training.prefix_sharing import PrefixSharingMixin, state_token_ids
from swirl.training.reward import StepReward, action_stops, completion_text, row_steps
from swirl.training.settings import SETTINGS_FILE, TrainSettings

REQUIRED_COLUMNS = ("prompt", "completion", "task")
FINAL_DIR = "final"
METRICS_FILE = "metrics.jsonl"


class MetricsLog(TrainerCallback):
    """Appends every logged metrics dict, with its step, to ``metrics.jsonl``.

    A run killed after its last checkpoint has logged steps that the resumed run trains
    (and logs) again; those lines, and a torn last line, are dropped when training starts,
    so every step is logged once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n") and json.loads(line).get("step", 0) <= state.global_step:
                kept.append(line)
        write_atomically(self.path, kept)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 (TRL callback signature)
        if logs and state.is_world_process_zero:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")


class ConsoleLog(TrainerCallback):
    """One plain line per logged step on stderr, the same on a terminal or in a log file.

    It replaces transformers' progress bars (training, checkpoint writing) and raw metrics
    dict; everything stays in ``metrics.jsonl``."""

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 (TRL callback signature)
        from transformers.utils import logging

        self._bars_were_on = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()
        self._since = (time.monotonic(), state.global_step)

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        from transformers.utils import logging

        if self._bars_were_on:
            logging.enable_progress_bar()

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        started, step = self._since
        self._since = (time.monotonic(), state.global_step)
        seconds = (self._since[0] - started) / max(1, state.global_step - step)
        print(step_line(state.global_step, state.max_steps, logs, seconds), file=sys.stderr, flush=True)


def read_split(settings: TrainSettings):
    """The split dataset, checked before any model is loaded."""
    from swirl.stages.split import load_steps

    directory = Path(settings.input)
    if not directory.is_dir():
        raise SwirlError(f"{directory}: not a split directory (run 'swirl split' first)")
    try:
        dataset = load_steps(directory)
    except (FileNotFoundError, ValueError) as error:
        raise SwirlError(f"{directory}: cannot read the split dataset ({error})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise SwirlError(f"{directory}: not a swirl split dataset (missing columns: {', '.join(missing)})")
    if len(dataset) == 0:
        raise SwirlError(f"{directory}: the split dataset is empty")
    if settings.limit:
        dataset = dataset.select(range(min(settings.limit, len(dataset))))
    return dataset


def drop_long_states(dataset, settings: TrainSettings, tokenizer: Any):
    """Leave out states longer than ``max_prompt_tokens``; return the rest and how many were left out."""

    def fits(row: dict) -> bool:
        return len(state_token_ids(tokenizer, row["prompt"])) <= settings.max_prompt_tokens

    kept = dataset.filter(fits)
    if len(kept) == 0:
        raise SwirlError(f"{settings.input}: every state is longer than --max-prompt-tokens {settings.max_prompt_tokens}")
    return kept, len(dataset) - len(kept)


def load_policy(reference: str, bf16: bool = False):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = hf_checkpoint(parse_model_ref(reference))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    except (OSError, ValueError) as error:
        raise SwirlError(f"cannot load policy model {reference!r}: {error}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def make_judge(settings: TrainSettings, tasks: Sequence[Task]) -> ProcessJudge:
    from swirl.judges import make_process_judge

    return make_process_judge(
        settings.judge, tasks, mode=settings.judge_mode, backend=settings.judge_backend,
        seed=settings.seed, max_retries=settings.judge_retries,
    )


def kept_length(ids: list[int], tokenizer: Any, stops: Sequence[str]) -> int:
    """Tokens up to and including the first closing tag (all of them when there is none)."""
    decode = lambda n: tokenizer.decode(ids[:n], skip_special_tokens=False)  # noqa: E731
    if not any(stop in decode(len(ids)) for stop in stops):
        return len(ids)
    low, high = 1, len(ids)
    while low < high:
        middle = (low + high) // 2
        if any(stop in decode(middle) for stop in stops):
            high = middle
        else:
            low = middle + 1
    return low


TRL_TESTED = ">=1.16,<1.17"
"""The TRL releases swirl is tested with (pyproject declares the same range): it overrides four
private GRPOTrainer methods, whose contract :func:`check_trl_contract` checks at start-up."""
_PRIVATE_SIGNATURES = {
    "_generate_single_turn": ("self", "prompt_ids", "images", "multimodal_fields", "num_generations", "has_tool_images"),
    "_calculate_rewards": ("self", "inputs", "prompts", "completions", "completion_ids_list"),
    # overridden by swirl.training.prefix_sharing.PrefixSharingMixin
    "_get_train_sampler": ("self", "dataset"),
    "_get_per_token_logps_and_entropies": (
        "self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
        "compute_aux_loss", "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes",
        "num_tiles", "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids",
    ),
}
# TRL's _generate unpacks what _generate_single_turn returns so; before TRL 1.0 it returned four values.
_GENERATION_CALL = "completion_ids, logprobs = self._generate_single_turn("


def check_trl_contract(trainer_class: type) -> None:
    """Fail in one line, before any model loads, if TRL changed the private methods swirl overrides."""
    import inspect

    import trl

    changed = [
        f"{name}'s parameters" for name, parameters in _PRIVATE_SIGNATURES.items()
        if not callable(getattr(trainer_class, name, None))
        or tuple(inspect.signature(getattr(trainer_class, name)).parameters) != parameters
    ]
    try:
        caller = inspect.getsource(trainer_class._generate)
    except (AttributeError, OSError, TypeError):
        caller = ""
    if _GENERATION_CALL not in caller:
        changed.append("_generate_single_turn's (completion_ids, logprobs) result")
    if changed:
        raise SwirlError(
            f"TRL {trl.__version__} does not match the private GRPOTrainer API swirl overrides "
            f"({', '.join(changed)}); install a tested release: pip install 'trl{TRL_TESTED}'"
        )


def _stepwise_grpo_trainer_class():
    import torch
    from trl import GRPOTrainer

    from swirl.backends.hf import prefill_repeated_prompts

    class StepwiseGRPOTrainer(PrefixSharingMixin, GRPOTrainer):
        """GRPO whose sampled actions end at their first closing tag, like rollouts do, whose
        sampling encodes each state once for its G actions, and whose log-prob forwards share
        each state's tokens between its actions (``prefix_sharing``)."""

        action_stops: Sequence[str] = ()
        """Closing tags of the dataset's tools and the answer (:func:`~swirl.training.reward.action_stops`)."""

        def _generate_single_turn(self, *args: Any, **kwargs: Any):
            # Each state is in the batch once per action to sample. TRL's transformers path calls
            # generate on accelerator.unwrap_model(model_wrapped), which then encodes each state
            # once; vLLM and paged generation do not call it and are left as they are.
            with prefill_repeated_prompts(self.accelerator.unwrap_model(self.model_wrapped)):
                completion_ids, logprobs = super()._generate_single_turn(*args, **kwargs)
            lengths = [kept_length(ids, self.processing_class, self.action_stops) for ids in completion_ids]
            completion_ids = [ids[:n] for ids, n in zip(completion_ids, lengths)]
            if logprobs is not None:
                logprobs = [lp[:n] for lp, n in zip(logprobs, lengths)]
            return completion_ids, logprobs

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # noqa: ANN001
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            metrics = self._metrics["train" if self.model.training else "eval"]
            valid = [is_valid_action(completion_text(c), self.action_stops) for c in completions]
            valid = self.accelerator.gather(torch.tensor(valid, dtype=torch.float32, device=rewards.device))
            metrics[VALID_ACTIONS].append(valid.mean().item())
            # rewards spans every process, in whole groups; swirl has a single reward function
            metrics[ZERO_VARIANCE_GROUPS].append(zero_variance_fraction(rewards.nansum(dim=1), self.num_generations))
            return rewards

    return StepwiseGRPOTrainer


def check_reward(reward: StepReward, row: dict) -> None:
    """Score one logged action before training, so a failing judge stops the run at once."""
    try:
        [score] = reward(
            prompts=[row["prompt"]], completions=[row["completion"]], task=[row["task"]],
            tool_tags=[row.get("tool_tags")], search=[row.get("search") or ""],
        )
    except Exception as error:  # any judge failure, whatever the backend raises
        raise SwirlError(f"the judge failed on a first test step: {type(error).__name__}: {error}") from None
    if not 0.0 <= score <= 1.0:
        raise SwirlError(f"the judge returned a reward outside [0, 1]: {score}")


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint in ``output``.

    transformers writes ``trainer_state.json`` last, so a checkpoint directory without it
    was cut short by a crash and is never resumed from.
    """
    checkpoints = [
        p for p in output.glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def save_final(trainer: Any, tokenizer: Any, output: Path, lora: bool) -> Path:
    """Save the trained policy as a plain HF checkpoint (LoRA merged); every process calls this.

    The trainer's own ``save_model`` gathers sharded weights (DeepSpeed ZeRO-3 with
    ``zero3_save_16bit_model``, FSDP switched to a full state dict) and writes on the main
    process only. The main process then merges LoRA adapters into a fresh copy of the
    base model (the adapters it reads are the gathered ones) and renames the temporary
    directory into place; the other processes wait at a barrier, so no process returns
    before the checkpoint exists and none races on the directories.
    """
    target = output / FINAL_DIR
    staging = output / f".{FINAL_DIR}.partial"
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(staging))
    if main:
        if lora:
            merge_adapters(staging, trainer.model.peft_config["default"].base_model_name_or_path, trainer.args.bf16)
        tokenizer.save_pretrained(staging)
        if not any(staging.glob("*.safetensors")):
            raise SwirlError(
                f"the final model was not gathered into {staging}: under DeepSpeed ZeRO-3 set "
                "zero3_save_16bit_model: true in the accelerate config (the checkpoints are complete)"
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    trainer.accelerator.wait_for_everyone()
    return target


def merge_adapters(directory: Path, base: str, bf16: bool) -> None:
    """Replace the LoRA adapters saved in ``directory`` by the base model with them merged in."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    merged = PeftModel.from_pretrained(model, str(directory)).merge_and_unload()
    for adapter_file in directory.glob("adapter_*"):
        adapter_file.unlink()
    merged.save_pretrained(directory)


def build_trainer(settings: TrainSettings) -> tuple[Any, Any, int]:
    """The configured TRL trainer, its tokenizer, and how many states were too long.

    Everything that can be wrong with the input (split dataset, policy, judge) fails
    here, before any training step.
    """
    from transformers import set_seed

    output = Path(settings.output)
    set_seed(settings.seed)
    if settings.algo == "swirl":
        from trl import GRPOTrainer

        check_trl_contract(GRPOTrainer)
    dataset = read_split(settings)
    model, tokenizer = load_policy(settings.model, settings.bf16)
    dataset, too_long = drop_long_states(dataset, settings, tokenizer)
    callbacks = [MetricsLog(output / METRICS_FILE), ConsoleLog()]
    if settings.algo == "swirl":
        all_tasks = [Task.model_validate_json(j) for j in dataset["task"]]
        tasks = list({t.id: t for t in all_tasks}.values())
        tags = dataset["tool_tags"] if "tool_tags" in dataset.column_names else [None] * len(all_tasks)
        reward = StepReward(make_judge(settings, tasks))
        check_reward(reward, dataset[0])
        kinds = {(task.task_type, row_tags): task for task, row_tags in zip(all_tasks, tags)}
        stops = action_stops(row_steps(kinds.values(), [row_tags for _, row_tags in kinds]))
        output.mkdir(parents=True, exist_ok=True)
        trainer = _stepwise_grpo_trainer_class()(
            model=model,
            reward_funcs=[reward],
            args=settings.to_grpo_config(output, stops),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=settings.lora_config(),
            callbacks=callbacks,
        )
        trainer.action_stops = stops
        trainer.prefix_sharing = settings.prefix_sharing
    else:
        from trl import SFTTrainer

        output.mkdir(parents=True, exist_ok=True)
        columns = [c for c in dataset.column_names if c not in ("prompt", "completion")]
        trainer = SFTTrainer(
            model=model,
            args=settings.to_sft_config(output),
            train_dataset=dataset.remove_columns(columns),
            processing_class=tokenizer,
            peft_config=settings.lora_config(),
            callbacks=callbacks,
        )
    trainer.remove_callback(PrinterCallback)
    return trainer, tokenizer, too_long


def train(settings: TrainSettings, *, resume: bool = False) -> dict[str, Any]:
    """Run SWiRL or SFT as configured; return a summary (steps, loss, final model path)."""
    output = Path(settings.output)
    checkpoint = latest_checkpoint(output) if resume else None
    if resume and checkpoint is None:
        raise SwirlError(f"--resume: no checkpoint in {output}")
    trainer, tokenizer, too_long = build_trainer(settings)
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.save_state()
    final = save_final(trainer, tokenizer, output, settings.lora)
    summary = {
        "algo": settings.algo,
        "states": len(trainer.train_dataset),
        "states_too_long": too_long,
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "final_model": str(final),
        "resumed_from": str(checkpoint) if checkpoint else None,
    }
    if settings.algo == "swirl":
        # the mode actually trained with: the first-batch check may have fallen back to off
        summary["prefix_sharing"] = trainer.prefix_sharing
        summary["prefix_sharing_stats"] = trainer._stats()
    if trainer.is_world_process_zero():
        (output / "train_summary.json").write_text(json.dumps(summary, indent=2))
        (output / SETTINGS_FILE).write_text(settings.model_dump_json(indent=2))
    return summary
