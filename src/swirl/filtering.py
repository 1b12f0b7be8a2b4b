"""`swirl filter`: keep judged trajectories by one of the paper's four strategies.

  * ``none``             keep everything
  * ``process``          keep a trajectory only if every step is GOOD (best for SWiRL in the paper)
  * ``outcome``          keep it only if the final answer is correct
  * ``process+outcome``  both (preferred by SFT in the paper)
"""

from __future__ import annotations

from collections.abc import Sequence

from swirl.errors import SwirlError
from swirl.records import Trajectory

STRATEGIES = ("none", "process", "outcome", "process+outcome")


def process_ok(trajectory: Trajectory) -> bool:
    judgements = trajectory.step_judgements or []
    return bool(trajectory.steps) and len(judgements) == len(trajectory.steps) and all(
        j.verdict == "GOOD" for j in judgements
    )


def outcome_ok(trajectory: Trajectory) -> bool:
    return bool(trajectory.outcome and trajectory.outcome.correct)


def keeps(trajectory: Trajectory, strategy: str) -> bool:
    if strategy == "none":
        return True
    if strategy == "process":
        return process_ok(trajectory)
    if strategy == "outcome":
        return outcome_ok(trajectory)
    if strategy == "process+outcome":
        return process_ok(trajectory) and outcome_ok(trajectory)
    raise SwirlError(f"unknown filter strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


def require_judged(trajectories: Sequence[Trajectory], strategy: str, source: str) -> None:
    """Process/outcome filters need judged input; say so instead of dropping everything."""
    if strategy in ("process", "process+outcome") and any(t.step_judgements is None for t in trajectories):
        raise SwirlError(f"{source}: trajectories have no step judgements; run 'swirl judge' first")
    if strategy in ("outcome", "process+outcome") and any(t.outcome is None for t in trajectories):
        raise SwirlError(f"{source}: trajectories have no outcome judgement; run 'swirl judge' first")


def filter_trajectories(trajectories: Sequence[Trajectory], strategy: str) -> list[Trajectory]:
    return [t for t in trajectories if keeps(t, strategy)]


def strategy_table(trajectories: Sequence[Trajectory]) -> list[dict[str, int | str]]:
    """How many trajectories and steps each strategy keeps (strategies needing missing labels are omitted)."""
    rows = []
    for strategy in STRATEGIES:
        try:
            require_judged(trajectories, strategy, "")
        except SwirlError:
            continue
        kept = filter_trajectories(trajectories, strategy)
        rows.append({"strategy": strategy, "trajectories": len(kept), "steps": sum(len(t.steps) for t in kept)})
    return rows
