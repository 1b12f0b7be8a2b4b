"""`swirl eval`: command-line front of :mod:`swirl.stages.eval` (option defaults from its settings)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from swirl.cli import app
from swirl.cli.common import ConfigOption, ProgressBoard, console, default, reports_errors, settings, split_list
from swirl.evaluation.plan import EvalSettings
from swirl.prompts import MAX_STEPS_HELP
from swirl.tasks import BENCHMARK_FORMATS

S = EvalSettings


@app.command(name="eval")
@reports_errors
def eval_command(
    model: list[str] = typer.Option(..., "--model", "-m", help="Model to evaluate (repeat for several; the first is the baseline of paired comparisons)."),
    label: list[str] = typer.Option([], "--label", help="Name of each model in tables and paths (repeat, one per --model); default: the checkpoint directory or .gguf file name, the served model name, or 'default'."),
    benchmarks: str = typer.Option(..., "--benchmarks", "-b", help=f"Comma-separated benchmarks: {', '.join(BENCHMARK_FORMATS)}."),
    input: str = typer.Option(..., "--input", "-i", help="Comma-separated task files or hf:NAME[:CONFIG]:SPLIT datasets, one per benchmark, in the same order."),
    output: Path = typer.Option(..., "--output", "-o", help="Evaluation directory (rerun to resume)."),
    limit: int = typer.Option(default(S, "limit"), "--limit", min=0, help="Questions per benchmark: a seeded random subset, the same for every model (0 = all)."),
    seed: int = typer.Option(default(S, "seed"), "--seed", help="Seed of the question subset, the sampling and the bootstrap."),
    backend: str = typer.Option(default(S, "backend"), "--backend", help="Engine: auto, hf, openai, llamacpp, vllm."),
    batch_size: int = typer.Option(default(S, "batch_size"), "--batch-size", min=1, help="Sequences per forward batch (hf backend)."),
    max_tokens: int = typer.Option(default(S, "max_tokens"), "--max-tokens", min=1, help="Token limit of one action."),
    temperature: float = typer.Option(default(S, "temperature"), "--temperature", min=0.0, help="Sampling temperature (0 = greedy)."),
    max_steps: int = typer.Option(default(S, "max_steps"), "--max-steps", min=0, help=MAX_STEPS_HELP),
    no_tools: bool = typer.Option(default(S, "no_tools"), "--no-tools", help="Ablation: no tools, the model answers directly."),
    judge: str = typer.Option(default(S, "judge"), "--judge", help="Process judge for the mean step score: a model reference, or 'reference' (gold-data judge); default none. Use another model than the training reward's judge: its own scores are no independent evidence."),
    judge_mode: str = typer.Option(default(S, "judge_mode"), "--judge-mode", help="Process judge mode: score (P(GOOD)) or generate (reasoning + verdict)."),
    reward_judge: list[str] = typer.Option([], "--reward-judge", help="Judge that gave the models their training reward (repeatable), for the independence warning; found automatically in a checkpoint's train_settings.json."),
    grader: str = typer.Option(default(S, "grader"), "--grader", help="LLM outcome grader (answer equivalence); default: programmatic correctness."),
    bootstrap: int = typer.Option(default(S, "bootstrap"), "--bootstrap", min=1, help="Bootstrap resamples per confidence interval."),
    config: Path = ConfigOption,
) -> None:
    """Evaluate models on benchmarks, with 95% bootstrap intervals.

    Multi-step tool-use inference of one or more models; the first is the baseline of paired comparisons.
    """
    from swirl.evaluation.outputs import cross_task_table
    from swirl.stages.eval import evaluate

    stage = settings(
        EvalSettings,
        models=model,
        labels=label,
        benchmarks=split_list(benchmarks),
        inputs=[Path(path) for path in split_list(input)],
        limit=limit,
        seed=seed,
        output=output,
        backend=backend,
        batch_size=batch_size,
        max_tokens=max_tokens,
        temperature=temperature,
        max_steps=max_steps,
        no_tools=no_tools,
        judge=judge or None,
        judge_mode=judge_mode,
        reward_judges=reward_judge,
        grader=grader or None,
        bootstrap=bootstrap,
    )
    with ProgressBoard() as board:
        result = evaluate(stage, on_progress=board)

    judges = result["judges"]
    shown = ["accuracy"] + (["programmatic_accuracy"] if judges["accuracy"] != judges["programmatic_accuracy"] else [])
    for metric in shown:
        header, rows = cross_task_table(result, metric)
        table = Table(title=f"{metric} ({result['confidence']:.0%} CI), graded by {judges[metric]}")
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if judges["process_score"]:
        console.print(f"process_score judged by {judges['process_score']}", highlight=False)
    for warning in judges["warnings"]:
        console.print(f"[yellow]warning: {warning}[/]", highlight=False)
    failed = sum(cell["failed"] for by_benchmark in result["results"].values() for cell in by_benchmark.values())
    if failed:
        console.print(f"[yellow]inference failed on {failed} question(s); see results.md[/]", highlight=False)
    console.print(f"results in {output}: metrics.json, results.md, charts, trajectories/", highlight=False)
