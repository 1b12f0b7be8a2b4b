"""Real training runs on the embedded model (CPU): SWiRL with the embedded judge, resume,
SFT with completion-only loss, the learning signal, and bad input before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trajectory_factory import gold_then_wrong, scripted_trajectories

from swirl.errors import SwirlError
from swirl.stages.split import save_steps, split_trajectories
from swirl.tasks import load_tasks
from swirl.training.settings import TrainSettings
from swirl.training.metrics import ACTION_LENGTH, VALID_ACTIONS, ZERO_VARIANCE_GROUPS, is_valid_action
from swirl.training.trainer import METRICS_FILE, build_trainer, kept_length, train


@pytest.fixture(scope="module")
def split_dir(data_dir, tmp_path_factory):
    tasks = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=30) if len(t.calculations) == 1][:3]
    directory = tmp_path_factory.mktemp("split")
    save_steps(split_trajectories(scripted_trajectories(tasks, gold_then_wrong)), directory)
    return directory


def quick(split_dir, output, **overrides):
    values = dict(input=split_dir, output=output, max_steps=2, num_generations=2, batch_size=2,
                  max_completion_tokens=16, save_steps=1, limit=4)
    return TrainSettings(**(values | overrides))


def test_kept_length_cuts_after_first_closing_tag(hf_backend):
    tokenizer = hf_backend.tokenizer
    ids = tokenizer.encode("think <math_exp>1+2</math_exp> and then more text", add_special_tokens=False)
    n = kept_length(ids, tokenizer, ["</math_exp>", "</answer>"])
    assert tokenizer.decode(ids[:n]).endswith("</math_exp>")
    assert kept_length(ids[:3], tokenizer, ["</answer>"]) == 3


@pytest.fixture(scope="module")
def one_step(split_dir, tmp_path_factory, default_checkpoint):
    """One real SWiRL step (embedded policy and judge), with what it printed and warned."""
    import contextlib
    import io
    import warnings

    output = tmp_path_factory.mktemp("one_step")
    trainer, _, _ = build_trainer(quick(split_dir, output, judge="default", max_steps=1, max_completion_tokens=8,
                                        limit=2))
    printed = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(printed):
        warnings.simplefilter("always")
        trainer.train()
    return trainer, output, printed.getvalue(), [str(w.message) for w in caught]


@pytest.mark.slow
def test_default_advantage_is_reward_minus_group_mean(one_step):
    import torch

    trainer = one_step[0]
    rewards = torch.tensor(list(trainer._logs["rewards"]["process_judge"])).view(-1, 2)
    advantages = torch.tensor(list(trainer._logs["advantages"])).view(-1, 2)
    assert rewards.std() > 0  # the judge's scores vary, so a std scaling would show
    assert torch.allclose(advantages, rewards - rewards.mean(dim=1, keepdim=True), atol=1e-6)


@pytest.mark.slow
def test_step_metrics_logged(one_step):
    import torch

    trainer, output, _, _ = one_step
    [metrics] = [m for m in map(json.loads, (output / METRICS_FILE).read_text().splitlines()) if "loss" in m]
    texts = [c[0]["content"] for c in trainer._logs["completion"]]
    assert metrics[VALID_ACTIONS] == pytest.approx(sum(is_valid_action(t, ("</math_exp>", "</answer>")) for t in texts)
                                                   / len(texts))
    rewards = torch.tensor(list(trainer._logs["rewards"]["process_judge"])).view(-1, 2)
    assert metrics[ZERO_VARIANCE_GROUPS] == pytest.approx(float((rewards[:, 0] == rewards[:, 1]).float().mean()))
    assert metrics["reward"] == pytest.approx(float(rewards.mean()), abs=1e-6)
    assert metrics["reward_std"] >= 0
    assert 0 < metrics[ACTION_LENGTH] <= 8


@pytest.mark.slow
def test_console_shows_one_compact_line_per_step(one_step):
    _, _, printed, warned = one_step
    assert len(printed.strip().splitlines()) == 1, printed
    assert printed.startswith("step 1/1  reward ")
    assert "valid " in printed and "s/step" in printed and "{" not in printed
    assert not [w for w in warned if "pin_memory" in w]


@pytest.fixture(scope="module")
def swirl_run(split_dir, tmp_path_factory, default_checkpoint):
    output = tmp_path_factory.mktemp("swirl_run")
    return output, train(quick(split_dir, output, judge="default"))


@pytest.mark.slow
def test_swirl_run_with_embedded_judge(swirl_run, default_checkpoint):
    output, summary = swirl_run
    assert summary["global_step"] == 2
    assert (output / "checkpoint-2").is_dir()
    metrics = [json.loads(line) for line in (output / METRICS_FILE).read_text().splitlines()]
    rewards = [m["reward"] for m in metrics if "reward" in m]
    assert len(rewards) == 2 and all(0.0 <= r <= 1.0 for r in rewards)
    assert any("kl" in m or "entropy" in m for m in metrics)

    from swirl.backends import GenerationRequest, make_backend

    trained = make_backend(summary["final_model"])
    [completion] = trained.generate([[{"role": "user", "content": "Hi"}]], GenerationRequest(max_tokens=5))
    assert completion.completion_tokens > 0


@pytest.mark.slow
def test_resume_continues_step_count(swirl_run, split_dir):
    output, _ = swirl_run
    summary = train(quick(split_dir, output, judge="default", max_steps=3), resume=True)
    assert summary["resumed_from"].endswith("checkpoint-2")
    assert summary["global_step"] == 3


def test_resumed_run_logs_each_step_once(tmp_path):
    from transformers import TrainerState

    from swirl.training.trainer import MetricsLog

    path = tmp_path / METRICS_FILE
    # A run killed while writing checkpoint-2: step 2 is logged, the last complete checkpoint is 1.
    path.write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 0.4}\n{"step": 3, "lo')
    log = MetricsLog(path)
    log.on_train_begin(None, TrainerState(global_step=1), None)
    log.on_log(None, TrainerState(global_step=2), None, logs={"loss": 0.3})
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.3}]


@pytest.mark.slow
def test_sft_masks_prompt_and_loss_decreases(split_dir, tmp_path, default_checkpoint):
    settings = quick(split_dir, tmp_path, algo="sft", max_steps=8, learning_rate=1e-4, batch_size=4)
    trainer, tokenizer, _ = build_trainer(settings)
    batch = next(iter(trainer.get_train_dataloader()))
    trained_ids = [int(t) for t in batch["labels"][0] if int(t) != -100]
    trained_text = tokenizer.decode(trained_ids)
    assert trained_ids and len(trained_ids) < int(batch["attention_mask"][0].sum())
    assert "Question:" not in trained_text and "You solve math" not in trained_text
    assert "<math_exp>" in trained_text or "<answer>" in trained_text

    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) >= 4
    assert losses[-1] < losses[0]
    assert result.training_loss > 0


def test_bad_split_inputs_fail_before_training(tmp_path):
    with pytest.raises(SwirlError, match="not a split directory"):
        build_trainer(TrainSettings(input=tmp_path / "missing", output=tmp_path / "o"))
    from datasets import Dataset

    (tmp_path / "empty").mkdir()
    (tmp_path / "wrong").mkdir()
    Dataset.from_list([{"prompt": "x", "other": 1}]).to_parquet(str(tmp_path / "wrong" / "steps.parquet"))
    with pytest.raises(SwirlError, match="missing columns: completion, task"):
        build_trainer(TrainSettings(input=tmp_path / "wrong", output=tmp_path / "o"))
    with pytest.raises(SwirlError, match="cannot read"):
        build_trainer(TrainSettings(input=tmp_path / "empty", output=tmp_path / "o"))


def test_bad_policy_and_failing_judge_fail_before_training(split_dir, tmp_path, default_checkpoint):
    with pytest.raises(SwirlError, match="unknown model reference"):
        build_trainer(quick(split_dir, tmp_path, model="no-such-model"))
    with pytest.raises(SwirlError, match="judge failed on a first test step"):
        build_trainer(quick(split_dir, tmp_path, judge="openai:none@http://127.0.0.1:9/v1", judge_retries=0))
    assert not list(tmp_path.glob("checkpoint-*"))


class WritesAdditionJudge:
    """A simple process reward for states whose right next step is known to be an addition:
    GOOD when the action writes out a sum. Dense enough on a 135M model (about 1 in 5
    samples at the start) for a few GRPO steps to show which way the gradients point."""

    name = "writes-addition"

    def judge(self, steps):
        from swirl.records import StepJudgement

        return [
            StepJudgement(verdict="GOOD" if "+" in s.action_text else "BAD", score=float("+" in s.action_text),
                          judge=self.name, mode="test")
            for s in steps
        ]


def addition_states(directory):
    from swirl.records import Task

    rows = []
    for i, (a, b) in enumerate([(12, 30), (7, 8), (25, 17), (40, 2)]):
        task = Task(id=f"add{i}", question=f"Tom has {a} apples and buys {b} more. How many apples does he have now?",
                    answer=str(a + b), task_type="math", source="test")
        rows.append({
            "prompt": [{"role": "system", "content": "Solve the problem step by step."},
                       {"role": "user", "content": f"Question: {task.question}"}],
            "completion": [{"role": "assistant", "content": f"{a} + {b} = {a + b}"}],
            "task": task.model_dump_json(), "trajectory_id": f"add{i}#0",
        })
    save_steps(rows, directory)
    return rows


def mean_reward(model_path, rows, judge):
    from swirl.backends import GenerationRequest
    from swirl.backends.hf import HFBackend
    from swirl.judges.base import StepToJudge
    from swirl.records import Task

    backend = HFBackend.from_pretrained(str(model_path))
    prompts = [r["prompt"] for r in rows] * 8
    completions = backend.generate(prompts, GenerationRequest(max_tokens=32, temperature=1.0, seed=123))
    tasks = [Task.model_validate_json(r["task"]) for r in rows] * 8
    steps = [StepToJudge(t, p, c.text) for t, p, c in zip(tasks, prompts, completions)]
    return sum(j.score for j in judge.judge(steps)) / len(steps)


@pytest.mark.slow
def test_learning_signal_raises_mean_reward(tmp_path, monkeypatch, default_checkpoint):
    from swirl.training import trainer as trainer_module

    rows = addition_states(tmp_path / "split")
    judge = WritesAdditionJudge()
    monkeypatch.setattr(trainer_module, "make_judge", lambda settings, tasks: judge)
    before = mean_reward(default_checkpoint, rows, judge)
    summary = train(TrainSettings(input=tmp_path / "split", output=tmp_path / "run", max_steps=8, num_generations=4,
                                  batch_size=8, max_completion_tokens=32, learning_rate=5e-5, save_steps=100))
    after = mean_reward(summary["final_model"], rows, judge)
    assert after > before + 0.2, (before, after)


def test_long_states_are_dropped_and_counted(default_checkpoint, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from swirl.training.trainer import drop_long_states

    tokenizer = AutoTokenizer.from_pretrained(default_checkpoint)
    rows = [{"prompt": [{"role": "user", "content": "What is 2 + 2?"}]},
            {"prompt": [{"role": "user", "content": "Tom has 3 apples. " * 60}]},
            {"prompt": [{"role": "user", "content": "What is 3 + 4?"}]}]
    kept, too_long = drop_long_states(Dataset.from_list(rows), TrainSettings(input="s", output=tmp_path,
                                                                             max_prompt_tokens=100), tokenizer)
    assert too_long == 1
    assert [r["prompt"][0]["content"] for r in kept] == ["What is 2 + 2?", "What is 3 + 4?"]


def test_installed_trl_keeps_the_private_contract():
    from trl import GRPOTrainer

    from swirl.training.trainer import check_trl_contract

    check_trl_contract(GRPOTrainer)


def test_changed_trl_contract_fails_at_start_in_one_line(split_dir, tmp_path, monkeypatch):
    import trl
    from trl import GRPOTrainer

    from swirl.training.trainer import check_trl_contract

    class NewSignature(GRPOTrainer):
        def _generate_single_turn(self, prompts, sampling):  # noqa: ANN001
            return None

    class FourResults(GRPOTrainer):  # what TRL before 1.0 returned and unpacked
        def _generate(self, prompts):  # noqa: ANN001
            prompt_ids, completion_ids, logprobs, extra = self._generate_single_turn(prompts)
            return prompt_ids, completion_ids, logprobs, extra

    cases = ((NewSignature, "_generate_single_turn's parameters"), (FourResults, "(completion_ids, logprobs) result"))
    for changed, named in cases:
        with pytest.raises(SwirlError, match=f"TRL {trl.__version__} does not match") as error:
            check_trl_contract(changed)
        assert named in str(error.value) and "\n" not in str(error.value)

    # the real start-up path: nothing loaded, no output written
    monkeypatch.setattr(trl, "GRPOTrainer", NewSignature)
    with pytest.raises(SwirlError, match="private GRPOTrainer API"):
        build_trainer(quick(split_dir, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_pyproject_declares_the_tested_trl_range():
    import tomllib
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet
    from packaging.requirements import Requirement

    from swirl.training.trainer import TRL_TESTED

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    [trl] = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "trl"]
    assert trl.specifier == SpecifierSet(TRL_TESTED)
    assert version("trl") in trl.specifier


def custom_tool_states(directory):
    """States whose policy had one custom tool, ``<find>`` (a user's ``--tools module:fn``)."""
    from swirl.records import Task

    rows = []
    for i, word in enumerate(["clips", "apples"]):
        task = Task(id=f"find{i}", question=f"How many {word} are there?", answer="3", task_type="math", source="test")
        rows.append({
            "prompt": [{"role": "system", "content": "Look words up with the find tool: write <find>word</find>."},
                       {"role": "user", "content": f"Question: {task.question}"}],
            "completion": [{"role": "assistant", "content": f"<find>{word}</find>"}],
            "task": task.model_dump_json(), "tool_tags": json.dumps({"find": "lookup"}), "trajectory_id": f"find{i}#0",
        })
    save_steps(rows, directory)


def writes_find_calls(tokenizer) -> dict:
    """A sequence bias under which the policy writes ``<find>x</find>x</find>...``, never stopping by itself.

    The 135M model does not write a chosen action on demand; biased sampling stands in for a policy
    that has learned to call the tool, so the cut at the closing tag is what ends its action.
    """
    ids = tokenizer.encode("<find>x</find>", add_special_tokens=False)
    bias = {(ids[0],): 100.0}
    bias.update({(a, b): 200.0 for a, b in zip(ids, ids[1:])})
    return bias


@pytest.mark.slow
def test_sampled_actions_end_at_the_custom_tools_closing_tag(tmp_path, monkeypatch, default_checkpoint):
    from swirl.training import trainer as trainer_module
    from swirl.training.reward import StepReward, completion_text

    sampled: list[str] = []

    class RecordingReward(StepReward):
        def __call__(self, prompts, completions, **columns):
            sampled.extend(completion_text(c) for c in completions)
            return super().__call__(prompts, completions, **columns)

    judge = WritesAdditionJudge()
    monkeypatch.setattr(trainer_module, "make_judge", lambda settings, tasks: judge)
    monkeypatch.setattr(trainer_module, "StepReward", RecordingReward)
    custom_tool_states(tmp_path / "split")
    trainer, tokenizer, _ = build_trainer(TrainSettings(input=tmp_path / "split", output=tmp_path / "run", max_steps=1,
                                                        num_generations=2, batch_size=2, max_completion_tokens=16,
                                                        save_steps=100))
    assert "</find>" in trainer.action_stops
    trainer.generation_config.sequence_bias = writes_find_calls(tokenizer)
    sampled.clear()
    trainer.train()
    assert len(sampled) == 2
    assert all(text.startswith("<find>x</find>") and text.count("</find>") == 1 for text in sampled), sampled


def test_sampling_encodes_each_state_once_with_the_same_samples(split_dir, tmp_path, default_checkpoint):
    """TRL's transformers generation, given G copies of each state as a training step gives it."""
    import torch
    from trl import GRPOTrainer

    trainer, tokenizer, _ = build_trainer(quick(split_dir, tmp_path, max_completion_tokens=12))
    states = [tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
              for row in trainer.train_dataset.select(range(2))]
    prompt_ids = [tokenizer.encode(state, add_special_tokens=False) for state in states for _ in range(4)]
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)

    def sample(generate_single_turn):
        fed = []
        hook = model.register_forward_pre_hook(lambda _m, _a, kwargs: fed.append(kwargs["input_ids"].numel()),
                                               with_kwargs=True)
        torch.manual_seed(0)
        try:
            completions, _ = generate_single_turn(trainer, prompt_ids, None, {}, 4)
        finally:
            hook.remove()
        return completions, sum(fed)

    shared, shared_tokens = sample(type(trainer)._generate_single_turn)
    plain, plain_tokens = sample(GRPOTrainer._generate_single_turn)
    assert shared == [ids[:kept_length(ids, tokenizer, trainer.action_stops)] for ids in plain]
    assert len({tuple(ids) for ids in plain[:4]}) > 1
    assert shared_tokens < plain_tokens / 2
