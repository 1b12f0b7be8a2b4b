"""kill -9 at random points of `swirl judge` and `swirl train`; rerunning gives the same
result as an uninterrupted run, JSONL files never keep a torn line, and training resumes
only from complete checkpoints. (`swirl generate` is covered in tests/test_generate.py.)"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from trajectory_factory import gold_then_wrong, scripted_trajectories

from swirl.jsonl import read_records
from swirl.records import Trajectory
from swirl.tasks import load_tasks


def swirl(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "swirl", *args], capture_output=True, text=True, **kwargs)


def kill_when(command, ready, timeout=600, log=None):
    """Start ``command``, SIGKILL it as soon as ``ready()`` is true; return True if it was killed mid-run.

    Its output goes to the file ``log`` when given."""
    with open(log or os.devnull, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None and not ready():
        time.sleep(0.02)
    killed = process.poll() is None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return killed


def lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.fixture(scope="module")
def trajectories_file(data_dir, tmp_path_factory):
    tasks = load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=150)
    path = tmp_path_factory.mktemp("crash") / "trajectories.jsonl"
    path.write_text("".join(t.model_dump_json() + "\n" for t in scripted_trajectories(tasks, gold_then_wrong, 2)))
    return path


def judged_summary(path):
    return sorted((t.id, tuple(j.verdict for j in t.step_judgements), t.outcome.correct)
                  for t in read_records(path, Trajectory, allow_torn_tail=False))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_judge_killed_at_random_points(trajectories_file, tmp_path, seed):
    baseline = tmp_path / "baseline.jsonl"
    args = ["judge", "--input", str(trajectories_file), "--reference", "--chunk-size", "1"]
    assert swirl(*args, "--output", str(baseline), timeout=600).returncode == 0
    total = lines(baseline)

    output = tmp_path / "judged.jsonl"
    stop_at = random.Random(seed).randint(1, total - 1)
    killed = kill_when([sys.executable, "-m", "swirl", *args, "--output", str(output)],
                       lambda: lines(output) >= stop_at)
    assert killed and 0 < lines(output) < total
    completed = swirl(*args, "--output", str(output), timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert output.read_bytes().endswith(b"\n")
    assert judged_summary(output) == judged_summary(baseline)


def test_torn_tail_is_repaired_before_appending(trajectories_file, tmp_path):
    output = tmp_path / "judged.jsonl"
    args = ["judge", "--input", str(trajectories_file), "--reference", "--output", str(output)]
    assert swirl(*args, "--limit", "10", timeout=600).returncode == 0
    with output.open("ab") as handle:
        handle.write(b'{"schema_version": 1, "id": "torn')  # what a kill mid-write leaves
    assert swirl(*args, timeout=600).returncode == 0
    records = read_records(output, Trajectory, allow_torn_tail=False)
    assert len(records) == len({r.id for r in records}) == lines(trajectories_file)


@pytest.mark.slow
def test_train_killed_then_resumed(tmp_path, data_dir, default_checkpoint):
    from swirl.stages.split import save_steps, split_trajectories

    tasks = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=30) if len(t.calculations) == 1][:2]
    save_steps(split_trajectories(scripted_trajectories(tasks, gold_then_wrong)), tmp_path / "split")
    output = tmp_path / "train"
    args = ["train", "--input", str(tmp_path / "split"), "--output", str(output), "--judge", "reference",
            "--max-steps", "4", "-G", "2", "--batch-size", "2", "--max-completion-tokens", "16", "--save-steps", "1"]
    metrics = output / "metrics.jsonl"
    stop_after = random.Random(0).randint(2, 3)
    assert kill_when([sys.executable, "-m", "swirl", *args], lambda: lines(metrics) >= stop_after)
    assert not (output / "final").exists()

    completed = swirl(*args, "--resume", timeout=900)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((output / "train_summary.json").read_text())
    assert summary["global_step"] == 4
    assert summary["resumed_from"] is not None
    assert (output / "final" / "model.safetensors").is_file()
    assert not list(output.glob(".final.partial"))
