"""judge_trajectories: chunks of steps, progress per step, one read of the output file."""

from __future__ import annotations

import pytest
from trajectory_factory import gold_action, scripted_trajectories

from swirl.stages import judge as judging
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.reference import ReferenceJudge
from swirl.jsonl import read_records
from swirl.records import Trajectory
from swirl.tasks import load_tasks


class CountingJudge(ReferenceJudge):
    """The reference judge, recording how many steps each call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def judge(self, steps):
        self.calls.append(len(steps))
        return super().judge(steps)


@pytest.fixture(scope="module")
def trajectories(data_dir):
    tasks = load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=6)
    return scripted_trajectories(tasks, lambda task, sample, step: gold_action(task, step))


def test_chunks_hold_whole_trajectories_of_at_most_chunk_size_steps(trajectories, tmp_path):
    steps = [len(t.steps) for t in trajectories]
    assert max(steps) > 1 and sum(steps) > 5
    judge, progress = CountingJudge(), []
    summary = judging.judge_trajectories(
        trajectories, judge, OutcomeJudge(), tmp_path / "judged.jsonl", chunk_size=5, on_progress=progress.append
    )
    assert summary.steps == sum(steps)
    assert all(n <= 5 or n in steps for n in judge.calls)
    # Progress counts steps: first those already judged (none), then each call's steps.
    assert progress == [0, *judge.calls] and sum(progress) == sum(steps)


def test_rerun_counts_judged_steps_and_reads_the_output_once(trajectories, tmp_path, monkeypatch):
    output = tmp_path / "judged.jsonl"
    judging.judge_trajectories(trajectories[:2], ReferenceJudge(), OutcomeJudge(), output)
    reads = []
    monkeypatch.setattr(judging, "read_records", lambda *a, **k: reads.append(a[0]) or read_records(*a, **k))
    progress: list[int] = []
    summary = judging.judge_trajectories(
        trajectories, ReferenceJudge(), OutcomeJudge(), output, chunk_size=1, on_progress=progress.append
    )
    assert reads == [output]
    assert summary.skipped == 2 and summary.judged == len(trajectories) - 2
    assert progress[0] == sum(len(t.steps) for t in trajectories[:2])
    assert [t.id for t in read_records(output, Trajectory)] == [t.id for t in trajectories]
