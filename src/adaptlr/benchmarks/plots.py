"""Figures of a comparison, drawn from recorded runs with matplotlib (Agg, PNG and PDF).

Every figure is faceted: one panel per registry family (at most :data:`PER_PANEL` methods per
panel, a family with more is split), so that a comparison of 20+ methods stays readable; within
a panel each method has its own colour, line style and marker, and the legend sits in the panel.
Accuracies are drawn in percent, as in the table (:func:`adaptlr.benchmarks.summary.format_table`).

* :func:`plot_sensitivity` -- headline metric against the swept value per method (mean +- std
  over seeds); tuned methods against the learning rate, learning-rate-free methods against their
  scale relative to its default. A grid value where a seed diverged is marked ``x`` on the edge
  of the panel where failure lies: the bottom for a metric to maximise, the top for one to
  minimise. A method without a swept value is a horizontal line at its result.
* :func:`plot_curves` -- training loss and the headline metric during training, at each method's
  best value (seed mean).
* :func:`plot_effective_lr` -- the step size each method applied (``adaptlr.effective_lr``) over
  training at its best value, on two panels that are not comparable with each other: step sizes
  that multiply the raw gradient (SGD scale, :data:`SGD_SCALE_METHODS`) and step sizes that
  multiply a normalised direction (Adam-type, sign, ...: every other method).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from adaptlr.benchmarks.summary import MethodSummary

__all__ = [
    "PER_PANEL",
    "SGD_SCALE_METHODS",
    "metric_scale",
    "plot_all",
    "plot_curves",
    "plot_effective_lr",
    "plot_sensitivity",
]

#: Most methods drawn in one panel; a family with more is split over several panels.
PER_PANEL = 8
#: Registered methods whose effective learning rate multiplies the raw gradient (or a momentum
#: of it), so that it is on SGD's scale. Every other method's step multiplies a normalised
#: direction (Adam's ``m / sqrt(v)``, a sign, ...), whose step sizes are ~100-1000x smaller
#: for the same progress: the two are drawn on separate panels.
SGD_SCALE_METHODS = frozenset({
    "sgd", "sgd_momentum", "sgd_nesterov", "dadapt_sgd", "schedule_free_sgd", "dog", "ldog",
    "dowg", "mechanic_sgd", "adagrad_norm", "sps", "alig", "hypergradient_sgd",
    "delta_bar_delta", "idbd", "autostep",
})
_FAMILY_TITLES = {
    "baseline": "baselines (Optax)",
    "parameter_free": "learning-rate-free",
    "polyak": "Polyak step sizes",
    "hypergradient": "hypergradient",
    "adaptive": "adaptive (per-parameter)",
    "per_parameter_lr": "per-parameter learning rates",
}
_COLORS = 10  # tab10
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def metric_scale(metric: str) -> tuple[float, str]:
    """``(factor, unit)`` of a metric in figures and tables: accuracies in percent."""
    return (100.0, "%") if "accuracy" in metric else (1.0, "")


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
    """Colour, line style and marker of the ``index``-th method of a panel (distinct for 8)."""
    plt = _pyplot()
    return {"color": plt.cm.tab10(index % _COLORS),
            "linestyle": _LINESTYLES[index % len(_LINESTYLES)],
            "marker": _MARKERS[index % len(_MARKERS)]}


def _by_method(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["config"]["method"]].append(r)
    return groups


def _family(runs: Sequence[Mapping[str, Any]]) -> str:
    from adaptlr import registry

    try:
        return registry.get(runs[0]["config"]["spec"]).family
    except (KeyError, IndexError):
        return "other"


def _is_lr_free(runs: Sequence[Mapping[str, Any]]) -> bool:
    from adaptlr.benchmarks.runner import LR_FREE_FAMILIES

    return _family(runs) in LR_FREE_FAMILIES


def _panels(methods: Sequence[str], groups: Mapping[str, Sequence[Mapping[str, Any]]],
            key: Any = None) -> list[tuple[str, list[str]]]:
    """``(title, methods)`` per panel: methods grouped by ``key`` (default: their family) in
    first-seen order, split into chunks of :data:`PER_PANEL`."""
    key = key or (lambda method: _FAMILY_TITLES.get(_family(groups[method]), "other"))
    grouped: dict[str, list[str]] = {}
    for method in methods:
        if groups.get(method):
            grouped.setdefault(key(method), []).append(method)
    panels = []
    for title, members in grouped.items():
        count = math.ceil(len(members) / PER_PANEL)  # as few panels as fit, evenly filled
        size = math.ceil(len(members) / count)
        chunks = [members[i:i + size] for i in range(0, len(members), size)]
        for n, chunk in enumerate(chunks, 1):
            panels.append((title if len(chunks) == 1 else f"{title} ({n}/{len(chunks)})", chunk))
    return panels


def _grid(count: int, ncols: int, size: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    plt = _pyplot()
    ncols = max(1, min(ncols, count))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False, layout="constrained", **kwargs)
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def _legend_below(ax: Any) -> None:
    """The panel's legend under it, two columns, so that it hides no data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)


