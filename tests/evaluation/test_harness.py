"""The evaluation harness through its Python API, with scripted models on real benchmark rows.

A 135M model cannot be made to write chosen actions, so the bookkeeping (metrics by hand,
resume, failures, graders, judges, paired comparisons) is driven by script here; the
end-to-end runs on the embedded model are in tests/cli/test_eval_cli.py.
"""

from __future__ import annotations

import json

import pytest
from scripted_backend import ScriptedBackend

from swirl.backends.base import Completion
from swirl.data import find_sample
from swirl.errors import SwirlError
from swirl.evaluation.plan import EvalSettings, validate
from swirl.stages.eval import evaluate
from swirl.evaluation.plan import default_label
from swirl.judges.outcome import GRADER_SYSTEM
from swirl.judges.process import SYSTEM_INTRO as JUDGE_SYSTEM_INTRO
from swirl.jsonl import read_records
from swirl.models import parse_model_ref
from swirl.records import Trajectory


@pytest.fixture
def make_settings(tmp_path, data_dir):
    def make(**overrides) -> EvalSettings:
        values = {
            "models": ["default"],
            "benchmarks": ["gsm8k", "hotpotqa"],
            "inputs": [data_dir / "gsm8k" / "test_sample500.jsonl", data_dir / "hotpotqa" / "dev.jsonl"],
            "limit": 3,
            "seed": 0,
            "output": tmp_path / "eval",
            "bootstrap": 200,
        }
        return EvalSettings(**{**values, **overrides})

    return make


def scripted_policy(tasks, script):
    """A backend answering with ``script(task, step_index)``; it records the questions it saw first."""
    by_question = {f"Question: {t.question.strip()}": t for t in tasks}
    started: list[str] = []

    def reply(conversation):
        task = by_question[conversation[1]["content"]]
        step = sum(1 for m in conversation if m["role"] == "assistant")
        if step == 0:
            started.append(task.id)
        return script(task, step)

    backend = ScriptedBackend(reply)
    backend.started = started
    return backend


def gold_answer(task, step):
    return f"I know it. <answer>{task.answer}</answer>"


def all_tasks(settings):
    return [task for benchmark in validate(settings).benchmarks for task in benchmark.tasks]


def test_metrics_match_a_hand_count(make_settings):
    settings = make_settings(benchmarks=["gsm8k"], inputs=make_settings().inputs[:1], judge="reference")
    first, second, third = all_tasks(settings)
    assert first.calculations, "the first sampled question needs a gold calculation"
    scripts = {
        # A useful calculation, then the right answer: 2 steps, 1 tool call, both steps GOOD.
        first.id: [f"<math_exp>{first.calculations[0].expression}</math_exp>", f"<answer>{first.answer}</answer>"],
        # No action, then a wrong answer: 2 steps, half of them invalid, both BAD.
        second.id: ["Let me think about it.", "<answer>-1</answer>"],
        # The right answer at once: 1 step, GOOD.
        third.id: [f"<answer>{third.answer}</answer>"],
    }
    backend = scripted_policy([first, second, third], lambda task, step: scripts[task.id][step])
    result = evaluate(settings, open_backend=lambda ref: backend)

    cell = result["results"]["default"]["gsm8k"]
    metrics = {name: entry["mean"] for name, entry in cell["metrics"].items()}
    assert metrics == pytest.approx({
        "accuracy": 2 / 3,
        "programmatic_accuracy": 2 / 3,
        "exact_match": 2 / 3,
        "process_score": 2 / 3,
        "answered_rate": 1.0,
        "mean_steps": 5 / 3,
        "mean_tool_calls": 1 / 3,
        "invalid_action_rate": (0 + 1 / 2 + 0) / 3,
    })
    assert "f1" not in metrics, "F1 is a QA metric"
    assert all(entry["n"] == 3 for entry in cell["metrics"].values())
    assert cell["metrics"]["answered_rate"]["low"] == cell["metrics"]["answered_rate"]["high"] == 1.0
    assert cell["failed"] == 0
    assert result["benchmarks"][0]["task_ids"] == [first.id, second.id, third.id]
    assert json.loads((settings.output / "metrics.json").read_text()) == result


