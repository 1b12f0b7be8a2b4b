"""`swirl report`: one self-contained HTML page about an experiment directory.

The page works offline and from a file: CSS and JS are inlined from
``report_assets/``, charts are PNG data URIs, and a Content-Security-Policy lets only
the page's own (hashed) style and script run. It leads with a summary (base vs trained
with paired differences, the main charts), then counts through the pipeline per
round, training curves, every evaluation metric, a trajectory browser over the judged
rounds and the evaluation trajectories, and the configuration, collapsed.

It reads an experiment directory of `swirl run` (``round-N/``, ``eval/``) or any
directory holding outputs of the single commands: trajectory JSONL files (generate,
judge, filter), split directories (``steps.jsonl``), training outputs
(``metrics.jsonl``, ``train_summary.json``) and evaluation outputs (``metrics.json``).
Every part is optional: a stage that has not run gets a "not run yet" note in its
section, and an unreadable file gets its one-line error there, instead of no report.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from swirl.errors import SwirlError
from swirl.evaluation.outputs import CHARTED_METRICS
from swirl.jsonl import iter_json_lines, read_records, write_atomically
from swirl.records import Trajectory
from swirl.stages.filter import STRATEGIES, decide, strategy_table

REPORT_FILE = "report.html"
DEFAULT_STRATEGY = "process"
MAX_BROWSER_QUESTIONS = 500
"""Questions per browser source: keeps the page small enough for a browser on big runs."""

_ROUND = re.compile(r"round-(\d+)$")
SUMMARY_METRICS = ("accuracy", "process_score", "answered_rate")
"""The summary's columns; every metric is in the evaluation section."""
SEARCH_DEPTH = 3
"""Directory levels below the report's directory searched for outputs of the single commands."""
_NOT_OUTPUTS = re.compile(r"(checkpoint-\d+|final|__pycache__|\..*)$")
"""Directories that hold models or logs, never swirl records."""
ACCEPTED = (
    "an experiment directory of 'swirl run', or a directory holding outputs of the single commands: "
    "trajectory JSONL (generate, judge, filter), a split directory (steps.jsonl), a training output "
    "(metrics.jsonl, train_summary.json) or an evaluation output (metrics.json)"
)


def write_report(
    experiment_dir: Path, output: Path | None = None, *, max_questions: int = MAX_BROWSER_QUESTIONS
) -> Path:
    """Write the HTML report of ``experiment_dir`` (default ``EXPERIMENT_DIR/report.html``); return its path."""
    experiment_dir = Path(experiment_dir)
    if not experiment_dir.is_dir():
        raise SwirlError(f"{experiment_dir}: no such experiment directory")
    output = Path(output) if output is not None else experiment_dir / REPORT_FILE
    write_atomically(output, [build_report(experiment_dir, max_questions=max_questions)])
    return output


def build_report(experiment_dir: Path, *, max_questions: int = MAX_BROWSER_QUESTIONS) -> str:
    """The report page of ``experiment_dir`` as one HTML string."""
    config, config_text, config_problem = _load_config(experiment_dir / "config.yaml")
    strategy = _chosen_strategy(config)
    found = _Found(experiment_dir, strategy)
    if config_text is None and not found.any():
        raise SwirlError(f"{experiment_dir}: nothing to report; swirl report reads {ACCEPTED}")
    rounds = found.rounds
    sources = [r.browser_source(max_questions) for r in rounds if r.browsable is not None]
    for key, eval_dir in found.eval_dirs:
        sources += _eval_sources(key, eval_dir, max_questions)
    name = config.get("name") if isinstance(config.get("name"), str) else experiment_dir.resolve().name

    sections = [
        ("summary", "Summary", _summary_section(found.eval_dirs)),
        ("pipeline", "Pipeline", _pipeline_section(experiment_dir, rounds, strategy)),
        ("training", "Training", _training_section(rounds)),
        ("evaluation", "Evaluation", _evaluation_section(found.eval_dirs)),
        ("browser", "Trajectories", _browser_section(sources)),
        ("config", "Configuration", _config_section(config, config_text, config_problem)),
    ]
    return _page(name, experiment_dir, sections, {"strategy": strategy, "sources": sources})


