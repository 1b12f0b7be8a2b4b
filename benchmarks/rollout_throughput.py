"""Rollout throughput: trajectories/s, generated tokens/s and tokens processed per generated token
on the same GSM8K questions for (a) hf, one trajectory at a time, (b) hf, batched across
trajectories, (c) hf, batched, with KV reuse (each trajectory's cache kept between its steps,
a question's prompt encoded once for its N trajectories), (d) llama.cpp in-process.

(a) and (b) re-encode every state (``kv_reuse=False``, the hf backend before reuse). All run in
this one process, one after another, and the ratios against (a) and (c)/(b) are printed
(machines here are noisy: compare ratios from one run, not absolute numbers across runs).
"Processed" counts the token positions every forward of the model computes, padding included.

    python benchmarks/rollout_throughput.py [--questions 16] [--trajectories 1] [--max-tokens 64] [--max-steps 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from swirl.backends import make_backend
from swirl.backends.hf import HFBackend
from swirl.models import hf_checkpoint, parse_model_ref
from swirl.records import SamplingSettings
from swirl.rollout import RolloutSettings, run_rollouts
from swirl.stages.generate import ToolSettings, build_toolsets
from swirl.tasks import load_tasks

DATA = Path(__file__).resolve().parents[1] / "src" / "swirl" / "data" / "quickstart_gsm8k_train.jsonl"


def hf_backend(max_live: int, kv_reuse: bool) -> tuple[HFBackend, list[int]]:
    """The backend and a counter of the token positions its model computes."""
    backend = HFBackend.from_pretrained(
        str(hf_checkpoint(parse_model_ref("default"))), batch_size=max_live, name="default", kv_reuse=kv_reuse
    )
    processed = [0]
    backend.model.register_forward_pre_hook(
        lambda _module, _args, kwargs: processed.__setitem__(0, processed[0] + kwargs["input_ids"].numel()),
        with_kwargs=True,
    )
    return backend, processed


def measure(name: str, backend, processed: list[int] | None, max_live: int, tasks, args) -> dict:
    settings = RolloutSettings(
        num_trajectories=args.trajectories,
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
    steps = sum(len(t.steps) for t in finished)
    result = {"name": name, "trajectories": len(finished), "seconds": seconds, "tokens": tokens,
              "traj_per_s": len(finished) / seconds, "tok_per_s": tokens / seconds}
    per_token = f"{processed[0] / tokens:>6.1f} processed/generated" if processed else ""
    print(f"{name:<26} {len(finished):>4} traj {steps:>4} steps {tokens:>6} tokens {seconds:>8.1f} s "
          f"{result['traj_per_s']:>7.3f} traj/s {result['tok_per_s']:>7.1f} tok/s {per_token}", flush=True)
    return result


def ratio(label: str, new: dict, base: dict) -> None:
    print(f"{label}: {new['traj_per_s'] / base['traj_per_s']:.2f}x trajectories/s, "
          f"{new['tok_per_s'] / base['tok_per_s']:.2f}x tokens/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--trajectories", type=int, default=1, help="trajectories per question")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--skip-single", action="store_true", help="skip (a), the slowest")
    parser.add_argument("--skip-llamacpp", action="store_true")
    args = parser.parse_args()
    tasks = load_tasks(DATA, "gsm8k", limit=args.questions)
    live = len(tasks) * args.trajectories
    single = None if args.skip_single else measure("(a) hf, one at a time", *hf_backend(1, False), 1, tasks, args)
    batched = measure("(b) hf, batched", *hf_backend(live, False), live, tasks, args)
    reusing = measure("(c) hf, batched, KV reuse", *hf_backend(live, True), live, tasks, args)
    if single:
        ratio("b/a", batched, single)
        ratio("c/a", reusing, single)
    ratio("c/b", reusing, batched)
    if not args.skip_llamacpp:
        llama = measure("(d) llama.cpp", make_backend("default", "llamacpp"), None, 1, tasks, args)
        ratio("d/a" if single else "d/b", llama, single or batched)


if __name__ == "__main__":
    main()