def test_resume_answers_only_the_missing_question(make_settings):
    settings = make_settings(limit=4)
    tasks = all_tasks(settings)
    first_run = scripted_policy(tasks, gold_answer)
    evaluate(settings, open_backend=lambda ref: first_run)
    assert sorted(first_run.started) == sorted(t.id for t in tasks)

    path = settings.output / "trajectories" / "default" / "gsm8k.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    removed = json.loads(lines[1])["task"]["id"]
    path.write_text("".join(lines[:1] + lines[2:]))

    second_run = scripted_policy(tasks, gold_answer)
    result = evaluate(settings, open_backend=lambda ref: second_run)
    assert second_run.started == [removed]
    ids = [t.task.id for t in read_records(path, Trajectory)]
    assert len(ids) == 4 and sorted(ids) == sorted(result["benchmarks"][0]["task_ids"])
    assert len((settings.output / "trajectories" / "default" / "hotpotqa.jsonl").read_text().splitlines()) == 4

    def must_not_load(ref):
        raise AssertionError("a complete evaluation must not load the model again")

    assert evaluate(settings, open_backend=must_not_load)["results"] == result["results"]


def test_resume_refuses_trajectories_of_other_settings(make_settings):
    settings = make_settings(benchmarks=["gsm8k"], inputs=make_settings().inputs[:1])
    evaluate(settings, open_backend=lambda ref: scripted_policy(all_tasks(settings), gold_answer))
    changed = settings.model_copy(update={"max_tokens": 17})
    with pytest.raises(SwirlError, match="other settings"):
        evaluate(changed, open_backend=lambda ref: scripted_policy(all_tasks(settings), gold_answer))


def test_failed_inference_is_counted_and_reported(make_settings):
    settings = make_settings()
    tasks = all_tasks(settings)
    broken = tasks[1].id

    def script(task, step):
        if task.id == broken:
            return Completion("", 0, 0, "error", error="server went away")
        return gold_answer(task, step)

    result = evaluate(settings, open_backend=lambda ref: scripted_policy(tasks, script))
    cell = result["results"]["default"]["gsm8k"]
    assert cell["failed"] == 1
    assert cell["failures"] == [{"id": broken, "error": "server went away"}]
    assert cell["metrics"]["accuracy"]["n"] == 3
    assert cell["metrics"]["accuracy"]["mean"] == pytest.approx(2 / 3)
    # The failed question took no action, so it has no invalid-action rate.
    assert cell["metrics"]["invalid_action_rate"]["n"] == 2
    report = (settings.output / "results.md").read_text()
    assert "## Failed questions" in report and broken in report and "server went away" in report


def test_no_tools_ablation_asks_for_a_direct_answer(make_settings):
    settings = make_settings(no_tools=True)
    evaluate(settings, open_backend=lambda ref: scripted_policy(all_tasks(settings), gold_answer))
    for benchmark in ("gsm8k", "hotpotqa"):
        for trajectory in read_records(settings.output / "trajectories" / "default" / f"{benchmark}.jsonl", Trajectory):
            assert trajectory.tools == []
            assert "No tools are available" in trajectory.messages[0]["content"]


def test_llm_grader_and_llm_judge_decide_accuracy_and_process_score(make_settings):
    settings = make_settings(judge="default", judge_mode="generate", grader="default")
    tasks = all_tasks(settings)
    policy = scripted_policy(tasks, lambda task, step: "<answer>a paraphrase of the gold answer</answer>")

    def reply(conversation):
        system = conversation[0]["content"]
        if system == GRADER_SYSTEM:
            return "YES"
        if system.startswith(JUDGE_SYSTEM_INTRO):
            return "The step follows from the evidence.\nVerdict: GOOD"
        return policy.replies(conversation)

    opened = []

    def open_backend(ref):
        opened.append(ref)
        return ScriptedBackend(reply)

    result = evaluate(settings, open_backend=open_backend)
    assert opened == ["default", "default"], "the judge and grader are one model, loaded once; then the policy"
    for cell in result["results"]["default"].values():
        assert cell["metrics"]["accuracy"]["mean"] == 1.0
        assert cell["metrics"]["programmatic_accuracy"]["mean"] == 0.0
        assert cell["metrics"]["process_score"]["mean"] == 1.0
    trajectory = read_records(settings.output / "trajectories" / "default" / "hotpotqa.jsonl", Trajectory)[0]
    assert trajectory.outcome.llm_verdict == "YES"
    assert [j.judge for j in trajectory.step_judgements] == ["default"]


