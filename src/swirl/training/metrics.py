"""Per-step training metrics: the ones swirl adds to TRL's in ``metrics.jsonl``, and how the
console and the report show them.

Light on purpose (no torch or transformers import), so the report can read the names.
TRL's ``completions/clipped_ratio`` counts every completion that does not end in EOS; the
trainer cuts each action at its closing tag, so it is about 1 and shown nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swirl.actions import parse_action

VALID_ACTIONS = "actions/valid_fraction"
"""Share of sampled actions that parse as exactly one closed action."""
ZERO_VARIANCE_GROUPS = "groups/zero_variance_fraction"
"""Share of states whose G rewards are all equal: their advantages are 0, they give no gradient."""
ACTION_LENGTH = "completions/mean_length"
"""TRL's mean completion length: tokens of the action as cut at its closing tag."""

CURVES = {
    "reward": "reward (mean)",
    "reward_std": "reward (std)",
    ZERO_VARIANCE_GROUPS: "states with equal rewards",
    VALID_ACTIONS: "valid actions",
    ACTION_LENGTH: "action length (tokens)",
    "loss": "loss",
}
"""The per-step curves the report draws, with their titles."""


def is_valid_action(text: str, stops: Sequence[str]) -> bool:
    """Whether an action is exactly one closed action, by the rollout parser's rule (tags named by the stops)."""
    tags = {stop.removeprefix("</").removesuffix(">"): "" for stop in stops}
    return parse_action(text, tags).kind != "invalid"


def zero_variance_fraction(rewards: Any, group_size: int) -> float:
    """Share of consecutive groups of ``group_size`` rewards (a 1-d tensor; one state's G samples) all equal."""
    groups = rewards.view(-1, group_size)
    return (groups == groups[:, :1]).all(dim=1).float().mean().item()


def step_line(step: int, max_steps: int, logs: dict[str, Any], seconds: float) -> str:
    """``step 3/8  reward 0.412 ± 0.051  loss 0.0001  valid 75%  34.2 s/step`` (absent metrics left out)."""
    parts = [f"step {step}/{max_steps}"]
    if logs.get("reward") is not None:
        parts.append(f"reward {logs['reward']:.3f} ± {logs.get('reward_std') or 0.0:.3f}")
    parts.append(f"loss {logs['loss']:.4g}")
    if logs.get(VALID_ACTIONS) is not None:
        parts.append(f"valid {logs[VALID_ACTIONS]:.0%}")
    parts.append(f"{seconds:.1f} s/step")
    return "  ".join(parts)
