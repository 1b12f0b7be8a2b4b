"""Evaluation, job 1 (plan): :class:`EvalSettings`, checked, -> :class:`EvalPlan`.

:func:`validate` checks everything that can be wrong with the settings (benchmark names,
one input file per benchmark, files that load, model references that resolve) before any
model is loaded or any output is written, and draws the question subset of each benchmark
(``sample_tasks`` with the seed: the same subset for every model). The other jobs:
running the models (:mod:`swirl.stages.eval`), grading and metrics
(:mod:`swirl.evaluation.metrics`), comparisons (:mod:`swirl.evaluation.compare`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from swirl.backends import BACKENDS
from swirl.backends.base import AUTO, BATCH_SIZE
from swirl.errors import SwirlError
from swirl.judges.process import DEFAULT_MODE, MODES
from swirl.models import DEFAULT_MODEL, ModelRef, parse_model_ref
from swirl.records import ACTION_MAX_TOKENS, Task
from swirl.tasks import BENCHMARK_FORMATS, load_tasks, sample_tasks
from swirl.training.settings import SETTINGS_FILE

BENCHMARKS = tuple(BENCHMARK_FORMATS)
REFERENCE_JUDGE = "reference"


class EvalOptions(BaseModel):
    """How models are evaluated: shared by `swirl eval` (:class:`EvalSettings`) and `swirl run`'s ``eval`` section."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(0, ge=0)
    """Questions per benchmark, a seeded random subset, the same for every model (0 = all)."""
    max_tokens: int = Field(ACTION_MAX_TOKENS, ge=1)
    """Token limit of one action."""
    max_steps: int = Field(0, ge=0)
    """Step limit of a trajectory (0 = the task type's default, :func:`swirl.prompts.step_limit`)."""
    temperature: float = Field(0.0, ge=0.0)
    """Sampling temperature (0 = greedy)."""
    judge: str | None = None
    """Process judge for ``process_score``: a model reference or ``reference``; None = no step scores.
    Independent evidence only when it is not the judge whose scores trained the models (the
    report warns when it is the same model)."""
    judge_mode: str = DEFAULT_MODE
    """score (P(GOOD)) or generate (reasoning + verdict); checked by :func:`validate`."""
    grader: str | None = None
    """LLM outcome grader of ``accuracy`` (answer equivalence); None = programmatic correctness."""
    bootstrap: int = Field(1000, ge=1)
    """Bootstrap resamples of each confidence interval."""


class EvalSettings(EvalOptions):
    """Everything ``swirl eval`` needs; the CLI options map one to one onto these fields."""

    models: list[str]
    """Model references (``default``, HF directory, ``.gguf``, ``openai:MODEL@URL``); the first is the baseline."""
    labels: list[str] = Field(default_factory=list)
    """Names of the models in tables and paths; empty = derived from the references."""
    benchmarks: list[str]
    """Benchmark names, one of :data:`BENCHMARKS` each (:data:`~swirl.tasks.BENCHMARK_FORMATS` gives its file format)."""
    inputs: list[Path]
    """One task file per benchmark, in the same order."""
    seed: int = 0
    """Seed of the question subset, the sampling and the bootstrap."""
    output: Path
    backend: str = AUTO
    batch_size: int = Field(BATCH_SIZE, ge=1)
    no_tools: bool = False
    """Ablation: no tools, the model answers directly."""
    reward_judges: list[str] = Field(default_factory=list)
    """Judges whose scores were the evaluated models' training reward; with those found in each
    model's ``train_settings.json``, checked against ``judge``."""


@dataclass
class Benchmark:
    """One benchmark of an evaluation: its file, the questions asked and the search corpus."""

    name: str
    input: Path
    tasks: list[Task]
    """The evaluated subset, in file order."""
    corpus: list[Task]
    """Every task of the file: its passages make the search corpus."""


@dataclass
class EvalPlan:
    """Validated settings: resolved model references, labels and the question subsets."""

    settings: EvalSettings
    models: list[ModelRef]
    labels: list[str]
    benchmarks: list[Benchmark]
    reward_judges: list[str]
    """The given reward judges and those recorded next to the evaluated checkpoints."""

    @property
    def judge_warning(self) -> str | None:
        """Set when the process judge also gave the training reward, so its score is no independent evidence."""
        judge = self.settings.judge
        if not judge or not any(same_model(judge, reward) for reward in self.reward_judges):
            return None
        return (
            f"the process judge {judge} also gave the training reward, so process_score is not independent "
            "evidence; give another --judge (eval.judge)"
        )

    def trajectories_path(self, label: str, benchmark: str) -> Path:
        return self.settings.output / "trajectories" / path_name(label) / f"{benchmark}.jsonl"


