"""The `swirl` command line: one verb per pipeline stage (see README).

Each verb lives in its own module and registers itself on :data:`app`; this module
only wires them together and holds the verbs too small to deserve a file.
"""

from __future__ import annotations

import typer

from swirl import __version__
from swirl.cli.common import console, fail

app = typer.Typer(
    name="swirl",
    help="Step-Wise Reinforcement Learning (SWiRL): synthetic multi-step tool-use data, then step-wise RL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"swirl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", help="Show the version and exit.", callback=_version, is_eager=True),
) -> None:
    """Step-Wise Reinforcement Learning (SWiRL) for multi-step reasoning and tool use."""
    import logging
    import warnings

    from rich.logging import RichHandler

    # Deprecation chatter of the training stack is not actionable for a swirl user.
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

    logging.basicConfig(
        level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=console, show_path=False, level=logging.WARNING)]
    )


@app.command()
def models() -> None:
    """Show where the embedded default model is and whether its converted checkpoint is cached."""
    from pathlib import Path

    from swirl.errors import SwirlError
    from swirl.models import cache_dir, converted_checkpoint_dir, default_gguf_path, is_converted

    console.print(f"cache directory: {cache_dir()}  (set SWIRL_CACHE_DIR to move it)", highlight=False)
    try:
        gguf = default_gguf_path()
    except SwirlError as error:
        fail(str(error))
        return
    cached = is_converted(Path(gguf))
    typer.echo(f"default: SmolLM2-135M-Instruct (Apache-2.0)\n  gguf: {gguf}")
    typer.echo(f"  hf checkpoint: {converted_checkpoint_dir(Path(gguf))} ({'cached' if cached else 'not cached yet; built on first use'})")


def _not_implemented(verb: str) -> None:
    fail(f"'swirl {verb}' is not implemented yet", code=3)


def _register() -> None:
    from swirl.cli import data, eval, filter_split, generate, judge, report, run, train  # noqa: F401  (modules register their commands)

    for verb, summary in {
        "judge": "Label every step with a process judge and every trajectory with an outcome judge.",
        "filter": "Keep trajectories by a filtering strategy (none, process, outcome, process+outcome).",
        "split": "Split trajectories into one (state, action) sub-trajectory per step.",
        "train": "Step-wise RL (or SFT) on the split sub-trajectories.",
        "eval": "Multi-step tool-use evaluation of one or more models on benchmarks.",
        "report": "Write a static HTML report of an experiment directory.",
        "run": "Run a whole experiment from one YAML file.",
        "quickstart": "Run a small built-in experiment on the embedded model.",
    }.items():
        if verb not in {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}:
            app.command(name=verb, help=summary + " (not implemented yet)", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(
                lambda verb=verb: _not_implemented(verb)
            )


_register()
