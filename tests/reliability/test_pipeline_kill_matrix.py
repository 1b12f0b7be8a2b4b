"""kill -9 of `swirl run` in each stage (generate, judge, train, eval) and of `swirl eval`;
the same command again must end with exactly the records of an uninterrupted run.

One run directory is killed once in every stage in turn (each rerun resumes the stage
killed before and is killed in the next one), then finished; the uninterrupted reference
run is shared with the `swirl eval` case. Records are compared by identity (trajectory
ids, split rows, logged training steps, evaluated questions): the policy samples, and a
resumed stage batches other requests together, so texts may differ after the kill
point; the records written before it must survive byte for byte. Each case prints its
row of the matrix in docs/RELIABILITY.md (run with -s to see them).
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

DATA = Path(__file__).resolve().parents[2] / "src" / "swirl" / "data"
# The smallest sizes that still leave every stage something to resume: 5 questions x 2
# trajectories of up to 2 steps give the judge (llama.cpp, fast on a CPU) two chunks of at
# most 16 steps; 2 training steps with a checkpoint after each; the base model and the
# trained one answer 2 questions each.
CONFIG = {
    "name": "kill-matrix",
    "seed": 0,
    "data": [{"path": str(DATA / "quickstart_gsm8k_train.jsonl"), "format": "gsm8k", "limit": 5}],
    "policy": {"model": "default", "backend": "hf"},
    "generate": {"num_trajectories": 2, "max_steps": 2, "temperature": 1.0, "max_tokens": 16},
    "judge": {"model": "default", "mode": "score", "backend": "llamacpp"},
    "filter": {"strategy": "none"},
    "train": {"algo": "swirl", "judge": "reference", "num_generations": 2, "batch_size": 2, "max_steps": 2,
              "max_completion_tokens": 16, "save_steps": 1},
    "eval": {"benchmarks": [{"name": "gsm8k", "path": str(DATA / "quickstart_gsm8k_eval.jsonl")}],
             "limit": 2, "max_tokens": 16, "max_steps": 2, "bootstrap": 10},
}
STAGES = ("round-1/generate", "round-1/judge", "round-1/filter", "round-1/split", "round-1/train", "eval")


def jsonl_ids(path: Path, key=lambda record: record["id"]) -> Counter:
    if not path.exists():
        return Counter()
    return Counter(key(json.loads(line)) for line in path.read_text().splitlines())


def records(run: Path) -> dict[str, Counter]:
    """What each stage has written, as countable identities (a duplicate counts twice)."""
    here = run / "round-1"
    steps = here / "split" / "steps.jsonl"
    metrics = here / "train" / "metrics.jsonl"
    finals = Counter(["final"]) if (here / "train" / "final" / "model.safetensors").is_file() else Counter()
    return {
        "round-1/generate": jsonl_ids(here / "trajectories.jsonl"),
        "round-1/judge": jsonl_ids(here / "judged.jsonl"),
        "round-1/filter": jsonl_ids(here / "filtered.jsonl"),
        "round-1/split": jsonl_ids(steps, lambda row: (row["trajectory_id"], row["step_index"])),
        "round-1/train": jsonl_ids(metrics, lambda row: ("step", row["step"], "loss" in row)) + finals,
        "eval": evaluated(run / "eval"),
    }


def evaluated(directory: Path) -> Counter:
    """(model label, benchmark, question id) of every evaluated question."""
    found = Counter()
    for path in sorted((directory / "trajectories").glob("*/*.jsonl")):
        found += jsonl_ids(path, lambda record, path=path: (path.parent.name, path.stem, record["task"]["id"]))
    return found


def state(run: Path) -> dict:
    path = run / "run_state.json"
    return json.loads(path.read_text())["stages"] if path.exists() else {}


def matrix_row(case: str, stage: str, at_kill: Counter, expected: Counter, found: Counter) -> str:
    lost = sum((expected - found).values())
    duplicated = sum(count - 1 for count in found.values() if count > 1)
    return (f"{case} | {stage} | at kill {sum(at_kill.values())} | expected {sum(expected.values())} | "
            f"found {sum(found.values())} | lost {lost} | duplicated {duplicated}")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill-matrix") / "experiment.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def swirl_run(experiment: Path, output: Path, log: Path) -> subprocess.CompletedProcess:
    with log.open("w") as handle:
        return subprocess.run([sys.executable, "-m", "swirl", "run", str(experiment), "--output", str(output)],
                              stdout=handle, stderr=subprocess.STDOUT, timeout=1800, check=False)


@pytest.fixture(scope="module")
def reference(experiment, default_checkpoint) -> Path:
    output = experiment.parent / "reference"
    completed = swirl_run(experiment, output, experiment.parent / "reference.log")
    assert completed.returncode == 0, (experiment.parent / "reference.log").read_text()[-3000:]
    return output


def started(run: Path, stage: str) -> bool:
    entry = state(run).get(stage)
    return bool(entry and not entry["done"])


def kill_points(run: Path, log: Path) -> list:
    """(stage, condition) pairs: the stage has started and is under way."""
    here = run / "round-1"
    base_eval = run / "eval" / "trajectories" / "base" / "gsm8k.jsonl"
    return [
        # The embedded model's trajectories all end in the last round (two invalid actions),
        # so generate writes nothing before it: the kill lands in the first round, once the
        # policy is loaded and the progress line printed. (A kill between written
        # trajectories is tests/test_generate.py::test_resume_after_kill_gives_exactly_the_expected_set.)
        ("round-1/generate", lambda: started(run, "round-1/generate") and "round-1 generate: 0/" in log.read_text()),
        ("round-1/judge", lambda: started(run, "round-1/judge") and lines(here / "judged.jsonl") >= 1),
        # Step 2 is logged just before its checkpoint is written: the kill lands in that write.
        ("round-1/train", lambda: started(run, "round-1/train") and lines(here / "train" / "metrics.jsonl") >= 2),
        # The base model's questions are written; the trained model's are not.
        ("eval", lambda: started(run, "eval") and lines(base_eval) >= 1),
    ]


def check_resumed(log: str, killed_in: str | None) -> None:
    """The stage killed last time resumes; every stage before it is skipped."""
    if killed_in is None:
        return
    assert f"[{killed_in}] resuming" in log, log[-3000:]
    for earlier in STAGES[: STAGES.index(killed_in)]:
        assert f"[{earlier}] unchanged, skipped" in log, log[-3000:]


OUTPUT_FILES = {
    "round-1/generate": "round-1/trajectories.jsonl",
    "round-1/judge": "round-1/judged.jsonl",
    "round-1/train": "round-1/train/metrics.jsonl",
    "eval": "eval/trajectories/base/gsm8k.jsonl",
}


@pytest.mark.slow
def test_run_killed_in_every_stage_ends_with_the_uninterrupted_records(experiment, reference, tmp_path):
    expected = records(reference)
    assert all(expected[stage] for stage in STAGES), expected
    assert all(count == 1 for stage in STAGES for count in expected[stage].values())
    run = tmp_path / "run"
    command = [sys.executable, "-m", "swirl", "run", str(experiment), "--output", str(run)]
    kills = []
    previous = None
    for attempt in range(4):
        log = tmp_path / f"attempt-{attempt + 1}.log"
        log.touch()
        stage, ready = kill_points(run, log)[attempt]
        assert kill_when(command, ready, timeout=1800, log=log), f"the run finished before it was killed in {stage}"
        check_resumed(log.read_text(), previous)
        position = STAGES.index(stage)
        stages = state(run)
        assert all(stages[earlier]["done"] for earlier in STAGES[:position]), stages
        assert not stages[stage]["done"]
        written = records(run)[stage]
        assert written != expected[stage], f"{stage}: killed after its last record"
        output = run / OUTPUT_FILES[stage]
        kills.append((attempt, stage, written, output, output.read_bytes() if output.exists() else b""))
        previous = stage

    log = tmp_path / "finish.log"
    completed = swirl_run(experiment, run, log)
    text = log.read_text()
    assert completed.returncode == 0, text[-3000:]
    check_resumed(text, previous)

    found = records(run)
    for attempt, stage, written, output, before in kills:
        # A kill can tear the last line; it is cut off, every complete line before it stays.
        # (Not for training: a step logged after the last complete checkpoint is trained again.)
        if stage != "round-1/train":
            assert output.read_bytes().startswith(before[: before.rfind(b"\n") + 1]), f"{stage}: records changed"
        print(matrix_row(f"swirl run, kill {attempt + 1}", stage, written, expected[stage], found[stage]))
    assert found == expected
    assert all(entry["done"] for entry in state(run).values())
    assert not list(run.rglob(".*.partial"))


@pytest.mark.slow
def test_eval_killed_then_resumed(reference, tmp_path):
    section = CONFIG["eval"]
    [benchmark] = section["benchmarks"]
    output = tmp_path / "eval"
    command = [
        sys.executable, "-m", "swirl", "eval", "--model", "default", "--model", str(reference / "round-1/train/final"),
        "--label", "base", "--label", "round-1", "--benchmarks", benchmark["name"], "--input", benchmark["path"],
        "--output", str(output), "--limit", str(section["limit"]), "--seed", str(CONFIG["seed"]),
        "--max-tokens", str(section["max_tokens"]), "--max-steps", str(section["max_steps"]),
        "--bootstrap", str(section["bootstrap"]), "--backend", "hf",
    ]
    base = output / "trajectories" / "base" / "gsm8k.jsonl"
    assert kill_when(command, lambda: lines(base) >= 1, timeout=1800)
    at_kill = evaluated(output)
    before = base.read_bytes()
    assert not (output / "metrics.json").exists()

    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert base.read_bytes().startswith(before[: before.rfind(b"\n") + 1])
    # The pipeline's eval stage drew the same questions (same file, limit and seed).
    expected = evaluated(reference / "eval")
    found = evaluated(output)
    print(matrix_row("swirl eval", "eval", at_kill, expected, found))
    assert found == expected
    metrics = json.loads((output / "metrics.json").read_text())
    assert {m["label"] for m in metrics["models"]} == {"base", "round-1"}
