"""Charts of an evaluation directory: every bar and its value stay visible, zeros included."""

from __future__ import annotations

import math

from matplotlib.image import imread

from swirl.evaluation.outputs import ZERO_MARGIN, bar_chart, plot_metric


def result(values: dict[str, dict[str, float]]) -> dict:
    """The part of metrics.json the charts read: models, benchmarks and accuracy intervals."""
    labels = list(values)
    benchmarks = list(next(iter(values.values())))
    return {
        "confidence": 0.95,
        "models": [{"label": label} for label in labels],
        "benchmarks": [{"name": name} for name in benchmarks],
        "results": {
            label: {name: {"metrics": {"accuracy": {"mean": v, "low": max(0.0, v - 0.1), "high": min(1.0, v + 0.1), "n": 8}}}
                    for name, v in by_benchmark.items()}
            for label, by_benchmark in values.items()
        },
    }


def test_all_zero_chart_draws_bars_and_labels():
    figure = bar_chart(result({"base": {"gsm8k": 0.0, "hotpotqa": 0.0}, "round-1": {"gsm8k": 0.0, "hotpotqa": 0.0}}), "accuracy")
    axes = figure.axes[0]
    bars = [patch for container in axes.containers if hasattr(container, "patches") for patch in container.patches]
    assert len(bars) == 4
    assert all(bar.get_height() == 0 and bar.get_linewidth() > 0 for bar in bars)
    # The outline of a zero bar lies above the bottom of the axes, where it can be seen.
    assert axes.get_ylim()[0] == ZERO_MARGIN < 0
    assert sorted(t.get_text() for t in axes.texts) == ["0.00"] * 4


def test_values_label_their_bars_and_missing_ones_stay_blank():
    values = result({"base": {"gsm8k": 0.25}, "sft": {"gsm8k": 0.5}})
    del values["results"]["sft"]["gsm8k"]["metrics"]["accuracy"]
    axes = bar_chart(values, "accuracy").axes[0]
    assert sorted(t.get_text() for t in axes.texts) == ["", "0.25"]
    heights = [p.get_height() for c in axes.containers if hasattr(c, "patches") for p in c.patches]
    assert heights[0] == 0.25 and math.isnan(heights[1])


def test_plot_metric_writes_png_only_when_there_is_data(tmp_path):
    values = result({"base": {"gsm8k": 0.0}})
    assert plot_metric(values, "accuracy", tmp_path / "accuracy.png")
    assert imread(tmp_path / "accuracy.png").shape[0] > 100
    assert not plot_metric(values, "process_score", tmp_path / "process_score.png")
    assert not (tmp_path / "process_score.png").exists()
