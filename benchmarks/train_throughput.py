"""Step-wise RL update throughput on the embedded model, per prefix-sharing mode, side by side.

Runs a few SWiRL (GRPO) steps on the states of real three-step GSM8K trajectories (the runner
with the calculator tool, replaying the gold solution's two calculations and then its answer)
with the cheap reference judge as reward, once per mode, each mode in a fresh subprocess so that
its peak RSS is its own. A step trains as many states as a trajectory has (G actions each), and
the run is one epoch, so every mode trains on the same states: off and group in TRL's random
batches, trajectory with the states of one trajectory per batch. Prints, per mode: tokens the
log-prob forwards process per state against the unique tokens (each trajectory's longest state
once, plus the sampled actions), states/s, seconds per step split into sampling / reward /
forward-backward (the rest of the step: loss, backward, optimizer), peak RSS, CPU seconds (robust
to other load on a shared machine, where wall time is not), and ratios against off.

    python benchmarks/train_throughput.py [--modes off,group,trajectory] [--steps 3] [--generations 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import get_args

from swirl.backends.base import Backend, BackendInfo, Completion, GenerationRequest, cut_at_stop
from swirl.stages.generate import ToolSettings, build_toolsets
from swirl.rollout import RolloutSettings, run_rollouts
from swirl.stages.split import save_steps, split_trajectories
from swirl.tasks import load_tasks
from swirl.training.prefix_sharing import state_token_ids
from swirl.training.settings import PrefixSharing, TrainSettings
from swirl.training.trainer import build_trainer

DATA = Path(__file__).resolve().parents[1] / "src" / "swirl" / "data" / "quickstart_gsm8k_train.jsonl"
STATES_PER_TRAJECTORY = 3
"""Two gold calculations, then the answer."""


class GoldSolution(Backend):
    """Replays each question's gold calculations, then its answer (the embedded model rarely writes valid calls)."""

    info = BackendInfo(name="gold-solution")

    def __init__(self, tasks) -> None:
        self.by_question = {f"Question: {t.question.strip()}": t for t in tasks}

    def generate(self, conversations, request: GenerationRequest) -> list[Completion]:
        completions = []
        for conversation in conversations:
            task = self.by_question[conversation[1]["content"]]
            step = sum(1 for m in conversation if m["role"] == "assistant")
            reply = (f"<math_exp>{task.calculations[step].expression}</math_exp>" if step < len(task.calculations)
                     else f"<answer>{task.answer}</answer>")
            text, stop = cut_at_stop(reply, request.stop)
            completions.append(Completion(text, 0, 0, "stop", stop=stop))
        return completions


def multi_step_states(directory: Path, trajectories: int) -> int:
    """Split directory of the states of three-step gold trajectories; returns the state count."""
    tasks = [t for t in load_tasks(DATA, "gsm8k") if len(t.calculations) == STATES_PER_TRAJECTORY - 1][:trajectories]
    finished = []
    run_rollouts(tasks, GoldSolution(tasks), build_toolsets(tasks, ToolSettings()), RolloutSettings(max_live=1),
                 finished.append, model_name="gold-solution")
    rows = split_trajectories(finished)
    assert all(len(t.steps) == STATES_PER_TRAJECTORY for t in finished), "a gold trajectory did not take 3 steps"
    save_steps(rows, directory)
    return len(rows)


def timed(trainer, name: str, totals: dict[str, float]) -> None:
    """Add the wall and CPU seconds spent in the trainer's method ``name`` to ``totals``."""
    method = getattr(trainer, name)

    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - wall
            totals[f"{name} cpu"] += time.process_time() - cpu

    setattr(trainer, name, wrapper)


