"""`swirl train` options: the objective switches are validated before anything is loaded."""

from __future__ import annotations

from typer.testing import CliRunner

from swirl.cli import app

runner = CliRunner()


def test_unknown_reward_scaling_is_one_line_error(tmp_path):
    result = runner.invoke(app, ["train", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                                 "--scale-rewards", "std"])
    assert result.exit_code != 0
    assert "--scale-rewards" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_objective_options_in_help():
    result = runner.invoke(app, ["train", "--help"])
    assert "--scale-rewards" in result.output and "--loss-type" in result.output
