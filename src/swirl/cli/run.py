"""`swirl run` and `swirl quickstart`: command-line fronts of :mod:`swirl.pipeline`."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import typer
from rich.table import Table

from swirl.cli import app
from swirl.cli.common import ProgressBoard, console, reports_errors


def _log(message: str) -> None:
    console.print(message, highlight=False, markup=False)


@app.command()
@reports_errors
def run(
    config: Path = typer.Argument(..., help="Experiment YAML (see configs/ for examples)."),
    output: Path = typer.Option(None, "--output", "-o", help="Experiment directory (default: experiments/<name>)."),
) -> None:
    """Run a whole experiment from one YAML file.

    generate -> judge -> filter -> split -> train -> eval -> report.

    Rerunning skips finished stages whose settings are unchanged and resumes an interrupted one.
    """
    from swirl.experiment import load_experiment
    from swirl.pipeline import run_experiment

    experiment = load_experiment(config)
    directory = output or Path("experiments") / experiment.name
    with ProgressBoard() as board:
        metrics = run_experiment(experiment, directory, log=_log, progress=board)
    print_comparison(metrics)
    console.print(f"experiment directory: {directory}\nreport: {directory / 'report.html'}", highlight=False)


@app.command()
@reports_errors
def quickstart(
    output: Path = typer.Option(Path("experiments/quickstart"), "--output", "-o", help="Experiment directory."),
) -> None:
    """Run a small built-in experiment on the embedded model.

    25 minutes measured on a 2-core CPU shared with another job (README, Quickstart).
    """
    from swirl.experiment import load_experiment
    from swirl.pipeline import run_experiment

    started = time.perf_counter()
    with resources.as_file(resources.files("swirl.data") / "quickstart.yaml") as path:
        experiment = load_experiment(path)
    with ProgressBoard() as board:
        metrics = run_experiment(experiment, output, log=_log, progress=board)
    print_comparison(metrics)
    minutes = (time.perf_counter() - started) / 60
    console.print(
        f"quickstart finished in {minutes:.1f} min. report: {output / 'report.html'}\n"
        "(SmolLM2-135M is a very small model: these numbers show the pipeline working, not SWiRL's gains.)",
        highlight=False,
    )


def print_comparison(metrics: dict) -> None:
    """Base vs trained per benchmark: accuracy, mean process score and answered rate, with 95% CIs."""
    from swirl.evaluation.outputs import format_interval

    if not metrics.get("results"):
        return
    shown = ("accuracy", "process_score", "answered_rate")
    table = Table(title="base vs trained: mean [95% CI]")
    for column in ("benchmark", "model", *shown, "questions"):
        table.add_column(column)
    for benchmark in metrics["benchmarks"]:
        for model in metrics["models"]:
            result = metrics["results"][model["label"]][benchmark["name"]]
            cells = [
                format_interval(**{k: result["metrics"][m][k] for k in ("mean", "low", "high")})
                if m in result["metrics"] else "-"
                for m in shown
            ]
            table.add_row(benchmark["name"], model["label"], *cells, str(result["n"]))
    console.print(table)
    judges = metrics.get("judges", {})
    console.print(
        f"accuracy graded by {judges.get('accuracy')}; process_score judged by {judges.get('process_score') or 'none'}",
        highlight=False,
    )
    for warning in judges.get("warnings", []):
        console.print(f"[yellow]warning: {warning}[/]", highlight=False)
