"""`swirl report`: the static HTML page over an experiment directory built from real records.

Trajectories come from the real runner (scripted actions) over GSM8K rows and one QA
task whose passage carries markup and a script-tag breakout, judged by the reference
and outcome judges; the evaluation files are written by hand in the documented schema.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from trajectory_factory import scripted_trajectories
from typer.testing import CliRunner

from swirl.cli import app
from swirl.errors import SwirlError
from swirl.jsonl import read_records
from swirl.judges.outcome import OutcomeJudge
from swirl.judges.reference import ReferenceJudge
from swirl.records import Trajectory
from swirl.report import write_report
from swirl.stages.filter import filter_trajectories, keeps, strategy_table
from swirl.stages.judge import judge_trajectories
from swirl.stages.split import split_trajectories
from swirl.tasks import load_tasks

INJECTION = "</script><script>alert(1)</script> and <b>bold</b> <!--<script>"
QA_QUESTION = "Which company did the founder of Evil Corp work for before?"


def math_script(task, sample, step):
    # Sample 0 follows the gold solution; sample 1 makes one wrong call, then answers wrongly.
    calculations = task.calculations
    if sample == 0:
        if step < len(calculations):
            return f"I compute {calculations[step].expression}. <math_exp>{calculations[step].expression}</math_exp>"
        return f"So <answer>{task.answer}</answer>"
    return "Guess <b>wildly</b>. <math_exp>1+1</math_exp>" if step == 0 else "<answer>-1</answer>"


def qa_script(task, sample, step):
    # Sample 0 retrieves the supporting passage (the one carrying INJECTION); sample 1 searches off topic.
    if sample == 0:
        return "Search the founder. <search_query>Evil Corp founder</search_query>" if step == 0 else "<answer>Acme</answer>"
    return "Try <i>gardening</i>. <search_query>gardening</search_query>" if step == 0 else "<answer>Evil Corp</answer>"


def script(task, sample, step):
    return (math_script if task.task_type == "math" else qa_script)(task, sample, step)


def qa_tasks(directory: Path):
    path = directory / "qa.jsonl"
    record = {
        "id": "evil-1",
        "question": QA_QUESTION,
        "answer": "Acme",
        "passages": [
            {"title": "Evil Corp", "text": f"Evil Corp founder Jane worked for Acme. {INJECTION}", "is_supporting": True},
            {"title": "Other", "text": "Nothing relevant here about gardening.", "is_supporting": False},
        ],
        "supporting_titles": ["Evil Corp"],
    }
    path.write_text(json.dumps(record) + "\n")
    return load_tasks(path)


def write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def png_bytes() -> bytes:
    import io

    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    axes = figure.add_subplot()
    axes.bar(["base", "sft"], [0.2, 0.5], color=["#888888", "#2563eb"])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def build_experiment(root: Path, data_dir: Path) -> dict:
    """An experiment directory as `swirl run` lays it out: round 1 complete, round 2 mid-generation."""
    experiment = root / "exp-gsm8k"
    math = [t for t in load_tasks(data_dir / "gsm8k" / "train.jsonl", limit=20) if 1 <= len(t.calculations) <= 3][:4]
    qa = qa_tasks(root)
    trajectories = scripted_trajectories(math + qa, script, num_trajectories=2)

    config = {"name": "gsm8k-demo", "model": "default", "filter": {"strategy": "process"}, "generate": {"num-trajectories": 2}}
    (experiment).mkdir(parents=True)
    (experiment / "config.yaml").write_text(yaml.safe_dump(config))
    (experiment / "run_state.json").write_text(json.dumps({"stages": {
        "round-1/generate": {"hash": "abc", "done": True, "seconds": 12.3},
        "round-1/judge": {"hash": "def", "done": True, "seconds": 1.5},
        "round-2/generate": {"hash": "ghi", "done": False},
    }}))

    round_1 = experiment / "round-1"
    write_jsonl(round_1 / "trajectories.jsonl", [t.model_dump(mode="json") for t in trajectories])
    judge_trajectories(trajectories, ReferenceJudge.for_tasks(math + qa), OutcomeJudge(), round_1 / "judged.jsonl")
    judged = read_records(round_1 / "judged.jsonl", Trajectory)
    kept = filter_trajectories(judged, "process")
    write_jsonl(round_1 / "filtered.jsonl", [t.model_dump(mode="json") for t in kept])
    write_jsonl(round_1 / "split" / "steps.jsonl", split_trajectories(kept))
    write_jsonl(round_1 / "train" / "metrics.jsonl", [
        {"step": step, "loss": 1.0 / step, "reward": 0.3 + 0.1 * step, "learning_rate": 1e-5} for step in range(1, 6)
    ] + [{"step": 5, "train_loss": 0.4, "train_runtime": 10.0}])
    (round_1 / "train" / "train_summary.json").write_text(json.dumps({"algo": "swirl", "global_step": 5, "train_loss": 0.4}))

    write_jsonl(experiment / "round-2" / "trajectories.jsonl", [t.model_dump(mode="json") for t in trajectories[:3]])

    evaluation = experiment / "eval"
    metrics = {
        "settings": {"benchmarks": ["gsm8k"], "limit": 4, "confidence": 0.95},
        "results": {
            "base": {"gsm8k": {"n": 4, "failed": 0, "failures": [], "metrics": {
                "accuracy": {"mean": 0.25, "low": 0.05, "high": 0.7, "n": 4}, "note": "skipped"}}},
            "sft": {"gsm8k": {"n": 4, "failed": 0, "failures": [], "metrics": {
                "accuracy": {"mean": 0.5, "low": 0.15, "high": 0.85, "n": 4},
                "mean_steps": {"mean": 2.5, "n": 4}, "by_hops": {"2": 0.5}}}},
            "broken": "not a mapping",
        },
        "comparisons": [{"model": "sft", "baseline": "base", "benchmark": "gsm8k", "metric": "accuracy",
                         "difference": 0.25, "low": -0.25, "high": 0.75, "n": 4}],
        "version": 1,
    }
    evaluation.mkdir()
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    (evaluation / "results.md").write_text("| model | accuracy |\n|---|---|\n| sft | 0.500 |\n")
    (evaluation / "accuracy.png").write_bytes(png_bytes())
    eval_trajectories = [t for t in judged if t.task.task_type == "math"]
    write_jsonl(evaluation / "trajectories" / "sft" / "gsm8k.jsonl", [t.model_dump(mode="json") for t in eval_trajectories])
    return {"dir": experiment, "trajectories": trajectories, "judged": judged, "kept": kept, "math": math, "qa": qa}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, data_dir):
    built = build_experiment(tmp_path_factory.mktemp("report"), data_dir)
    built["html"] = write_report(built["dir"]).read_text(encoding="utf-8")
    return built


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_with_header(page: str, *header: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return [t for t in parser.tables if t and tuple(t[0]) == header]


def embedded_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="swirl-data">(.*?)</script>', page, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def test_report_is_self_contained(experiment):
    page = experiment["html"]
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 2  # the training curves and eval/accuracy.png (in the summary only)
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_injected_markup_stays_text(experiment):
    page = experiment["html"]
    assert "alert(1)</script>" not in page
    assert "<script>alert" not in page
    assert "<b>" not in page and "<!--" not in page
    assert len(re.findall(r"<script\b", page)) == 2  # the data block and the page's own script
    # The data survives the escaping unchanged.
    data = embedded_data(page)
    observations = [
        step["observation"] or ""
        for source in data["sources"] for q in source["questions"] for t in q["trajectories"] for step in t["steps"]
    ]
    assert any(INJECTION in o for o in observations)
    thoughts = [s["thought"] for source in data["sources"] for q in source["questions"] for t in q["trajectories"] for s in t["steps"]]
    assert "Guess <b>wildly</b>." in thoughts


SECTIONS = ["summary", "pipeline", "training", "evaluation", "browser", "config"]


def sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)"><h2>[^<]*</h2>(.*?)</section>', page, re.S))


def test_header_and_config(experiment):
    page = experiment["html"]
    assert "<h1>gsm8k-demo</h1>" in page
    # Results first, configuration last.
    assert re.findall(r'<a href="#(\w+)">', page) == SECTIONS
    assert list(sections(page)) == SECTIONS
    config = sections(page)["config"]
    assert config.startswith('<details class="config"><summary>config.yaml: 4 settings</summary>')
    config_rows = dict(map(tuple, tables_with_header(config, "key", "value")[0][1:]))
    assert config_rows["filter.strategy"] == "process"
    assert config_rows["generate.num-trajectories"] == "2"


def test_summary_compares_models_with_paired_differences(experiment):
    summary = sections(experiment["html"])["summary"]
    table = tables_with_header(summary, "benchmark", "model", "accuracy", "Δ accuracy vs base")
    assert table == [[
        ["benchmark", "model", "accuracy", "Δ accuracy vs base"],
        ["gsm8k", "base", "0.250 [0.050, 0.700]", "baseline"],
        ["gsm8k", "sft", "0.500 [0.150, 0.850]", "+0.250 [-0.250, +0.750]"],
    ]]
    assert re.findall(r'<img alt="([^"]+)"', summary) == ["accuracy"]


def test_pipeline_counts(experiment):
    page, trajectories, judged = experiment["html"], experiment["trajectories"], experiment["judged"]
    counts = [dict(map(tuple, t[1:])) for t in tables_with_header(page, "stage", "count")]
    assert len(counts) == 2
    round_1, round_2 = counts
    assert round_1["questions"] == "5"
    assert round_1["trajectories"] == "10"
    assert round_1["steps"] == str(sum(len(t.steps) for t in trajectories))
    assert round_1["judged trajectories"] == "10"
    assert round_1["kept (process)"] == str(len(experiment["kept"]))
    assert round_1["sub-trajectories (split)"] == str(sum(len(t.steps) for t in experiment["kept"]))
    assert round_1["training steps"] == "5"
    assert round_2["trajectories"] == "3"
    assert round_2["judged trajectories"] == "not run yet"

    terminations = dict(map(tuple, tables_with_header(page, "termination", "trajectories")[0][1:]))
    assert terminations == {"answered": "10"}

    verdicts = {row[0]: row[1] for row in tables_with_header(page, "verdict", "steps", "share")[0][1:]}
    expected = [j.verdict for t in judged for j in t.step_judgements]
    assert verdicts == {v: str(expected.count(v)) for v in ("GOOD", "BAD", "UNPARSED")}

    strategies = tables_with_header(page, "strategy", "trajectories", "steps")[0][1:]
    assert strategies == [
        [row["strategy"] + (" chosen" if row["strategy"] == "process" else ""), str(row["trajectories"]), str(row["steps"])]
        for row in strategy_table(judged)
    ]
    stages = tables_with_header(page, "stage", "status", "time")[0][1:]
    assert stages == [["round-1/generate", "done", "12.3 s"], ["round-1/judge", "done", "1.5 s"], ["round-2/generate", "pending", "–"]]


def test_evaluation_tables(experiment):
    page = experiment["html"]
    table = tables_with_header(page, "model", "accuracy", "mean_steps", "n")[0]
    assert table[1] == ["base", "0.250 [0.050, 0.700]", "–", "4"]
    assert table[2] == ["sft", "0.500 [0.150, 0.850]", "2.500", "4"]
    assert "by_hops" not in page and "skipped" not in page and "broken" not in page
    assert "accuracy.png" in page and "results.md" in page


def test_browser_data(experiment):
    data = embedded_data(experiment["html"])
    assert data["strategy"] == "process"
    keys = [s["key"] for s in data["sources"]]
    assert keys == ["round-1", "round-2", "eval/sft/gsm8k"]
    round_1 = data["sources"][0]
    assert round_1["total_questions"] == 5
    assert [q["id"] for q in round_1["questions"]] == [t.id for t in experiment["math"] + experiment["qa"]]
    by_id = {t.id: t for t in experiment["judged"]}
    for question in round_1["questions"]:
        assert len(question["trajectories"]) == 2
        for view in question["trajectories"]:
            trajectory = by_id[view["id"]]
            assert view["kept"] == keeps(trajectory, "process")
            assert [s["verdict"] for s in view["steps"]] == [j.verdict for j in trajectory.step_judgements]
            assert view["final_answer"] == trajectory.final_answer
            assert view["outcome"]["correct"] == trajectory.outcome.correct
    wrong = next(v for q in round_1["questions"] for v in q["trajectories"] if v["id"].endswith("#1") and q["type"] == "math")
    assert wrong["kept"] is False and "step 1 is BAD" in wrong["why"]
    right = round_1["questions"][0]["trajectories"][0]
    assert right["kept"] is True and right["why"] == "process: every step is GOOD"
    step = right["steps"][0]
    assert step["kind"] == "tool" and step["tool"] == "calculator" and step["query"]
    assert "<result>" in step["observation"] and step["rationale"]

    round_2 = data["sources"][1]
    assert round_2["strategy"] is None and "generated" in round_2["label"]
    assert all(t["kept"] is None and t["steps"][0]["verdict"] is None for q in round_2["questions"] for t in q["trajectories"])
    evaluation = data["sources"][2]
    assert evaluation["total_questions"] == 4
    # Evaluation trajectories are named by the model's label, not by the reference in the records.
    assert {t["model"] for q in evaluation["questions"] for t in q["trajectories"]} == {"sft"}


def test_browser_caps_questions(experiment, tmp_path):
    page = write_report(experiment["dir"], tmp_path / "small.html", max_questions=2).read_text()
    sources = embedded_data(page)["sources"]
    assert [len(s["questions"]) for s in sources] == [2, 2, 2]
    assert sources[0]["total_questions"] == 5


def test_started_experiment_says_not_run_yet(tmp_path):
    experiment = tmp_path / "fresh"
    experiment.mkdir()
    (experiment / "config.yaml").write_text("name: fresh\n")
    page = write_report(experiment).read_text()
    found = sections(page)
    assert list(found) == SECTIONS
    assert all("not run yet" in body for name, body in found.items() if name != "config")
    assert embedded_data(page)["sources"] == []


def test_directory_without_outputs_says_what_it_reads(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(SwirlError, match="nothing to report; swirl report reads an experiment directory") as error:
        write_report(tmp_path)
    assert "trajectory JSONL" in str(error.value) and "metrics.json" in str(error.value)
    assert not (tmp_path / "report.html").exists()


def single_command_layout(experiment: Path, root: Path) -> Path:
    """The files of the README's single-command examples: runs/gsm8k/..., kept.jsonl, runs/eval."""
    round_1 = experiment / "round-1"
    (root / "runs" / "gsm8k").mkdir(parents=True)
    shutil.copy(round_1 / "trajectories.jsonl", root / "runs" / "gsm8k" / "trajectories.jsonl")
    shutil.copy(round_1 / "judged.jsonl", root / "runs" / "gsm8k" / "judged.jsonl")
    shutil.copy(round_1 / "filtered.jsonl", root / "kept.jsonl")
    shutil.copytree(round_1 / "split", root / "runs" / "gsm8k" / "split")
    shutil.copytree(round_1 / "train", root / "runs" / "gsm8k" / "swirl")
    shutil.copytree(experiment / "eval", root / "runs" / "eval")
    return root


