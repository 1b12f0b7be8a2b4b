"""Files of an evaluation directory, written from the ``metrics.json`` content that
:func:`swirl.evaluation.metrics.summarize` returns.

* ``metrics.json``: everything, machine-readable.
* ``results.md``: which judge graded which metric (with a warning when the process judge
  also gave the training reward), the cross-task accuracy table (models x benchmarks; also
  the programmatic one when an LLM graded accuracy), one detailed table per benchmark, the paired differences against the first model and any failed questions.
* ``<metric>.png``: grouped bar charts (one group per benchmark, one bar per model) with
  the confidence intervals as error bars, for accuracy and, when judged, process score.

Every file is written whole through a temporary name, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from swirl.jsonl import write_atomically
from swirl.prompts import DEFAULT_STEP_LIMITS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHARTED_METRICS = ("accuracy", "process_score")
ZERO_MARGIN = -0.04
"""Bottom of the chart axes: below zero, so a bar of height zero still shows."""


def format_interval(mean: float, low: float, high: float, digits: int = 3, signed: bool = False) -> str:
    """``mean [low, high]``, e.g. ``0.333 [0.000, 0.667]``."""
    number = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"{number.format(mean)} [{number.format(low)}, {number.format(high)}]"


def _cell(entry: dict | None) -> str:
    """A metric entry as a table cell; an en dash where the metric does not apply."""
    return "–" if entry is None else format_interval(entry["mean"], entry["low"], entry["high"])


def _labels(result: dict) -> list[str]:
    return [model["label"] for model in result["models"]]


def _benchmarks(result: dict) -> list[str]:
    return [benchmark["name"] for benchmark in result["benchmarks"]]


def cross_task_table(result: dict, metric: str = "accuracy") -> tuple[list[str], list[list[str]]]:
    """Header and rows of the models x benchmarks table of one metric, cells ``mean [low, high]``."""
    header = ["model", *_benchmarks(result)]
    rows = [
        [label, *(_cell(result["results"][label][b]["metrics"].get(metric)) for b in _benchmarks(result))]
        for label in _labels(result)
    ]
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def markdown_report(result: dict) -> str:
    """The ``results.md`` text."""
    settings = result["settings"]
    judges = result["judges"]
    confidence = f"{result['confidence']:.0%}"
    lines = [
        "# Evaluation results",
        "",
        f"Cells are means over questions with {confidence} percentile-bootstrap intervals "
        f"({result['bootstrap']['resamples']} resamples, seed {result['bootstrap']['seed']}).",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| model `{m['label']}` | `{m['reference']}` |" for m in result["models"]),
        *(f"| benchmark `{b['name']}` | {b['questions']} questions of `{b['input']}` |" for b in result["benchmarks"]),
        f"| decoding | temperature {settings['temperature']}, at most {settings['max_tokens']} tokens per action |",
        f"| steps | {settings['max_steps'] or DEFAULT_STEP_LIMITS} |",
        f"| tools | {'none (ablation)' if settings['no_tools'] else 'calculator for math, search for QA'} |",
        f"| accuracy graded by | {judges['accuracy']} |",
        f"| programmatic_accuracy graded by | {judges['programmatic_accuracy']} |",
        f"| process_score judged by | {judges['process_score'] or 'none'} |",
        f"| training reward of the models | {', '.join(judges['training_reward']) or 'not recorded'} |",
        "",
        *(f"**Warning:** {warning}\n" for warning in judges["warnings"]),
        f"## Accuracy across benchmarks ({confidence} CI), graded by {judges['accuracy']}",
        "",
        *_markdown_table(*cross_task_table(result)),
    ]
    if judges["accuracy"] != judges["programmatic_accuracy"]:
        lines += [
            f"## Programmatic accuracy across benchmarks ({confidence} CI)",
            "",
            *_markdown_table(*cross_task_table(result, "programmatic_accuracy")),
        ]
    for benchmark in result["benchmarks"]:
        name = benchmark["name"]
        cells = {label: result["results"][label][name] for label in _labels(result)}
        metrics = list(dict.fromkeys(m for cell in cells.values() for m in cell["metrics"]))
        rows = [
            [label, *(_cell(cell["metrics"].get(m)) for m in metrics), str(cell["failed"])]
            for label, cell in cells.items()
        ]
        lines += [f"## {name} ({benchmark['questions']} questions)", "", *_markdown_table(["model", *metrics, "failed"], rows)]
    if result["comparisons"]:
        rows = [
            [c["model"], c["baseline"], c["benchmark"], c["metric"], format_interval(c["difference"], c["low"], c["high"], signed=True), str(c["n"])]
            for c in result["comparisons"]
        ]
        lines += [
            f"## Paired differences against {_labels(result)[0]}",
            "",
            f"Mean per-question difference (model - baseline) over the same questions, {confidence} CI.",
            "",
            *_markdown_table(["model", "baseline", "benchmark", "metric", f"difference [{confidence} CI]", "n"], rows),
        ]
    failures = [
        (label, name, failure)
        for label, by_benchmark in result["results"].items()
        for name, cell in by_benchmark.items()
        for failure in cell["failures"]
    ]
    if failures:
        lines += [
            "## Failed questions",
            "",
            "Inference failed on these questions; they count as unanswered.",
            "",
            *_markdown_table(
                ["model", "benchmark", "question", "error"],
                [[label, name, f["id"], f["error"].replace("|", "\\|").replace("\n", " ")] for label, name, f in failures],
            ),
        ]
    return "\n".join(lines)


def bar_chart(result: dict, metric: str) -> Figure | None:
    """The grouped bar chart of ``metric`` (a bar per model, a group per benchmark); None when no model has it.

    Every bar carries its value as a label, and a bar of height zero is still drawn as an
    outlined stub above the axis, so an all-zero chart reads as zeros, not as an empty plot.
    """
    from matplotlib.figure import Figure

    labels, benchmarks = _labels(result), _benchmarks(result)
    entries = {(label, b): result["results"][label][b]["metrics"].get(metric) for label in labels for b in benchmarks}
    if not any(entries.values()):
        return None
    # A Figure on its own renders with Agg and leaves pyplot's global state alone.
    figure = Figure(figsize=(max(4.0, 1.2 + len(benchmarks) * (0.6 + 0.45 * len(labels))), 3.6))
    axes = figure.subplots()
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        cells = [entries[label, b] for b in benchmarks]
        means = [cell["mean"] if cell else math.nan for cell in cells]
        errors = [
            [cell["mean"] - cell["low"] if cell else 0.0 for cell in cells],
            [cell["high"] - cell["mean"] if cell else 0.0 for cell in cells],
        ]
        positions = [x + (i - (len(labels) - 1) / 2) * width for x in range(len(benchmarks))]
        color = f"C{i % 10}"
        bars = axes.bar(positions, means, width, yerr=errors, capsize=3, label=label, color=color, edgecolor=color, linewidth=1.5)
        axes.bar_label(bars, labels=["" if math.isnan(m) else f"{m:.2f}" for m in means], padding=2, fontsize="small")
    axes.set_xticks(range(len(benchmarks)), benchmarks)
    # The axis starts a little below zero so that zero-height bars stay visible above it.
    axes.set_ylim(ZERO_MARGIN, 1.15)
    axes.axhline(0, color="0.6", linewidth=0.8, zorder=0.5)
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_title(f"{metric.replace('_', ' ')} ({result['confidence']:.0%} CI)")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def plot_metric(result: dict, metric: str, path: Path) -> bool:
    """Write :func:`bar_chart` of ``metric`` to ``path``; False (nothing written) when no model has it."""
    figure = bar_chart(result, metric)
    if figure is None:
        return False
    temporary = path.with_name(f".{path.name}.partial")
    figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
    temporary.replace(path)
    return True


def write_outputs(result: dict, output: Path) -> list[Path]:
    """Write ``metrics.json``, ``results.md`` and the charts into ``output``; return their paths."""
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "metrics.json", output / "results.md"]
    write_atomically(written[0], [json.dumps(result, indent=2, ensure_ascii=False) + "\n"])
    write_atomically(written[1], [markdown_report(result) + "\n"])
    for metric in CHARTED_METRICS:
        chart = output / f"{metric}.png"
        if plot_metric(result, metric, chart):
            written.append(chart)
    return written
