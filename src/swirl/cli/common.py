"""Pieces every `swirl` command shares: the `--config` option, error reporting, progress bars.

``--config FILE.yaml`` fills a command's option defaults from the file (keys are the
option names, with ``-`` or ``_``); options given on the command line still win.
Unknown keys and malformed files are one-line errors.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from swirl.backends.base import Backend
from swirl.errors import SwirlError
from swirl.yamlfile import load_config_file

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _apply_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is None:
        return value
    data = load_config_file(value)
    options = {p.name: p for p in ctx.command.params if p.name and p.name != "config"}
    defaults: dict[str, Any] = {}
    for key, item in data.items():
        name = str(key).replace("-", "_")
        if name not in options:
            raise click.BadParameter(
                f"{value}: unknown key {key!r}; known keys: {', '.join(sorted(options))}", param_hint="--config"
            )
        if isinstance(item, list) and not getattr(options[name], "multiple", False):
            item = ",".join(str(x) for x in item)
        defaults[name] = item
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


ConfigOption = typer.Option(
    None,
    "--config",
    help="YAML file of option values (keys = option names); command-line options override it.",
    is_eager=True,
    callback=_apply_config,
    exists=False,
    dir_okay=False,
)


def fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def reports_errors(function: F) -> F:
    """Turn swirl's user-facing errors into a one-line message and a non-zero exit."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except SwirlError as error:
            fail(str(error))
        except KeyboardInterrupt:
            console.print("interrupted; rerun the same command to resume", highlight=False)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def progress_bar(description: str = "") -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def print_replica_counts(backend: Backend, role: str = "") -> None:
    """Say how requests split over the server replicas, when a backend spreads over several."""
    counts = backend.replica_counts()
    if len(counts) < 2:
        return
    split = ", ".join(f"{url}: {c.ok} ok, {c.failed} failed" for url, c in counts.items())
    console.print(f"{role + ' ' if role else ''}requests per server: {split}", highlight=False)


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class ProgressBoard:
    """``board(name, done, total)`` keeps one bar per name on a live rich progress display."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, Any] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if name not in self.bars:
            self.bars[name] = self.progress.add_task(name, total=total, rate="")
        self.progress.update(self.bars[name], completed=done, total=total)
