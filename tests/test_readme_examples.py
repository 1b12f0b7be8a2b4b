"""Every `swirl` command of the README's examples runs as written, in order, in a fresh copy of the repository.

The examples form one chain (export the shipped data, generate, judge, filter, split, train,
evaluate, report), so they run in README order in one temporary directory holding only
what a fresh clone has (README.md, configs/, src/; no data/). Options appended to a command make it
small (a click option given twice takes its last value); `swirl run` on a whole config is
checked up to the point where models would load, since its experiment takes hours.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
# What a new user needs for the examples is what ships in these (see `swirl data export`).
FRESH_CLONE = ("README.md", "configs", "src")
SMALL = {
    "generate": ["--limit", "2", "-n", "1", "--max-tokens", "32", "--max-steps", "2"],
    "train": ["--max-steps", "1", "--save-steps", "1", "--max-completion-tokens", "24"],
    "eval": ["--limit", "2", "--max-tokens", "32", "--max-steps", "2", "--bootstrap", "50"],
}
# The quickstart has its own end-to-end test (tests/test_pipeline.py).
NOT_RUN_HERE = {"quickstart"}
CHAIN = {"data", "generate", "judge", "filter", "split", "train", "eval", "run", "report"}


def readme_commands(text: str) -> list[list[str]]:
    """The `swirl ...` command lines of the README's bash blocks, with continuations joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["swirl"]:
                commands.append(words)
    return commands


def test_readme_examples_cover_the_chain():
    verbs = {command[1] for command in readme_commands(README.read_text(encoding="utf-8"))}
    assert CHAIN <= verbs


def check_run_config(config: Path, cwd: Path) -> None:
    """`swirl run CONFIG` as far as every input file and model reference is concerned."""
    code = ("import sys; from pathlib import Path; from swirl.experiment import load_experiment; "
            "from swirl.pipeline import validate; validate(load_experiment(Path(sys.argv[1])))")
    completed = subprocess.run([sys.executable, "-c", code, str(config)], cwd=cwd, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.slow
def test_every_readme_example_runs_in_a_fresh_clone(tmp_path, default_checkpoint):
    clone = tmp_path / "swirl"
    clone.mkdir()
    for name in FRESH_CLONE:
        source = REPO_ROOT / name
        shutil.copytree(source, clone / name) if source.is_dir() else shutil.copy(source, clone / name)
    ran = []
    for command in readme_commands(README.read_text(encoding="utf-8")):
        verb = command[1]
        if verb in NOT_RUN_HERE:
            continue
        if verb == "run":
            check_run_config(clone / command[2], clone)
        else:
            completed = subprocess.run([sys.executable, "-m", "swirl", *command[1:], *SMALL.get(verb, [])], cwd=clone,
                                       capture_output=True, text=True, timeout=1200)
            assert completed.returncode == 0, f"{shlex.join(command)}\n{completed.stderr[-3000:]}"
        ran.append(verb)
    assert CHAIN <= set(ran)
    for config in sorted((clone / "configs").glob("*.yaml")):
        check_run_config(config, clone)
