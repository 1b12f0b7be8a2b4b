"""`swirl data`: list and export the benchmark samples shipped with swirl (see :mod:`swirl.data`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.table import Table

from swirl.cli import app
from swirl.cli.common import console, reports_errors

data_app = typer.Typer(
    help="List and export the benchmark samples shipped with swirl (what the README's examples run on).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command(name="list")
@reports_errors
def list_samples() -> None:
    """Show every shipped sample: questions, license, origin and where `swirl data export` puts it."""
    from swirl.data import SAMPLES
    from swirl.tasks import load_tasks

    table = Table(title="samples shipped with swirl (licenses: swirl data export writes LICENSES.md)")
    for column in ("name", "questions", "license", "exported as", "origin"):
        table.add_column(column, overflow="fold")
    for sample in SAMPLES:
        with resources.as_file(sample.resource()) as path:
            questions = len(load_tasks(path))
        table.add_row(sample.name, str(questions), sample.license, sample.export_as, sample.origin)
    console.print(table)


@data_app.command(name="export")
@reports_errors
def export(
    names: list[str] = typer.Argument(None, help="Samples to export (default: all); see `swirl data list`."),
    output: Path = typer.Option(Path("data"), "--output", "-o", help="Directory to export into."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist with other content."),
) -> None:
    """Copy shipped samples and their licenses into a directory, e.g. data/gsm8k/train.jsonl."""
    from swirl.data import LICENSES_FILE, SAMPLES, find_sample
    from swirl.errors import SwirlError
    from swirl.jsonl import write_atomically

    try:
        chosen = [find_sample(name) for name in names] if names else list(SAMPLES)
    except KeyError as error:
        raise SwirlError(f"no shipped sample {error.args[0]!r}; choose from {', '.join(s.name for s in SAMPLES)}") from None
    files = {output / sample.export_as: sample.resource().read_text(encoding="utf-8") for sample in chosen}
    files[output / LICENSES_FILE] = (resources.files("swirl.data") / LICENSES_FILE).read_text(encoding="utf-8")
    # Every conflict is found before anything is written.
    for path, text in files.items():
        if path.is_dir() or (path.exists() and not force and path.read_text(encoding="utf-8") != text):
            raise SwirlError(f"{path} exists with other content; use --force to overwrite it, or another --output")
    for path, text in files.items():
        write_atomically(path, [text])
        console.print(f"wrote {path}", highlight=False)