def test_outputs_of_single_commands_are_reported(experiment, tmp_path):
    root = single_command_layout(experiment["dir"], tmp_path / "work")
    page = write_report(root).read_text()
    found = sections(page)
    assert "not run yet" not in found["pipeline"] + found["training"] + found["evaluation"] + found["summary"]
    headings = re.findall(r'<h3 id="pipeline-[^"]*">([^<]+)</h3>', found["pipeline"])
    assert headings == ["kept.jsonl", "runs/gsm8k/judged.jsonl", "runs/gsm8k/trajectories.jsonl", "runs/gsm8k/split/steps.jsonl"]
    counts = [dict(map(tuple, t[1:])) for t in tables_with_header(found["pipeline"], "stage", "count")]
    assert counts[0] == {"questions": str(len({t.task.id for t in experiment["kept"]})),
                         "trajectories": str(len(experiment["kept"])),
                         "steps": str(sum(len(t.steps) for t in experiment["kept"])),
                         "judged trajectories": str(len(experiment["kept"]))}
    assert counts[2]["trajectories"] == "10" and "judged trajectories" not in counts[2]
    assert counts[3] == {"sub-trajectories (split)": str(sum(len(t.steps) for t in experiment["kept"]))}
    assert "<h3>runs/gsm8k/swirl</h3>" in found["training"] and "<img" in found["training"]
    assert tables_with_header(found["summary"], "benchmark", "model", "accuracy", "Δ accuracy vs base")
    keys = [s["key"] for s in embedded_data(page)["sources"]]
    assert keys == ["kept.jsonl", "runs/gsm8k/judged.jsonl", "runs/gsm8k/trajectories.jsonl", "runs/eval/sft/gsm8k"]

    # An evaluation directory on its own is a report too.
    page = write_report(root / "runs" / "eval").read_text()
    assert [s["key"] for s in embedded_data(page)["sources"]] == ["eval/sft/gsm8k"]
    assert tables_with_header(sections(page)["summary"], "benchmark", "model", "accuracy", "Δ accuracy vs base")


def test_unreadable_files_are_reported_in_place(tmp_path):
    experiment = tmp_path / "broken"
    (experiment / "round-1").mkdir(parents=True)
    (experiment / "config.yaml").write_text("filter: [unclosed\n")
    (experiment / "round-1" / "trajectories.jsonl").write_text('{"id": 1}\n')
    (experiment / "eval").mkdir()
    (experiment / "eval" / "metrics.json").write_text("{not json")
    page = write_report(experiment).read_text()
    assert "config.yaml: not valid YAML" in page
    assert "not a Trajectory record" in page
    assert "metrics.json: not valid JSON" in page


def test_cli_writes_report_and_prints_path(experiment, tmp_path):
    output = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(app, ["report", str(experiment["dir"]), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(output)
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_missing_directory_is_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "no such experiment directory" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "nope").exists()
