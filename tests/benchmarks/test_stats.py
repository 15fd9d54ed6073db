"""adaptlr.benchmarks.stats against closed forms and hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from adaptlr.benchmarks import stats


def test_iqr_and_median_hand_computed() -> None:
    d = stats.describe([1.0, 2.0, 3.0, 4.0, 100.0, math.nan], chance=None, maximize=True)
    # finite values 1, 2, 3, 4, 100: linear-interpolation quartiles at positions 1 and 3
    assert (d.q25, d.median, d.q75) == (2.0, 3.0, 4.0)
    assert d.n == 6 and d.diverged == 1
    assert d.collapse_rate == pytest.approx(1 / 6)
    assert d.mean == pytest.approx(22.0)


def test_bootstrap_ci_exact_distribution() -> None:
    # Four values: the bootstrap distribution of the mean is uniform over the 4^4 resamples;
    # its 2.5% and 97.5% quantiles (inverted CDF) are atoms 0.5 and 5.5, whose CDF steps
    # (0.020 -> 0.059 and 0.965 -> 0.980) are far enough from 0.025 / 0.975 that 200k
    # resamples land on them.
    x = np.array([0.0, 1.0, 2.0, 7.0])
    means = [np.mean(c) for c in itertools.product(x, repeat=4)]
    exact = np.quantile(means, [0.025, 0.975], method="inverted_cdf")
    np.testing.assert_allclose(exact, [0.5, 5.5])
    assert stats.bootstrap_ci(x, resamples=200_000, seed=3) == (0.5, 5.5)
    assert stats.bootstrap_ci(x, seed=3) == stats.bootstrap_ci(x, seed=3)  # seeded


def test_bootstrap_ci_normal_width() -> None:
    # Large n: the interval is mean +- 1.96 sd / sqrt(n) (the bootstrap's normal limit).
    x = np.random.default_rng(0).normal(size=400)
    lo, hi = stats.bootstrap_ci(x, resamples=4000, seed=0)
    half = 1.959964 * x.std() / math.sqrt(x.size)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.06)
    assert (hi + lo) / 2 == pytest.approx(x.mean(), abs=0.1 * half)


def test_bootstrap_constant_and_errors() -> None:
    assert stats.bootstrap_ci([2.5, 2.5, 2.5]) == (2.5, 2.5)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([math.nan]))
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci([1.0], level=1.0)


def test_collapsed_accuracy_and_loss() -> None:
    acc = [0.65, 0.10, 0.115, 0.13, math.nan, math.inf]
    mask = stats.collapsed(acc, chance=0.1, maximize=True)  # threshold 0.12
    assert mask.tolist() == [False, True, True, False, True, True]
    loss = [2.30, 2.26, 2.25, 0.5, math.nan]
    mask = stats.collapsed(loss, chance=2.3, maximize=False)  # threshold 2.254
    assert mask.tolist() == [True, True, False, False, True]
    assert stats.collapsed([0.05], chance=None, maximize=True).tolist() == [False]


@pytest.mark.parametrize("maximize", [True, False])
def test_expected_best_of_k_closed_forms(maximize: bool) -> None:
    v = np.array([0.3, 0.9, 0.1, 0.5])
    sign = 1 if maximize else -1
    # k = 1: the mean; large k: the best
    assert stats.expected_best_of_k(v, 1, maximize=maximize) == pytest.approx(v.mean())
    best = v.max() if maximize else v.min()
    assert stats.expected_best_of_k(v, 2000, maximize=maximize) == pytest.approx(best)
    # two values a (worse) < b: E = a / 2^k + b (1 - 1 / 2^k)
    a, b = (0.2, 0.7) if maximize else (0.7, 0.2)
    for k in (1, 2, 5):
        got = stats.expected_best_of_k([b, a], k, maximize=maximize)
        assert got == pytest.approx(a / 2**k + b * (1 - 1 / 2**k))
    # against brute-force enumeration of all 4^3 ordered draws
    brute = np.mean([sign * max(sign * np.array(c)) for c in itertools.product(v, repeat=3)])
    assert stats.expected_best_of_k(v, 3, maximize=maximize) == pytest.approx(brute)
    curve = stats.expected_best_of_k(v, [1, 2, 3, 10], maximize=maximize)
    assert np.all(sign * np.diff(curve) >= 0)  # never gets worse with more trials


def test_expected_best_of_k_failures() -> None:
    v = [0.6, math.nan]
    assert stats.expected_best_of_k(v, 2) == -math.inf
    assert stats.expected_best_of_k(v, 2, fail_value=0.1) == pytest.approx(0.1 / 4 + 0.6 * 0.75)
    with pytest.raises(ValueError, match="k"):
        stats.expected_best_of_k(v, 0)


def test_time_to_target() -> None:
    steps = [100, 200, 300, 400]
    assert stats.time_to_target(steps, [0.2, 0.5, 0.7, 0.6], 0.6, maximize=True) == 300
    assert stats.time_to_target(steps, [3, 2, 1, math.nan], 2.0, maximize=False) == 200
    assert stats.time_to_target(steps, [0.2, math.nan, 0.3, 0.4], 0.5, maximize=True) == math.inf


def test_performance_profile_hand_computed() -> None:
    # 3 problems x 3 solvers; solver 0 fastest everywhere, solver 1 twice as slow,
    # solver 2 fails on one problem and is 5x slower on another.
    costs = np.array([[10.0, 20.0, 10.0],
                      [5.0, 10.0, 25.0],
                      [1.0, 2.0, math.inf]])
    np.testing.assert_array_equal(stats.profile_ratios(costs),
                                  [[1, 2, 1], [1, 2, 5], [1, 2, math.inf]])
    rho = stats.performance_profile(costs, [1.0, 1.99, 2.0, 4.0, 5.0])
    np.testing.assert_allclose(rho, [[1, 0, 1 / 3], [1, 0, 1 / 3], [1, 1, 1 / 3],
                                     [1, 1, 1 / 3], [1, 1, 2 / 3]])
    # areas over [1, 4] / 3: solver 0 -> 1; solver 1 -> (4 - 2) / 3; solver 2 -> one
    # problem at ratio 1 for the whole range, the others never inside: 1/3
    np.testing.assert_allclose(stats.profile_area(costs), [1.0, 2 / 3, 1 / 3])


def test_profile_area_matches_numerical_integral() -> None:
    costs = np.random.default_rng(1).uniform(1, 10, size=(7, 4))
    taus = np.linspace(1, 4, 300_001)
    rho = stats.performance_profile(costs, taus)
    numeric = rho.mean(axis=0)  # uniform grid over [1, 4]: mean = integral / 3
    np.testing.assert_allclose(stats.profile_area(costs), numeric, atol=1e-4)


def test_profile_errors_and_all_fail() -> None:
    with pytest.raises(ValueError, match="positive"):
        stats.profile_ratios([[0.0, 1.0]])
    with pytest.raises(ValueError, match="tau_max"):
        stats.profile_area([[1.0]], tau_max=1.0)
    np.testing.assert_array_equal(stats.profile_area([[math.inf, math.inf]]), [0.0, 0.0])