def test_two_models_give_paired_differences_on_the_same_questions(make_settings, tmp_path):
    other = tmp_path / "ckpt-b"
    other.mkdir()
    (other / "config.json").write_text("{}")
    settings = make_settings(models=["default", str(other)], judge="reference")
    tasks = all_tasks(settings)
    backends = {
        "default": scripted_policy(tasks, gold_answer),
        str(other): scripted_policy(tasks, lambda task, step: "<answer>surely not this</answer>"),
    }
    result = evaluate(settings, open_backend=backends.__getitem__)

    assert [m["label"] for m in result["models"]] == ["default", "ckpt-b"]
    for model in ("default", "ckpt-b"):
        for benchmark in ("gsm8k", "hotpotqa"):
            path = settings.output / "trajectories" / model / f"{benchmark}.jsonl"
            assert {t.task.id for t in read_records(path, Trajectory)} == set(
                next(b["task_ids"] for b in result["benchmarks"] if b["name"] == benchmark)
            )
    comparisons = {(c["benchmark"], c["metric"]): c for c in result["comparisons"]}
    compared = ("accuracy", "process_score", "invalid_action_rate", "answered_rate", "mean_tool_calls")
    assert set(comparisons) == {(b, m) for b in ("gsm8k", "hotpotqa") for m in compared}
    for (_, metric), comparison in comparisons.items():
        assert (comparison["model"], comparison["baseline"], comparison["n"]) == ("ckpt-b", "default", 3)
        if metric in ("accuracy", "process_score"):
            assert comparison["difference"] == comparison["low"] == comparison["high"] == -1.0
    report = (settings.output / "results.md").read_text()
    assert "## Paired differences against default" in report
    assert "| ckpt-b | default | gsm8k | accuracy | -1.000 [-1.000, -1.000] | 3 |" in report


@pytest.mark.parametrize("overrides, message", [
    ({"benchmarks": ["gsm8k", "squad"]}, "unknown benchmark 'squad'"),
    ({"benchmarks": ["gsm8k"]}, "1 benchmark(s) (gsm8k) but 2 input file(s)"),
    ({"benchmarks": ["gsm8k", "gsm8k"]}, "named twice"),
    ({"models": ["default", "default"]}, "both named 'default'"),
    ({"labels": ["a", "b"]}, "2 label(s) for 1 model(s)"),
    ({"judge_mode": "vote"}, "unknown judge mode"),
    ({"backend": "tpu"}, "unknown backend"),
    ({"judge": "no-such-judge"}, "unknown model reference 'no-such-judge'"),
    ({"grader": "openai:gpt"}, "bad OpenAI model reference"),
])
def test_bad_settings_fail_before_anything_is_loaded_or_written(make_settings, overrides, message):
    settings = make_settings(**overrides)

    def must_not_load(ref):
        raise AssertionError("no model may load when the settings are wrong")

    with pytest.raises(SwirlError) as error:
        evaluate(settings, open_backend=must_not_load)
    assert message in str(error.value)
    assert not settings.output.exists()


def test_default_labels(tmp_path):
    checkpoint = tmp_path / "sft-final"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    assert default_label(parse_model_ref("default")) == "default"
    assert default_label(parse_model_ref(str(checkpoint))) == "sft-final"
    assert default_label(parse_model_ref("openai:qwen-7b@http://localhost:8000/v1")) == "qwen-7b"


