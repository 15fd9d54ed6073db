"""Figures of a comparison, drawn from recorded runs with matplotlib (Agg, PNG and PDF).

* :func:`plot_sensitivity` -- headline metric against the swept value per method (mean +- std
  over seeds); tuned methods against the learning rate, learning-rate-free methods against their
  scale relative to its default, on a second panel. Grid values where a seed diverged are marked
  with an ``x`` on the lower edge of the panel.
* :func:`plot_curves` -- training loss and the headline metric during training, at each method's
  best value (seed mean).
* :func:`plot_effective_lr` -- the step size each method applied (``adaptlr.effective_lr``) over
  training at its best value.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from adaptlr.benchmarks.summary import MethodSummary

__all__ = ["plot_all", "plot_curves", "plot_effective_lr", "plot_sensitivity"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path_stem: str, formats: Sequence[str]) -> list[str]:
    os.makedirs(os.path.dirname(os.path.abspath(path_stem)), exist_ok=True)
    paths = []
    for fmt in formats:
        path = f"{path_stem}.{fmt}"
        fig.savefig(path, bbox_inches="tight", dpi=150)
        paths.append(path)
    _pyplot().close(fig)
    return paths


def _style(index: int) -> dict[str, Any]:
    """Distinct colour and line style for up to 40 methods (tab20 x 2 line styles)."""
    plt = _pyplot()
    return {"color": plt.cm.tab20(index % 20), "linestyle": ("-", "--")[(index // 20) % 2]}


def _by_method(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["config"]["method"]].append(r)
    return groups


def _is_lr_free(records: Sequence[Mapping[str, Any]]) -> bool:
    from adaptlr import registry
    from adaptlr.benchmarks.runner import LR_FREE_FAMILIES

    try:
        return registry.get(records[0]["config"]["spec"]).family in LR_FREE_FAMILIES
    except KeyError:
        return False


def plot_sensitivity(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
                     path_stem: str, *, title: str = "",
                     formats: Sequence[str] = ("png", "pdf")) -> list[str]:
    """Metric against learning rate (tuned methods) and against relative scale (LR-free)."""
    plt = _pyplot()
    groups = _by_method(records)
    metric = records[0]["metric"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True,
                             gridspec_kw={"wspace": 0.45})
    for ax, lr_free in zip(axes, (False, True), strict=True):
        drawn = False
        for index, row in enumerate(rows):
            runs = groups.get(row.method, [])
            if not runs or row.sweep_arg is None or _is_lr_free(runs) != lr_free:
                continue
            per_value: dict[float, list[float]] = defaultdict(list)
            diverged_at: set[float] = set()
            for r in runs:
                value = float(r["config"]["value"])
                final = (r.get("final") or {}).get(metric)
                if r.get("diverged") or final is None:
                    diverged_at.add(value)
                else:
                    per_value[value].append(float(final))
            # The registered default is the natural unit of a scale hyperparameter.
            centre = float(runs[0]["config"]["defaults"][row.sweep_arg]) if lr_free else 1.0
            xs = sorted(v for v in per_value if v not in diverged_at)
            if xs:
                mean = np.array([np.mean(per_value[v]) for v in xs])
                std = np.array([np.std(per_value[v]) for v in xs])
                x = np.array(xs) / centre
                line = ax.plot(x, mean, marker="o", markersize=3, label=row.method,
                               **_style(index))[0]
                lower = mean - std
                if not records[0]["maximize"]:
                    # Log axis: a band reaching zero would fill the panel; cap it at a decade.
                    lower = np.maximum(lower, mean / 10)
                ax.fill_between(x, lower, mean + std, alpha=0.12, color=line.get_color())
                color = line.get_color()
            else:
                color = None
            if diverged_at:
                ax.plot(np.array(sorted(diverged_at)) / centre,
                        np.full(len(diverged_at), 0.0), linestyle="none", marker="x",
                        color=color, transform=ax.get_xaxis_transform(), clip_on=False)
            drawn = True
        ax.set_xscale("log")
        ax.set_xlabel("scale relative to the registered default" if lr_free
                      else "learning rate (peak for schedules)")
        ax.set_title("learning-rate-free methods" if lr_free else "tuned methods")
        if drawn:
            ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"final {metric}")
    if not records[0]["maximize"]:
        axes[0].set_yscale("log")
    if title:
        fig.suptitle(title + "  (x: a seed diverged)")
    return _save(fig, path_stem, formats)


def _best_runs(records: Sequence[Mapping[str, Any]],
               rows: Sequence[MethodSummary]) -> dict[str, list[Mapping[str, Any]]]:
    groups = _by_method(records)
    out = {}
    for row in rows:
        runs = groups.get(row.method, [])
        if row.best_value is None and row.sweep_arg is not None:
            continue
        chosen = [r for r in runs if row.sweep_arg is None
                  or (r["config"]["value"] is not None
                      and math.isclose(float(r["config"]["value"]), row.best_value or 0.0))]
        if chosen:
            out[row.method] = chosen
    return out


def _nanmean(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over seeds ignoring missing points (NaN where every seed is missing, silently)."""
    stacked = np.stack(curves)
    count = np.sum(np.isfinite(stacked), axis=0)
    total = np.sum(np.where(np.isfinite(stacked), stacked, 0.0), axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _mean_curve(runs: Sequence[Mapping[str, Any]], metric: str | None) -> np.ndarray:
    """Seed mean of the training loss (``metric=None``) or of an evaluation metric."""
    curves = [np.asarray([math.nan if v is None else v for v in
                          (r["curves"]["loss"] if metric is None
                           else r["curves"]["eval"][metric])], float)
              for r in runs]
    return _nanmean(curves)


def plot_curves(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
                path_stem: str, *, title: str = "",
                formats: Sequence[str] = ("png", "pdf")) -> list[str]:
    """Training loss and headline metric over training at each method's best value."""
    plt = _pyplot()
    metric = records[0]["metric"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for index, (method, runs) in enumerate(_best_runs(records, rows).items()):
        style = _style(index)
        left.plot(runs[0]["curves"]["loss_steps"], _mean_curve(runs, None), label=method,
                  **style)
        right.plot(runs[0]["curves"]["eval_steps"], _mean_curve(runs, metric), label=method,
                   **style)
    left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("training loss (block mean, seed mean)")
    right.set_xlabel("step")
    right.set_ylabel(metric)
    right.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for ax in (left, right):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title + "  (each method at its best value)")
    return _save(fig, path_stem, formats)


def plot_effective_lr(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
                      path_stem: str, *, title: str = "",
                      formats: Sequence[str] = ("png", "pdf")) -> list[str]:
    """The effective learning rate over training at each method's best value (log scale)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for index, (method, runs) in enumerate(_best_runs(records, rows).items()):
        traces = runs[0]["effective_lr"]
        if not traces:
            continue
        steps = runs[0]["curves"]["loss_steps"]
        for name in traces:
            curve = _nanmean([
                np.asarray([math.nan if v is None else v for v in r["effective_lr"][name]],
                           float) for r in runs])
            label = method if len(traces) == 1 else f"{method} [{name}]"
            positive = np.where(curve > 0, curve, np.nan)
            ax.plot(steps[: len(positive)], positive, label=label, **_style(index))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("effective learning rate (mean over parameters)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return _save(fig, path_stem, formats)


def plot_all(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
             directory: str, *, prefix: str = "", title: str = "",
             formats: Sequence[str] = ("png", "pdf")) -> list[str]:
    """All three figures into ``directory`` (``<prefix>sensitivity.png`` and so on)."""
    if not records:
        return []
    paths = []
    paths += plot_sensitivity(records, rows, os.path.join(directory, f"{prefix}sensitivity"),
                              title=title, formats=formats)
    paths += plot_curves(records, rows, os.path.join(directory, f"{prefix}curves"),
                         title=title, formats=formats)
    paths += plot_effective_lr(records, rows, os.path.join(directory, f"{prefix}effective_lr"),
                               title=title, formats=formats)
    return paths
