"""`swirl run`: the whole experiment, stage by stage, in one directory.

    EXP/config.yaml                     the experiment as run (no secrets: keys live in the environment)
    EXP/run_state.json                  per stage: settings hash, done, seconds
    EXP/warm-start/                     gold trajectories (judged, kept), split, SFT (when configured)
    EXP/round-R/trajectories.jsonl      generate   (round 1: base policy; round R: round R-1's model)
    EXP/round-R/judged.jsonl            judge
    EXP/round-R/filtered.jsonl          filter
    EXP/round-R/split/                  split
    EXP/round-R/train/final/            train
    EXP/round-R/arms/NAME/              filter, split, train of each arm (last round only)
    EXP/eval/                           eval of the base model and every round's model
    EXP/report.html                     report

A stage's hash covers its settings and the hash of the stage before it. A stage
whose hash is recorded as done is skipped; a changed hash reruns it from scratch (and
so everything after it); an interrupted stage resumes where it stopped, since every
stage writes append-only records or checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swirl.errors import SwirlError
from swirl.experiment import ExperimentConfig, TaskFile, TrainSection, dump_experiment
from swirl.jsonl import write_atomically
from swirl.progress import ProgressCallback
from swirl.records import Task
from swirl.taskfiles import is_hf_reference
from swirl.training.settings import TrainOptions

STATE_FILE = "run_state.json"


def content_hash(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def file_hash(path: Path) -> str:
    if is_hf_reference(path):
        # A hub dataset is named by its reference; datasets itself tracks its revision.
        return content_hash(str(path))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class RunState:
    """Which stages are done, under which settings hash; saved after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stages: dict[str, dict[str, Any]] = {}
        if path.exists():
            self.stages = json.loads(path.read_text()).get("stages", {})

    def save(self) -> None:
        write_atomically(self.path, [json.dumps({"stages": self.stages}, indent=2)])

    def is_done(self, key: str, stage_hash: str) -> bool:
        entry = self.stages.get(key)
        return bool(entry and entry["hash"] == stage_hash and entry["done"])

    def is_started_with(self, key: str, stage_hash: str) -> bool:
        entry = self.stages.get(key)
        return bool(entry and entry["hash"] == stage_hash)

    def start(self, key: str, stage_hash: str) -> None:
        self.stages[key] = {"hash": stage_hash, "done": False, "seconds": 0.0}
        self.save()

    def finish(self, key: str, seconds: float) -> None:
        self.stages[key].update(done=True, seconds=round(seconds, 1))
        self.save()


@dataclass
class Stage:
    key: str
    settings_hash: str
    outputs: list[Path]
    run: Callable[[], None]


def run_stage(state: RunState, stage: Stage, log: Callable[[str], None]) -> None:
    if state.is_done(stage.key, stage.settings_hash):
        log(f"[{stage.key}] unchanged, skipped")
        return
    if state.is_started_with(stage.key, stage.settings_hash):
        log(f"[{stage.key}] resuming")
    else:
        for output in stage.outputs:
            if output.is_dir():
                shutil.rmtree(output)
            elif output.exists():
                output.unlink()
        state.start(stage.key, stage.settings_hash)
        log(f"[{stage.key}] running")
    started = time.perf_counter()
    stage.run()
    state.finish(stage.key, time.perf_counter() - started)


def load_task_files(items: list[TaskFile]) -> tuple[list[Task], list[Task]]:
    """(questions to run, whole splits for the search corpus); ids must be unique across files."""
    from swirl.tasks import load_tasks

    run: list[Task] = []
    corpus: list[Task] = []
    seen: dict[str, Path] = {}
    for item in items:
        split = load_tasks(item.path, item.format)
        for task in split:
            if task.id in seen:
                raise SwirlError(f"{item.path}: task id {task.id!r} also appears in {seen[task.id]}")
            seen[task.id] = item.path
        corpus.extend(split)
        run.extend(split[: item.limit] if item.limit else split)
    return run, corpus


def validate(config: ExperimentConfig) -> None:
    """Check every file and model reference before any model loads."""
    from swirl.models import parse_model_ref

    load_task_files(config.data)
    if config.warm_start:
        load_task_files(config.warm_start.data)
    references = [config.policy.model, config.train.judge or config.judge.model]
    references += [config.judge.model, config.judge.outcome_model, config.eval.judge, config.eval.grader]
    for reference in references:
        if reference and reference != "reference":
            parse_model_ref(reference)
    for benchmark in config.eval.benchmarks:
        if not is_hf_reference(benchmark.path) and not benchmark.path.is_file():
            raise SwirlError(f"eval benchmark {benchmark.name}: file not found: {benchmark.path}")