# --- reading the experiment directory ---------------------------------------------------


def _load_config(path: Path) -> tuple[dict[str, Any], str | None, str | None]:
    """(parsed mapping, raw text, problem); the raw text is shown even when it does not parse."""
    if not path.is_file():
        return {}, None, None
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return {}, text, f"not valid YAML ({str(error).splitlines()[0]})"
    if data is None:
        return {}, text, None
    if not isinstance(data, dict):
        return {}, text, "not a mapping"
    return data, text, None


def _chosen_strategy(config: dict[str, Any]) -> str:
    section = config.get("filter")
    strategy = section.get("strategy") if isinstance(section, dict) else None
    return strategy if strategy in STRATEGIES else DEFAULT_STRATEGY


def _round_dirs(experiment_dir: Path) -> list[Path]:
    found = [(int(m.group(1)), p) for p in experiment_dir.iterdir() if p.is_dir() and (m := _ROUND.match(p.name))]
    return [p for _, p in sorted(found)]


def _read_trajectories(path: Path) -> tuple[list[Trajectory] | None, str | None]:
    """(trajectories, problem): None when the file is absent; a running stage may leave a torn last line."""
    if not path.is_file():
        return None, None
    try:
        return read_records(path, Trajectory), None
    except SwirlError as error:
        return None, str(error)


def _read_json(path: Path) -> tuple[Any, str | None]:
    if not path.is_file():
        return None, None
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"{path}: not valid JSON ({error})"


