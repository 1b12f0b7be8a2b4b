"""kill -9 of `swirl run` in each stage (generate, judge, train, eval) and of `swirl eval`;
the same command again must end with exactly the records an uninterrupted run writes.

One run directory is killed once in every stage in turn (each rerun resumes the stage
killed before and is killed in the next one), then finished. What an uninterrupted run
writes is known without running one: every trajectory id of the questions once, in
generate, judge and filter (strategy none); every step of the judged trajectories once
in the split; each training step logged once and one final model; every question of the
seeded eval subset once per model. Records written before a kill must survive byte for
byte. Each case prints its row of the matrix in docs/RELIABILITY.md (run with -s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from reliability.test_crash_safety import kill_when, lines

from swirl.experiment import load_experiment
from swirl.pipeline import load_task_files
from swirl.rollout import trajectory_id
from swirl.tasks import BENCHMARK_FORMATS, load_tasks, sample_tasks

DATA = Path(__file__).resolve().parents[2] / "src" / "swirl" / "data"
# The smallest sizes that still leave every stage something to resume: 5 questions x 2
# trajectories of 2 steps give the judge two chunks (at most 16 steps each); 2 training
# steps with a checkpoint after each; the base model and the trained one answer 2
# questions each.
CONFIG = {
    "name": "kill-matrix",
    "seed": 0,
    "data": [{"path": str(DATA / "quickstart_gsm8k_train.jsonl"), "format": "gsm8k", "limit": 5}],
    "policy": {"model": "default", "backend": "hf"},
    "generate": {"num_trajectories": 2, "max_steps": 2, "temperature": 1.0, "max_tokens": 16},
    "judge": {"model": "default", "mode": "score"},
    "filter": {"strategy": "none"},
    "train": {"algo": "swirl", "judge": "reference", "num_generations": 2, "batch_size": 2, "max_steps": 2,
              "max_completion_tokens": 16, "save_steps": 1},
    "eval": {"benchmarks": [{"name": "gsm8k", "path": str(DATA / "quickstart_gsm8k_eval.jsonl")}],
             "limit": 2, "max_tokens": 16, "max_steps": 2, "bootstrap": 10},
}
STAGES = ("round-1/generate", "round-1/judge", "round-1/filter", "round-1/split", "round-1/train", "eval")
EVAL_LABELS = ("base", "round-1")


def jsonl_ids(path: Path, key=lambda record: record["id"]) -> Counter:
    if not path.exists():
        return Counter()
    return Counter(key(json.loads(line)) for line in path.read_text().splitlines())


def evaluated(directory: Path) -> Counter:
    """(model label, benchmark, question id) of every evaluated question."""
    found = Counter()
    for path in sorted((directory / "trajectories").glob("*/*.jsonl")):
        found += jsonl_ids(path, lambda record, path=path: (path.parent.name, path.stem, record["task"]["id"]))
    return found


def records(run: Path) -> dict[str, Counter]:
    """What each stage has written, as countable identities (a duplicate counts twice)."""
    here = run / "round-1"
    finals = Counter(["final"]) if (here / "train" / "final" / "model.safetensors").is_file() else Counter()
    return {
        "round-1/generate": jsonl_ids(here / "trajectories.jsonl"),
        "round-1/judge": jsonl_ids(here / "judged.jsonl"),
        "round-1/filter": jsonl_ids(here / "filtered.jsonl"),
        "round-1/split": jsonl_ids(here / "split" / "steps.jsonl", lambda row: (row["trajectory_id"], row["step_index"])),
        "round-1/train": jsonl_ids(here / "train" / "metrics.jsonl", lambda row: ("step", row["step"], "loss" in row))
        + finals,
        "eval": evaluated(run / "eval"),
    }


def expected_records(experiment: Path, run: Path) -> dict[str, Counter]:
    """What an uninterrupted run writes; the split's rows follow the judged trajectories' steps."""
    config = load_experiment(experiment)
    tasks, _ = load_task_files(config.data)
    trajectories = Counter(trajectory_id(task, k) for task in tasks for k in range(config.generate.num_trajectories))
    judged = [json.loads(line) for line in (run / "round-1" / "judged.jsonl").read_text().splitlines()]
    steps = Counter((t["id"], step["index"]) for t in judged for step in t["steps"])
    training = Counter([*(("step", n, True) for n in range(1, config.train.max_steps + 1)),
                        ("step", config.train.max_steps, False), "final"])
    return {
        "round-1/generate": trajectories,
        "round-1/judge": trajectories,
        "round-1/filter": trajectories,
        "round-1/split": steps,
        "round-1/train": training,
        "eval": expected_evaluated(config),
    }


def expected_evaluated(config) -> Counter:
    expected = Counter()
    for benchmark in config.eval.benchmarks:
        questions = sample_tasks(load_tasks(benchmark.path, BENCHMARK_FORMATS[benchmark.name]), config.eval.limit,
                                 config.seed)
        expected += Counter((label, benchmark.name, task.id) for label in EVAL_LABELS for task in questions)
    return expected


def state(run: Path) -> dict:
    path = run / "run_state.json"
    return json.loads(path.read_text())["stages"] if path.exists() else {}


def started(run: Path, stage: str) -> bool:
    entry = state(run).get(stage)
    return bool(entry and not entry["done"])


def matrix_row(case: str, stage: str, at_kill: Counter, expected: Counter, found: Counter) -> str:
    lost = sum((expected - found).values())
    duplicated = sum(count - 1 for count in found.values() if count > 1)
    return (f"{case} | {stage} | at kill {sum(at_kill.values())} | expected {sum(expected.values())} | "
            f"found {sum(found.values())} | lost {lost} | duplicated {duplicated}")


def kill_points(run: Path, log: Path) -> list:
    """(stage, condition, output file) per kill: the stage has started and is under way."""
    here = run / "round-1"
    base_eval = run / "eval" / "trajectories" / "base" / "gsm8k.jsonl"
    return [
        # The embedded model's trajectories all end in the last round (two invalid actions),
        # so generate writes nothing before it: the kill lands in the first round, once the
        # policy is loaded and the progress line printed. (A kill between written
        # trajectories is tests/test_generate.py::test_resume_after_kill_gives_exactly_the_expected_set.)
        ("round-1/generate", lambda: started(run, "round-1/generate") and "round-1 generate: 0/" in log.read_text(),
         here / "trajectories.jsonl"),
        ("round-1/judge", lambda: started(run, "round-1/judge") and lines(here / "judged.jsonl") >= 1,
         here / "judged.jsonl"),
        # Step 2 is logged just before its checkpoint is written: the kill lands in that write.
        ("round-1/train", lambda: started(run, "round-1/train") and lines(here / "train" / "metrics.jsonl") >= 2,
         here / "train" / "metrics.jsonl"),
        # The base model's questions are written; the trained model's are not.
        ("eval", lambda: started(run, "eval") and lines(base_eval) >= 1, base_eval),
    ]


def check_resumed(log: str, killed_in: str | None) -> None:
    """The stage killed last time resumes; every stage before it is skipped."""
    if killed_in is None:
        return
    assert f"[{killed_in}] resuming" in log, log[-3000:]
    for earlier in STAGES[: STAGES.index(killed_in)]:
        assert f"[{earlier}] unchanged, skipped" in log, log[-3000:]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill-matrix") / "experiment.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


@pytest.fixture(scope="module")
def killed_run(experiment, default_checkpoint) -> tuple[Path, list[tuple], str]:
    """The run killed in every stage in turn, then finished: (directory, kills, last log)."""
    run = experiment.parent / "run"
    command = [sys.executable, "-m", "swirl", "run", str(experiment), "--output", str(run)]
    kills = []
    previous = None
    for attempt in range(4):
        log = experiment.parent / f"attempt-{attempt + 1}.log"
        log.touch()
        stage, ready, output = kill_points(run, log)[attempt]
        assert kill_when(command, ready, timeout=2400, log=log), f"the run finished before it was killed in {stage}"
        check_resumed(log.read_text(), previous)
        stages = state(run)
        assert all(stages[earlier]["done"] for earlier in STAGES[: STAGES.index(stage)]), stages
        assert not stages[stage]["done"]
        kills.append((attempt, stage, records(run)[stage], output, output.read_bytes() if output.exists() else b""))
        previous = stage
    log = experiment.parent / "finish.log"
    with log.open("w") as handle:
        completed = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, timeout=2400, check=False)
    assert completed.returncode == 0, log.read_text()[-3000:]
    check_resumed(log.read_text(), previous)
    return run, kills, experiment


@pytest.mark.slow
def test_run_killed_in_every_stage_ends_with_the_uninterrupted_records(killed_run):
    run, kills, experiment = killed_run
    expected = expected_records(experiment, run)
    found = records(run)
    for attempt, stage, at_kill, output, before in kills:
        print(matrix_row(f"swirl run, kill {attempt + 1}", stage, at_kill, expected[stage], found[stage]))
        assert at_kill != expected[stage], f"{stage}: killed after its last record"
        # A kill can tear the last line; it is cut off, every complete line before it stays.
        # (Not for training: a step logged after the last complete checkpoint is trained again.)
        if stage != "round-1/train":
            assert output.read_bytes().startswith(before[: before.rfind(b"\n") + 1]), f"{stage}: records changed"
    assert found == expected
    assert all(entry["done"] for entry in state(run).values()) and len(state(run)) == len(STAGES)
    assert not list(run.rglob(".*.partial"))


@pytest.mark.slow
def test_eval_killed_then_resumed(killed_run, tmp_path):
    run, _, experiment = killed_run
    config = load_experiment(experiment)
    [benchmark] = config.eval.benchmarks
    output = tmp_path / "eval"
    command = [
        sys.executable, "-m", "swirl", "eval", "--model", "default", "--model", str(run / "round-1/train/final"),
        *(option for label in EVAL_LABELS for option in ("--label", label)),
        "--benchmarks", benchmark.name, "--input", str(benchmark.path), "--output", str(output),
        "--limit", str(config.eval.limit), "--seed", str(config.seed), "--max-tokens", str(config.eval.max_tokens),
        "--max-steps", str(config.eval.max_steps), "--bootstrap", str(config.eval.bootstrap), "--backend", "hf",
    ]
    base = output / "trajectories" / EVAL_LABELS[0] / f"{benchmark.name}.jsonl"
    assert kill_when(command, lambda: lines(base) >= 1, timeout=2400)
    at_kill, before = evaluated(output), base.read_bytes()
    assert not (output / "metrics.json").exists()

    completed = subprocess.run(command, capture_output=True, text=True, timeout=2400, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    expected, found = expected_evaluated(config), evaluated(output)
    print(matrix_row("swirl eval", "eval", at_kill, expected, found))
    assert at_kill != expected
    assert base.read_bytes().startswith(before[: before.rfind(b"\n") + 1])
    assert found == expected
    metrics = json.loads((output / "metrics.json").read_text())
    assert {m["label"] for m in metrics["models"]} == set(EVAL_LABELS)