def run_mode(mode: str, split: Path, args) -> dict:
    """Train ``args.steps`` steps with one prefix-sharing mode in this process; return its figures."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = TrainSettings(input=split, output=Path(scratch), judge="reference", max_steps=args.steps,
                                 num_generations=args.generations,
                                 batch_size=args.generations * STATES_PER_TRAJECTORY,
                                 max_completion_tokens=args.completion_tokens, save_steps=10_000,
                                 prefix_sharing=mode, seed=args.seed)
        trainer, _, _ = build_trainer(settings)
        # Steady-state figures: the one-off first-batch exactness check (an extra unshared forward) is left out.
        trainer.prefix_sharing_checked = True
        totals = {"_generate_single_turn": 0.0, "_calculate_rewards": 0.0}
        for name in list(totals):
            totals[f"{name} cpu"] = 0.0
            timed(trainer, name, totals)
        cpu = time.process_time()
        trainer.train()
        cpu = time.process_time() - cpu
        dataset = trainer.train_dataset
        longest: dict[str, int] = {}
        for trajectory, prompt in zip(dataset["trajectory_id"], dataset["prompt"]):
            length = len(state_token_ids(trainer.processing_class, prompt))
            longest[trajectory] = max(longest.get(trajectory, 0), length)
    step_seconds = sum(e.get("step_time", 0.0) for e in trainer.state.log_history)
    states = args.steps * settings.batch_size // args.generations
    if states != len(dataset):
        raise SystemExit(f"{states} states trained, {len(dataset)} in the split: the modes would not be comparable")
    stats = trainer.prefix_sharing_stats
    if stats["forwards"] != args.steps:
        raise SystemExit(f"{stats['forwards']} log-prob forwards in {args.steps} steps: tokens per state assume one")
    sampling, reward = totals["_generate_single_turn"], totals["_calculate_rewards"]
    return {
        "mode": mode, "active_mode": trainer.prefix_sharing, "states": states,
        "tokens_per_state": stats["forward_tokens"] / states,
        "unique_tokens_per_state": (sum(longest.values()) + stats["completion_tokens"]) / states,
        "states_per_s": states / step_seconds,
        "step_s": step_seconds / args.steps, "sampling_s": sampling / args.steps, "reward_s": reward / args.steps,
        "forward_backward_s": (step_seconds - sampling - reward) / args.steps,
        "cpu_s_per_state": cpu / states,
        "forward_backward_cpu_s": (cpu - totals["_generate_single_turn cpu"] - totals["_calculate_rewards cpu"]) / states,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--completion-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="off,group,trajectory",
                        help="Comma-separated, 'off' first: the ratios are against it.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, split = args.child.split(":", 1)
        print(json.dumps(run_mode(mode, Path(split), args)))
        return
    modes = args.modes.split(",")
    unknown = set(modes) - set(get_args(PrefixSharing))
    if unknown or modes[0] != "off":
        parser.error(f"--modes: 'off' first, then any of {get_args(PrefixSharing)} (got {args.modes})")
    with tempfile.TemporaryDirectory() as scratch:
        split = Path(scratch) / "split"
        count = multi_step_states(split, args.steps)
        print(f"{count} states of {args.steps} three-step gold GSM8K trajectories; G={args.generations}, "
              f"{args.steps} steps of {STATES_PER_TRAJECTORY} states per mode", flush=True)
        results = []
        for mode in modes:
            command = [sys.executable, __file__, "--child", f"{mode}:{split}", "--steps", str(args.steps),
                       "--generations", str(args.generations), "--completion-tokens", str(args.completion_tokens),
                       "--seed", str(args.seed)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
            r = results[-1]
            print(f"{mode:<11} (ran as {r['active_mode']:<10}) {r['tokens_per_state']:>6.0f} tok/state "
                  f"({r['tokens_per_state'] / r['unique_tokens_per_state']:.2f}x the unique) "
                  f"{r['states_per_s']:>6.3f} states/s  step {r['step_s']:>5.1f} s = sampling {r['sampling_s']:>5.1f} "
                  f"+ reward {r['reward_s']:>4.1f} + fwd/bwd {r['forward_backward_s']:>5.1f}  "
                  f"peak RSS {r['peak_rss_gb']:.2f} GB; CPU s/state {r['cpu_s_per_state']:.1f} "
                  f"(fwd/bwd {r['forward_backward_cpu_s']:.1f})", flush=True)
    base = results[0]
    for r in results[1:]:
        print(f"{r['mode']}/off: {r['states_per_s'] / base['states_per_s']:.2f}x states/s, "
              f"{r['forward_backward_s'] / base['forward_backward_s']:.2f}x fwd/bwd time, "
              f"{base['forward_backward_cpu_s'] / r['forward_backward_cpu_s']:.2f}x fewer fwd/bwd CPU s, "
              f"{r['tokens_per_state'] / base['tokens_per_state']:.2f}x tokens/state, "
              f"{r['peak_rss_gb'] / base['peak_rss_gb']:.2f}x peak RSS")


if __name__ == "__main__":
    main()
