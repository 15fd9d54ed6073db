"""Figures of the benchmark protocol (matplotlib, Agg): every seed, budget curves, profiles.

* :func:`plot_seeds` -- the final metric of every seed, per method and track (one dot per run),
  with the median and interquartile range, and the task's chance level.
* :func:`plot_budget_curves` -- expected best final metric of ``k`` random grid trials against
  ``k`` (Dodge et al. 2019), per method.
* :func:`plot_profiles` -- Dolan-More performance profiles over tasks, the area of each
  method's profile in the legend.

Kept apart from :mod:`adaptlr.benchmarks.plots` (the per-task comparison figures).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from adaptlr.benchmarks import stats
from adaptlr.benchmarks.summary import TrackRow

__all__ = ["plot_budget_curves", "plot_profiles", "plot_seeds"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, stem: str, formats: Sequence[str]) -> list[str]:
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    paths = []
    for fmt in formats:
        fig.savefig(f"{stem}.{fmt}", bbox_inches="tight", dpi=150)
        paths.append(f"{stem}.{fmt}")
    _pyplot().close(fig)
    return paths


def _scale(metric: str) -> tuple[float, str]:
    return (100.0, " (%)") if "accuracy" in metric else (1.0, "")


def plot_seeds(rows: Sequence[TrackRow], metric: str, stem: str, *, maximize: bool = True,
               chance: float | None = None, title: str = "",
               formats: Sequence[str] = ("png",)) -> list[str]:
    """One panel per track (defaults, scale-tuned): every seed's final metric as a dot.

    Each row's ``finals`` are its runs' final metrics; non-finite runs (diverged) are drawn as
    ``x`` at the panel's worse edge. The bar is the IQR, the tick the
    median.
    """
    plt = _pyplot()
    tracks = [t for t in ("defaults", "scale-tuned") if any(r.track == t for r in rows)]
    if not tracks:
        return []
    methods = list(dict.fromkeys(r.method for r in rows if r.track in tracks))
    scale, unit = _scale(metric)
    fig, axes = plt.subplots(1, len(tracks), figsize=(5.5 * len(tracks), 0.35 * len(methods)
                                                      + 1.5), sharey=True, squeeze=False)
    finite_all = [v for r in rows for v in r.finals if math.isfinite(v)]
    lo = min(finite_all, default=0.0)
    edge = scale * (lo if maximize else max(finite_all, default=1.0))
    rng = np.random.default_rng(0)
    for ax, track in zip(axes[0], tracks, strict=True):
        for i, method in enumerate(methods):
            row = next((r for r in rows if r.track == track and r.method == method), None)
            if row is None:
                continue
            x = np.asarray(row.finals, dtype=float)
            jitter = rng.uniform(-0.18, 0.18, size=x.size)
            ok = np.isfinite(x)
            ax.scatter(scale * x[ok], i + jitter[ok], s=12, alpha=0.6, color="tab:blue",
                       zorder=3)
            if (~ok).any():
                ax.scatter(np.full((~ok).sum(), edge), i + jitter[~ok], marker="x",
                           color="tab:red", s=20, zorder=3)
            ax.hlines(i, scale * row.final.q25, scale * row.final.q75, color="black", lw=3,
                      alpha=0.5)
            ax.plot([scale * row.final.median] * 2, [i - 0.3, i + 0.3], color="black", lw=1.5)
        if chance is not None:
            ax.axvline(scale * chance, color="tab:red", ls=":", lw=1, label="chance level")
            ax.legend(loc="lower right" if maximize else "upper right", fontsize=7)
        if "accuracy" not in metric and finite_all and min(finite_all) > 0:
            ax.set_xscale("log")
        ax.set_title(f"{track}: every seed (bar: IQR, tick: median)", fontsize=9)
        ax.set_xlabel(f"final {metric}{unit}")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(methods)))
    axes[0][0].set_yticklabels(methods, fontsize=8)
    axes[0][0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, stem, formats)


def plot_budget_curves(rows: Sequence[TrackRow], ks: Sequence[int], metric: str, stem: str, *,
                       title: str = "", formats: Sequence[str] = ("png",)) -> list[str]:
    """Expected best final metric of ``k`` random trials from each method's grid, against k."""
    plt = _pyplot()
    budget = [r for r in rows if r.track == "budget" and r.budget]
    if not budget:
        return []
    scale, unit = _scale(metric)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, r in enumerate(budget):
        y = scale * np.asarray(r.budget)
        ax.plot(ks[: len(y)], y, marker="o", ms=3, color=plt.cm.tab20(i % 20),
                ls=("-", "--")[(i // 20) % 2], label=f"{r.method} ({r.runs} runs)")
    ax.set_xscale("log", base=2)
    if "accuracy" not in metric and all(v > 0 for r in budget for v in r.budget):
        ax.set_yscale("log")
    ax.set_xlabel("k: random trials from the learning-rate grid (with replacement)")
    ax.set_ylabel(f"expected best final {metric}{unit}")
    ax.set_title(title or "budget curves (Dodge et al. 2019)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=2)
    return _save(fig, stem, formats)


def plot_profiles(costs: Any, methods: Sequence[str], stem: str, *, tau_max: float = 4.0,
                  title: str = "", xlabel: str = "tau (ratio to the fastest method)",
                  formats: Sequence[str] = ("png",)) -> list[str]:
    """Performance profiles of a (tasks, methods) cost array; areas in the legend."""
    plt = _pyplot()
    costs = np.asarray(costs, dtype=float)
    taus = np.concatenate([[1.0], np.geomspace(1.0, tau_max, 400)])
    rho = stats.performance_profile(costs, taus)
    area = stats.profile_area(costs, tau_max=tau_max)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    order = np.argsort(-area, kind="stable")
    for rank, j in enumerate(order):
        # Ties draw on top of each other: decreasing widths and varied dashes keep both seen.
        ax.step(taus, rho[:, j], where="post", color=plt.cm.tab10(rank % 10),
                ls=("-", "--", "-.", ":")[rank % 4], lw=max(0.8, 3.0 - 0.35 * rank),
                label=f"{methods[j]} (area {area[j]:.2f})")
    ax.set_xlim(1.0, tau_max)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"fraction of the {costs.shape[0]} tasks within tau")
    ax.set_title(title or "performance profiles (Dolan and More 2002)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, stem, formats)
