"""Statistics of benchmark results: distributions over seeds, tuning cost, scores across tasks.

NumPy only; every function takes plain arrays (one value per run) and is independent of the
result format, so that the tables, the figures and the paper scripts compute the same numbers.

* :func:`describe` -- median, interquartile range, bootstrap interval of the mean, collapse
  rate of one set of runs (:class:`Distribution`).
* :func:`bootstrap_ci` -- percentile bootstrap interval of the mean (seeded, reproducible).
* :func:`collapsed` -- which runs ended at the task's chance level or diverged.
* :func:`expected_best_of_k` -- the expected best result of ``k`` random trials drawn from
  the recorded runs (Dodge et al. 2019), in closed form from the empirical distribution.
* :func:`performance_profile` / :func:`profile_area` -- Dolan and More (2002) performance
  profiles over tasks and their area, the single score AlgoPerf reports (Dahl et al. 2023).
* :func:`time_to_target` -- the first evaluation step at which a run reaches a target.

Example:
  >>> import numpy as np
  >>> from adaptlr.benchmarks import stats
  >>> float(stats.expected_best_of_k([0.1, 0.5, 0.9], 1))  # k = 1: the mean
  0.5
  >>> float(stats.expected_best_of_k([0.1, 0.5, 0.9], 2))  # (1*.1 + 3*.5 + 5*.9) / 9
  0.6777777777777778

References:
  Dodge, Gururangan, Card, Schwartz and Smith (2019), "Show your work: improved reporting of
  experimental results", EMNLP. Dolan and More (2002), "Benchmarking optimization software
  with performance profiles", Mathematical Programming 91. Dahl et al. (2023),
  "Benchmarking neural network training algorithms" (AlgoPerf), arXiv:2306.07179.
  Efron and Tibshirani (1993), "An introduction to the bootstrap", ch. 13.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "Distribution",
    "bootstrap_ci",
    "collapse_threshold",
    "collapsed",
    "describe",
    "expected_best_of_k",
    "iqr",
    "performance_profile",
    "profile_area",
    "profile_ratios",
    "time_to_target",
]

#: Default margin of "at chance level": within 2 points of chance for accuracies (metrics
#: in [0, 1] that are maximised), within 2% of the chance value for losses.
CHANCE_MARGIN = 0.02


def _array(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def iqr(values: Any) -> tuple[float, float]:
    """The 25th and 75th percentiles (linear interpolation) of the finite ``values``."""
    x = _array(values)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(x, [25.0, 75.0])
    return float(lo), float(hi)


def bootstrap_ci(values: Any, *, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of the finite ``values``.

    ``resamples`` resamples of the same size drawn with replacement from a
    ``numpy.random.default_rng(seed)``; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of their means. A single value gives ``(value, value)``;
    no finite value gives ``(nan, nan)``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    x = _array(values)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def collapse_threshold(chance: float, maximize: bool, margin: float = CHANCE_MARGIN) -> float:
    """The metric value at or beyond which a run counts as being at chance level.

    Maximised metrics: ``chance + margin``; minimised ones: ``chance - margin * |chance|``.
    """
    return chance + margin if maximize else chance - margin * abs(chance)


def collapsed(values: Any, *, chance: float | None, maximize: bool,
              margin: float = CHANCE_MARGIN) -> np.ndarray:
    """Boolean mask: the run diverged (non-finite value) or ended at chance level.

    ``chance`` is the metric of an uninformed predictor declared by the task (e.g. 0.1 for
    10-class accuracy, ``log(C)`` for a cross-entropy); ``None``: only divergence counts.
    """
    x = _array(values)
    bad = ~np.isfinite(x)
    if chance is not None:
        edge = collapse_threshold(chance, maximize, margin)
        with np.errstate(invalid="ignore"):
            bad |= (x <= edge) if maximize else (x >= edge)
    return bad


@dataclasses.dataclass(frozen=True)
class Distribution:
    """Summary of one set of runs (the seeds of one method at one setting)."""

    n: int  # runs
    median: float  # over finite values
    q25: float
    q75: float
    mean: float  # over finite values
    ci_low: float  # bootstrap interval of the mean
    ci_high: float
    collapse_rate: float  # fraction diverged or at chance level
    diverged: int  # non-finite values

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25


def describe(values: Any, *, chance: float | None = None, maximize: bool = True,
             margin: float = CHANCE_MARGIN, level: float = 0.95, resamples: int = 2000,
             seed: int = 0) -> Distribution:
    """Median, quartiles, mean and its bootstrap interval, collapse rate of ``values``.

    Non-finite values (diverged runs) are left out of the median, quartiles, mean and interval
    and counted in ``diverged`` and ``collapse_rate``.
    """
    x = _array(values)
    finite = x[np.isfinite(x)]
    lo, hi = iqr(finite)
    ci = bootstrap_ci(finite, level=level, resamples=resamples, seed=seed)
    mask = collapsed(x, chance=chance, maximize=maximize, margin=margin)
    return Distribution(
        n=int(x.size),
        median=float(np.median(finite)) if finite.size else math.nan,
        q25=lo, q75=hi,
        mean=float(finite.mean()) if finite.size else math.nan,
        ci_low=ci[0], ci_high=ci[1],
        collapse_rate=float(mask.mean()) if x.size else math.nan,
        diverged=int((~np.isfinite(x)).sum()),
    )


def expected_best_of_k(values: Any, k: int | Sequence[int] | np.ndarray, *,
                       maximize: bool = True, fail_value: float | None = None) -> Any:
    """Expected best of ``k`` trials drawn with replacement from the recorded ``values``.

    With the ``N`` values sorted so that ``v_(1)`` is the worst and ``v_(N)`` the best, the
    empirical CDF gives (Dodge et al. 2019, eq. 1)::

        E[best of k] = sum_i v_(i) * ((i / N)^k - ((i - 1) / N)^k)

    ``k = 1`` is the mean, ``k -> inf`` the best value. Non-finite values (diverged runs) are
    replaced by ``fail_value`` (e.g. the chance level); without one they are the worst
    possible outcome: the expectation is ``-inf`` (``+inf`` when minimising) for every ``k``
    whose draws can all fail, i.e. whenever any value is non-finite.

    Returns a float for a scalar ``k``, an array for a sequence.
    """
    x = _array(values)
    if x.size == 0:
        raise ValueError("values must not be empty")
    ks = np.asarray(k)
    if np.any(ks < 1):
        raise ValueError(f"k must be >= 1, got {k}")
    if fail_value is not None:
        x = np.where(np.isfinite(x), x, fail_value)
    elif not np.isfinite(x).all():
        x = np.where(np.isfinite(x), x, -np.inf if maximize else np.inf)
    scores = x if maximize else -x
    order = np.sort(scores)  # worst first
    n = order.size
    i = np.arange(1, n + 1, dtype=np.float64)
    kk = ks.astype(np.float64).reshape(-1, 1)
    weights = (i / n) ** kk - ((i - 1) / n) ** kk  # (len(k), N), rows sum to 1
    with np.errstate(invalid="ignore"):
        terms = np.where(weights > 0, weights * order, 0.0)
    out = terms.sum(axis=1)
    out = out if maximize else -out
    return float(out[0]) if ks.ndim == 0 else out


def time_to_target(steps: Any, curve: Any, target: float, *, maximize: bool) -> float:
    """The first of ``steps`` where ``curve`` reaches ``target`` (``inf`` if it never does).

    Reaching is ``>= target`` for maximised metrics and ``<= target`` for minimised ones;
    non-finite evaluations never reach it.
    """
    s = _array(steps)
    c = _array(curve)
    if s.shape != c.shape:
        raise ValueError(f"steps and curve differ in length: {s.size} vs {c.size}")
    with np.errstate(invalid="ignore"):
        hit = np.isfinite(c) & ((c >= target) if maximize else (c <= target))
    where = np.flatnonzero(hit)
    return float(s[where[0]]) if where.size else math.inf


def profile_ratios(costs: Any) -> np.ndarray:
    """Performance ratios ``r[p, s] = t[p, s] / min_s t[p, s]`` of a (problems, solvers) array.

    Costs are positive, smaller is better; ``inf`` or ``nan`` marks a failure (ratio ``inf``).
    A problem that every solver fails gives ``inf`` for all of them.
    """
    t = np.asarray(costs, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"costs must be (problems, solvers), got shape {t.shape}")
    t = np.where(np.isfinite(t), t, np.inf)
    if np.any(t <= 0):
        raise ValueError("costs must be positive")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(np.isfinite(best), t / best, np.inf)
    return r


def performance_profile(costs: Any, taus: Any) -> np.ndarray:
    """Dolan-More profile ``rho_s(tau)``: the fraction of problems with ratio ``<= tau``.

    Returns an array of shape ``(len(taus), solvers)``.
    """
    r = profile_ratios(costs)
    tau = _array(taus).reshape(-1, 1, 1)
    return (r[None] <= tau).mean(axis=1)


def profile_area(costs: Any, *, tau_max: float = 4.0) -> np.ndarray:
    """Area under each solver's profile over ``[1, tau_max]``, divided by ``tau_max - 1``.

    The AlgoPerf benchmark score (Dahl et al. 2023, with their ``r_max = 4``): ``1`` for a
    solver that is fastest on every problem, ``0`` for one that never comes within a factor
    ``tau_max`` of the fastest. Exact: the profile is a step function of ``tau``.
    """
    if tau_max <= 1.0:
        raise ValueError(f"tau_max must be > 1, got {tau_max}")
    r = profile_ratios(costs)
    # Each problem contributes (tau_max - r) / (tau_max - 1) when r <= tau_max.
    with np.errstate(invalid="ignore"):
        part = np.where(r <= tau_max, (tau_max - r) / (tau_max - 1.0), 0.0)
    return part.mean(axis=0)
