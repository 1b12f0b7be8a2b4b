"""`swirl generate`: command-line front of :mod:`swirl.stages.generate` (option defaults from its settings)."""

from __future__ import annotations

from pathlib import Path

import typer

from swirl.backends.base import AUTO, BATCH_SIZE, CONCURRENCY, RETRIES, TIMEOUT_S
from swirl.cli import app
from swirl.cli.common import (
    ConfigOption, ProgressBoard, console, default, print_replica_counts, reports_errors, settings, split_list,
)
from swirl.models import DEFAULT_MODEL
from swirl.prompts import MAX_STEPS_HELP
from swirl.rollout import RolloutSettings
from swirl.stages.generate import GenerateSettings
from swirl.tasks import FORMATS

S = GenerateSettings


@app.command()
@reports_errors
def generate(
    input: Path = typer.Option(..., "--input", "-i", help="Task file (JSONL or JSON: GSM8K, HotpotQA, MuSiQue, 2Wiki, BeerQA or generic) or hf:NAME[:CONFIG]:SPLIT."),
    output: Path = typer.Option(..., "--output", "-o", help="Trajectories JSONL (appended; rerun to resume)."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Policy model: default, HF dir, .gguf, or openai:MODEL@URL."),
    tasks_format: str = typer.Option("auto", "--tasks", "--format", help=f"Task format: auto, {', '.join(FORMATS)}."),
    backend: str = typer.Option(AUTO, "--backend", help="Engine: auto, hf, openai, llamacpp, vllm."),
    num_trajectories: int = typer.Option(default(S, "num_trajectories"), "--num-trajectories", "-n", min=1, help="Trajectories per question."),
    max_steps: int = typer.Option(default(S, "max_steps"), "--max-steps", min=0, help=MAX_STEPS_HELP),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N questions (0 = all)."),
    temperature: float = typer.Option(default(S, "temperature"), "--temperature", min=0.0),
    top_p: float = typer.Option(default(S, "top_p"), "--top-p", min=0.0, max=1.0),
    max_tokens: int = typer.Option(default(S, "max_tokens"), "--max-tokens", min=1, help="Token limit of one action."),
    seed: int = typer.Option(0, "--seed"),
    tools: str = typer.Option(",".join(default(S, "tools")), "--tools", help="Comma-separated tools (calculator, search, module:attr); default per task type."),
    corpus: Path = typer.Option(default(S, "corpus"), "--corpus", help="Search corpus JSONL of {title, text}; default: the split's own passages."),
    search_top_k: int = typer.Option(default(S, "search_top_k"), "--search-top-k", min=1, help="Passages returned per search."),
    batch_size: int = typer.Option(BATCH_SIZE, "--batch-size", min=1, help="Sequences per forward batch (hf backend)."),
    concurrency: int = typer.Option(CONCURRENCY, "--concurrency", min=1, help="Requests in flight (openai backend)."),
    request_timeout: float = typer.Option(TIMEOUT_S, "--request-timeout", min=0.1, help="Seconds before an HTTP request times out (openai backend)."),
    retries: int = typer.Option(RETRIES, "--retries", min=0, help="Retries with exponential backoff on 429/5xx/connection errors (openai backend)."),
    max_live: int = typer.Option(RolloutSettings.max_live, "--max-live", min=1, help="Trajectories in flight at once (bounds memory and work lost to an interruption)."),
    config: Path = ConfigOption,
) -> None:
    """Roll out multi-step tool-use trajectories (stage 1 data)."""
    from swirl.backends import make_backend
    from swirl.models import parse_model_ref
    from swirl.stages.generate import run
    from swirl.tasks import load_tasks

    # Everything that can be wrong with the input is checked before the model loads.
    split_tasks = load_tasks(input, tasks_format)
    tasks = split_tasks[:limit] if limit else split_tasks
    ref = parse_model_ref(model)
    stage = settings(
        GenerateSettings, num_trajectories=num_trajectories, max_steps=max_steps, temperature=temperature, top_p=top_p,
        max_tokens=max_tokens, tools=split_list(tools), corpus=corpus, search_top_k=search_top_k,
    )
    engine = make_backend(
        ref, backend, batch_size=batch_size, concurrency=concurrency, timeout=request_timeout, max_retries=retries
    )
    with ProgressBoard() as board:
        summary = run(stage, tasks, split_tasks, engine, output, model_name=ref.name, seed=seed, progress=board,
                      max_live=max_live)
    engine.close()
    endings = ", ".join(f"{k}: {v}" for k, v in sorted(summary.terminations.items())) or "none"
    regenerated = f", {summary.regenerated} generated again after a backend error" if summary.regenerated else ""
    console.print(
        f"wrote {summary.written} trajectories ({summary.skipped} already present{regenerated}) to {output} "
        f"in {summary.seconds:.1f}s; endings: {endings}",
        highlight=False,
    )
    print_replica_counts(engine)