def plot_sensitivity(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
                     path_stem: str, *, title: str = "",
                     formats: Sequence[str] = ("png", "pdf"),
                     selection: str = "final") -> list[str]:
    """Metric against learning rate (tuned methods) or relative scale (LR-free), per family.

    ``selection``: ``"final"`` (the metric at the end of training) or ``"best"`` (the best
    evaluation during training), as in the table of :func:`summary.summarize`.
    """
    if selection not in ("final", "best"):
        raise ValueError(f"selection must be 'final' or 'best', got {selection!r}")
    groups = _by_method(records)
    metric = records[0]["metric"]
    maximize = bool(records[0]["maximize"])
    factor, unit = metric_scale(metric)
    by_name = {row.method: row for row in rows}
    panels = _panels([row.method for row in rows], groups)
    fig, axes = _grid(len(panels), 3, (5.2, 4.6), sharey=True)
    for ax, (panel_title, members) in zip(axes, panels, strict=True):
        lr_free = any(_is_lr_free(groups[m]) for m in members)
        for index, method in enumerate(members):
            row, runs, style = by_name[method], groups[method], _style(index)
            if row.sweep_arg is None:
                finals = [(r.get(selection) or {}).get(metric) for r in runs]
                good = [float(v) * factor for v in finals if v is not None]
                if good and not any(r.get("diverged") for r in runs):
                    ax.axhline(float(np.mean(good)), color=style["color"],
                               linestyle=style["linestyle"], label=f"{method} (no swept value)")
                else:
                    ax.plot([], [], linestyle="none", marker="x", color=style["color"],
                            label=f"{method} (no swept value): diverged")
                continue
            per_value: dict[float, list[float]] = defaultdict(list)
            diverged_at: set[float] = set()
            for r in runs:
                value = float(r["config"]["value"])
                final = (r.get(selection) or {}).get(metric)
                if r.get("diverged") or final is None:
                    diverged_at.add(value)
                else:
                    per_value[value].append(float(final) * factor)
            # The registered default is the natural unit of a scale hyperparameter.
            centre = float(runs[0]["config"]["defaults"][row.sweep_arg]) if lr_free else 1.0
            xs = sorted(v for v in per_value if v not in diverged_at)
            if xs:
                mean = np.array([np.mean(per_value[v]) for v in xs])
                std = np.array([np.std(per_value[v]) for v in xs])
                x = np.array(xs) / centre
                ax.plot(x, mean, markersize=4, label=method, **style)
                lower = mean - std
                if not maximize:
                    # Log axis: a band reaching zero would fill the panel; cap it at a decade.
                    lower = np.maximum(lower, mean / 10)
                ax.fill_between(x, lower, mean + std, alpha=0.12, color=style["color"])
            elif diverged_at:
                ax.plot([], [], linestyle="none", marker="x", color=style["color"],
                        label=f"{method}: diverged everywhere")
            if diverged_at:
                # On the edge where failure lies: bottom for accuracy, top for a loss.
                edge = 0.0 if maximize else 1.0
                ax.plot(np.array(sorted(diverged_at)) / centre,
                        np.full(len(diverged_at), edge), linestyle="none", marker="x",
                        markersize=7, markeredgewidth=1.5, color=style["color"],
                        transform=ax.get_xaxis_transform(), clip_on=False)
        ax.set_xscale("log")
        ax.set_xlabel("scale relative to the registered default" if lr_free
                      else "learning rate (peak for schedules)")
        ax.set_title(panel_title, fontsize=10)
        ax.grid(alpha=0.3)
        _legend_below(ax)
    for ax in axes:
        ax.tick_params(labelleft=True)
        which = "final" if selection == "final" else "best-during-training"
        ax.set_ylabel(f"{which} {metric}" + (f" ({unit})" if unit else ""))
    if not maximize:
        axes[0].set_yscale("log")
    where = "bottom" if maximize else "top"
    fig.suptitle((f"{title}: " if title else "") + f"mean +- std over seeds; "
                 f"x on the {where} edge: a seed diverged at that value", fontsize=11)
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
    """Training loss and headline metric over training at each method's best value, one row
    of two panels per family."""
    plt = _pyplot()
    metric = records[0]["metric"]
    factor, unit = metric_scale(metric)
    best = _best_runs(records, rows)
    groups = _by_method(records)
    panels = _panels([row.method for row in rows if row.method in best], groups)
    if not panels:
        return []
    maximize = bool(records[0]["maximize"])
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.2 * len(panels)), squeeze=False,
                             sharex=True, layout="constrained")
    for (left, right), (panel_title, members) in zip(axes, panels, strict=True):
        for index, method in enumerate(members):
            runs, style = best[method], {**_style(index), "marker": None}
            left.plot(runs[0]["curves"]["loss_steps"], _mean_curve(runs, None), label=method,
                      **style)
            right.plot(runs[0]["curves"]["eval_steps"], factor * _mean_curve(runs, metric),
                       label=method, **style)
        left.set_yscale("log")
        left.set_ylabel("training loss")
        right.set_ylabel(metric + (f" ({unit})" if unit else ""))
        if not maximize:
            right.set_yscale("log")
        left.set_title(panel_title, fontsize=10, loc="left")
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        for ax in (left, right):
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.suptitle((f"{title}: " if title else "") + "each method at its best value, "
                 "seed mean (training loss: mean over each block of steps)", fontsize=11)
    return _save(fig, path_stem, formats)


