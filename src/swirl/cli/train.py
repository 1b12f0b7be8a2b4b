"""`swirl train`: command-line front of :mod:`swirl.stages.train` (option defaults from its settings)."""

from __future__ import annotations

from pathlib import Path

import typer

from swirl.cli import app
from swirl.cli.common import (
    ConfigOption,
    console,
    default,
    reports_errors,
    settings,
    split_list,
)
from swirl.training.settings import TrainSettings

S = TrainSettings


@app.command()
@reports_errors
def train(
    input: Path = typer.Option(..., "--input", "-i", help="Split directory from 'swirl split'."),
    output: Path = typer.Option(..., "--output", "-o", help="Output directory (checkpoints, metrics.jsonl, final/)."),
    algo: str = typer.Option(default(S, "algo"), "--algo", help="swirl (step-wise RL with the judge as reward) or sft (baseline)."),
    model: str = typer.Option(default(S, "model"), "--model", "-m", help="Policy to train: default, HF dir or .gguf."),
    judge: str = typer.Option(default(S, "judge"), "--judge", help="Reward model R(a|s): a model reference, or 'reference' (gold-guided judge)."),
    judge_mode: str = typer.Option(default(S, "judge_mode"), "--judge-mode", help="score (P(GOOD), one forward pass) or generate (reasoning + verdict)."),
    judge_backend: str = typer.Option(default(S, "judge_backend"), "--judge-backend", help="Engine for the judge model: auto, hf, openai, llamacpp, vllm."),
    judge_retries: int = typer.Option(default(S, "judge_retries"), "--judge-retries", help="Retries of a failed judge request before the run stops."),
    num_generations: int = typer.Option(default(S, "num_generations"), "--num-generations", "-G", help="Fresh actions sampled per state (G)."),
    learning_rate: float = typer.Option(default(S, "learning_rate"), "--learning-rate", "--lr"),
    batch_size: int = typer.Option(default(S, "batch_size"), "--batch-size", help="Completions per device step (SWiRL: a multiple of G)."),
    gradient_accumulation_steps: int = typer.Option(default(S, "gradient_accumulation_steps"), "--gradient-accumulation-steps"),
    max_steps: int = typer.Option(default(S, "max_steps"), "--max-steps", help="Optimizer steps (-1: train for --epochs)."),
    epochs: float = typer.Option(default(S, "epochs"), "--epochs"),
    kl_coef: float = typer.Option(default(S, "kl_coef"), "--kl-coef", help="KL penalty to the start model (beta)."),
    scale_rewards: str = typer.Option(default(S, "scale_rewards"), "--scale-rewards", help="none (the paper: reward minus group mean), group or batch (also divide by that std)."),
    loss_type: str = typer.Option(default(S, "loss_type"), "--loss-type", help="How token terms are summed: dr_grpo (REINFORCE up to a constant), dapo, grpo, bnpo."),
    temperature: float = typer.Option(default(S, "temperature"), "--temperature", help="Sampling temperature of fresh actions."),
    max_prompt_tokens: int = typer.Option(default(S, "max_prompt_tokens"), "--max-prompt-tokens", help="Longer states are left out (and counted)."),
    max_completion_tokens: int = typer.Option(default(S, "max_completion_tokens"), "--max-completion-tokens", help="Token budget of a sampled action (as in generate and eval)."),
    lora: bool = typer.Option(default(S, "lora"), "--lora/--full", help="Train LoRA adapters (merged into the final model) or all weights."),
    lora_r: int = typer.Option(default(S, "lora_r"), "--lora-r"),
    lora_alpha: int = typer.Option(default(S, "lora_alpha"), "--lora-alpha"),
    save_steps: int = typer.Option(default(S, "save_steps"), "--save-steps", help="Checkpoint every N optimizer steps."),
    save_total_limit: int = typer.Option(default(S, "save_total_limit"), "--save-total-limit"),
    report_to: str = typer.Option(",".join(default(S, "report_to")), "--report-to", help="Comma-separated: tensorboard, wandb."),
    bf16: bool = typer.Option(default(S, "bf16"), "--bf16", help="bfloat16 training (GPUs)."),
    gradient_checkpointing: bool = typer.Option(default(S, "gradient_checkpointing"), "--gradient-checkpointing"),
    use_vllm: bool = typer.Option(default(S, "use_vllm"), "--use-vllm", help="Generate fresh actions with vLLM (TRL's vLLM integration)."),
    vllm_mode: str = typer.Option(default(S, "vllm_mode"), "--vllm-mode", help="colocate (same GPUs) or server (trl vllm-serve)."),
    vllm_server_base_url: str = typer.Option(default(S, "vllm_server_base_url"), "--vllm-server-base-url"),
    prefix_sharing: str = typer.Option(
        None, "--prefix-sharing", show_default=False,
        help="How the log-prob forwards share state tokens: off (TRL's rows, each state G times), group (each "
             "state once, its G actions as branches) or trajectory (also a trajectory's states on one trunk, batched "
             "together; shares across states only when --batch-size holds several states). Default: "
             f"{default(S, 'prefix_sharing')}, the fastest mode measured exact (README, 'Prefix sharing'); the first batch "
             "is checked and falls back to off if it differs."),
    limit: int = typer.Option(default(S, "limit"), "--limit", min=0, help="Train on the first N states only (0 = all)."),
    seed: int = typer.Option(default(S, "seed"), "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --output."),
    config: Path = ConfigOption,
) -> None:
    """Step-wise RL (SWiRL), or the SFT baseline, on split rows."""
    from swirl.stages.train import run

    stage = settings(
        TrainSettings,
        algo=algo, input=input, output=output, model=model, judge=judge, judge_mode=judge_mode,
        judge_backend=judge_backend, judge_retries=judge_retries, num_generations=num_generations, learning_rate=learning_rate,
        batch_size=batch_size, gradient_accumulation_steps=gradient_accumulation_steps, max_steps=max_steps,
        epochs=epochs, kl_coef=kl_coef, scale_rewards=scale_rewards, loss_type=loss_type, temperature=temperature, max_prompt_tokens=max_prompt_tokens,
        max_completion_tokens=max_completion_tokens, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha,
        seed=seed, save_steps=save_steps, save_total_limit=save_total_limit, report_to=split_list(report_to),
        bf16=bf16, gradient_checkpointing=gradient_checkpointing, use_vllm=use_vllm, vllm_mode=vllm_mode,
        vllm_server_base_url=vllm_server_base_url or None, limit=limit,
        **({"prefix_sharing": prefix_sharing} if prefix_sharing else {}),
    )
    summary = run(stage, resume=resume)
    console.print(
        f"{summary['algo']}: {summary['global_step']} steps on {summary['states']} states "
        f"({summary['states_too_long']} too long, left out); final model: {summary['final_model']}",
        highlight=False,
    )
