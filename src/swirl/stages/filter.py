"""Stage 3, filter: keep judged trajectories by one of the paper's four strategies.

  * ``none``             keep everything
  * ``process``          keep a trajectory only if every step is GOOD (best for SWiRL in the paper)
  * ``outcome``          keep it only if the final answer is correct
  * ``process+outcome``  both (preferred by SFT in the paper)

:class:`FilterSettings` is the stage's settings: the options of `swirl filter` and the
``filter`` section of `swirl run`; :func:`run` is what both call. :func:`decide` is the one
place that knows why a trajectory is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from swirl.errors import SwirlError
from swirl.jsonl import write_atomically
from swirl.records import Trajectory

STRATEGIES = ("none", "process", "outcome", "process+outcome")


class FilterSettings(BaseModel):
    """Which trajectories training sees: `swirl filter`'s options and `swirl run`'s ``filter`` section."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = "process"
    """none, process, outcome or process+outcome."""
    sources: list[str] = Field(default_factory=list)
    """Keep only trajectories of these task sources, e.g. ``[hotpotqa]`` for a cross-task run (empty = all)."""


def _process_check(trajectory: Trajectory) -> tuple[bool, str]:
    """Every step judged GOOD, and a verdict for every step."""
    if not trajectory.steps:
        return False, "no steps"
    judgements = trajectory.step_judgements or []
    failing = [f"step {i + 1} is {j.verdict}" for i, j in enumerate(judgements) if j.verdict != "GOOD"]
    if len(judgements) != len(trajectory.steps):
        failing.append(f"{len(judgements)} verdicts for {len(trajectory.steps)} steps")
    return not failing, ", ".join(failing) or "every step is GOOD"


def _outcome_check(trajectory: Trajectory) -> tuple[bool, str]:
    if trajectory.outcome and trajectory.outcome.correct:
        return True, "the final answer is correct"
    return False, "no final answer" if trajectory.final_answer is None else "the final answer is wrong"


def decide(trajectory: Trajectory, strategy: str) -> tuple[bool | None, str]:
    """Kept or dropped under ``strategy`` (None: not judged yet), with the reason a reader can check against the steps."""
    if strategy not in STRATEGIES:
        raise SwirlError(f"unknown filter strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy == "none":
        return True, "strategy 'none' keeps every trajectory"
    needs_process = strategy in ("process", "process+outcome")
    needs_outcome = strategy in ("outcome", "process+outcome")
    if (needs_process and trajectory.step_judgements is None) or (needs_outcome and trajectory.outcome is None):
        return None, "not judged yet"
    checks = ([_process_check(trajectory)] if needs_process else []) + ([_outcome_check(trajectory)] if needs_outcome else [])
    return all(ok for ok, _ in checks), f"{strategy}: " + "; ".join(why for _, why in checks)


def keeps(trajectory: Trajectory, strategy: str) -> bool:
    return decide(trajectory, strategy)[0] is True


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


def run(settings: FilterSettings, input: Path, output: Path) -> tuple[list[Trajectory], list[Trajectory]]:
    """The stage as `swirl filter` and `swirl run` call it: write the kept trajectories of ``input`` to ``output``.

    Returns the trajectories considered (those of the settings' sources) and the kept ones.
    """
    from swirl.stages.judge import read_trajectories

    trajectories = [t for t in read_trajectories(input) if not settings.sources or t.task.source in settings.sources]
    require_judged(trajectories, settings.strategy, str(input))
    kept = filter_trajectories(trajectories, settings.strategy)
    write_atomically(output, (t.model_dump_json() + "\n" for t in kept))
    return trajectories, kept