def plot_effective_lr(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
                      path_stem: str, *, title: str = "",
                      formats: Sequence[str] = ("png", "pdf")) -> list[str]:
    """The effective learning rate over training at each method's best value (log scale),
    SGD-scale and normalised-direction step sizes on separate panels."""
    best = _best_runs(records, rows)
    traced = {m: runs for m, runs in best.items() if runs[0].get("effective_lr")}
    if not traced:
        return []
    sgd_title = "step sizes on the raw gradient (SGD scale)"
    other_title = "step sizes on a normalised direction (Adam-type, sign, ...) or other"

    def kind(method: str) -> str:
        spec = traced[method][0]["config"].get("spec", method)
        return sgd_title if spec in SGD_SCALE_METHODS else other_title

    panels = _panels([row.method for row in rows if row.method in traced], traced, key=kind)
    fig, axes = _grid(len(panels), 2, (6.0, 5.0))
    for ax, (panel_title, members) in zip(axes, panels, strict=True):
        for index, method in enumerate(members):
            runs = traced[method]
            traces = runs[0]["effective_lr"]
            steps = runs[0]["curves"]["loss_steps"]
            for offset, name in enumerate(traces):
                curve = _nanmean([
                    np.asarray([math.nan if v is None else v for v in r["effective_lr"][name]],
                               float) for r in runs])
                label = method if len(traces) == 1 else f"{method} [{name}]"
                positive = np.where(curve > 0, curve, np.nan)
                style = {**_style(index), "marker": None}
                if offset:
                    style["linestyle"] = _LINESTYLES[(index + offset) % len(_LINESTYLES)]
                ax.plot(steps[: len(positive)], positive, label=label, **style)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("effective learning rate")
        ax.set_title(panel_title, fontsize=10)
        ax.grid(alpha=0.3)
        _legend_below(ax)
    for wanted in (sgd_title, other_title):  # one y range per kind, across its panels
        same = [ax for ax, (t, _) in zip(axes, panels, strict=True) if t.startswith(wanted)]
        if len(same) > 1:
            low = min(ax.get_ylim()[0] for ax in same)
            high = max(ax.get_ylim()[1] for ax in same)
            for ax in same:
                ax.set_ylim(low, high)
    fig.suptitle((f"{title}: " if title else "") + "effective learning rate at each method's "
                 "best value (seed mean); panels are not comparable with each other",
                 fontsize=11)
    return _save(fig, path_stem, formats)


def plot_all(records: Sequence[Mapping[str, Any]], rows: Sequence[MethodSummary],
             directory: str, *, prefix: str = "", title: str = "",
             formats: Sequence[str] = ("png", "pdf"), selection: str = "final") -> list[str]:
    """All three figures into ``directory`` (``<prefix>sensitivity.png`` and so on).

    ``selection`` (``"final"`` or ``"best"``) is the metric of the sensitivity figure.
    """
    if not records:
        return []
    paths = []
    paths += plot_sensitivity(records, rows, os.path.join(directory, f"{prefix}sensitivity"),
                              title=title, formats=formats, selection=selection)
    paths += plot_curves(records, rows, os.path.join(directory, f"{prefix}curves"),
                         title=title, formats=formats)
    paths += plot_effective_lr(records, rows, os.path.join(directory, f"{prefix}effective_lr"),
                               title=title, formats=formats)
    return paths
