"""The `swirl` command line: one verb per pipeline stage (see README).

Each verb lives in its own module and registers itself on :data:`app`; this module
only wires them together and holds the verbs too small to deserve a file.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from swirl import __version__
from swirl.cli.common import console, fail, print_error

VERB_ORDER = ("data", "generate", "judge", "filter", "split", "train", "eval", "report", "run", "quickstart", "models")
"""How `swirl --help` lists the verbs: the pipeline's order, then the helpers."""


# The click exceptions typer raises: recent typer versions vendor their own copy of click.
_errors = sys.modules[typer.BadParameter.__module__]
# click >= 8.2 raises this for a bare `swirl`; older versions print the help and exit themselves.
_NO_ARGS_IS_HELP = getattr(_errors, "NoArgsIsHelpError", type("_Never", (_errors.UsageError,), {}))


class _SwirlGroup(TyperGroup):
    """Lists verbs in pipeline order and turns every usage error into one line and a non-zero exit."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {verb: position for position, verb in enumerate(VERB_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as error:
            # Typer's help renderer prints the page itself; a plain-text formatter returns it.
            text = error.ctx.get_help() if error.ctx else ""
            if text:
                typer.echo(text)
            sys.exit(0)
        except _errors.UsageError as error:
            where = error.ctx.command_path if error.ctx else "swirl"
            print_error(f"{error.format_message()} (see '{where} --help')")
            sys.exit(error.exit_code)
        except _errors.ClickException as error:
            print_error(error.format_message())
            sys.exit(error.exit_code)
        except _errors.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="swirl",
    cls=_SwirlGroup,
    help="Step-Wise Reinforcement Learning (SWiRL): synthetic multi-step tool-use data, then step-wise RL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
    """Show where the embedded model is and whether it is cached.

    The default model is a GGUF file; its converted Hugging Face checkpoint is built once and cached.
    """
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


from swirl.cli import data, eval, filter_split, generate, judge, report, run, train  # noqa: E402,F401  (they register their verbs)
