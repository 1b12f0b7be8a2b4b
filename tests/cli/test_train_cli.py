"""`swirl train` option checks that fail before any data or model is read."""

from __future__ import annotations

from typer.testing import CliRunner

from swirl.cli import app


def test_unknown_prefix_sharing_mode_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["train", "-i", str(tmp_path), "-o", str(tmp_path / "out"),
                                      "--prefix-sharing", "tree"])
    assert result.exit_code != 0
    assert "--prefix-sharing" in result.output and "group" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_help_documents_the_prefix_sharing_modes_and_default():
    from swirl.training.settings import TrainOptions

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    text = " ".join(result.output.replace("│", " ").split())  # rich draws the help in a box
    assert result.exit_code == 0 and "--prefix-sharing" in text
    assert all(mode in text for mode in ("off", "group", "trajectory"))
    assert f"Default: {TrainOptions().prefix_sharing}," in text
