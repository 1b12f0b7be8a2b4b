"""`swirl run` / `swirl quickstart`: experiment files, stage skipping and resuming, and the
quickstart end to end on the embedded model (the slow test CI must run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swirl.errors import SwirlError
from swirl.experiment import load_experiment
from swirl.pipeline import RunState, Stage, file_hash, run_stage


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("data: [{path: a.jsonl}]\ngenerate: {num_trajectorys: 2}\n", "generate.num_trajectorys: Extra inputs"),
    ("data: [{path: a.jsonl}]\ntrain: {learning_rate: fast}\n", "train.learning_rate"),
    ("data: [{path: a.jsonl}]\nfilter: {strategy: best}\n", "filter.strategy: choose one of"),
    ("data: [{path: a.jsonl}]\ngenerate: {max_steps_math: 4}\n", "generate: .*max_steps_math is replaced by max_steps"),
    ("data: [{path: a.jsonl}]\ngenerate: {max_steps: [4, 2]}\n", "generate.max_steps"),
    ("name: x\n", "data: Field required"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_experiment_file_errors(tmp_path, text, message):
    with pytest.raises(SwirlError, match=message):
        load_experiment(write(tmp_path, text))


def test_one_step_limit_from_the_file_to_the_runner(tmp_path):
    from swirl.rollout import RolloutSettings

    config = load_experiment(write(tmp_path, "data: [{path: a.jsonl}]\ngenerate: {max_steps: 3}\n"))
    assert config.generate.max_steps == 3
    assert load_experiment(write(tmp_path, "data: [{path: a.jsonl}]\n")).generate.max_steps == RolloutSettings().max_steps == 0


@pytest.mark.parametrize("text, message", [
    ("data: [{path: a.jsonl}]\narms: [{name: x, filter: {strategy: best}}]\n", "arms.x.filter.strategy: choose one of"),
    ("data: [{path: a.jsonl}]\narms: [{name: x}, {name: x}]\n", "two arms share a name"),
    ("data: [{path: a.jsonl}]\narms: [{name: x, train: {algo: dpo}}]\n", "arms.x.train.algo"),
    ("data: [{path: a.jsonl}]\narms: [{name: ../x}]\n", "arms.0.name"),
    ("data: [{path: a.jsonl}]\nwarm_start: {train: {algo: sft}}\n", "warm_start.data: Field required"),
])
def test_arm_and_warm_start_errors(tmp_path, text, message):
    with pytest.raises(SwirlError, match=message):
        load_experiment(write(tmp_path, text))


def test_an_arm_replaces_only_what_it_names(tmp_path):
    config = load_experiment(write(tmp_path, (
        "data: [{path: a.jsonl}]\nwarm_start: {data: [{path: w.jsonl}]}\ntrain: {learning_rate: 3.0e-5, max_steps: 7}\n"
        "arms: [{name: sft, train: {algo: sft}}, {name: cross, filter: {strategy: none, sources: [hotpotqa]}}]\n"
    )))
    assert config.warm_start.data[0].path == tmp_path / "w.jsonl"
    assert config.warm_start.train.algo == "sft"
    sft = config.arm_config(config.arms[0])
    assert (sft.train.algo, sft.train.learning_rate, sft.train.max_steps) == ("sft", 3.0e-5, 7)
    assert sft.filter == config.filter
    cross = config.arm_config(config.arms[1])
    assert (cross.filter.strategy, cross.filter.sources, cross.train) == ("none", ["hotpotqa"], config.train)


def test_paths_are_relative_to_the_file(tmp_path):
    config = load_experiment(write(tmp_path, "data: [{path: data/a.jsonl}]\n"))
    assert config.data[0].path == tmp_path / "data" / "a.jsonl"


def test_hf_references_are_not_paths(tmp_path):
    config = load_experiment(write(tmp_path, "data: [{path: 'hf:openai/gsm8k:main:train', limit: 5}]\n"
                                             "eval: {benchmarks: [{name: beerqa, path: beer.json}]}\n"))
    assert str(config.data[0].path) == "hf:openai/gsm8k:main:train"
    assert config.eval.benchmarks[0].path == tmp_path / "beer.json"
    assert file_hash(config.data[0].path) == file_hash(Path("hf:openai/gsm8k:main:train"))
    assert file_hash(config.data[0].path) != file_hash(Path("hf:openai/gsm8k:main:test"))


def test_every_shipped_config_loads():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 4
    for path in configs:
        assert load_experiment(path).data


def test_eval_judge_is_its_own_setting(tmp_path):
    config = load_experiment(write(tmp_path, "data: [{path: a.jsonl}]\njudge: {model: default}\n"))
    assert config.eval.judge is None, "the training reward's judge is no default for the eval judge"


@pytest.mark.parametrize("name", ["gsm8k.yaml", "hotpotqa.yaml"])
def test_paper_configs_grade_accuracy_with_an_llm_and_an_independent_judge(name):
    from pathlib import Path

    from swirl.evaluation.plan import same_model
    from swirl.models import parse_model_ref

    config = load_experiment(Path(__file__).resolve().parents[1] / "configs" / name)
    assert parse_model_ref(config.eval.grader).kind == "openai"
    assert config.eval.judge and not same_model(config.eval.judge, config.train.judge or config.judge.model)


def test_stage_skipping_rerunning_and_resuming(tmp_path):
    state = RunState(tmp_path / "run_state.json")
    runs = []
    output = tmp_path / "out.txt"

    def stage(settings_hash, fail=False):
        def body():
            runs.append(settings_hash)
            output.write_text(settings_hash)
            if fail:
                raise RuntimeError("interrupted")
        return Stage("s", settings_hash, [output], body)

    run_stage(state, stage("a"), print)
    run_stage(RunState(tmp_path / "run_state.json"), stage("a"), print)
    assert runs == ["a"]
    with pytest.raises(RuntimeError):
        run_stage(state, stage("b", fail=True), print)
    messages = []
    run_stage(RunState(tmp_path / "run_state.json"), stage("b"), messages.append)
    assert messages == ["[s] resuming"]
    assert runs == ["a", "b", "b"]
    assert json.loads((tmp_path / "run_state.json").read_text())["stages"]["s"]["done"] is True


@pytest.mark.slow
def test_quickstart_end_to_end_and_rerun_skips(tmp_path, default_checkpoint):
    output = tmp_path / "quickstart"
    first = subprocess.run([sys.executable, "-m", "swirl", "quickstart", "--output", str(output)],
                           capture_output=True, text=True, timeout=2400)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("config.yaml", "run_state.json", "round-1/trajectories.jsonl", "round-1/judged.jsonl",
                 "round-1/filtered.jsonl", "round-1/split/steps.parquet", "round-1/train/final/model.safetensors",
                 "eval/metrics.json", "eval/results.md", "report.html"):
        assert (output / name).is_file(), name
    assert "base vs trained" in first.stderr
    metrics = json.loads((output / "eval" / "metrics.json").read_text())
    assert set(metrics["results"]) == {"base", "round-1"}
    state = json.loads((output / "run_state.json").read_text())["stages"]
    assert all(entry["done"] for entry in state.values()) and len(state) == 6

    second = subprocess.run([sys.executable, "-m", "swirl", "quickstart", "--output", str(output)],
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("unchanged, skipped") == 6


@pytest.mark.slow
def test_cpu_study_reduced_end_to_end(tmp_path, default_checkpoint):
    """configs/cpu_study.yaml with every size cut to a few questions and one step per training."""
    from pathlib import Path

    import yaml

    study = Path(__file__).resolve().parents[1] / "configs" / "cpu_study.yaml"
    config = yaml.safe_load(study.read_text())
    for item in [*config["warm_start"]["data"], *config["data"]]:
        item["path"] = str((study.parent / item["path"]).resolve())
        item["limit"] = 2
    for benchmark in config["eval"]["benchmarks"]:
        benchmark["path"] = str((study.parent / benchmark["path"]).resolve())
    config["warm_start"]["train"].update(max_steps=1, batch_size=2)
    # The step limits stay: gold trajectories are built under them and need up to 10 / 5 turns.
    config["generate"].update(num_trajectories=2, max_tokens=32)
    # One SFT step cannot make the policy's trajectories all GOOD, so the reduced run keeps everything.
    config["filter"] = {"strategy": "none"}
    config["train"].update(max_steps=1, num_generations=2, batch_size=2, max_completion_tokens=16)
    config["arms"] = [{"name": "sft", "train": {"algo": "sft"}},
                      {"name": "cross", "filter": {"strategy": "none", "sources": ["hotpotqa"]}}]
    config["eval"].update(limit=2, max_steps=2, max_tokens=16, bootstrap=20)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / "study"

    run = subprocess.run([sys.executable, "-m", "swirl", "run", str(path), "--output", str(output)],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    gold = [json.loads(line) for line in (output / "warm-start" / "gold.jsonl").read_text().splitlines()]
    assert {t["task"]["source"] for t in gold} == {"gsm8k", "hotpotqa"} and all(t["model"] == "gold" for t in gold)
    for name in ("round-1/train/final", "round-1/arms/sft/train/final", "round-1/arms/cross/train/final"):
        assert (output / name / "model.safetensors").is_file(), name
    cross = [json.loads(line) for line in (output / "round-1/arms/cross/filtered.jsonl").read_text().splitlines()]
    assert cross and {t["task"]["source"] for t in cross} == {"hotpotqa"}
    metrics = json.loads((output / "eval" / "metrics.json").read_text())
    assert [m["label"] for m in metrics["models"]] == ["warm", "base", "round-1", "sft", "cross"]
    assert {c["baseline"] for c in metrics["comparisons"]} == {"warm"}
    state = json.loads((output / "run_state.json").read_text())["stages"]
    assert all(entry["done"] for entry in state.values()) and "warm-start/train" in state


def test_every_section_reaches_its_stage(tmp_path, data_dir, monkeypatch):
    """`swirl run` hands each YAML section to its stage unchanged: scripted policy, reference judge,
    training recorded instead of run (the real stages run in the slow end-to-end tests)."""
    from scripted_backend import ScriptedBackend

    from swirl import backends
    from swirl.stages import eval as eval_stage
    from swirl.stages import train as train_stage

    from swirl.pipeline import run_experiment

    opened, trained = [], {}

    def open_backend(reference, backend="auto", **options):
        opened.append((str(reference), backend, options.get("batch_size")))
        return ScriptedBackend(lambda conversation: "Done. <answer>1</answer>")

    def record_training(settings, *, resume):
        trained[settings.output.parent.name] = settings
        (settings.output / "final").mkdir(parents=True)
        (settings.output / "final" / "config.json").write_text("{}")
        return {}

    monkeypatch.setattr(backends, "make_backend", open_backend)
    monkeypatch.setattr(eval_stage, "make_backend", open_backend)
    monkeypatch.setattr(train_stage, "run", record_training)
    gsm8k = data_dir / "gsm8k"
    config = load_experiment(write(tmp_path, f"""
