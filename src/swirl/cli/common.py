"""Pieces every `swirl` command shares: the `--config` option, one-line errors, the progress display.

``--config FILE.yaml`` fills a command's option defaults from the file (keys are the
option names, with ``-`` or ``_``); options given on the command line still win.
Unknown keys and malformed files are one-line errors.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.text import Text

from swirl.backends.base import Backend
from swirl.errors import SwirlError
from swirl.yamlfile import load_config_file

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def default(model: type[BaseModel], name: str) -> Any:
    """The default of a stage settings field: an option that is a settings field takes its default from the model."""
    return model.model_fields[name].get_default(call_default_factory=True)


def settings(model: type[M], /, **values: Any) -> M:
    """The stage's settings from option values; a rejected value is a one-line error naming its option."""
    try:
        return model(**values)
    except ValidationError as error:
        first = error.errors()[0]
        raise SwirlError(f"--{'-'.join(str(p).replace('_', '-') for p in first['loc'])}: {first['msg']}") from None


def _apply_config(ctx: typer.Context, _param: Any, value: Path | None) -> Path | None:
    if value is None:
        return value
    data = load_config_file(value)
    options = {p.name: p for p in ctx.command.params if p.name and p.name != "config"}
    defaults: dict[str, Any] = {}
    for key, item in data.items():
        name = str(key).replace("-", "_")
        if name not in options:
            raise typer.BadParameter(
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


def print_error(message: str) -> None:
    """One line on stderr: ``error: <message>``, never wrapped, whatever the terminal width."""
    console.print(Text.assemble(("error:", "bold red"), " ", " ".join(message.split())), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    print_error(message)
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


def print_replica_counts(backend: Backend, role: str = "") -> None:
    """Say how requests split over the server replicas, when a backend spreads over several."""
    counts = backend.replica_counts()
    if len(counts) < 2:
        return
    split = ", ".join(f"{url}: {c.ok} ok, {c.failed} failed" for url, c in counts.items())
    console.print(f"{role + ' ' if role else ''}requests per server: {split}", highlight=False)


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


PLAIN_PROGRESS_INTERVAL_S = 30.0
"""Seconds between plain progress lines when the output is not a terminal."""


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.2f}/s" if task.speed else "")


class ProgressBoard:
    """The progress display of every command: ``board(name, done, total)`` (a :data:`swirl.progress.ProgressCallback`).

    On a terminal, one live rich bar per name. Elsewhere (a log file, CI, a notebook
    running the command) live bars would only appear at the end, so each name gets a
    plain line when it starts, every ``interval`` seconds and when it finishes. The
    display starts with the first report, so an error found before any work prints
    nothing but itself. Use it as a context manager.
    """

    def __init__(self, target: Console | None = None, interval: float = PLAIN_PROGRESS_INTERVAL_S) -> None:
        self.console = target or console
        self.live = self.console.is_terminal
        self.interval = interval
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, disable=not self.live,
        )
        self.tasks: dict[str, TaskID] = {}
        self.last_line: dict[str, float] = {}
        self.started = False

    def __enter__(self) -> ProgressBoard:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.started:
            self.progress.stop()

    def __call__(self, name: str, done: int, total: int) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        if name not in self.tasks:
            # Work already done (a resumed stage) is the start, not speed.
            self.tasks[name] = self.progress.add_task(name, total=total, completed=done, resumed_from=done)
        task_id = self.tasks[name]
        self.progress.update(task_id, completed=done, total=total)
        if self.live:
            return
        now = time.monotonic()
        finished = done >= total
        if name in self.last_line and not finished and now - self.last_line[name] < self.interval:
            return
        if finished and self.last_line.get(name) == math.inf:
            return
        self.last_line[name] = math.inf if finished else now
        self.console.print(self.plain_line(self.progress.tasks[task_id]), highlight=False, markup=False, soft_wrap=True)

    @staticmethod
    def plain_line(task: Task) -> str:
        total = task.total or 0
        parts = [f"{task.description}: {int(task.completed)}/{int(total)}"]
        if total:
            parts[0] += f" ({task.completed / total:.0%})"
        # Over the whole run, not rich's 30 s window: a batch that finishes all at once after
        # minutes would otherwise read as thousands per second.
        new_work = task.completed - task.fields.get("resumed_from", 0)
        rate = new_work / task.elapsed if task.elapsed and new_work > 0 else 0.0
        if rate:
            parts.append(f"{rate:.2f}/s")
        parts.append(f"elapsed {_duration(task.elapsed)}")
        if rate and total and task.completed < total:
            parts.append(f"about {_duration((total - task.completed) / rate)} left")
        return ", ".join(parts)


def _duration(seconds: float | None) -> str:
    return str(timedelta(seconds=int(seconds or 0)))
