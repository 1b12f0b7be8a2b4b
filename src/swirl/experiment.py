"""The experiment file of `swirl run`: one YAML describing the whole SWiRL pipeline.

Sections mirror the stages (data -> generate -> judge -> filter -> split -> train ->
eval); each stage's section is that stage's own settings model (:mod:`swirl.stages`). Unknown keys and wrong types are rejected with the path of the offending key.
Model references may name ``openai:`` servers, whose keys come from the environment
only, so the saved copy of this file never holds a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swirl.backends.base import AUTO, BATCH_SIZE
from swirl.errors import SwirlError
from swirl.evaluation.plan import EvalOptions
from swirl.judges.process import MODES
from swirl.models import DEFAULT_MODEL
from swirl.stages.filter import STRATEGIES, FilterSettings
from swirl.stages.generate import GenerateSettings
from swirl.stages.judge import JudgeSettings
from swirl.taskfiles import is_hf_reference
from swirl.training.settings import TrainOptions
from swirl.yamlfile import load_config_file


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskFile(Section):
    path: Path
    format: str = "auto"
    limit: int = Field(0, ge=0)
    """Use the first N questions (0 = all); the search corpus is still the whole file."""


class PolicySection(Section):
    model: str = DEFAULT_MODEL
    backend: str = AUTO
    batch_size: int = Field(BATCH_SIZE, ge=1)


class GenerateSection(GenerateSettings):
    num_trajectories: int = Field(2, ge=1)
    """`swirl run` samples two per question unless told (`swirl generate`: one), as it always has, so
    that existing experiment files keep their meaning."""


class TrainSection(TrainOptions):
    judge: str | None = None
    """Reward model; defaults to the judge section's model."""


class WarmStartSection(Section):
    """SFT on gold trajectories built from the data's annotations (:mod:`swirl.warmstart`) before round 1."""

    data: list[TaskFile]
    """Questions whose gold trajectories teach the action format; keep them apart from ``data``."""
    train: TrainOptions = Field(default_factory=lambda: TrainOptions(algo="sft"))


class ArmSection(Section):
    """Another training run on the last round's judged trajectories, e.g. another filter or SFT."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    filter: FilterSettings | None = None
    """Default: the experiment's filter section."""
    train: dict[str, Any] = Field(default_factory=dict)
    """Options that replace the train section's, e.g. ``{algo: sft}``."""


class Benchmark(Section):
    name: str
    path: Path


class Benchmarks(Section):
    benchmarks: list[Benchmark] = Field(default_factory=list)


class EvalSection(EvalOptions, Benchmarks):
    """The benchmarks, then `swirl eval`'s options (this base order keeps the stage hashes of earlier runs)."""


class ExperimentConfig(Section):
    name: str = "experiment"
    seed: int = 0
    rounds: int = Field(1, ge=1)
    """Generate -> ... -> train repeated, each round generating with the newest policy."""
    data: list[TaskFile]
    policy: PolicySection = Field(default_factory=PolicySection)
    generate: GenerateSection = Field(default_factory=GenerateSection)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    train: TrainSection = Field(default_factory=TrainSection)
    warm_start: WarmStartSection | None = None
    arms: list[ArmSection] = Field(default_factory=list)
    """Trained from the same judged data and start model as the last round, evaluated next to it."""
    eval: EvalSection = Field(default_factory=EvalSection)

    def arm_config(self, arm: ArmSection) -> "ExperimentConfig":
        """This experiment with the arm's filter and train options in place of its own."""
        train = TrainSection.model_validate({**self.train.model_dump(), **arm.train})
        return self.model_copy(update={"filter": arm.filter or self.filter, "train": train})

    def resolve_paths(self, base: Path) -> "ExperimentConfig":
        """Paths in the file are relative to the file's own directory; ``hf:`` dataset references stay as they are."""
        resolved = self.model_copy(deep=True)
        for item in [*resolved.data, *(resolved.warm_start.data if resolved.warm_start else [])]:
            item.path = _under(base, item.path)
        for benchmark in resolved.eval.benchmarks:
            benchmark.path = _under(base, benchmark.path)
        if resolved.generate.corpus is not None:
            resolved.generate.corpus = _under(base, resolved.generate.corpus)
        return resolved


def _under(base: Path, path: Path) -> Path:
    if path.is_absolute() or is_hf_reference(path):
        return path
    return (base / path).resolve()


def load_experiment(path: Path) -> ExperimentConfig:
    data = load_config_file(path)
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as error:
        raise SwirlError(f"{path}: {_first_problem(error)}") from None
    if config.eval.judge_mode not in MODES:
        raise SwirlError(f"{path}: eval.judge_mode: choose one of {', '.join(MODES)}")
    for where, section in [("filter", config.filter), *((f"arms.{a.name}.filter", a.filter) for a in config.arms)]:
        if section is not None and section.strategy not in STRATEGIES:
            raise SwirlError(f"{path}: {where}.strategy: choose one of {', '.join(STRATEGIES)}")
    names = [arm.name for arm in config.arms]
    if len(set(names)) != len(names):
        raise SwirlError(f"{path}: arms: two arms share a name ({', '.join(names)})")
    for arm in config.arms:
        try:
            config.arm_config(arm)
        except ValidationError as error:
            raise SwirlError(f"{path}: arms.{arm.name}.train.{_first_problem(error)}") from None
    return config.resolve_paths(path.resolve().parent)


def _first_problem(error: ValidationError) -> str:
    """``key.path: message`` of the first complaint."""
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]) + f": {first['msg']}"


def dump_experiment(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
