"""Confidence intervals for evaluation metrics: percentile bootstrap over questions.

Every metric of ``swirl eval`` is a mean over questions, so its uncertainty comes from
which questions were drawn. :func:`mean_ci` resamples the questions with replacement
``n_boot`` times and takes the ``alpha/2`` and ``1 - alpha/2`` quantiles of the resampled
means. :func:`paired_difference_ci` does the same for per-question differences between
two models answering the same questions, which is tighter than comparing two
independent intervals because question difficulty cancels out.

The resampling scheme is fixed so that results are reproducible from the seed:
``numpy.random.default_rng(seed).integers(0, n, size=(n_boot, n))`` gives the indices of
all resamples at once (row ``b`` is resample ``b``), and quantiles use numpy's default
linear interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """The mean of ``values`` and its ``1 - alpha`` percentile-bootstrap interval: (mean, low, high)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("cannot compute a confidence interval of no values")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    indices = np.random.default_rng(seed).integers(0, data.size, size=(n_boot, data.size))
    resampled_means = data[indices].mean(axis=1)
    low, high = np.quantile(resampled_means, [alpha / 2, 1 - alpha / 2])
    return float(data.mean()), float(low), float(high)


def paired_difference_ci(
    a: Sequence[float], b: Sequence[float], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Mean of the per-question differences ``a[i] - b[i]`` with its bootstrap interval.

    ``a`` and ``b`` must score the same questions in the same order.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need the same questions: got {len(a)} and {len(b)} values")
    return mean_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), n_boot, seed, alpha)
