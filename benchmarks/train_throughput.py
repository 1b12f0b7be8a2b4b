"""Step-wise RL update throughput on the embedded model: states/s, trained tokens/s, and the
tokens the forward passes process per state (the baseline for future prefix sharing between
the states of one trajectory, which today are processed independently).

Runs a few SWiRL (GRPO) steps on the states of scripted GSM8K trajectories with the cheap
reference judge as reward, and reads TRL's own token counters.

    python benchmarks/train_throughput.py [--steps 4] [--generations 4] [--completion-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from swirl.splitting import save_steps
from swirl.tasks import load_tasks
from swirl.training.settings import TrainSettings
from swirl.training.trainer import METRICS_FILE, train

DATA = Path(__file__).resolve().parents[1] / "src" / "swirl" / "data" / "quickstart_gsm8k_train.jsonl"


def states(directory: Path, count: int) -> list[dict]:
    """One state per task: the initial prompt, with the gold first calculation as the logged action."""
    from swirl.prompts import build_messages
    from swirl.tools import CalculatorTool

    rows = []
    for task in load_tasks(DATA, "gsm8k", limit=count):
        first = task.calculations[0].expression if task.calculations else task.answer
        rows.append({"prompt": build_messages(task, [CalculatorTool()], 10),
                     "completion": [{"role": "assistant", "content": f"<math_exp>{first}</math_exp>"}],
                     "task": task.model_dump_json(), "trajectory_id": f"{task.id}#0"})
    save_steps(rows, directory)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--completion-tokens", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        states(root / "split", args.steps)
        settings = TrainSettings(input=root / "split", output=root / "run", judge="reference", max_steps=args.steps,
                                 num_generations=args.generations, batch_size=args.generations,
                                 max_completion_tokens=args.completion_tokens, save_steps=10_000)
        started = time.perf_counter()
        summary = train(settings)
        seconds = time.perf_counter() - started
        logs = [json.loads(line) for line in (root / "run" / METRICS_FILE).read_text().splitlines()]
    step_logs = [entry for entry in logs if "num_tokens" in entry and "loss" in entry]
    step_seconds = sum(float(entry.get("step_time", 0)) for entry in step_logs)
    total_tokens = float(step_logs[-1]["num_tokens"]) if step_logs else 0.0
    completion_tokens = sum(float(e["completions/mean_length"]) * args.generations for e in step_logs)
    n_states = summary["global_step"]
    print(f"steps: {summary['global_step']}  states: {n_states}  G: {args.generations}")
    print(f"wall time incl. model load: {seconds:.1f} s; time in steps: {step_seconds:.1f} s")
    print(f"states/s: {n_states / step_seconds:.3f}")
    print(f"trained (completion) tokens/s: {completion_tokens / step_seconds:.1f}")
    print(f"tokens through the forward passes per state (prompt+completion, x G): {total_tokens / n_states:.0f}")


if __name__ == "__main__":
    main()
