"""The progress display every command uses: live bars on a terminal, plain lines anywhere else."""

from __future__ import annotations

import io

from rich.console import Console
from trajectory_factory import gold_then_wrong, scripted_trajectories
from typer.testing import CliRunner

from swirl.cli import app
from swirl.cli.common import ProgressBoard
from swirl.progress import counter
from swirl.tasks import load_tasks


def plain_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=200), buffer


def test_not_a_terminal_prints_a_line_per_report_at_interval_zero():
    target, buffer = plain_console()
    with ProgressBoard(target, interval=0) as board:
        advance = counter(board, "trajectories", 4, start=1)
        for _ in range(3):
            advance(1)
    lines = buffer.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "trajectories: 1/4 (25%)", "trajectories: 2/4 (50%)", "trajectories: 3/4 (75%)", "trajectories: 4/4 (100%)",
    ]
    assert all("elapsed 0:00:0" in line for line in lines)
    assert "\x1b[" not in buffer.getvalue()  # plain text, no terminal control codes


def test_lines_are_periodic_and_the_last_one_always_comes():
    target, buffer = plain_console()
    with ProgressBoard(target, interval=3600) as board:
        for done in range(11):
            board("judging", done, 10)
            board("eval base/gsm8k", done, 20)
        board("judging", 10, 10)  # a repeated final report prints nothing more
    lines = buffer.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "judging: 0/10 (0%)", "eval base/gsm8k: 0/20 (0%)", "judging: 10/10 (100%)",
    ]


def test_terminal_gets_live_bars_not_lines():
    buffer = io.StringIO()
    target = Console(file=buffer, force_terminal=True, width=120)
    with ProgressBoard(target, interval=0) as board:
        board("trajectories", 1, 2)
        board("trajectories", 2, 2)
    output = buffer.getvalue()
    assert "trajectories" in output and "2/2" in output
    assert "trajectories: 1/2" not in output


def test_nothing_is_shown_before_the_first_report():
    target, buffer = plain_console()
    with ProgressBoard(target, interval=0):
        pass
    assert buffer.getvalue() == ""


def test_judge_command_prints_progress_lines_when_piped(tmp_path, data_dir):
    tasks = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=20) if 1 <= len(t.calculations) <= 3][:3]
    source = tmp_path / "trajectories.jsonl"
    trajectories = scripted_trajectories(tasks, gold_then_wrong, 2)
    source.write_text("".join(t.model_dump_json() + "\n" for t in trajectories))
    steps = sum(len(t.steps) for t in trajectories)
    # CliRunner's output is not a terminal, like a log file or CI.
    result = CliRunner().invoke(app, ["judge", "--input", str(source), "--output", str(tmp_path / "j.jsonl"),
                                      "--reference", "--chunk-size", "2"])
    assert result.exit_code == 0, result.output
    # judging counts steps: a chunk of trajectories is one judge call
    progress = [line.split(",")[0] for line in result.output.splitlines() if line.startswith("judging steps:")]
    assert progress[0] == f"judging steps: 0/{steps} (0%)" and progress[-1] == f"judging steps: {steps}/{steps} (100%)"


def test_rate_of_a_batch_that_finishes_at_once_is_over_the_whole_run():
    # Rollouts finish a whole batch together: 40 trajectories after a pause is 40 per pause,
    # not the burst rate of rich's short window.
    import re
    import time

    target, buffer = plain_console()
    with ProgressBoard(target, interval=0) as board:
        board("trajectories", 0, 40)
        began = time.monotonic()
        time.sleep(0.5)
        board("trajectories", 40, 40)
        elapsed = time.monotonic() - began
    [rate] = re.findall(r"40/40 \(100%\), ([\d.]+)/s", buffer.getvalue())
    assert float(rate) <= 40 / elapsed * 1.2, buffer.getvalue()
