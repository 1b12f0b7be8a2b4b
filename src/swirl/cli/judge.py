"""`swirl judge`: command-line front of :mod:`swirl.stages.judge` (option defaults from its settings)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from swirl.cli import app
from swirl.cli.common import ConfigOption, ProgressBoard, console, default, print_replica_counts, reports_errors, settings
from swirl.judges.process import GENERATE_MAX_TOKENS
from swirl.stages.judge import CHUNK_STEPS, JudgeSettings

S = JudgeSettings


@app.command()
@reports_errors
def judge(
    input: Path = typer.Option(..., "--input", "-i", help="Trajectories JSONL from 'swirl generate'."),
    output: Path = typer.Option(..., "--output", "-o", help="Judged trajectories JSONL (appended; rerun to resume)."),
    model: str = typer.Option(default(S, "model"), "--model", "-m", help="Process judge model reference (independent of the policy)."),
    mode: str = typer.Option(default(S, "mode"), "--mode", help="generate (reasoning + verdict) or score (P(GOOD) from log-probabilities)."),
    reference: bool = typer.Option(False, "--reference", help="Use the reference-guided judge (gold data, no LLM) instead of a model."),
    outcome_model: str = typer.Option(default(S, "outcome_model"), "--outcome-model", help="LLM grader for answer equivalence (default: programmatic metrics only)."),
    backend: str = typer.Option(default(S, "backend"), "--backend", help="Engine for judge models: auto, hf, openai, llamacpp, vllm."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Also report agreement with the reference judge (or --against)."),
    against: Path = typer.Option(None, "--against", help="Judged JSONL whose step labels are the calibration reference."),
    max_tokens: int = typer.Option(GENERATE_MAX_TOKENS, "--max-tokens", min=8, help="generate mode: token budget of the judge's reasoning and verdict."),
    chunk_size: int = typer.Option(CHUNK_STEPS, "--chunk-size", min=1, help="Steps judged per backend call (whole trajectories; progress advances per call)."),
    limit: int = typer.Option(0, "--limit", min=0, help="Judge only the first N trajectories (0 = all)."),
    seed: int = typer.Option(0, "--seed"),
    config: Path = ConfigOption,
) -> None:
    """Label each step (process judge) and trajectory (outcome).

    Every step gets a process judgement (verdict, score, rationale), every trajectory an outcome judgement.
    """
    from swirl.judges import REFERENCE
    from swirl.judges.process import MODES
    from swirl.judges.reference import ReferenceJudge
    from swirl.stages.judge import calibrate as run_calibration
    from swirl.stages.judge import read_trajectories, run

    if mode not in MODES:
        raise typer.BadParameter(f"choose one of {', '.join(MODES)}", param_hint="--mode")
    trajectories = read_trajectories(input)
    if limit:
        trajectories = trajectories[:limit]
    if not trajectories:
        raise typer.BadParameter(f"{input}: no trajectories", param_hint="--input")
    tasks = list({t.task.id: t.task for t in trajectories}.values())
    against_labels = None
    if against is not None:
        against_labels = {t.id: [j.verdict for j in t.step_judgements or []] for t in read_trajectories(against)}
    stage = settings(
        JudgeSettings, model=REFERENCE if reference else model, mode=mode, backend=backend, outcome_model=outcome_model or None
    )
    with ProgressBoard() as board:
        judged_run = run(stage, trajectories, output, seed=seed, max_tokens=max_tokens, chunk_size=chunk_size, progress=board)
    summary, process_judge, grader = judged_run.summary, judged_run.process_judge, judged_run.grader
    table = Table(title=f"judged {summary.judged} trajectories ({summary.skipped} already in {output})")
    for column in ("steps", "GOOD", "BAD", "UNPARSED", "mean process score", "outcome accuracy"):
        table.add_column(column)
    table.add_row(
        str(summary.steps), *(str(summary.verdicts.get(v, 0)) for v in ("GOOD", "BAD", "UNPARSED")),
        f"{summary.mean_score:.3f}", f"{summary.accuracy:.3f}",
    )
    console.print(table)
    for role, engine in (("judge", getattr(process_judge, "backend", None)), ("outcome grader", grader)):
        if engine is not None:
            print_replica_counts(engine, role)

    if calibrate or against_labels is not None:
        from swirl.jsonl import read_records
        from swirl.records import Trajectory

        judged = read_records(output, Trajectory)
        labels = against_labels if against_labels is not None else ReferenceJudge.for_tasks(tasks)
        result = run_calibration(judged, labels)
        report = output.with_name(output.stem + ".calibration.json")
        report.write_text(json.dumps(result.as_dict(), indent=2))
        table = Table(title=f"calibration against {'--against labels' if against_labels is not None else 'reference judge'}")
        for column in ("steps", "agreement", "false positives", "FP rate", "false negatives", "FN rate", "unparsed"):
            table.add_column(column)
        table.add_row(
            str(result.total), f"{result.agreement:.3f}", str(result.false_positive), f"{result.false_positive_rate:.3f}",
            str(result.false_negative), f"{result.false_negative_rate:.3f}", str(result.unparsed),
        )
        console.print(table)
        console.print(f"calibration written to {report}", highlight=False)
