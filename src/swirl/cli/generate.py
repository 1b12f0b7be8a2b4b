"""`swirl generate`: command-line front of :mod:`swirl.generate`."""

from __future__ import annotations

from pathlib import Path

import typer

from swirl.cli import app
from swirl.cli.common import ConfigOption, ProgressBoard, console, print_replica_counts, reports_errors, split_list
from swirl.prompts import MAX_STEPS_HELP
from swirl.records import ACTION_MAX_TOKENS
from swirl.tasks import FORMATS


@app.command()
@reports_errors
def generate(
    input: Path = typer.Option(..., "--input", "-i", help="Task file (JSONL or JSON: GSM8K, HotpotQA, MuSiQue, 2Wiki, BeerQA or generic) or hf:NAME[:CONFIG]:SPLIT."),
    output: Path = typer.Option(..., "--output", "-o", help="Trajectories JSONL (appended; rerun to resume)."),
    model: str = typer.Option("default", "--model", "-m", help="Policy model: default, HF dir, .gguf, or openai:MODEL@URL."),
    tasks_format: str = typer.Option("auto", "--tasks", "--format", help=f"Task format: auto, {', '.join(FORMATS)}."),
    backend: str = typer.Option("auto", "--backend", help="Engine: auto, hf, openai, llamacpp, vllm."),
    num_trajectories: int = typer.Option(1, "--num-trajectories", "-n", min=1, help="Trajectories per question."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help=MAX_STEPS_HELP),
    limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N questions (0 = all)."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0),
    top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0),
    max_tokens: int = typer.Option(ACTION_MAX_TOKENS, "--max-tokens", min=1, help="Token limit of one action."),
    seed: int = typer.Option(0, "--seed"),
    tools: str = typer.Option("", "--tools", help="Comma-separated tools (calculator, search, module:attr); default per task type."),
    corpus: Path = typer.Option(None, "--corpus", help="Search corpus JSONL of {title, text}; default: the split's own passages."),
    search_top_k: int = typer.Option(1, "--search-top-k", min=1, help="Passages returned per search."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Sequences per forward batch (hf backend)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="Requests in flight (openai backend)."),
    request_timeout: float = typer.Option(120.0, "--request-timeout", min=0.1, help="Seconds before an HTTP request times out (openai backend)."),
    retries: int = typer.Option(6, "--retries", min=0, help="Retries with exponential backoff on 429/5xx/connection errors (openai backend)."),
    max_live: int = typer.Option(256, "--max-live", min=1, help="Trajectories in flight at once (bounds memory and work lost to an interruption)."),
    config: Path = ConfigOption,
) -> None:
    """Roll out multi-step tool-use trajectories (stage 1 data)."""
    from swirl.backends import make_backend
    from swirl.generate import ToolSettings, existing_trajectories, generate_trajectories, is_data
    from swirl.models import parse_model_ref
    from swirl.progress import counter
    from swirl.records import SamplingSettings
    from swirl.rollout import RolloutSettings
    from swirl.tasks import load_tasks

    # Everything that can be wrong with the input is checked before the model loads.
    split_tasks = load_tasks(input, tasks_format)
    tasks = split_tasks[:limit] if limit else split_tasks
    ref = parse_model_ref(model)
    settings = RolloutSettings(
        num_trajectories=num_trajectories,
        max_steps=max_steps,
        max_live=max_live,
        sampling=SamplingSettings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed),
    )
    tool_settings = ToolSettings(tools=split_list(tools), corpus=corpus, search_top_k=search_top_k)
    engine = make_backend(
        ref, backend, batch_size=batch_size, concurrency=concurrency, timeout=request_timeout, max_retries=retries
    )
    total = len(tasks) * num_trajectories
    done = len({t.id for t in existing_trajectories(output) if is_data(t)})
    with ProgressBoard() as board:
        summary = generate_trajectories(
            tasks, engine, settings, tool_settings, output, model_name=ref.name, corpus_tasks=split_tasks,
            on_progress=counter(board, "trajectories", total, min(done, total)),
        )
    engine.close()
    endings = ", ".join(f"{k}: {v}" for k, v in sorted(summary.terminations.items())) or "none"
    regenerated = f", {summary.regenerated} generated again after a backend error" if summary.regenerated else ""
    console.print(
        f"wrote {summary.written} trajectories ({summary.skipped} already present{regenerated}) to {output} "
        f"in {summary.seconds:.1f}s; endings: {endings}",
        highlight=False,
    )
    print_replica_counts(engine)
