"""Evaluation (`swirl eval`): multi-step tool-use inference on benchmarks, graded, with bootstrap intervals.

:func:`evaluate` runs the whole pipeline from :class:`EvalSettings`; :mod:`.stats` holds the
interval arithmetic and :mod:`.outputs` the files it writes.
"""

from swirl.evaluation.harness import BENCHMARKS, EvalSettings, evaluate, validate
from swirl.evaluation.stats import mean_ci, paired_difference_ci

__all__ = ["BENCHMARKS", "EvalSettings", "evaluate", "mean_ci", "paired_difference_ci", "validate"]
