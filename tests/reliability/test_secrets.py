"""API keys come from the environment only and never reach any output of a run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SECRET = "sk-swirl-test-secret-0123456789"


@pytest.mark.llamacpp
def test_api_key_never_written(tmp_path, data_dir, llama_server):
    env = {**os.environ, "SWIRL_API_KEY": SECRET}
    trajectories, judged = tmp_path / "trajectories.jsonl", tmp_path / "judged.jsonl"
    commands = [
        ["generate", "--input", str(data_dir / "hotpotqa" / "dev.jsonl"), "--limit", "2", "--model", llama_server.reference,
         "--output", str(trajectories), "--max-tokens", "24", "--max-steps", "2"],
        ["judge", "--input", str(trajectories), "--model", llama_server.reference, "--output", str(judged), "--calibrate"],
        ["filter", "--input", str(judged), "--strategy", "none", "--output", str(tmp_path / "kept.jsonl")],
        ["split", "--input", str(tmp_path / "kept.jsonl"), "--output", str(tmp_path / "split")],
    ]
    logs = []
    for command in commands:
        completed = subprocess.run([sys.executable, "-m", "swirl", *command], capture_output=True, text=True,
                                   env=env, timeout=600)
        assert completed.returncode == 0, completed.stderr
        logs.append(completed.stdout + completed.stderr)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 6
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert all(SECRET not in log for log in logs)

