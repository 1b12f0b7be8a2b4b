"""The HTML report in a real browser: headless Chromium runs the page's script offline.

Only Chromium's command line is used: ``--dump-dom`` prints the DOM after the page's
script ran (the browser selects the trajectory named in the URL hash), and
``--screenshot`` renders it. Page errors are caught twice: Chromium logs console
messages (uncaught exceptions, CSP refusals) to stderr, and the page writes them onto
``<body data-errors>``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from test_report import INJECTION, build_experiment

from swirl.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs headless Chromium at /usr/bin/chromium (Debian package 'chromium'; CI installs it)"
)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[Node | str] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def find_all(self, predicate) -> list["Node"]:
        found = [self] if predicate(self) else []
        for child in self.children:
            if isinstance(child, Node):
                found += child.find_all(predicate)
        return found

    def by_class(self, name: str) -> list["Node"]:
        return self.find_all(lambda n: name in n.classes)


class TreeBuilder(HTMLParser):
    """Chromium's serialized DOM as a tree; enough structure to find elements inside elements."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(dom: str) -> Node:
    builder = TreeBuilder()
    builder.feed(dom)
    return builder.root


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def page_errors(stderr: str) -> list[str]:
    """Console messages from the page (Chromium logs them as INFO:CONSOLE), and uncaught errors."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, data_dir):
    built = build_experiment(tmp_path_factory.mktemp("report-browser"), data_dir)
    built["report"] = write_report(built["dir"])
    return built


def dump_dom(experiment, tmp_path: Path, fragment: str, page: Path | None = None) -> tuple[Node, str]:
    url = (page or experiment["report"]).resolve().as_uri() + fragment
    completed = chromium(tmp_path / "profile", "--dump-dom", url)
    assert "<html" in completed.stdout
    return parse(completed.stdout), completed.stderr


def assert_clean(document: Node, stderr: str) -> None:
    body = document.find_all(lambda n: n.tag == "body")[0]
    assert body.attrs.get("data-ready") == "true", "the page script did not finish"
    assert "data-errors" not in body.attrs, body.attrs.get("data-errors")
    assert page_errors(stderr) == []


def test_hash_selects_trajectory_and_shows_its_steps(experiment, tmp_path):
    trajectory = next(t for t in experiment["judged"] if t.id == "evil-1#0")
    document, stderr = dump_dom(experiment, tmp_path, "#traj=" + quote(trajectory.id, safe=""))
    assert_clean(document, stderr)

    title = document.by_class("q-title")
    assert [n.text for n in title] == [trajectory.task.question]
    selected = document.by_class("selected")
    assert len(selected) == 1 and selected[0].attrs["data-traj"] == trajectory.id
    view = selected[0]
    assert "kept" in [b.text for b in view.by_class("badge")]
    assert "process: every step is GOOD" in view.by_class("traj-why")[0].text

    steps = view.by_class("step")
    assert len(steps) == len(trajectory.steps) == 2
    search, answer = steps
    step, judgement = trajectory.steps[0], trajectory.step_judgements[0]
    assert step.action.thought in search.by_class("step-thought")[0].text
    call = search.by_class("step-call")[0].text
    assert step.action.tool in call and step.action.query in call
    observation = search.by_class("step-observation")[0].text
    assert step.observation in observation and INJECTION in observation
    verdict = search.by_class("step-verdict")[0].text
    assert judgement.verdict in verdict and judgement.rationale in verdict
    assert [b.text for b in search.by_class("badge")] == [judgement.verdict]
    assert trajectory.final_answer in answer.by_class("step-answer")[0].text
    # The passage's script tags stayed text: the page has only its own two scripts.
    assert len(document.find_all(lambda n: n.tag == "script")) == 2
    assert not document.find_all(lambda n: n.tag in ("b", "i"))


def test_dropped_trajectory_says_why(experiment, tmp_path):
    document, stderr = dump_dom(experiment, tmp_path, "#traj=" + quote("evil-1#1", safe=""))
    assert_clean(document, stderr)
    view = document.by_class("selected")[0]
    badges = [b.text for b in view.by_class("badge")]
    assert "dropped" in badges and "wrong" in badges
    assert view.by_class("traj-why")[0].text == "dropped becauseprocess: step 1 is BAD, step 2 is BAD"
    assert [s.by_class("badge")[0].text for s in view.by_class("step")] == ["BAD", "BAD"]
    assert "Try <i>gardening</i>." in view.by_class("step-thought")[0].text


def test_eval_source_is_selectable(experiment, tmp_path):
    # Evaluation trajectories share ids with round 1; the source in the hash picks between them.
    wrong = next(t.id for t in experiment["judged"] if t.task.task_type == "math" and not t.outcome.correct)
    document, stderr = dump_dom(experiment, tmp_path, "#source=eval/sft/gsm8k&traj=" + quote(wrong, safe=""))
    assert_clean(document, stderr)
    view = document.by_class("selected")[0]
    assert view.attrs["data-traj"] == wrong
    badges = [b.text for b in view.by_class("badge")]
    assert "wrong" in badges and "dropped" not in badges and "kept" not in badges
    options = [n.text for n in document.find_all(lambda n: n.tag == "option")]
    assert options[0].startswith("round-1 · judged · filter: process") and options[-1] == "eval · sft · gsm8k (4)"
    assert document.find_all(lambda n: n.attrs.get("id") == "source-note")[0].text == "4 questions"


def test_default_view_and_error_detection(experiment, tmp_path):
    document, stderr = dump_dom(experiment, tmp_path, "")
    assert_clean(document, stderr)
    assert len(document.by_class("trajectory")) == 2
    assert len(document.find_all(lambda n: n.tag == "li" and "active" in n.classes)) == 1

    # The checks above can fail: a page whose data does not parse is caught both ways.
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r'(id="swirl-data">)\{', r"\1{oops", experiment["report"].read_text()))
    document, stderr = dump_dom(experiment, tmp_path, "", page=broken)
    body = document.find_all(lambda n: n.tag == "body")[0]
    assert "SyntaxError" in body.attrs.get("data-errors", "")
    assert any("Uncaught SyntaxError" in line for line in page_errors(stderr))


def test_screenshot_is_not_blank(experiment, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "report.png"
    # No #traj= here: headless Chromium leaves a page scrolled by script unpainted in screenshots.
    url = experiment["report"].resolve().as_uri()
    completed = chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert page_errors(completed.stderr) == []
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    colors = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert pixels.var() > 0 and len(colors) > 16


HOTPOTQA_METRICS = [
    "accuracy", "programmatic_accuracy", "exact_match", "f1", "process_score", "answered_rate",
    "mean_steps", "mean_tool_calls", "invalid_action_rate",
]
INVALID_ACTION = "The answer is probably 42, and I will not use any tags."
CHECKPOINT_PATH = "/checkpoints/run-7/round-1/train/final"
# Test-only: reports each metrics table's width, its container's width and the viewport's onto <body>.
MEASURE = (
    "<script>var out = [];"
    "document.querySelectorAll('table.metrics').forEach(function (t) {"
    "  var box = t.getBoundingClientRect();"
    "  out.push([Math.ceil(box.width), t.parentElement.clientWidth, Math.ceil(box.right), document.documentElement.clientWidth].join(','));"
    "});"
    "document.body.setAttribute('data-widths', out.join(' '));</script>"
)


@pytest.fixture(scope="module")
def wide(tmp_path_factory, experiment):
    """The experiment plus every HotpotQA metric for three models and an evaluated model named by its path."""
    from trajectory_factory import scripted_trajectories

    directory = Path(shutil.copytree(experiment["dir"], tmp_path_factory.mktemp("wide") / "exp"))
    metrics_path = directory / "eval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    entry = {m: {"mean": 0.123, "low": 0.004, "high": 0.456, "n": 200} for m in HOTPOTQA_METRICS}
    for label in ("base", "sft", "round-1-with-a-longer-label"):
        metrics["results"].setdefault(label, {})["hotpotqa"] = {"n": 200, "failed": 0, "failures": [], "metrics": entry}
    metrics_path.write_text(json.dumps(metrics))
    invalid = scripted_trajectories(experiment["math"][:1], lambda task, sample, step: INVALID_ACTION, 1)
    records = [t.model_copy(update={"model": CHECKPOINT_PATH}).model_dump_json() + "\n" for t in invalid]
    (directory / "eval" / "trajectories" / "swirl").mkdir()
    (directory / "eval" / "trajectories" / "swirl" / "gsm8k.jsonl").write_text("".join(records))
    return {"report": write_report(directory), "invalid": invalid[0]}


def test_metric_tables_fit_a_1400px_window(wide, tmp_path):
    page = tmp_path / "measured.html"
    html = wide["report"].read_text()
    # The page's CSP admits only its own script; the measuring script needs it gone.
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace("</body>", MEASURE + "</body>")
    page.write_text(html)
    completed = chromium(tmp_path / "profile", "--window-size=1400,900", "--dump-dom", page.resolve().as_uri())
    body = parse(completed.stdout).find_all(lambda n: n.tag == "body")[0]
    widths = [tuple(map(int, item.split(","))) for item in body.attrs["data-widths"].split()]
    assert len(widths) >= 3  # the summary, gsm8k and hotpotqa tables
    assert all(viewport > 1300 for *_, viewport in widths), widths
    for table, container, right, viewport in widths:
        assert table <= container and right <= viewport, widths


def test_invalid_step_is_shown_once_and_eval_header_names_the_model(wide, tmp_path):
    trajectory = wide["invalid"]
    fragment = "#source=eval/swirl/gsm8k&traj=" + quote(trajectory.id, safe="")
    document, stderr = dump_dom(wide, tmp_path, fragment)
    assert_clean(document, stderr)
    view = document.by_class("selected")[0]
    head = view.by_class("traj-head")[0].text
    assert "sample 0 · swirl" in head and CHECKPOINT_PATH not in head
    step = view.by_class("step")[0]
    assert step.text.count(INVALID_ACTION) == 1
    assert "no action tag" in step.by_class("step-problem")[0].text
