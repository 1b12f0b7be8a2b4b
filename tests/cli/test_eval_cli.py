"""`swirl eval` end to end: bad input fails fast and cleanly; a small real evaluation writes every output.

The real evaluation runs once per module (two models x two benchmarks x 3 questions on the
embedded model) and the slow tests below each check one part of what it wrote.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from swirl.cli import app
from swirl.data import find_sample
from swirl.evaluation.compare import COMPARED_METRICS
from swirl.jsonl import read_records
from swirl.records import Trajectory

runner = CliRunner()
GSM8K, HOTPOTQA = "gsm8k/test_sample500.jsonl", "hotpotqa/dev.jsonl"
FAST = ["--limit", "3", "--max-tokens", "32", "--max-steps", "2", "--bootstrap", "200"]


def eval_args(data_dir, output, benchmarks="gsm8k,hotpotqa", inputs=(GSM8K, HOTPOTQA)):
    return [
        "eval", "--benchmarks", benchmarks, "--input", ",".join(str(data_dir / path) for path in inputs),
        "--output", str(output),
    ]


@pytest.mark.parametrize("benchmarks, inputs, models, message", [
    ("gsm8k,squad", (GSM8K, HOTPOTQA), ["default"], "unknown benchmark 'squad'; choose from gsm8k, hotpotqa, musique, 2wiki, beerqa, cofca"),
    ("gsm8k", (GSM8K, HOTPOTQA), ["default"], "1 benchmark(s) (gsm8k) but 2 input file(s)"),
    ("gsm8k", ("/no/such/gsm8k.jsonl",), ["default"], "/no/such/gsm8k.jsonl: file not found"),
    ("gsm8k", (GSM8K,), ["default", "no-such-model"], "unknown model reference 'no-such-model'"),
])
def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path, data_dir, benchmarks, inputs, models, message):
    output = tmp_path / "eval"
    model_args = [arg for model in models for arg in ("--model", model)]
    result = runner.invoke(app, [*eval_args(data_dir, output, benchmarks, inputs), *model_args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not output.exists()


def test_config_file_lists_are_read(tmp_path, data_dir):
    config = tmp_path / "eval.yaml"
    config.write_text("model: [default, no-such-model]\nbenchmarks: [gsm8k, hotpotqa]\nlimit: 2\n")
    result = runner.invoke(app, [*eval_args(data_dir, tmp_path / "eval"), "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown model reference 'no-such-model'" in result.stderr


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory, data_dir, default_checkpoint):
    """Two models (the embedded model, and the same weights as a local HF directory) on the same questions."""
    output = tmp_path_factory.mktemp("eval") / "run"
    result = runner.invoke(app, [
        *eval_args(data_dir, output), *FAST,
        "--model", "default", "--label", "base",
        "--model", str(default_checkpoint), "--label", "copy",
        "--judge", "reference",
    ])
    assert result.exit_code == 0, result.output
    return output, result


@pytest.mark.slow
def test_eval_writes_metrics_json(evaluation):
    output, _ = evaluation
    metrics = json.loads((output / "metrics.json").read_text())
    assert {"settings", "models", "benchmarks", "results", "comparisons", "confidence", "bootstrap"} <= set(metrics)
    assert [m["label"] for m in metrics["models"]] == ["base", "copy"]
    assert [b["name"] for b in metrics["benchmarks"]] == ["gsm8k", "hotpotqa"]
    for label in ("base", "copy"):
        for benchmark in ("gsm8k", "hotpotqa"):
            cell = metrics["results"][label][benchmark]
            assert cell["n"] == 3
            for name in ("accuracy", "programmatic_accuracy", "exact_match", "process_score", "answered_rate",
                         "mean_steps", "mean_tool_calls"):
                entry = cell["metrics"][name]
                assert entry["n"] == 3 and entry["low"] <= entry["mean"] <= entry["high"]
            assert ("f1" in cell["metrics"]) == (benchmark == "hotpotqa")
            assert 1 <= cell["metrics"]["mean_steps"]["mean"] <= 2


@pytest.mark.slow
def test_both_models_answered_the_same_questions(evaluation):
    output, _ = evaluation
    metrics = json.loads((output / "metrics.json").read_text())
    for benchmark in metrics["benchmarks"]:
        assert len(benchmark["task_ids"]) == 3
        for label in ("base", "copy"):
            trajectories = read_records(output / "trajectories" / label / f"{benchmark['name']}.jsonl", Trajectory)
            assert len(trajectories) == 3
            assert sorted(t.task.id for t in trajectories) == sorted(benchmark["task_ids"])
            for trajectory in trajectories:
                assert trajectory.outcome is not None
                assert len(trajectory.step_judgements) == len(trajectory.steps)
                assert trajectory.sampling.temperature == 0.0
                assert trajectory.tools == (["calculator"] if benchmark["name"] == "gsm8k" else ["search"])


@pytest.mark.slow
def test_paired_comparison_and_tables(evaluation):
    output, result = evaluation
    metrics = json.loads((output / "metrics.json").read_text())
    compared = {(c["model"], c["baseline"], c["benchmark"], c["metric"]) for c in metrics["comparisons"]}
    assert compared == {("copy", "base", b, m) for b in ("gsm8k", "hotpotqa") for m in COMPARED_METRICS}
    report = (output / "results.md").read_text()
    assert "## Accuracy across benchmarks (95% CI)" in report
    assert "| model | gsm8k | hotpotqa |" in report
    assert "## gsm8k (3 questions)" in report and "## hotpotqa (3 questions)" in report
    assert "## Paired differences against base" in report
    assert "accuracy (95% CI)" in result.stderr


@pytest.mark.slow
def test_charts_are_written(evaluation):
    output, _ = evaluation
    for chart in ("accuracy.png", "process_score.png"):
        data = (output / chart).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000


@pytest.mark.slow
def test_shipped_beerqa_sample_evaluates_end_to_end(tmp_path, default_checkpoint):
    """The BeerQA sample in its official file format, on the embedded model, searched over its own paragraphs."""
    sample = find_sample("beerqa-dev").resource()
    document = json.loads(sample.read_text(encoding="utf-8"))
    output = tmp_path / "eval"
    result = runner.invoke(app, ["eval", "--benchmarks", "beerqa", "--input", str(sample), "--output", str(output),
                                 "--model", "default", "--judge", "reference", *FAST])
    assert result.exit_code == 0, result.output
    metrics = json.loads((output / "metrics.json").read_text())
    cell = metrics["results"]["default"]["beerqa"]
    assert cell["n"] == 3 and cell["failed"] == 0
    assert {"accuracy", "exact_match", "f1", "process_score", "answered_rate"} <= set(cell["metrics"])
    records = {record["id"]: record for record in document["data"]}
    trajectories = read_records(output / "trajectories" / "default" / "beerqa.jsonl", Trajectory)
    assert sorted(t.task.id for t in trajectories) == sorted(metrics["benchmarks"][0]["task_ids"])
    paragraphs = {text.strip() for record in document["data"] for _, text in record["context"]}
    for trajectory in trajectories:
        assert trajectory.task.gold_answers == records[trajectory.task.id]["answers"]
        assert trajectory.tools == ["search"] and trajectory.outcome is not None
        assert len(trajectory.step_judgements) == len(trajectory.steps)
        for step in trajectory.steps:
            if step.action.kind == "tool" and step.observation and step.observation.startswith("Title: "):
                # Every search result is a paragraph of the BeerQA file.
                assert any(paragraph[:60] in step.observation for paragraph in paragraphs)
    assert "## beerqa (3 questions)" in (output / "results.md").read_text()
