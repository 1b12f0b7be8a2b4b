"""`swirl train` under `accelerate launch` with 2 CPU processes (torch.distributed over gloo).

Checks what data parallelism promises: the ranks train on disjoint rows, hold identical
weights after every optimizer step, and rank 0 alone writes the final checkpoint, which
loads and generates. tests/training/ddp_probe.py runs the real `swirl train` command
with an observer that records weights and rows per rank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from trajectory_factory import gold_then_wrong, scripted_trajectories

from swirl.stages.split import save_steps, split_trajectories
from swirl.tasks import load_tasks

PROBE = Path(__file__).with_name("ddp_probe.py")
# --multi_gpu selects accelerate's torchrun launcher; ACCELERATE_USE_CPU makes the processes
# join one gloo process group on the CPU (without it, each trains alone).
LAUNCH = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no"]


@pytest.fixture(scope="module")
def split_dir(data_dir, tmp_path_factory):
    tasks = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=60) if 1 <= len(t.calculations) <= 2][:4]
    directory = tmp_path_factory.mktemp("split")
    save_steps(split_trajectories(scripted_trajectories(tasks, gold_then_wrong)), directory)
    return directory


def launch(split_dir: Path, output: Path, *options: str) -> list[list[dict]]:
    probe_dir = output / "probe"
    probe_dir.mkdir(parents=True)
    env = os.environ | {"SWIRL_PROBE_DIR": str(probe_dir), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
                        "ACCELERATE_USE_CPU": "true"}
    command = [sys.executable, *LAUNCH, "--main_process_port", str(free_port()), str(PROBE), "train", "--input", str(split_dir), "--output", str(output / "run"),
               "--max-steps", "2", "--save-steps", "1", "--limit", "8", "--max-completion-tokens", "16", *options]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return [[json.loads(line) for line in (probe_dir / f"rank-{rank}.jsonl").read_text().splitlines()] for rank in (0, 1)]


def check_data_parallel(ranks: list[list[dict]]) -> None:
    first, second = ranks
    assert [r["step"] for r in first] == [r["step"] for r in second] == [0, 1, 2]
    for mine, theirs in zip(first, second):
        assert mine["weights"] == theirs["weights"], f"ranks diverged at step {mine['step']}"
    for mine, theirs in zip(first[1:], second[1:]):
        assert mine["rows"] and theirs["rows"]
        assert not set(mine["rows"]) & set(theirs["rows"]), f"ranks shared rows at step {mine['step']}"
    # Otherwise identical weights would prove nothing: the ranks must agree on an actual update.
    assert first[-1]["weights"] != first[0]["weights"], "the weights did not change"


def check_final(run: Path) -> None:
    from swirl.backends import GenerationRequest, make_backend

    assert (run / "final" / "config.json").is_file()
    assert not (run / ".final.partial").exists()
    assert not list((run / "final").glob("adapter_*"))
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["global_step"] == 2
    backend = make_backend(summary["final_model"])
    [completion] = backend.generate([[{"role": "user", "content": "Hi"}]], GenerationRequest(max_tokens=4))
    assert completion.completion_tokens > 0


@pytest.mark.slow
def test_sft_on_two_processes(split_dir, tmp_path, default_checkpoint):
    ranks = launch(split_dir, tmp_path, "--algo", "sft", "--batch-size", "2", "--learning-rate", "1e-4")
    check_data_parallel(ranks)
    check_final(tmp_path / "run")


@pytest.mark.slow
def test_swirl_with_lora_on_two_processes(split_dir, tmp_path, default_checkpoint):
    # G=2 completions per state and 2 per rank: each rank scores its own state. The embedded
    # judge's P(GOOD) differs between two actions, so GRPO's advantage is not zero (the
    # reference judge gives every invalid action of the embedded policy the same 0).
    ranks = launch(split_dir, tmp_path, "--algo", "swirl", "--judge", "default", "-G", "2", "--batch-size", "2",
                   "--lora", "--learning-rate", "1e-3")
    check_data_parallel(ranks)
    check_final(tmp_path / "run")
    assert merged_weights_differ(default_checkpoint, tmp_path / "run" / "final"), "the LoRA update was not merged"


def merged_weights_differ(base: Path, final: Path) -> bool:
    from safetensors.torch import load_file

    before, after = load_file(base / "model.safetensors"), load_file(final / "model.safetensors")
    return any(not before[name].equal(after[name]) for name in before.keys() & after.keys())