def _first_record(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        line = next((line for line in handle if line.strip()), "{}")
    return json.loads(line)


def _count_lines(path: Path) -> int | None:
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


class _Round:
    """One run through the stages, read once: a ``round-N`` directory, or outputs of the single commands.

    ``loose`` rounds hold only what was found, so absent stages are left out of their counts
    instead of being "not run yet".
    """

    def __init__(
        self,
        name: str,
        strategy: str,
        *,
        generated: Path | None = None,
        judged: Path | None = None,
        filtered: Path | None = None,
        split: Path | None = None,
        train: Path | None = None,
        loose: bool = False,
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.loose = loose
        self.problems: list[str] = []
        self.generated = self._trajectories(generated)
        self.judged = self._trajectories(judged)
        self.filtered_count = _count_lines(filtered) if filtered else None
        self.split_count = _count_lines(split / "steps.jsonl") if split else None
        self.train_metrics = self._metrics(train / "metrics.jsonl") if train else []
        summary, problem = _read_json(train / "train_summary.json") if train else (None, None)
        self.train_summary = summary if isinstance(summary, dict) else None
        if problem:
            self.problems.append(problem)
        # The browser prefers judged trajectories: they carry verdicts and filter decisions.
        self.browsable = self.judged if self.judged is not None else self.generated

    @classmethod
    def of_directory(cls, path: Path, strategy: str) -> _Round:
        """A ``round-N`` directory as `swirl run` lays it out."""
        return cls(
            path.name, strategy, generated=path / "trajectories.jsonl", judged=path / "judged.jsonl",
            filtered=path / "filtered.jsonl", split=path / "split", train=path / "train",
        )

    def _trajectories(self, path: Path | None) -> list[Trajectory] | None:
        if path is None:
            return None
        trajectories, problem = _read_trajectories(path)
        if problem:
            self.problems.append(problem)
        return trajectories

    def _metrics(self, path: Path) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        try:
            return [record for _, record in iter_json_lines(path, allow_torn_tail=True)]
        except SwirlError as error:
            self.problems.append(str(error))
            return []

    @classmethod
    def of_file(cls, name: str, path: Path, strategy: str) -> _Round:
        """One trajectory file of `swirl generate`, `judge` or `filter`: judged when it carries verdicts."""
        judged = _first_record(path).get("step_judgements") is not None
        return cls(name, strategy, judged=path if judged else None, generated=None if judged else path, loose=True)

    def browser_source(self, max_questions: int) -> dict[str, Any]:
        judged = self.judged is not None
        label = f"{self.name} · {'judged' if judged else 'generated'}"
        if judged:
            label += f" · filter: {self.strategy}"
        return _source(self.name, label, self.browsable or [], self.strategy if judged else None, max_questions)


def _eval_sources(key: str, eval_dir: Path, max_questions: int) -> list[dict[str, Any]]:
    sources = []
    for path in sorted((eval_dir / "trajectories").glob("*/*.jsonl")):
        trajectories, problem = _read_trajectories(path)
        if trajectories is None:
            continue
        label, benchmark = path.parent.name, path.stem
        source = _source(f"{key}/{label}/{benchmark}", f"{key} · {label} · {benchmark}", trajectories, None, max_questions)
        # The evaluation names each model by its label; the records hold its reference (often a path).
        for question in source["questions"]:
            for view in question["trajectories"]:
                view["model"] = label
        if problem:
            source["problem"] = problem
        sources.append(source)
    return sources


class _Found:
    """Everything ``swirl report`` can show in a directory: rounds, evaluation directories, loose outputs."""

    def __init__(self, directory: Path, strategy: str) -> None:
        self.run_state = (directory / "run_state.json").is_file()
        self.rounds = [_Round.of_directory(path, strategy) for path in _round_dirs(directory)]
        self.eval_dirs: list[tuple[str, Path]] = []
        if _is_eval_dir(directory / "eval"):
            self.eval_dirs.append(("eval", directory / "eval"))
        if not self.rounds and not self.eval_dirs:
            self._search(directory, strategy)

    def any(self) -> bool:
        return self.run_state or bool(self.rounds) or bool(self.eval_dirs)

    def _search(self, directory: Path, strategy: str) -> None:
        """Outputs of the single commands, wherever the user put them (README: runs/..., kept.jsonl)."""
        for folder in _folders(directory, SEARCH_DEPTH):
            relative = folder.relative_to(directory).as_posix()
            if _is_eval_dir(folder):
                self.eval_dirs.append(("eval" if relative == "." else relative, folder))
                continue
            where = "" if relative == "." else relative + "/"
            if (folder / "steps.jsonl").is_file():
                self.rounds.append(_Round(f"{where}steps.jsonl", strategy, split=folder, loose=True))
            if (folder / "train_summary.json").is_file() or _looks_like(folder / "metrics.jsonl", "step"):
                self.rounds.append(_Round(relative if where else directory.resolve().name, strategy, train=folder, loose=True))
            for path in sorted(folder.glob("*.jsonl")):
                if path.name != "steps.jsonl" and _looks_like(path, "steps", "task"):
                    self.rounds.append(_Round.of_file(f"{where}{path.name}", path, strategy))


def _folders(directory: Path, depth: int) -> Iterable[Path]:
    yield directory
    if depth == 0 or _is_eval_dir(directory):
        return
    for child in sorted(p for p in directory.iterdir() if p.is_dir() and not _NOT_OUTPUTS.match(p.name)):
        yield from _folders(child, depth - 1)


def _is_eval_dir(path: Path) -> bool:
    return (path / "metrics.json").is_file() or (path / "results.md").is_file()


def _looks_like(path: Path, *keys: str) -> bool:
    """Whether the first record of a JSONL file is an object with ``keys``."""
    if not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(record, dict) and all(key in record for key in keys)
    return False


# --- browser data -------------------------------------------------------------------------


def _source(
    key: str, label: str, trajectories: Sequence[Trajectory], strategy: str | None, max_questions: int
) -> dict[str, Any]:
    """One selectable set of trajectories, grouped by question in file order."""
    questions: dict[str, dict[str, Any]] = {}
    for trajectory in trajectories:
        task = trajectory.task
        if task.id not in questions:
            questions[task.id] = {
                "id": task.id,
                "question": task.question,
                "gold": task.gold_answers,
                "type": task.task_type,
                "trajectories": [],
            }
        questions[task.id]["trajectories"].append(_trajectory_view(trajectory, strategy))
    shown = list(questions.values())[:max_questions]
    return {"key": key, "label": label, "strategy": strategy, "total_questions": len(questions), "questions": shown}


def _trajectory_view(trajectory: Trajectory, strategy: str | None) -> dict[str, Any]:
    judgements = trajectory.step_judgements or []
    steps = []
    for position, step in enumerate(trajectory.steps):
        judgement = judgements[position] if position < len(judgements) else None
        action = step.action
        steps.append(
            {
                "number": position + 1,
                "kind": action.kind,
                "thought": action.thought,
                "tool": action.tool,
                "query": action.query,
                "answer": action.answer,
                "problem": action.problem,
                "action_text": step.action_text,
                "observation": step.observation,
                "verdict": judgement.verdict if judgement else None,
                "score": judgement.score if judgement else None,
                "rationale": judgement.rationale if judgement else None,
                "judge": judgement.judge if judgement else None,
            }
        )
    kept, why = decide(trajectory, strategy) if strategy is not None else (None, "")
    outcome = trajectory.outcome.model_dump() if trajectory.outcome else None
    return {
        "id": trajectory.id,
        "sample": trajectory.sample_index,
        "model": trajectory.model,
        "termination": trajectory.termination,
        "error": trajectory.error,
        "final_answer": trajectory.final_answer,
        "outcome": outcome,
        "kept": kept,
        "why": why,
        "steps": steps,
    }


# --- HTML pieces --------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, css: str = "", raw: bool = False) -> str:
    """A simple table; cells are escaped unless ``raw`` (for cells this module built as HTML)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _e(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    klass = f' class="{_e(css)}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _missing(what: str) -> str:
    return f'<p class="missing">not run yet ({_e(what)})</p>'


def _problems(problems: Iterable[str]) -> str:
    return "".join(f'<p class="problem">could not read {_e(p)}</p>' for p in problems)


def _card(title: str, body: str) -> str:
    return f'<div class="card"><h4>{_e(title)}</h4>{body}</div>'


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        rows: list[tuple[str, str]] = []
        for key, value in data.items():
            rows += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(data, list):
        return [(prefix, json.dumps(data, ensure_ascii=False, default=str))]
    return [(prefix, _fmt(data))]


# --- sections -----------------------------------------------------------------------------


def _config_section(config: dict[str, Any], text: str | None, problem: str | None) -> str:
    if text is None:
        return _missing("no config.yaml")
    parts = [_problems([f"config.yaml: {problem}"]) if problem else ""]
    settings = _flatten(config) if config else []
    table = _table(["key", "value"], settings, css="kv") if settings else ""
    parts.append(
        f'<details class="config"><summary>config.yaml: {len(settings)} settings</summary>{table}'
        f"<details><summary>the file</summary><pre>{_e(text)}</pre></details></details>"
    )
    return "".join(parts)


def _pipeline_section(experiment_dir: Path, rounds: Sequence[_Round], strategy: str) -> str:
    parts = []
    state, problem = _read_json(experiment_dir / "run_state.json")
    stages = state.get("stages") if isinstance(state, dict) else None
    if problem:
        parts.append(_problems([problem]))
    if isinstance(stages, dict) and stages:
        rows = []
        for stage, info in stages.items():
            info = info if isinstance(info, dict) else {}
            seconds = info.get("seconds")
            rows.append(
                [
                    _e(stage),
                    '<span class="badge good">done</span>' if info.get("done") else '<span class="badge neutral">pending</span>',
                    _e(f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "–"),
                ]
            )
        parts.append(_card("Stages (run_state.json)", _table(["stage", "status", "time"], rows, raw=True)))
    shown = [r for r in rounds if not r.loose or r.browsable is not None or r.split_count is not None]
    if not shown:
        parts.append(_missing("no round-N directory and no trajectory or split files"))
    for round_ in shown:
        parts.append(f'<h3 id="pipeline-{_e(round_.name)}">{_e(round_.name)}</h3>{_problems(round_.problems)}')
        parts.append(f'<div class="cards">{_round_cards(round_, strategy)}</div>')
    return "".join(parts)


def _round_cards(round_: _Round, strategy: str) -> str:
    trajectories = round_.generated if round_.generated is not None else round_.judged
    judged = round_.judged
    funnel: list[list[object]] = []
    if trajectories is not None:
        funnel += [
            ["questions", len({t.task.id for t in trajectories})],
            ["trajectories", len(trajectories)],
            ["steps", sum(len(t.steps) for t in trajectories)],
        ]
    later = [
        ("judged trajectories", len(judged) if judged is not None else None),
        (f"kept ({strategy})", round_.filtered_count),
        ("sub-trajectories (split)", round_.split_count),
    ]
    funnel += [[stage, "not run yet" if count is None else count] for stage, count in later if count is not None or not round_.loose]
    if round_.train_summary is not None:
        funnel.append(["training steps", round_.train_summary.get("global_step", "–")])
    cards = [_card("Counts", _table(["stage", "count"], funnel, css="kv"))]

    if trajectories is not None:
        terminations = Counter(t.termination for t in trajectories)
        cards.append(_card("Terminations", _table(["termination", "trajectories"], terminations.most_common())))
    if judged is None:
        if not round_.loose:
            cards.append(_card("Step verdicts", _missing("no judged.jsonl")))
        return "".join(cards)

    verdicts = Counter(j.verdict for t in judged for j in t.step_judgements or [])
    total = sum(verdicts.values())
    rows = [
        [f'<span class="badge {v.lower()}">{v}</span>', str(verdicts[v]), f"{verdicts[v] / total:.0%}" if total else "–"]
        for v in ("GOOD", "BAD", "UNPARSED")
    ]
    correct = sum(bool(t.outcome and t.outcome.correct) for t in judged)
    outcome = f'<p class="note">final answer correct: {correct} of {len(judged)}</p>'
    cards.append(_card("Step verdicts", _table(["verdict", "steps", "share"], rows, raw=True) + outcome))

    strategy_rows = []
    for row in strategy_table(judged):
        name = _e(row["strategy"]) + (' <span class="badge chosen">chosen</span>' if row["strategy"] == strategy else "")
        strategy_rows.append([name, _e(row["trajectories"]), _e(row["steps"])])
    cards.append(_card("Kept by filter strategy", _table(["strategy", "trajectories", "steps"], strategy_rows, raw=True)))
    return "".join(cards)


def _training_section(rounds: Sequence[_Round]) -> str:
    parts = []
    for round_ in rounds:
        if not round_.train_metrics and round_.train_summary is None:
            continue
        body = ""
        chart = _training_chart(round_.train_metrics)
        if chart:
            body += f'<figure><img alt="{_e(round_.name)} training curves" src="{chart}"></figure>'
        if round_.train_summary is not None:
            body += _table(["key", "value"], _flatten(round_.train_summary), css="kv")
        parts.append(f"<h3>{_e(round_.name)}</h3>{body}")
    return "".join(parts) or _missing("no round-N/train/metrics.jsonl")


def _training_chart(records: Sequence[dict[str, Any]]) -> str | None:
    """The per-step training curves as a PNG data URI; None if none was logged."""
    from swirl.training.metrics import CURVES

    series = {}
    for key in CURVES:
        points = [
            (r["step"], r[key])
            for r in records
            if isinstance(r.get("step"), (int, float)) and isinstance(r.get(key), (int, float))
        ]
        if points:
            series[key] = points
    if not series:
        return None
    # The object-oriented API needs no pyplot state or GUI backend, so it is safe in any process.
    from matplotlib.figure import Figure

    columns = min(3, len(series))
    rows = -(-len(series) // columns)
    figure = Figure(figsize=(4.2 * columns, 2.6 * rows), dpi=100, layout="constrained")
    for position, (key, points) in enumerate(series.items()):
        axes = figure.add_subplot(rows, columns, position + 1)
        steps, values = zip(*points)
        axes.plot(steps, values, marker="o" if len(points) < 30 else None, color="#dc2626" if key == "loss" else "#2563eb")
        axes.set_title(CURVES[key])
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return _png_uri(buffer.getvalue())


def _summary_section(eval_dirs: Sequence[tuple[str, Path]]) -> str:
    """Base vs trained: the headline metrics with paired differences, and the main charts."""
    parts = []
    for key, eval_dir in eval_dirs:
        metrics, problem = _read_json(eval_dir / "metrics.json")
        heading = f"<h3>{_e(key)}</h3>" if len(eval_dirs) > 1 else ""
        body = _problems([problem]) if problem else ""
        if isinstance(metrics, dict):
            body += _comparison_table(metrics)
        charts = [eval_dir / f"{metric}.png" for metric in CHARTED_METRICS if (eval_dir / f"{metric}.png").is_file()]
        body += _figures(charts)
        parts.append(heading + (body or _missing(f"no metrics in {key}")))
    return "".join(parts) or _missing("no eval/metrics.json")


def _comparison_table(metrics: dict[str, Any]) -> str:
    """A row per benchmark and model: headline metrics, and each metric's paired difference to the baseline."""
    by_benchmark = _metric_entries(metrics.get("results"))
    comparisons = metrics.get("comparisons") if isinstance(metrics.get("comparisons"), list) else []
    differences = {
        (c.get("model"), c.get("benchmark"), c.get("metric")): c
        for c in comparisons
        if isinstance(c, dict) and all(isinstance(c.get(k), (int, float)) for k in ("difference", "low", "high"))
    }
    baseline = next((c.get("baseline") for c in differences.values()), None)
    shown = [m for m in SUMMARY_METRICS if any(m in found for labels in by_benchmark.values() for found in labels.values())]
    compared = [m for m in shown if any(key[2] == m for key in differences)]
    if not shown:
        return ""
    header = ["benchmark", "model"]
    for metric in shown:
        header.append(metric)
        if metric in compared:
            header.append(f"Δ {metric} vs {baseline}")
    rows = []
    for benchmark, labels in by_benchmark.items():
        for label, found in labels.items():
            cells = [_e(benchmark), _e(label)]
            for metric in shown:
                cells.append(_metric_cell(found.get(metric)))
                if metric in compared:
                    difference = differences.get((label, benchmark, metric))
                    cells.append('<span class="note">baseline</span>' if label == baseline else _difference_cell(difference))
            rows.append(cells)
    note = (
        f'<p class="note">mean [95% CI] over questions; Δ: mean per-question difference to {_e(baseline)} '
        "on the same questions, with its paired bootstrap interval.</p>"
        if compared else '<p class="note">mean [95% CI] over questions.</p>'
    )
    return f'<div class="table-wrap">{_table(header, rows, css="metrics", raw=True)}</div>{note}'


def _difference_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "–"
    return (
        f'<span class="mean">{entry["difference"]:+.3f}</span> '
        f'<span class="ci">[{entry["low"]:+.3f}, {entry["high"]:+.3f}]</span>'
    )


def _figures(paths: Sequence[Path]) -> str:
    if not paths:
        return ""
    figures = "".join(
        f'<figure><img alt="{_e(p.stem)}" src="{_png_uri(p.read_bytes())}"><figcaption>{_e(p.name)}</figcaption></figure>'
        for p in paths
    )
    return f'<div class="charts">{figures}</div>'


def _evaluation_section(eval_dirs: Sequence[tuple[str, Path]]) -> str:
    parts = []
    for key, eval_dir in eval_dirs:
        heading = f"<h3>{_e(key)}</h3>" if len(eval_dirs) > 1 else ""
        parts.append(heading + _evaluation_details(eval_dir))
    return "".join(parts) or _missing("no eval/metrics.json")


def _evaluation_details(eval_dir: Path) -> str:
    metrics, problem = _read_json(eval_dir / "metrics.json")
    results_md = eval_dir / "results.md"
    parts = [_problems([problem]) if problem else ""]
    if isinstance(metrics, dict):
        settings = metrics.get("settings")
        if isinstance(settings, dict) and settings:
            parts.append(f"<details><summary>settings</summary>{_table(['key', 'value'], _flatten(settings), css='kv')}</details>")
        parts.append(_metric_tables(metrics.get("results")))
    # The headline charts are in the summary; any others belong here.
    parts.append(_figures([p for p in sorted(eval_dir.glob("*.png")) if p.stem not in CHARTED_METRICS]))
    if results_md.is_file():
        text = results_md.read_text(encoding="utf-8", errors="replace")
        parts.append(f"<details><summary>results.md</summary><pre>{_e(text)}</pre></details>")
    return "".join(parts)


def _metric_entries(results: Any) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """``{benchmark: {label: {metric: entry}}}`` from metrics.json's results, keeping only well-formed entries."""
    # metrics.json: results[label][benchmark]["metrics"][metric] = {"mean", "low", "high", "n"}
    by_benchmark: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    if not isinstance(results, dict):
        return by_benchmark
    for label, benchmarks in results.items():
        if not isinstance(benchmarks, dict):
            continue
        for benchmark, entry in benchmarks.items():
            values = entry.get("metrics") if isinstance(entry, dict) else None
            if not isinstance(values, dict):
                continue
            found = {m: v for m, v in values.items() if isinstance(v, dict) and isinstance(v.get("mean"), (int, float))}
            if found:
                by_benchmark.setdefault(str(benchmark), {})[str(label)] = found
    return by_benchmark


def _metric_tables(results: Any) -> str:
    """One table per benchmark: a row per model, a column per metric with its mean and interval."""
    parts = []
    for benchmark, labels in _metric_entries(results).items():
        metrics = list(dict.fromkeys(m for found in labels.values() for m in found))
        rows = []
        for label, found in labels.items():
            counts = [v["n"] for v in found.values() if isinstance(v.get("n"), int)]
            cells = [_e(label)] + [_metric_cell(found.get(m)) for m in metrics] + [_e(max(counts) if counts else "–")]
            rows.append(cells)
        table = f'<div class="table-wrap">{_table(["model", *metrics, "n"], rows, css="metrics", raw=True)}</div>'
        parts.append(f"<h4>{_e(benchmark)}</h4>{table}")
    return "".join(parts)


def _metric_cell(value: dict[str, Any] | None) -> str:
    if value is None:
        return "–"
    cell = f'<span class="mean">{value["mean"]:.3f}</span>'
    low, high = value.get("low"), value.get("high")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        cell += f' <span class="ci">[{low:.3f}, {high:.3f}]</span>'
    return cell


def _browser_section(sources: Sequence[dict[str, Any]]) -> str:
    if not sources:
        return _missing("no trajectories")
    return (
        '<div class="browser-bar">'
        '<label>source <select id="source-select"></select></label>'
        '<input id="question-search" type="search" placeholder="filter questions…">'
        '<span id="source-note" class="note"></span>'
        "</div>"
        '<div class="browser"><ul id="question-list" class="question-list"></ul>'
        '<div id="question-view" class="question-view"></div></div>'
    )


# --- the page -----------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("swirl").joinpath("report_assets", name).read_text(encoding="utf-8")


def _embed_json(data: Any) -> str:
    """JSON safe inside a <script> element: no '<' at all, so neither '</script>' nor '<!--' can occur."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _csp_hash(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode("ascii") + "'"


def _page(name: str, experiment_dir: Path, sections: Sequence[tuple[str, str, str]], data: dict[str, Any]) -> str:
    css, js = _asset("report.css"), _asset("report.js")
    # Only this page's own style and script may run, and nothing may be fetched: the report
    # stays offline, and markup that escaped escaping still could not execute.
    csp = f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>' for key, title, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>swirl report · {_e(name)}</title><style>{css}</style></head>"
        "<body>"
        f'<header><h1>{_e(name)}</h1><p class="subtitle">swirl experiment report · {_e(experiment_dir.resolve())} · '
        f"generated {_e(generated)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        f'<script type="application/json" id="swirl-data">{_embed_json(data)}</script>'
        f"<script>{js}</script>"
        "</body></html>\n"
    )
