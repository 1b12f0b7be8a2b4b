"""`swirl filter` and `swirl split`: command-line fronts of :mod:`swirl.stages.filter` and :mod:`swirl.stages.split`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from swirl.cli import app
from swirl.cli.common import ConfigOption, console, default, reports_errors
from swirl.stages.filter import FilterSettings


@app.command(name="filter")
@reports_errors
def filter_command(
    input: Path = typer.Option(..., "--input", "-i", help="Judged trajectories JSONL from 'swirl judge'."),
    output: Path = typer.Option(..., "--output", "-o", help="Kept trajectories JSONL."),
    strategy: str = typer.Option(default(FilterSettings, "strategy"), "--strategy", "-s", help="none, process, outcome or process+outcome."),
    config: Path = ConfigOption,
) -> None:
    """Keep trajectories by a filtering strategy.

    Also shows how many trajectories and steps each strategy would keep.
    """
    from swirl.stages.filter import STRATEGIES, run, strategy_table

    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"choose one of {', '.join(STRATEGIES)}", param_hint="--strategy")
    trajectories, kept = run(FilterSettings(strategy=strategy), input, output)

    table = Table(title=f"{len(trajectories)} trajectories, {sum(len(t.steps) for t in trajectories)} steps in")
    for column in ("strategy", "trajectories kept", "steps kept"):
        table.add_column(column)
    for row in strategy_table(trajectories):
        mark = " (chosen)" if row["strategy"] == strategy else ""
        table.add_row(f"{row['strategy']}{mark}", str(row["trajectories"]), str(row["steps"]))
    console.print(table)
    console.print(f"kept {len(kept)} trajectories -> {output}", highlight=False)


@app.command()
@reports_errors
def split(
    input: Path = typer.Option(..., "--input", "-i", help="Trajectories JSONL (usually filtered)."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for steps.jsonl and steps.parquet."),
    config: Path = ConfigOption,
) -> None:
    """Split trajectories into (state, action) rows for training.

    One sub-trajectory per step, saved as a TRL-ready dataset (steps.jsonl, steps.parquet).
    """
    from swirl.stages.judge import read_trajectories
    from swirl.stages.split import save_steps, split_trajectories

    trajectories = read_trajectories(input)
    rows = split_trajectories(trajectories)
    if not rows:
        raise typer.BadParameter(f"{input}: no steps to split (is the file empty, or did the filter keep nothing?)", param_hint="--input")
    save_steps(rows, output)
    console.print(f"{len(trajectories)} trajectories -> {len(rows)} sub-trajectories in {output}", highlight=False)
