"""Summaries of recorded runs: the comparison table.

For each method, the runs are grouped by grid value; at each value the headline metric of the
task (final value, at the end of training) is averaged over seeds. A diverged run counts as the
worst possible value (its metric is recorded as missing), so a value where any seed diverged is
never "best". The table reports, per method:

* the best grid value and the mean +- standard deviation over seeds there;
* the width of the learning-rate range that is "within one point" of the best, in decades:
  the contiguous run of grid values around the best whose mean is within ``tolerance`` of it
  (``0.01``, one percentage point, for accuracies; a factor ``1 + relative_tolerance`` of the best
  for losses), measured as ``log10(largest / smallest)``; ``0`` when only the best qualifies.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "BUDGET_KS",
    "TRACKS",
    "MethodSummary",
    "TrackRow",
    "format_table",
    "format_tracks",
    "summarize",
    "track_rows",
]


@dataclasses.dataclass(frozen=True)
class MethodSummary:
    """One row of the comparison table."""

    method: str
    sweep_arg: str | None
    best_value: float | None
    mean: float
    std: float
    seeds: int
    diverged: int  # runs that diverged, over the whole grid
    runs: int
    width_decades: float | None
    values: tuple[float, ...]  # the grid, ascending
    means: tuple[float, ...]  # seed mean at each grid value (nan where any seed diverged)


def _metric(record: Mapping[str, Any], selection: str) -> float:
    block = record.get(selection)
    if record.get("diverged") or not block:
        return math.nan
    value = block.get(record["metric"])
    return math.nan if value is None else float(value)


def summarize(records: Iterable[Mapping[str, Any]], *, selection: str = "final",
              tolerance: float = 0.01, relative_tolerance: float = 0.1,
              task: str | None = None) -> list[MethodSummary]:
    """Rows of the comparison table, one per method, in first-seen order.

    Args:
      records: results records (see :mod:`adaptlr.benchmarks.results`).
      selection: ``"final"`` (metric at the end of training) or ``"best"`` (best evaluation).
      tolerance: absolute tolerance of "within one point" for maximised metrics (accuracies).
      relative_tolerance: relative tolerance for minimised metrics (losses).
      task: keep only this task's records.
    """
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        if task is not None and record["config"]["task"] != task:
            continue
        groups[record["config"]["method"]].append(record)
    rows = []
    for method, runs in groups.items():
        maximize = bool(runs[0]["maximize"])
        by_value: dict[float, list[float]] = defaultdict(list)
        for r in runs:
            value = r["config"]["value"]
            by_value[math.nan if value is None else float(value)].append(_metric(r, selection))
        values = sorted(by_value, key=lambda v: (math.isnan(v), v))
        means = [float(np.mean(by_value[v])) for v in values]  # nan if any seed diverged
        stds = [float(np.std(by_value[v])) for v in values]
        finite = [i for i, m in enumerate(means) if math.isfinite(m)]
        sweep_arg = runs[0]["config"]["sweep_arg"]
        diverged = sum(bool(r.get("diverged")) for r in runs)
        seeds = max(len(by_value[v]) for v in values)
        if not finite:
            rows.append(MethodSummary(method, sweep_arg, None, math.nan, math.nan, seeds,
                                      diverged, len(runs), None, tuple(values), tuple(means)))
            continue
        best = (max if maximize else min)(finite, key=lambda i: means[i])

        def close(i: int, best: int = best) -> bool:
            if not math.isfinite(means[i]):
                return False
            if maximize:
                return means[i] >= means[best] - tolerance
            return means[i] <= means[best] + relative_tolerance * abs(means[best])

        lo = hi = best
        while lo > 0 and close(lo - 1):
            lo -= 1
        while hi < len(values) - 1 and close(hi + 1):
            hi += 1
        width = None
        if sweep_arg is not None and values[lo] > 0:
            width = math.log10(values[hi] / values[lo])
        rows.append(MethodSummary(
            method, sweep_arg, None if sweep_arg is None else values[best], means[best],
            stds[best], seeds, diverged, len(runs), width, tuple(values), tuple(means)))
    return rows


def format_table(rows: Iterable[MethodSummary], metric: str, selection: str = "final") -> str:
    """The comparison as a plain-text table."""
    header = ("method", f"{selection} {metric}", "best value", "swept", "width (decades)",
              "diverged")
    lines = [header]
    for row in rows:
        scale = 100.0 if "accuracy" in metric else 1.0
        unit = "%" if scale == 100.0 else ""
        score = "diverged" if not math.isfinite(row.mean) else (
            f"{scale * row.mean:.4g}{unit} +- {scale * row.std:.2g}{unit}")
        lines.append((
            row.method,
            score,
            "-" if row.best_value is None else f"{row.best_value:.3g}",
            row.sweep_arg or "(defaults)",
            "-" if row.width_decades is None else f"{row.width_decades:.1f}",
            f"{row.diverged}/{row.runs}",
        ))
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(header))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


# --------------------------------------------------------------------------------------------
# The protocol's tracks: defaults, scale-tuned, budget curves (distributions over seeds)
# --------------------------------------------------------------------------------------------

#: The tracks every protocol table states.
TRACKS = ("defaults", "scale-tuned", "budget")
#: Trial counts at which the budget track reports the expected best result.
BUDGET_KS = (1, 2, 4, 8, 16)

TRACK_DESCRIPTIONS = {
    "defaults": "every method at its registered defaults (the authors' documented defaults, "
                "see docs/methods.md), no tuning",
    "scale-tuned": "every method, learning-rate-free ones included, at the value of the same "
                   "log grid of multipliers of its learning rate (or scale) with the best "
                   "median final metric; chosen on the test metric itself, so optimistic",
    "budget": "expected best final metric of k trials drawn at random from the method's grid "
              "runs (every grid value x seed), closed form from the recorded runs (Dodge et "
              "al. 2019); runs that diverged count as chance level",
}


@dataclasses.dataclass(frozen=True)
class TrackRow:
    """One method on one track: distributions over seeds of the final and best metric."""

    track: str
    method: str
    sweep_arg: str | None
    value: float | None  # the setting the row reports (None: no swept argument)
    default: float | None  # the registered default of the swept argument
    final: Any  # stats.Distribution of the metric at the end of training
    best: Any  # stats.Distribution of the best metric seen during training, per run
    budget: tuple[float, ...] = ()  # budget track: E[best of k] for k in BUDGET_KS
    runs: int = 0
    finals: tuple[float, ...] = ()  # the final metric of every run of the row (nan: diverged)


def _final_metric(record: Mapping[str, Any]) -> float:
    return _metric(record, "final")


def _best_metric(record: Mapping[str, Any]) -> float:
    return _metric(record, "best")


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-3)


def track_rows(records: Iterable[Mapping[str, Any]], *, chance: float | None,
               tracks: Iterable[str] = TRACKS,
               grids: Mapping[str, Iterable[float]] | None = None,
               budget_ks: Iterable[int] = BUDGET_KS, seed: int = 0) -> list[TrackRow]:
    """Rows of the protocol tables, grouped by track, methods in first-seen order.

    Args:
      records: results records of one task and budget.
      chance: the task's chance level (:attr:`adaptlr.benchmarks.tasks.Task.chance`).
      tracks: which of :data:`TRACKS` to build.
      grids: per method label, the grid values of the scale-tuned and budget tracks (runs at
        other values, e.g. a baseline's registered default outside the grid, feed only the
        defaults track); ``None``: every recorded value.
      budget_ks: the ``k`` of the budget track.
      seed: seed of the bootstrap intervals.
    """
    from adaptlr.benchmarks import stats

    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["config"]["method"]].append(record)
    ks = tuple(int(k) for k in budget_ks)
    out: dict[str, list[TrackRow]] = {t: [] for t in tracks}
    for method, runs in groups.items():
        maximize = bool(runs[0]["maximize"])
        sweep_arg = runs[0]["config"]["sweep_arg"]
        default = None if sweep_arg is None else float(runs[0]["config"]["defaults"][sweep_arg])

        def value_of(r: Mapping[str, Any]) -> float | None:
            v = r["config"]["value"]
            return None if v is None else float(v)

        def row(track: str, chosen: list[Mapping[str, Any]], value: float | None,
                budget: tuple[float, ...] = (), method: str = method,
                maximize: bool = maximize, sweep_arg: str | None = sweep_arg,
                default: float | None = default) -> TrackRow:
            finals = [_final_metric(r) for r in chosen]
            bests = [_best_metric(r) for r in chosen]
            return TrackRow(track, method, sweep_arg, value, default,
                            stats.describe(finals, chance=chance, maximize=maximize, seed=seed),
                            stats.describe(bests, chance=chance, maximize=maximize, seed=seed),
                            budget, len(chosen), tuple(finals))

        grid = None if grids is None or method not in grids else [float(v) for v in
                                                                    grids[method]]

        def in_grid(r: Mapping[str, Any], grid: list[float] | None = grid) -> bool:
            v = value_of(r)
            return grid is None or v is None or any(_same(v, g) for g in grid)

        if "defaults" in out:
            chosen = [r for r in runs if _same(value_of(r), default)]
            if chosen:
                out["defaults"].append(row("defaults", chosen, default))
        pool = [r for r in runs if in_grid(r)]
        if "scale-tuned" in out and pool:
            by_value: dict[float | None, list[Mapping[str, Any]]] = defaultdict(list)
            for r in pool:
                by_value[value_of(r)].append(r)
            worst = -math.inf if maximize else math.inf
            fail = worst if chance is None else chance

            def score(v: float | None, by_value: dict = by_value, fail: float = fail,
                      maximize: bool = maximize) -> float:
                x = np.array([_final_metric(r) for r in by_value[v]])
                x = np.where(np.isfinite(x), x, fail)
                m = float(np.median(x))
                return m if maximize else -m

            best_value = max(by_value, key=score)
            out["scale-tuned"].append(row("scale-tuned", by_value[best_value], best_value))
        if "budget" in out and pool:
            finals = [_final_metric(r) for r in pool]
            curve = stats.expected_best_of_k(finals, ks, maximize=maximize, fail_value=chance)
            out["budget"].append(row("budget", pool, None,
                                     tuple(float(c) for c in curve)))
    return [r for t in out.values() for r in t]


def _fmt(x: float, scale: float, unit: str) -> str:
    return "nan" if not math.isfinite(x) else f"{scale * x:.4g}{unit}"


def format_tracks(rows: Iterable[TrackRow], metric: str, *, seeds_note: str = "",
                  budget_ks: Iterable[int] = BUDGET_KS) -> str:
    """The protocol tables as plain text: one table per track, each titled with its rule."""
    scale, unit = (100.0, "%") if "accuracy" in metric else (1.0, "")
    ks = tuple(budget_ks)
    by_track: dict[str, list[TrackRow]] = defaultdict(list)
    for row in rows:
        by_track[row.track].append(row)
    sections = []
    for track, members in by_track.items():
        title = f"track: {track} -- {TRACK_DESCRIPTIONS.get(track, '')}"
        if track == "budget":
            header = ("method", "runs", *(f"E[best of {k}] final {metric}" for k in ks),
                      "collapse rate")
            lines = [header]
            for r in members:
                lines.append((r.method, str(r.runs), *(_fmt(v, scale, unit) for v in r.budget),
                              f"{r.final.collapse_rate:.0%}"))
        else:
            header = ("method", "setting", "seeds", f"final {metric} median [IQR]",
                      "mean, 95% bootstrap CI", "collapse rate",
                      f"best-during-training {metric} median [IQR]")
            lines = [header]
            for r in members:
                if r.sweep_arg is None:
                    setting = "(no scale to tune)"
                elif r.value is not None and r.default:
                    setting = f"{r.sweep_arg}={r.value:.3g} ({r.value / r.default:.3g}x default)"
                else:
                    setting = f"{r.sweep_arg}={r.value}"
                f, b = r.final, r.best
                lines.append((
                    r.method, setting, str(f.n),
                    f"{_fmt(f.median, scale, unit)} [{_fmt(f.q25, scale, unit)}, "
                    f"{_fmt(f.q75, scale, unit)}]",
                    f"{_fmt(f.mean, scale, unit)} [{_fmt(f.ci_low, scale, unit)}, "
                    f"{_fmt(f.ci_high, scale, unit)}]",
                    f"{f.collapse_rate:.0%} ({round(f.collapse_rate * f.n)}/{f.n})",
                    f"{_fmt(b.median, scale, unit)} [{_fmt(b.q25, scale, unit)}, "
                    f"{_fmt(b.q75, scale, unit)}]",
                ))
        widths = [max(len(str(x[i])) for x in lines) for i in range(len(header))]
        text = ["  ".join(str(c).ljust(w) for c, w in zip(x, widths, strict=True)).rstrip()
                for x in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        sections.append(title + "\n" + "\n".join(text))
    out = "\n\n".join(sections)
    return f"{seeds_note}\n\n{out}" if seeds_note else out