def run_experiment(
    config: ExperimentConfig,
    directory: Path,
    log: Callable[[str], None] = print,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Run (or resume) every stage; return the evaluation metrics.

    ``progress(name, done, total)`` is called as long stages advance.
    """
    validate(config)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / "config.yaml", [dump_experiment(config)])
    state = RunState(directory / STATE_FILE)
    tasks, corpus = load_task_files(config.data)
    upstream = content_hash([file_hash(item.path) for item in config.data], config.data)
    policy = config.policy.model
    trained: list[tuple[str, str]] = []
    if config.warm_start:
        warm_hash, policy = _run_warm_start(config, directory, state, log, progress)
        upstream = content_hash(upstream, warm_hash)
        trained.append((WARM_LABEL, policy))
    for round_index in range(1, config.rounds + 1):
        last = _run_round(config, directory, state, tasks, corpus, round_index, policy, upstream, log, progress)
        upstream, policy = last.train_hash, last.policy
        trained.append((f"round-{round_index}", policy))
    for arm in config.arms:
        key = f"{last.directory.name}/arms/{arm.name}"
        arm_hash, arm_policy = _train_branch(
            config.arm_config(arm), state, key, directory / key, last.judged, last.judge_hash, last.start_policy, log
        )
        upstream = content_hash(upstream, arm_hash)
        trained.append((arm.name, arm_policy))
    metrics = _run_eval(config, directory, state, trained, upstream, log, progress)

    from swirl.report import write_report

    write_report(directory)
    log(f"[report] {directory / 'report.html'}")
    return metrics


WARM_LABEL = "warm"
"""The eval label of the warm-started model, which is then the comparison row."""


def _run_warm_start(
    config: ExperimentConfig,
    directory: Path,
    state: RunState,
    log: Callable[[str], None],
    progress: ProgressCallback | None,
) -> tuple[str, str]:
    """Gold trajectories -> split -> SFT; return the stage hash and the warm model's path.

    Its hashes do not depend on the rounds' data, so changing those keeps the warm model.
    """
    assert config.warm_start is not None
    here = directory / "warm-start"
    judged, kept, split_dir, train_dir = here / "gold_judged.jsonl", here / "gold.jsonl", here / "split", here / "train"
    section = config.warm_start
    steps = config.generate.max_steps
    gold_hash = content_hash([file_hash(item.path) for item in section.data], section.data, steps)
    run_stage(state, Stage("warm-start/gold", gold_hash, [judged, kept], lambda: _gold(
        config, judged, kept, log, progress)), log)
    split_hash = content_hash(gold_hash)
    run_stage(state, Stage("warm-start/split", split_hash, [split_dir], lambda: _split(kept, split_dir)), log)
    train_hash = content_hash(split_hash, config.policy.model, section.train, config.seed)
    run_stage(state, Stage("warm-start/train", train_hash, [train_dir], lambda: _train(
        config, section.train, split_dir, train_dir, config.policy.model, state.is_started_with("warm-start/train", train_hash))), log)
    return train_hash, str(train_dir / "final")


@dataclass
class RoundResult:
    """Where a round's judged data came from and what it trained; arms branch off the last one."""

    directory: Path
    judged: Path
    judge_hash: str
    start_policy: str
    train_hash: str
    policy: str


def _run_round(
    config: ExperimentConfig,
    directory: Path,
    state: RunState,
    tasks: list[Task],
    corpus: list[Task],
    round_index: int,
    policy: str,
    upstream: str,
    log: Callable[[str], None],
    progress: ProgressCallback | None,
) -> RoundResult:
    here = directory / f"round-{round_index}"
    key = f"round-{round_index}"
    trajectories, judged = here / "trajectories.jsonl", here / "judged.jsonl"

    generate_hash = content_hash(upstream, policy, config.policy, config.generate, config.seed + round_index)
    run_stage(state, Stage(f"{key}/generate", generate_hash, [trajectories], lambda: _generate(
        config, tasks, corpus, policy, config.seed + round_index, trajectories, progress)), log)
    judge_hash = content_hash(generate_hash, config.judge)
    run_stage(state, Stage(f"{key}/judge", judge_hash, [judged], lambda: _judge(config, trajectories, judged, progress)), log)
    train_hash, trained = _train_branch(config, state, key, here, judged, judge_hash, policy, log)
    return RoundResult(here, judged, judge_hash, policy, train_hash, trained)


def _train_branch(
    config: ExperimentConfig,
    state: RunState,
    key: str,
    here: Path,
    judged: Path,
    judge_hash: str,
    policy: str,
    log: Callable[[str], None],
) -> tuple[str, str]:
    """Filter -> split -> train of ``policy`` on judged trajectories; return the train hash and the model's path."""
    kept, split_dir, train_dir = here / "filtered.jsonl", here / "split", here / "train"
    filter_hash = content_hash(judge_hash, config.filter)
    run_stage(state, Stage(f"{key}/filter", filter_hash, [kept], lambda: _filter(config, judged, kept, log)), log)
    split_hash = content_hash(filter_hash)
    run_stage(state, Stage(f"{key}/split", split_hash, [split_dir], lambda: _split(kept, split_dir)), log)
    train_hash = content_hash(split_hash, policy, config.train, config.judge, config.seed)
    run_stage(state, Stage(f"{key}/train", train_hash, [train_dir], lambda: _train(
        config, config.train, split_dir, train_dir, policy, state.is_started_with(f"{key}/train", train_hash))), log)
    return train_hash, str(train_dir / "final")


def _run_eval(
    config: ExperimentConfig,
    directory: Path,
    state: RunState,
    trained: list[tuple[str, str]],
    upstream: str,
    log: Callable[[str], None],
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    eval_dir = directory / "eval"
    if not config.eval.benchmarks:
        log("[eval] no benchmarks configured, skipped")
        return {}
    # The first model is the comparison row of the paired differences: the warm-started one when there is one.
    warm = [item for item in trained if item[0] == WARM_LABEL]
    models = [*warm, ("base", config.policy.model), *(item for item in trained if item[0] != WARM_LABEL)]
    eval_hash = content_hash(upstream, models, config.eval, config.judge, config.seed,
                             [file_hash(b.path) for b in config.eval.benchmarks])
    run_stage(state, Stage("eval", eval_hash, [eval_dir], lambda: _evaluate(config, models, eval_dir, progress)), log)
    return json.loads((eval_dir / "metrics.json").read_text())


# --- Each stage as the experiment runs it: the stage's function with its section of the file.


def _generate(
    config: ExperimentConfig, tasks: list[Task], corpus: list[Task], policy: str, seed: int, output: Path,
    progress: ProgressCallback | None,
) -> None:
    from swirl.backends import make_backend
    from swirl.models import parse_model_ref
    from swirl.stages import generate

    reference = parse_model_ref(policy)
    backend = make_backend(reference, config.policy.backend, batch_size=config.policy.batch_size)
    try:
        generate.run(config.generate, tasks, corpus, backend, output, model_name=reference.name, seed=seed,
                     progress=progress, progress_name=f"{output.parent.name} generate")
    finally:
        backend.close()


def _judge(config: ExperimentConfig, trajectories: Path, output: Path, progress: ProgressCallback | None) -> None:
    from swirl.stages import judge

    judge.run(config.judge, judge.read_trajectories(trajectories), output, seed=config.seed, progress=progress,
              progress_name=f"{output.parent.name} judge steps")


def _filter(config: ExperimentConfig, judged: Path, output: Path, log: Callable[[str], None]) -> None:
    from swirl.stages.filter import run, strategy_table

    trajectories, kept = run(config.filter, judged, output)
    if config.filter.sources:
        log(f"    {len(trajectories)} trajectories of {', '.join(config.filter.sources)}")
    for row in strategy_table(trajectories):
        log(f"    {row['strategy']:>16}: {row['trajectories']} trajectories, {row['steps']} steps")
    if not kept:
        raise SwirlError(
            f"filter '{config.filter.strategy}' kept no trajectories of {len(trajectories)}; "
            "choose another filter.strategy (the table above shows what each keeps)"
        )


def _gold(config: ExperimentConfig, judged: Path, kept: Path, log: Callable[[str], None],
          progress: ProgressCallback | None) -> None:
    """The warm start's gold trajectories (:mod:`swirl.warmstart`), judged, and the kept ones."""
    from swirl.warmstart import build_gold_trajectories

    assert config.warm_start is not None
    tasks, corpus = load_task_files(config.warm_start.data)
    count = build_gold_trajectories(tasks, corpus, config.generate.max_steps, judged, kept, progress=progress)
    log(f"    {count} of {len(tasks)} gold trajectories kept (every step GOOD, answer right)")
    if not count:
        raise SwirlError("warm_start: no gold trajectory passed the reference judge; check warm_start.data")


def _split(kept: Path, output: Path) -> None:
    from swirl.stages.judge import read_trajectories
    from swirl.stages.split import save_steps, split_trajectories

    save_steps(split_trajectories(read_trajectories(kept)), output)


def _train(
    config: ExperimentConfig, options: TrainOptions, split_dir: Path, output: Path, policy: str, started: bool
) -> None:
    """Train ``policy`` with ``options``; the reward judge is the train section's, else the judge section's model."""
    from swirl.stages import train
    from swirl.training.settings import TrainSettings
    from swirl.training.trainer import latest_checkpoint

    judge = (options.judge if isinstance(options, TrainSection) else None) or config.judge.model
    settings = TrainSettings(
        **options.model_dump(exclude={"judge"}), input=split_dir, output=output, model=policy,
        judge=judge, judge_mode=config.judge.mode, judge_backend=config.judge.backend, seed=config.seed,
    )
    train.run(settings, resume=started and latest_checkpoint(output) is not None)


def _evaluate(
    config: ExperimentConfig, models: list[tuple[str, str]], output: Path, progress: ProgressCallback | None
) -> None:
    from swirl.evaluation.plan import EvalSettings
    from swirl.stages.eval import evaluate

    section = config.eval
    settings = EvalSettings(
        **section.model_dump(exclude={"benchmarks"}),
        models=[reference for _, reference in models],
        labels=[label for label, _ in models],
        benchmarks=[b.name for b in section.benchmarks],
        inputs=[b.path for b in section.benchmarks],
        seed=config.seed,
        output=output,
        backend=config.policy.backend,
        batch_size=config.policy.batch_size,
        reward_judges=[config.train.judge or config.judge.model],
    )
    evaluate(settings, on_progress=progress, progress_prefix="eval ")
