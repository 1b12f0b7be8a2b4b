"""Two real llama.cpp servers behind one ``openai:MODEL@URL1,URL2`` reference, one killed mid-run.

Generation and judging must finish every trajectory on the surviving server (nothing
lost, nothing duplicated, no backend-error trajectories), report how the requests split
over the servers, and resume from the same files with only the surviving address.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LlamaServer, free_port

from swirl.jsonl import read_records
from swirl.records import Trajectory
from swirl.rollout import trajectory_id
from swirl.tasks import load_tasks

QUESTIONS, SAMPLES = 6, 2


@pytest.fixture
def two_servers():
    pytest.importorskip("llama_cpp.server")
    servers = [LlamaServer(free_port()), LlamaServer(free_port())]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def reference(*servers: LlamaServer) -> str:
    return "openai:smollm2@" + ",".join(s.base_url for s in servers)


def swirl(*args: str) -> list[str]:
    return [sys.executable, "-m", "swirl", *args]


def kill_mid_run(command: list[str], output: Path, victim: LlamaServer) -> tuple[int, str]:
    """Run ``command``, stop ``victim`` once two records are written, and return its exit code and stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None and not (
            output.exists() and output.read_text().count("\n") >= 2
        ):
            time.sleep(0.1)
        victim.stop()
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    return process.returncode, stderr


@pytest.mark.llamacpp
@pytest.mark.slow
def test_one_of_two_servers_killed_mid_run(tmp_path, data_dir, two_servers):
    survivor, victim = two_servers
    trajectories = tmp_path / "trajectories.jsonl"
    generate = swirl("generate", "--input", str(data_dir / "gsm8k" / "test_sample500.jsonl"), "--limit", str(QUESTIONS),
                     "-n", str(SAMPLES), "--max-tokens", "24", "--max-steps", "2", "--max-live", "4",
                     "--concurrency", "4", "--output", str(trajectories))
    returncode, stderr = kill_mid_run([*generate, "--model", reference(survivor, victim)], trajectories, victim)
    assert returncode == 0, stderr
    written = read_records(trajectories, Trajectory)
    ids = [t.id for t in written]
    tasks = load_tasks(data_dir / "gsm8k" / "test_sample500.jsonl", limit=QUESTIONS)
    assert sorted(ids) == sorted(trajectory_id(task, k) for task in tasks for k in range(SAMPLES))
    assert all(t.termination != "error" for t in written), [t.error for t in written if t.error]
    assert all(t.model == "openai:smollm2" for t in written)
    report = " ".join(stderr.split())
    assert f"requests per server: {survivor.base_url}:" in report
    assert f"{victim.base_url}:" in report
    print(report[report.index("requests per server"):])

    # The same model at another address list resumes: nothing to do, nothing refused.
    again = subprocess.run([*generate, "--model", reference(survivor)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"wrote 0 trajectories ({QUESTIONS * SAMPLES} already present)" in " ".join(again.stderr.split())

    judged = tmp_path / "judged.jsonl"
    victim.start()
    returncode, stderr = kill_mid_run(
        swirl("judge", "--input", str(trajectories), "--output", str(judged), "--chunk-size", "2",
              "--model", reference(survivor, victim)),
        judged, victim,
    )
    assert returncode == 0, stderr
    labelled = read_records(judged, Trajectory)
    assert sorted(t.id for t in labelled) == sorted(ids)
    verdicts = [j.verdict for t in labelled for j in t.step_judgements or []]
    assert len(verdicts) == sum(len(t.steps) for t in labelled)
    report = " ".join(stderr.split())
    assert f"judge requests per server: {survivor.base_url}:" in report
    print(report[report.index("judge requests per server"):])
