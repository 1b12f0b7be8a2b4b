"""Every verb answers bad input with one line on stderr and a non-zero exit, usage errors included."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from swirl.cli import app

runner = CliRunner()

# {tmp}: a directory holding empty.jsonl, unknown.yaml (a config with a misspelled key) and empty-dir/;
# {tasks}: a real GSM8K file.
CASES = {
    "split on an empty file": "split --input {tmp}/empty.jsonl --output {tmp}/split",
    "split without options": "split",
    "generate on a missing file": "generate --input {tmp}/nope.jsonl --output {tmp}/t.jsonl",
    "generate with a negative limit": "generate --input {tasks} --output {tmp}/t.jsonl --limit -1",
    "generate with an unknown config key": "generate --config {tmp}/unknown.yaml",
    "judge on an empty file": "judge --input {tmp}/empty.jsonl --output {tmp}/j.jsonl --reference",
    "judge with an unknown mode": "judge --input {tmp}/empty.jsonl --output {tmp}/j.jsonl --mode vibes",
    "filter with an unknown strategy": "filter --input {tmp}/empty.jsonl --output {tmp}/k.jsonl --strategy best",
    "train with an unknown algorithm": "train --input {tmp} --output {tmp}/train --algo ppo",
    "eval of an unknown benchmark": "eval --model default --benchmarks trivia --input {tasks} --output {tmp}/eval",
    "eval with a non-number": "eval --model default --benchmarks gsm8k --input {tasks} --output {tmp}/eval --limit many",
    "report of a missing directory": "report {tmp}/nowhere",
    "report of a directory without outputs": "report {tmp}/empty-dir",
    "run of a missing file": "run {tmp}/missing.yaml",
    "quickstart with an unknown option": "quickstart --fast",
    "models with an extra argument": "models extra",
    "an unknown verb": "frobnicate",
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line(case, tmp_path, data_dir):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "unknown.yaml").write_text("inptu: x.jsonl\n")
    (tmp_path / "empty-dir").mkdir()
    before = set(tmp_path.rglob("*"))
    args = [a.format(tmp=tmp_path, tasks=data_dir / "gsm8k" / "test_sample500.jsonl") for a in CASES[case].split()]
    result = runner.invoke(app, args)
    assert result.exit_code not in (0, None), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Usage:" not in result.output and "Traceback" not in result.output
    assert set(tmp_path.rglob("*")) == before, "a failed command left files behind"


def test_real_process_prints_one_line_on_stderr(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    completed = subprocess.run(
        [sys.executable, "-m", "swirl", "split", "--input", str(empty), "--output", str(tmp_path / "split")],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("error: "), completed.stderr
    assert "no steps to split" in completed.stderr
    assert not (tmp_path / "split").exists()
