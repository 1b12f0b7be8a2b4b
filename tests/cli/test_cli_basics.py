from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from swirl import __version__
from swirl.cli import app

VERBS = ["data", "generate", "judge", "filter", "split", "train", "eval", "report", "run", "quickstart", "models"]
runner = CliRunner()


def test_help_lists_every_verb_in_pipeline_order_with_plain_flags():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == VERBS
    assert "  --version  Show the version and exit." in result.output
    assert "<bool>" not in result.output and "BOOLEAN" not in result.output


def test_bare_swirl_prints_help():
    result = runner.invoke(app, [])
    assert "Commands:" in result.output and "error" not in result.output


@pytest.mark.parametrize("verb", VERBS)
def test_verb_help(verb):
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_console_script_installed():
    completed = subprocess.run(["swirl", "--version"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0
    assert __version__ in completed.stdout


def test_unknown_model_reference_is_one_line_error(tmp_path, data_dir):
    completed = subprocess.run(
        [sys.executable, "-m", "swirl", "generate", "--input", str(data_dir / "gsm8k" / "test_sample500.jsonl"),
         "--output", str(tmp_path / "out.jsonl"), "--model", "no-such-model", "--limit", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode != 0
    assert "unknown model reference 'no-such-model'" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_models_command_shows_default():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "SmolLM2-135M-Instruct" in result.output