def path_name(label: str) -> str:
    """A label made safe as a directory name."""
    return re.sub(r"[^\w.+-]+", "_", label).lstrip(".") or "model"


def default_label(ref: ModelRef) -> str:
    """How a model is named when no label is given: its directory, file stem, served name or reference."""
    if ref.kind == "hf":
        return Path(ref.location).name
    if ref.kind == "openai":
        return ref.location
    if ref.text != DEFAULT_MODEL:
        return Path(ref.location).stem
    return ref.text


def validate(settings: EvalSettings) -> EvalPlan:
    """Check the settings and load the question subsets; raise :class:`SwirlError` on any problem.

    Loads no model and writes nothing.
    """
    if not settings.models:
        raise SwirlError("give at least one model to evaluate")
    if not settings.benchmarks:
        raise SwirlError(f"give at least one benchmark: {', '.join(BENCHMARKS)}")
    for name in settings.benchmarks:
        if name not in BENCHMARKS:
            raise SwirlError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    if len(set(settings.benchmarks)) != len(settings.benchmarks):
        raise SwirlError(f"a benchmark is named twice in {', '.join(settings.benchmarks)}")
    if len(settings.inputs) != len(settings.benchmarks):
        raise SwirlError(
            f"{len(settings.benchmarks)} benchmark(s) ({', '.join(settings.benchmarks)}) but "
            f"{len(settings.inputs)} input file(s); give one input file per benchmark, in the same order"
        )
    if settings.backend not in BACKENDS:
        raise SwirlError(f"unknown backend {settings.backend!r}; choose one of {', '.join(BACKENDS)}")
    if settings.judge_mode not in MODES:
        raise SwirlError(f"unknown judge mode {settings.judge_mode!r}; choose one of {', '.join(MODES)}")
    refs = [parse_model_ref(model) for model in settings.models]
    if settings.judge and settings.judge != REFERENCE_JUDGE:
        parse_model_ref(settings.judge)
    if settings.grader:
        parse_model_ref(settings.grader)
    labels = _labels(settings.labels, refs)
    recorded = [judge for ref in refs if (judge := recorded_reward_judge(ref))]
    reward_judges = list(dict.fromkeys([*settings.reward_judges, *recorded]))
    benchmarks = []
    for name, path in zip(settings.benchmarks, settings.inputs):
        corpus = load_tasks(path, BENCHMARK_FORMATS[name])
        for task in corpus:
            # Finished trajectories find their benchmark by their task's source (see _run_model).
            task.source = name
        benchmarks.append(Benchmark(name, path, sample_tasks(corpus, settings.limit or None, settings.seed), corpus))
    return EvalPlan(settings, refs, labels, benchmarks, reward_judges)


def recorded_reward_judge(ref: ModelRef) -> str | None:
    """The reward judge in the ``train_settings.json`` that ``swirl train`` wrote beside (or above) a checkpoint."""
    if ref.kind != "hf":
        return None
    for directory in (Path(ref.location), Path(ref.location).parent):
        path = directory / SETTINGS_FILE
        if path.is_file():
            try:
                judge = json.loads(path.read_text(encoding="utf-8")).get("judge")
            except (OSError, ValueError, AttributeError):
                return None
            return judge if isinstance(judge, str) else None
    return None


def same_model(first: str, second: str) -> bool:
    """Whether two judge references name the same model (the same file, directory or served model)."""
    if REFERENCE_JUDGE in (first, second):
        return first == second
    try:
        a, b = parse_model_ref(first), parse_model_ref(second)
    except SwirlError:
        return first.strip() == second.strip()
    return (a.kind, a.location) == (b.kind, b.location)


def _labels(given: list[str], refs: list[ModelRef]) -> list[str]:
    if given and len(given) != len(refs):
        raise SwirlError(f"{len(given)} label(s) for {len(refs)} model(s); give one label per model, or none")
    labels = given or [default_label(ref) for ref in refs]
    seen: dict[str, str] = {}
    for label in labels:
        if path_name(label) in seen:
            raise SwirlError(
                f"two models are both named {seen[path_name(label)]!r}"
                + ("" if given else "; name them with one label per model")
            )
        seen[path_name(label)] = label
    return labels
