"""Evaluation, job 4 (compare): paired differences of every model from the first, with bootstrap intervals."""

from __future__ import annotations

from swirl.evaluation.plan import EvalPlan
from swirl.evaluation.stats import paired_difference_ci

COMPARED_METRICS = ("accuracy", "process_score", "invalid_action_rate", "answered_rate", "mean_tool_calls")
CONFIDENCE = 0.95


def comparisons(plan: EvalPlan, per_question: dict[str, dict[str, dict[str, dict[str, float]]]]) -> list[dict]:
    """Paired differences (model - first model) per benchmark, over the questions both have a value for."""
    baseline = plan.labels[0]
    comparisons = []
    for label in plan.labels[1:]:
        for benchmark in plan.benchmarks:
            ours, theirs = per_question[label][benchmark.name], per_question[baseline][benchmark.name]
            for metric in COMPARED_METRICS:
                ids = [t.id for t in benchmark.tasks if metric in ours[t.id] and metric in theirs[t.id]]
                if not ids:
                    continue
                difference, low, high = paired_difference_ci(
                    [ours[i][metric] for i in ids], [theirs[i][metric] for i in ids],
                    plan.settings.bootstrap, plan.settings.seed, 1 - CONFIDENCE,
                )
                comparisons.append(
                    {
                        "model": label,
                        "baseline": baseline,
                        "benchmark": benchmark.name,
                        "metric": metric,
                        "difference": difference,
                        "low": low,
                        "high": high,
                        "n": len(ids),
                    }
                )
    return comparisons
