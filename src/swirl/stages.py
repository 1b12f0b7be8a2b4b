"""One function per pipeline stage, configured from an :class:`ExperimentConfig`.

These are the same stage functions the single-verb commands call (generate, judge,
filter, split, train, eval); `swirl run` only decides which of them to run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from swirl.errors import SwirlError
from swirl.experiment import ExperimentConfig
from swirl.progress import ProgressCallback, counter
from swirl.records import Task


def generate(
    config: ExperimentConfig,
    tasks: list[Task],
    corpus: list[Task],
    policy: str,
    seed: int,
    output: Path,
    progress: ProgressCallback | None = None,
) -> None:
    from swirl.backends import make_backend
    from swirl.generate import ToolSettings, existing_trajectories, generate_trajectories, is_data
    from swirl.models import parse_model_ref
    from swirl.records import SamplingSettings
    from swirl.rollout import RolloutSettings

    section = config.generate
    settings = RolloutSettings(
        num_trajectories=section.num_trajectories,
        max_steps=section.max_steps,
        sampling=SamplingSettings(
            temperature=section.temperature, top_p=section.top_p, max_tokens=section.max_tokens, seed=seed
        ),
    )
    tools = ToolSettings(tools=section.tools, corpus=section.corpus, search_top_k=section.search_top_k)
    reference = parse_model_ref(policy)
    backend = make_backend(reference, config.policy.backend, batch_size=config.policy.batch_size)
    total = len(tasks) * section.num_trajectories
    advance = counter(progress, f"{output.parent.name} generate", total, sum(map(is_data, existing_trajectories(output))))
    try:
        generate_trajectories(
            tasks, backend, settings, tools, output, model_name=reference.name, corpus_tasks=corpus,
            on_progress=advance,
        )
    finally:
        backend.close()


def judge(
    config: ExperimentConfig, trajectories_path: Path, output: Path, progress: ProgressCallback | None = None
) -> None:
    from swirl.backends import make_backend
    from swirl.judges import make_process_judge
    from swirl.judges.outcome import OutcomeJudge
    from swirl.judging import judge_trajectories, read_trajectories
    from swirl.models import parse_model_ref

    trajectories = read_trajectories(trajectories_path)
    tasks = list({t.task.id: t.task for t in trajectories}.values())
    section = config.judge
    process = make_process_judge(section.model, tasks, mode=section.mode, backend=section.backend, seed=config.seed)
    grader = make_backend(parse_model_ref(section.outcome_model), section.backend) if section.outcome_model else None
    advance = counter(progress, f"{output.parent.name} judge steps", sum(len(t.steps) for t in trajectories))
    judge_trajectories(trajectories, process, OutcomeJudge(grader), output, on_progress=advance)


def filter(config: ExperimentConfig, judged: Path, output: Path, log: Callable[[str], None]) -> None:
    from swirl.filtering import filter_trajectories, strategy_table
    from swirl.jsonl import write_atomically
    from swirl.judging import read_trajectories

    trajectories = read_trajectories(judged)
    if config.filter.sources:
        trajectories = [t for t in trajectories if t.task.source in config.filter.sources]
        log(f"    {len(trajectories)} trajectories of {', '.join(config.filter.sources)}")
    kept = filter_trajectories(trajectories, config.filter.strategy)
    for row in strategy_table(trajectories):
        log(f"    {row['strategy']:>16}: {row['trajectories']} trajectories, {row['steps']} steps")
    if not kept:
        raise SwirlError(
            f"filter '{config.filter.strategy}' kept no trajectories of {len(trajectories)}; "
            "choose another filter.strategy (the table above shows what each keeps)"
        )
    write_atomically(output, (t.model_dump_json() + "\n" for t in kept))


def gold(config: ExperimentConfig, judged: Path, kept: Path, log: Callable[[str], None],
         progress: ProgressCallback | None = None) -> None:
    """The warm start's gold trajectories (:mod:`swirl.warmstart`), judged, and the kept ones."""
    from swirl.pipeline import load_task_files
    from swirl.warmstart import build_gold_trajectories

    assert config.warm_start is not None
    tasks, corpus = load_task_files(config.warm_start.data)
    section = config.generate
    count = build_gold_trajectories(tasks, corpus, section.max_steps, judged, kept, progress=progress)
    log(f"    {count} of {len(tasks)} gold trajectories kept (every step GOOD, answer right)")
    if not count:
        raise SwirlError("warm_start: no gold trajectory passed the reference judge; check warm_start.data")


def split(kept: Path, output: Path) -> None:
    from swirl.judging import read_trajectories
    from swirl.splitting import save_steps, split_trajectories

    save_steps(split_trajectories(read_trajectories(kept)), output)


def train(config: ExperimentConfig, split_dir: Path, output: Path, policy: str, *, resume: bool) -> None:
    from swirl.training.settings import TrainSettings
    from swirl.training.trainer import latest_checkpoint
    from swirl.training.trainer import train as run_training

    section = config.train
    settings = TrainSettings(
        **section.model_dump(exclude={"judge"}),
        input=split_dir,
        output=output,
        model=policy,
        judge=section.judge or config.judge.model,
        judge_mode=config.judge.mode,
        judge_backend=config.judge.backend,
        seed=config.seed,
    )
    run_training(settings, resume=resume and latest_checkpoint(output) is not None)


def evaluate(
    config: ExperimentConfig, models: list[tuple[str, str]], output: Path, progress: ProgressCallback | None = None
) -> None:
    from swirl.evaluation.harness import EvalSettings
    from swirl.evaluation.harness import evaluate as run_evaluation

    section = config.eval
    run_evaluation(
        EvalSettings(
            models=[reference for _, reference in models],
            labels=[label for label, _ in models],
            benchmarks=[b.name for b in section.benchmarks],
            inputs=[b.path for b in section.benchmarks],
            limit=section.limit,
            seed=config.seed,
            output=output,
            backend=config.policy.backend,
            batch_size=config.policy.batch_size,
            max_tokens=section.max_tokens,
            temperature=section.temperature,
            max_steps=section.max_steps,
            no_tools=False,
            judge=section.judge,
            judge_mode=section.judge_mode,
            reward_judges=[config.train.judge or config.judge.model],
            grader=section.grader,
            bootstrap=section.bootstrap,
        ),
        on_progress=(lambda name, done, total: progress(f"eval {name}", done, total)) if progress else None,
    )
