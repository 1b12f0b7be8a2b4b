"""Rollout throughput: trajectories/s and generated tokens/s on the same GSM8K questions for
(a) hf, one trajectory at a time, (b) hf, batched across trajectories, (c) llama.cpp in-process.

All three run in this one process, one after another, and the ratios b/a and c/a are printed
(machines here are noisy: compare ratios from one run, not absolute numbers across runs).

    python benchmarks/rollout_throughput.py [--questions 16] [--max-tokens 64] [--max-steps 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from swirl.backends import make_backend
from swirl.records import SamplingSettings
from swirl.rollout import RolloutSettings, run_rollouts
from swirl.stages.generate import ToolSettings, build_toolsets
from swirl.tasks import load_tasks

DATA = Path(__file__).resolve().parents[1] / "src" / "swirl" / "data" / "quickstart_gsm8k_train.jsonl"


def measure(name: str, backend_kind: str, max_live: int, tasks, args) -> dict:
    backend = make_backend("default", backend_kind, batch_size=max_live)
    settings = RolloutSettings(
        max_steps=args.max_steps,
        sampling=SamplingSettings(temperature=0.7, max_tokens=args.max_tokens, seed=0),
        max_live=max_live,
    )
    finished = []
    started = time.perf_counter()
    run_rollouts(tasks, backend, build_toolsets(tasks, ToolSettings()), settings, finished.append, model_name="default")
    seconds = time.perf_counter() - started
    backend.close()
    tokens = sum(s.completion_tokens for t in finished for s in t.steps)
    result = {"name": name, "trajectories": len(finished), "seconds": seconds, "tokens": tokens,
              "traj_per_s": len(finished) / seconds, "tok_per_s": tokens / seconds}
    print(f"{name:<28} {len(finished):>4} traj {tokens:>6} tokens {seconds:>8.1f} s "
          f"{result['traj_per_s']:>7.3f} traj/s {result['tok_per_s']:>7.1f} tok/s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--skip-llamacpp", action="store_true")
    args = parser.parse_args()
    tasks = load_tasks(DATA, "gsm8k", limit=args.questions)
    single = measure("(a) hf, one at a time", "hf", 1, tasks, args)
    batched = measure("(b) hf, batched", "hf", len(tasks), tasks, args)
    print(f"b/a: {batched['traj_per_s'] / single['traj_per_s']:.2f}x trajectories/s, "
          f"{batched['tok_per_s'] / single['tok_per_s']:.2f}x tokens/s")
    if not args.skip_llamacpp:
        llama = measure("(c) llama.cpp", "llamacpp", 1, tasks, args)
        print(f"c/a: {llama['traj_per_s'] / single['traj_per_s']:.2f}x trajectories/s, "
              f"{llama['tok_per_s'] / single['tok_per_s']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
