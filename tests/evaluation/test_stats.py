"""Bootstrap intervals against hand calculations and an independent re-implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from swirl.evaluation.stats import mean_ci, paired_difference_ci


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method), by hand."""
    position = (len(sorted_values) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (position - below) * (sorted_values[above] - sorted_values[below])


def _bootstrap_by_loop(values: list[float], n_boot: int, seed: int, alpha: float) -> tuple[float, float, float]:
    """The documented scheme, one resample at a time in plain Python."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(values), size=len(values))
        means.append(sum(values[int(i)] for i in picks) / len(values))
    means.sort()
    return sum(values) / len(values), _quantile(means, alpha / 2), _quantile(means, 1 - alpha / 2)


def test_constant_values_give_a_zero_width_interval():
    assert mean_ci([0.25] * 7, n_boot=200, seed=3) == (0.25, 0.25, 0.25)


def test_mean_is_the_plain_mean():
    mean, low, high = mean_ci([1, 0, 0, 1, 1], n_boot=500, seed=0)
    assert mean == pytest.approx(0.6)
    assert 0.0 <= low <= mean <= high <= 1.0


@pytest.mark.parametrize("values, n_boot, seed, alpha", [
    ([1.0, 0.0, 1.0, 1.0, 0.0, 0.5], 250, 7, 0.05),
    ([3.0, -1.0, 2.5], 101, 0, 0.10),
    ([0.0, 1.0], 40, 123, 0.05),
])
def test_matches_an_explicit_loop_with_the_same_rng_scheme(values, n_boot, seed, alpha):
    expected = _bootstrap_by_loop(values, n_boot, seed, alpha)
    assert mean_ci(values, n_boot, seed, alpha) == pytest.approx(expected, abs=1e-12)


def test_two_point_sample_spans_its_resampling_distribution():
    # Resampling [0, 1] gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so with many
    # resamples the 2.5% and 97.5% quantiles are 0 and 1, the 30% and 70% ones 0.5.
    assert mean_ci([0.0, 1.0], n_boot=20000, seed=1) == (0.5, 0.0, 1.0)
    assert mean_ci([0.0, 1.0], n_boot=20000, seed=1, alpha=0.6) == (0.5, 0.5, 0.5)


def test_same_seed_same_interval_and_another_seed_differs():
    values = [0.1, 0.9, 0.4, 0.7, 0.3, 0.8, 0.2]
    assert mean_ci(values, 300, seed=5) == mean_ci(values, 300, seed=5)
    assert mean_ci(values, 300, seed=5) != mean_ci(values, 300, seed=6)


def test_paired_difference_of_identical_vectors_is_zero():
    values = [1.0, 0.0, 0.5, 1.0]
    assert paired_difference_ci(values, values, n_boot=100, seed=0) == (0.0, 0.0, 0.0)


def test_paired_difference_of_a_constant_shift_is_that_shift():
    b = [0.2, 0.4, 0.0, 0.9]
    a = [x + 1.0 for x in b]
    assert paired_difference_ci(a, b, n_boot=100, seed=0) == pytest.approx((1.0, 1.0, 1.0))


def test_paired_difference_is_the_interval_of_the_differences():
    a, b = [1.0, 1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0, 1.0]
    differences = [x - y for x, y in zip(a, b)]
    assert paired_difference_ci(a, b, n_boot=300, seed=4) == _bootstrap_by_loop(differences, 300, 4, 0.05)
    mean, low, high = paired_difference_ci(a, b, n_boot=300, seed=4)
    assert mean == pytest.approx(0.2) and low < 0 < high


@pytest.mark.parametrize("call, message", [
    (lambda: mean_ci([]), "no values"),
    (lambda: mean_ci([1.0], n_boot=0), "n_boot"),
    (lambda: mean_ci([1.0], alpha=1.5), "alpha"),
    (lambda: paired_difference_ci([1.0, 2.0], [1.0]), "same questions"),
])
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
