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

__all__ = ["MethodSummary", "format_table", "summarize"]


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
