from __future__ import annotations

import json

import pytest
from trajectory_factory import gold_then_wrong, scripted_trajectories
from typer.testing import CliRunner

from swirl.cli import app
from swirl.jsonl import read_records
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.reference import ReferenceJudge
from swirl.records import Trajectory
from swirl.stages.filter import filter_trajectories, strategy_table
from swirl.stages.judge import judge_trajectories
from swirl.stages.split import load_steps, save_steps, split_trajectories
from swirl.tasks import load_tasks

runner = CliRunner()


@pytest.fixture(scope="module")
def trajectories(data_dir):
    tasks = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=20) if 1 <= len(t.calculations) <= 3][:4]
    return scripted_trajectories(tasks, gold_then_wrong, num_trajectories=2)


@pytest.fixture(scope="module")
def judged(trajectories, tmp_path_factory):
    output = tmp_path_factory.mktemp("judged") / "judged.jsonl"
    judge_trajectories(trajectories, ReferenceJudge(), OutcomeJudge(), output)
    return read_records(output, Trajectory)


def test_judged_labels(judged):
    gold = [t for t in judged if t.sample_index == 0]
    wrong = [t for t in judged if t.sample_index == 1]
    assert all(t.outcome.correct and all(j.verdict == "GOOD" for j in t.step_judgements) for t in gold)
    assert all(not t.outcome.correct and [j.verdict for j in t.step_judgements] == ["BAD", "BAD"] for t in wrong)


def test_filters_and_table(judged):
    assert len(filter_trajectories(judged, "none")) == 8
    assert {t.sample_index for t in filter_trajectories(judged, "process")} == {0}
    table = {row["strategy"]: row for row in strategy_table(judged)}
    assert table["none"]["trajectories"] == 8
    assert table["process"]["trajectories"] == table["process+outcome"]["trajectories"] == 4
    assert table["none"]["steps"] == sum(len(t.steps) for t in judged)


def test_split_rows_and_round_trip(judged, tmp_path):
    rows = split_trajectories(judged)
    assert len(rows) == sum(len(t.steps) for t in judged)
    for trajectory in judged:
        own = [r for r in rows if r["trajectory_id"] == trajectory.id]
        assert [r["step_index"] for r in own] == list(range(len(trajectory.steps)))
        last = own[-1]
        assert last["prompt"] + last["completion"] == trajectory.state_messages(len(trajectory.steps) - 1) + [
            {"role": "assistant", "content": trajectory.steps[-1].action_text}
        ]
        assert last["step_verdict"] == trajectory.step_judgements[-1].verdict
        assert json.loads(last["tool_tags"]) == trajectory.tool_tags == {"math_exp": "calculator"}
    save_steps(rows, tmp_path / "split")
    dataset = load_steps(tmp_path / "split")
    assert len(dataset) == len(rows)
    assert dataset[0]["prompt"][0]["role"] == "system"
    assert dataset[0]["completion"][0]["role"] == "assistant"
    assert (tmp_path / "split" / "steps.jsonl").is_file()


def test_cli_judge_filter_split(trajectories, tmp_path):
    source = tmp_path / "trajectories.jsonl"
    source.write_text("".join(t.model_dump_json() + "\n" for t in trajectories))
    judged_path, kept_path, split_dir = tmp_path / "judged.jsonl", tmp_path / "kept.jsonl", tmp_path / "split"

    result = runner.invoke(app, ["judge", "--input", str(source), "--output", str(judged_path), "--reference", "--calibrate"])
    assert result.exit_code == 0, result.output
    calibration = json.loads((tmp_path / "judged.calibration.json").read_text())
    assert calibration["agreement"] == 1.0 and calibration["steps"] > 0

    result = runner.invoke(app, ["filter", "--input", str(judged_path), "--output", str(kept_path), "--strategy", "process"])
    assert result.exit_code == 0, result.output
    assert "process (chosen)" in result.output
    assert len(read_records(kept_path, Trajectory)) == 4

    result = runner.invoke(app, ["split", "--input", str(kept_path), "--output", str(split_dir)])
    assert result.exit_code == 0, result.output
    assert len(load_steps(split_dir)) == sum(len(t.steps) for t in read_records(kept_path, Trajectory))

    # Rerunning judge resumes: nothing is judged twice.
    result = runner.invoke(app, ["judge", "--input", str(source), "--output", str(judged_path), "--reference"])
    assert result.exit_code == 0
    assert len(read_records(judged_path, Trajectory)) == len(trajectories)


def test_filter_needs_judged_input(trajectories, tmp_path):
    source = tmp_path / "trajectories.jsonl"
    source.write_text("".join(t.model_dump_json() + "\n" for t in trajectories))
    result = runner.invoke(app, ["filter", "--input", str(source), "--output", str(tmp_path / "k.jsonl")])
    assert result.exit_code != 0
    assert "run 'swirl judge' first" in result.output
    assert not (tmp_path / "k.jsonl").exists()


def test_judge_rejects_non_trajectory_file(tmp_path, data_dir):
    result = runner.invoke(app, ["judge", "--input", str(data_dir / "gsm8k" / "test_sample500.jsonl"),
                                 "--output", str(tmp_path / "j.jsonl"), "--reference"])
    assert result.exit_code != 0
    assert "not a Trajectory record" in result.output


def test_torn_last_line_is_skipped(trajectories, tmp_path):
    source = tmp_path / "trajectories.jsonl"
    text = "".join(t.model_dump_json() + "\n" for t in trajectories)
    source.write_text(text + text.splitlines()[0][:50])
    result = runner.invoke(app, ["judge", "--input", str(source), "--output", str(tmp_path / "j.jsonl"), "--reference"])
    assert result.exit_code == 0, result.output
    assert len(read_records(tmp_path / "j.jsonl", Trajectory)) == len(trajectories)
