"""`swirl report`: command-line front of :mod:`swirl.report`."""

from __future__ import annotations

from pathlib import Path

import typer

from swirl.cli import app
from swirl.cli.common import ConfigOption, reports_errors


@app.command()
@reports_errors
def report(
    experiment_dir: Path = typer.Argument(..., metavar="EXPERIMENT_DIR", help="An experiment directory of 'swirl run', or a directory holding outputs of generate, judge, filter, split, train or eval."),
    output: Path = typer.Option(None, "--output", "-o", help="HTML file to write (default: EXPERIMENT_DIR/report.html)."),
    config: Path = ConfigOption,
) -> None:
    """Write a self-contained HTML report of a directory of outputs.

    Reads an experiment directory of 'swirl run' or outputs of the single commands; prints the report's path.
    """
    from swirl.report import write_report

    typer.echo(str(write_report(experiment_dir, output)))
