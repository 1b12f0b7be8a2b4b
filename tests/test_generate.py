"""End-to-end `swirl generate` on the embedded model, including resume after kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from swirl.jsonl import read_records
from swirl.records import Trajectory
from swirl.tasks import load_tasks

FAST = ["--max-tokens", "40", "--max-steps", "2", "--temperature", "0.8"]


def generate(args, **kwargs):
    return subprocess.run([sys.executable, "-m", "swirl", "generate", *args], capture_output=True, text=True, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("dataset, source", [("gsm8k/test_sample500.jsonl", "gsm8k"), ("hotpotqa/dev.jsonl", "hotpotqa")])
def test_generate_three_questions_two_trajectories(tmp_path, data_dir, dataset, source, default_checkpoint):
    output = tmp_path / "trajectories.jsonl"
    completed = generate(["--input", str(data_dir / dataset), "--limit", "3", "-n", "2", "--output", str(output), *FAST], timeout=900)
    assert completed.returncode == 0, completed.stderr
    trajectories = read_records(output, Trajectory)
    assert len(trajectories) == 6
    assert len({t.id for t in trajectories}) == 6
    for trajectory in trajectories:
        assert trajectory.task.source == source
        assert trajectory.model == "default"
        assert trajectory.prompt_version == "swirl-prompts-v1"
        assert trajectory.sampling.temperature == 0.8
        assert trajectory.tools == (["calculator"] if source == "gsm8k" else ["search"])
        assert 1 <= len(trajectory.steps) <= 2
        assert trajectory.termination in {"answered", "max_steps", "invalid"}
        assert (trajectory.final_answer is not None) == (trajectory.termination == "answered")
        for step in trajectory.steps:
            assert step.completion_tokens > 0 and step.prompt_tokens > 0
            assert step.action_text
            if step.action.kind == "tool":
                assert "<result>" in step.observation
    assert "trajectories" in completed.stderr and "wrote 6" in completed.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_resume_after_kill_gives_exactly_the_expected_set(tmp_path, data_dir, default_checkpoint, seed):
    output = tmp_path / "trajectories.jsonl"
    args = ["--input", str(data_dir / "gsm8k" / "test_sample500.jsonl"), "--limit", "4", "-n", "2",
            "--output", str(output), *FAST]
    process = subprocess.Popen([sys.executable, "-m", "swirl", "generate", *args, "--config", str(_max_live_config(tmp_path))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop_at = random.Random(seed).randint(1, 6)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_text().count("\n") >= stop_at:
            break
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written_before = [json.loads(line)["id"] for line in output.read_text().splitlines() if line.endswith("}")]
    assert 0 < len(written_before) < 8, "the run should be interrupted part-way"

    completed = generate(args, timeout=900)
    assert completed.returncode == 0, completed.stderr
    ids = [t.id for t in read_records(output, Trajectory)]
    tasks = load_tasks(data_dir / "gsm8k" / "test_sample500.jsonl", limit=4)
    assert sorted(ids) == sorted(f"{task.id}#{k}" for task in tasks for k in range(2))
    assert ids[: len(written_before)] == written_before
    assert f"({len(written_before)} already present)" in completed.stderr.replace("\n", " ")


def _max_live_config(tmp_path):
    # Two trajectories in flight at a time: they finish (and are written) one pair after another.
    config = tmp_path / "config.yaml"
    config.write_text("max-live: 2\n")
    return config


def test_bad_input_exits_non_zero_and_keeps_existing_output(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1", "answer": "1"}\n{not json\n')
    output = tmp_path / "out.jsonl"
    output.write_text("precious\n")
    completed = generate(["--input", str(bad), "--output", str(output)], timeout=120)
    assert completed.returncode != 0
    assert f"{bad}:2:" in completed.stderr
    assert output.read_text() == "precious\n"


def test_unknown_config_key_is_rejected(tmp_path, data_dir):
    config = tmp_path / "config.yaml"
    config.write_text("num-trajectorys: 3\n")
    completed = generate(["--input", str(data_dir / "gsm8k" / "test_sample500.jsonl"), "--output", str(tmp_path / "o.jsonl"),
                          "--config", str(config)], timeout=120)
    assert completed.returncode != 0
    assert "unknown key 'num-trajectorys'" in completed.stderr


def _scripted_generate(tasks, output, settings, tool_settings=None):
    from scripted_backend import ScriptedBackend

    from swirl.stages.generate import ToolSettings, generate_trajectories

    return generate_trajectories(
        tasks, ScriptedBackend(lambda conversation: "<answer>1</answer>"), settings, tool_settings or ToolSettings(),
        output, model_name="scripted",
    )


@pytest.fixture
def math_tasks(data_dir):
    from swirl.tasks import load_tasks

    return load_tasks(data_dir / "gsm8k" / "test_sample500.jsonl", limit=3)


@pytest.mark.parametrize("changed", [
    {"max_steps": 3},
    {"tools": ["calculator", "generate_test_tools:lookup"]},
    {"sampling": {"temperature": 0.1}},
])
def test_resume_refuses_other_rollout_settings(tmp_path, math_tasks, changed, monkeypatch):
    from swirl.errors import SwirlError
    from swirl.records import SamplingSettings
    from swirl.rollout import RolloutSettings
    from swirl.stages.generate import ToolSettings

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "generate_test_tools.py").write_text('def lookup(query):\n    """Looks up a word."""\n    return query\n')
    output = tmp_path / "trajectories.jsonl"
    _scripted_generate(math_tasks[:1], output, RolloutSettings())
    tools = ToolSettings(tools=changed.get("tools", []))
    settings = RolloutSettings(max_steps=changed.get("max_steps", 0),
                               sampling=SamplingSettings(**changed.get("sampling", {})))
    with pytest.raises(SwirlError, match="other settings"):
        _scripted_generate(math_tasks, output, settings, tools)
    assert len(read_records(output, Trajectory)) == 1


def test_resume_checks_every_record_not_only_the_first(tmp_path, math_tasks):
    from swirl.errors import SwirlError
    from swirl.rollout import RolloutSettings

    output = tmp_path / "trajectories.jsonl"
    _scripted_generate(math_tasks[:2], output, RolloutSettings())
    first, second = output.read_text().splitlines()
    mixed = json.loads(second) | {"max_steps": 3}
    output.write_text(first + "\n" + json.dumps(mixed) + "\n")
    with pytest.raises(SwirlError, match=r"max_steps of \S+#0 differ"):
        _scripted_generate(math_tasks, output, RolloutSettings())


def test_resume_with_the_same_settings_adds_only_the_missing(tmp_path, math_tasks):
    from swirl.rollout import RolloutSettings

    output = tmp_path / "trajectories.jsonl"
    _scripted_generate(math_tasks[:2], output, RolloutSettings(max_steps=4))
    summary = _scripted_generate(math_tasks, output, RolloutSettings(max_steps=4))
    assert (summary.written, summary.skipped) == (1, 2)
    assert [t.max_steps for t in read_records(output, Trajectory)] == [4, 4, 4]


def test_backend_error_trajectories_are_generated_again(tmp_path):
    from scripted_backend import ScriptedBackend

    from swirl.backends.base import Completion
    from swirl.records import Task
    from swirl.rollout import RolloutSettings
    from swirl.stages.generate import ToolSettings, generate_trajectories

    tasks = [Task(id=f"m{i}", question=f"What is {i}+1?", answer=str(i + 1), task_type="math", source="test") for i in range(3)]
    output = tmp_path / "trajectories.jsonl"
    settings = RolloutSettings(num_trajectories=2)
    down = {"m1"}

    def reply(conversation):
        question = conversation[1]["content"]
        if any(f"What is {t[1:]}+1?" in question for t in down):
            return Completion("", 0, 0, "error", error="APIConnectionError: Connection error.")
        return "<answer>1</answer>"

    def run():
        return generate_trajectories(tasks, ScriptedBackend(reply), settings, ToolSettings(), output, model_name="scripted")

    first = run()
    assert first.terminations == {"answered": 4, "error": 2}
    down.clear()
    second = run()
    assert (second.skipped, second.regenerated, second.written) == (4, 2, 2)
    trajectories = read_records(output, Trajectory)
    assert sorted(t.id for t in trajectories) == sorted(f"m{i}#{k}" for i in range(3) for k in range(2))
    assert {t.termination for t in trajectories} == {"answered"}