seed: 3
data: [{{path: {gsm8k / 'train.jsonl'}, limit: 2}}]
policy: {{batch_size: 7}}
generate: {{num_trajectories: 2, temperature: 0.3, max_tokens: 40, max_steps: 3}}
judge: {{model: reference}}
filter: {{strategy: none}}
train: {{max_steps: 1, num_generations: 2, batch_size: 2}}
arms: [{{name: sft, train: {{algo: sft}}}}]
eval: {{benchmarks: [{{name: gsm8k, path: {gsm8k / 'test_sample500.jsonl'}}}], limit: 2, max_steps: 2, bootstrap: 20}}
"""))
    metrics = run_experiment(config, tmp_path / "exp", log=lambda message: None)

    trajectories = (tmp_path / "exp" / "round-1" / "trajectories.jsonl").read_text().splitlines()
    assert len(trajectories) == 4
    sampling = json.loads(trajectories[0])["sampling"]
    assert (sampling["temperature"], sampling["max_tokens"], sampling["seed"]) == (0.3, 40, 4)
    judged = [json.loads(line) for line in (tmp_path / "exp" / "round-1" / "judged.jsonl").read_text().splitlines()]
    assert {j["judge"] for t in judged for j in t["step_judgements"]} == {"reference"}
    assert len((tmp_path / "exp" / "round-1" / "filtered.jsonl").read_text().splitlines()) == 4
    assert (trained["round-1"].algo, trained["round-1"].max_steps, trained["round-1"].judge, trained["round-1"].seed) == (
        "swirl", 1, "reference", 3)
    assert trained["sft"].algo == "sft" and trained["sft"].max_steps == 1
    assert (opened[0][1], opened[0][2]) == ("auto", 7)
    assert [m["label"] for m in metrics["models"]] == ["base", "round-1", "sft"]
    assert (metrics["settings"]["limit"], metrics["settings"]["bootstrap"], metrics["settings"]["max_steps"]) == (2, 20, 2)
    assert metrics["benchmarks"][0]["questions"] == 2