def test_graded_chunks_do_not_reread_the_trajectory_file(make_settings, monkeypatch):
    # Each chunk used to reread the whole output file: quadratic over an evaluation.
    from swirl.evaluation import metrics
    from swirl.stages import eval as harness
    from swirl.stages import judge as judging

    settings = make_settings(benchmarks=["gsm8k"], inputs=make_settings().inputs[:1], judge="reference", limit=4)
    monkeypatch.setattr(harness, "GRADE_CHUNK", 1)
    reads = []
    for module in (harness, metrics, judging):
        original = module.read_records
        monkeypatch.setattr(module, "read_records", lambda path, *a, _read=original, **k: reads.append(path) or _read(path, *a, **k))
    evaluate(settings, open_backend=lambda ref: scripted_policy(all_tasks(settings), gold_answer))
    path = settings.output / "trajectories" / "default" / "gsm8k.jsonl"
    assert len(read_records(path, Trajectory)) == 4
    # Once to summarize; the resume check finds no file yet.
    assert reads.count(path) == 1


def test_eval_judge_that_gave_the_training_reward_is_flagged(make_settings, tmp_path):
    # A trained checkpoint: swirl train writes train_settings.json beside final/.
    trained = tmp_path / "train" / "final"
    trained.mkdir(parents=True)
    (trained / "config.json").write_text("{}")
    (tmp_path / "train" / "train_settings.json").write_text(json.dumps({"judge": "default", "judge_mode": "score"}))
    base = dict(models=[str(trained)], benchmarks=["gsm8k"], inputs=make_settings().inputs[:1], limit=2)
    policy = lambda ref: scripted_policy(all_tasks(make_settings(**base)), gold_answer)  # noqa: E731

    independent = evaluate(make_settings(**base, judge="reference"), open_backend=policy)
    assert independent["judges"] == {
        "accuracy": "programmatic",
        "programmatic_accuracy": "programmatic",
        "process_score": "reference",
        "training_reward": ["default"],
        "warnings": [],
    }

    def judge_or_policy(ref):
        return ScriptedBackend(lambda conversation: "Verdict: GOOD") if ref == "default" else policy(ref)

    same = make_settings(**base, judge="default", judge_mode="generate", output=tmp_path / "same")
    result = evaluate(same, open_backend=judge_or_policy)
    assert result["judges"]["process_score"] == "default (generate mode)"
    [warning] = result["judges"]["warnings"]
    assert "default also gave the training reward" in warning
    assert f"**Warning:** {warning}" in (same.output / "results.md").read_text()


def test_beerqa_aliases_and_cofca_are_benchmarks_of_their_own(make_settings, tmp_path, data_dir):
    # BeerQA: every answer in `answers` is gold, so answering with the last one is right.
    document = json.loads(find_sample("beerqa-dev").resource().read_text(encoding="utf-8"))
    for number, record in enumerate(document["data"]):
        record["answers"].append(f"alias number {number}")
    beerqa = tmp_path / "beerqa_dev.json"
    beerqa.write_text(json.dumps(document), encoding="utf-8")
    # CofCA: HotpotQA's original schema, as a whole-file JSON array, `type` giving the hops.
    records = [json.loads(line) | {"type": 2} for line in
               (data_dir / "hotpotqa" / "train_extra_original_format.jsonl").read_text().splitlines()[:5]]
    cofca = tmp_path / "cofca.json"
    cofca.write_text(json.dumps(records), encoding="utf-8")
    settings = make_settings(benchmarks=["beerqa", "cofca"], inputs=[beerqa, cofca])

    def answer_last_alias(task, step):
        return f"<answer>{task.gold_answers[-1]}</answer>"

    result = evaluate(settings, open_backend=lambda ref: scripted_policy(all_tasks(settings), answer_last_alias))
    for name in ("beerqa", "cofca"):
        assert result["results"]["default"][name]["metrics"]["accuracy"]["mean"] == 1.0
        trajectories = read_records(settings.output / "trajectories" / "default" / f"{name}.jsonl", Trajectory)
        assert len(trajectories) == 3 and {t.task.source for t in trajectories} == {name}
        assert {t.tools[0] for t in trajectories} == {"search"}
    beerqa_tasks = validate(settings).benchmarks[0].tasks
    assert all(t.gold_answers[-1].startswith("alias number") and len(t.gold_answers) == 2 for t in beerqa_tasks)
