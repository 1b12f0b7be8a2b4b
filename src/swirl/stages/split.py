"""`swirl split`: step-wise decomposition of trajectories into (state, action) rows.

A trajectory with K actions becomes K rows. ``prompt`` holds the chat messages of
state s_i (system and user prompt, earlier actions, tool results) and ``completion``
the action a_i as one assistant message: TRL's conversational prompt-completion
format, so SFTTrainer and GRPOTrainer take the dataset as it is. The task travels
along (as JSON) for judges that need it, e.g. the reference judge as a reward, and so
do the tags of the tools the policy had (``tool_tags``, JSON of tag -> tool name):
training cuts sampled actions at their closing tags and judges them with those tools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from swirl.judges.base import action_tags_of
from swirl.records import Trajectory

STEPS_JSONL = "steps.jsonl"
STEPS_PARQUET = "steps.parquet"


def split_trajectory(trajectory: Trajectory) -> list[dict]:
    judgements = trajectory.step_judgements or []
    tags = action_tags_of(trajectory)
    rows = []
    for step in trajectory.steps:
        judgement = judgements[step.index] if step.index < len(judgements) else None
        rows.append(
            {
                "prompt": trajectory.state_messages(step.index),
                "completion": [{"role": "assistant", "content": step.action_text}],
                "trajectory_id": trajectory.id,
                "task_id": trajectory.task.id,
                "step_index": step.index,
                "num_steps": len(trajectory.steps),
                "action_kind": step.action.kind,
                "step_verdict": judgement.verdict if judgement else None,
                "step_score": judgement.score if judgement else None,
                "outcome_correct": trajectory.outcome.correct if trajectory.outcome else None,
                "task_type": trajectory.task.task_type,
                "task": trajectory.task.model_dump_json(),
                "search": trajectory.search.model_dump_json() if trajectory.search else "",
                "tool_tags": json.dumps(tags),
            }
        )
    return rows


def split_trajectories(trajectories: Sequence[Trajectory]) -> list[dict]:
    return [row for trajectory in trajectories for row in split_trajectory(trajectory)]


def save_steps(rows: list[dict], output_dir: Path) -> None:
    """Write the rows as JSONL and Parquet through temporary names (never half-written)."""
    from datasets import Dataset

    output_dir.mkdir(parents=True, exist_ok=True)
    dataset = Dataset.from_list(rows)
    for name, write in ((STEPS_JSONL, dataset.to_json), (STEPS_PARQUET, dataset.to_parquet)):
        partial = output_dir / f".{name}.partial"
        write(str(partial))
        partial.replace(output_dir / name)
    (output_dir / "split_info.json").write_text(
        json.dumps({"rows": len(rows), "trajectories": len({r["trajectory_id"] for r in rows})}, indent=2)
    )


def load_steps(directory: Path):
    """The split dataset as a ``datasets.Dataset`` (Parquet preferred, JSONL otherwise)."""
    from datasets import load_dataset

    parquet, jsonl = directory / STEPS_PARQUET, directory / STEPS_JSONL
    if parquet.is_file():
        return load_dataset("parquet", data_files=str(parquet), split="train")
    return load_dataset("json", data_files=str(jsonl), split="train")
