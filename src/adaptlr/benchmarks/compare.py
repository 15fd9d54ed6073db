"""The main job: compare learning-rate-free methods against tuned baselines, on the protocol.

``adaptlr compare`` with no arguments trains the MNIST-1D MLP for :data:`COMPARE_STEPS` = 3000
steps (half the paper's 6000) with the methods of :data:`COMPARE_METHODS` (an explicit subset,
so that methods registered later do not lengthen it; ``--all-methods`` runs
:func:`adaptlr.benchmarks.runner.default_methods`), every one of them, learning-rate-free ones
included, over the same grid :data:`COMPARE_GRID` of multipliers of its learning rate (or
scale), :data:`COMPARE_SEEDS` seeds each, and prints the tables of the three tracks
(:func:`adaptlr.benchmarks.summary.track_rows`):

* *defaults*: every method at its registered defaults (baselines too: their registered learning
  rate is run when the grid misses it);
* *scale-tuned*: every method at its best grid value (best median final metric);
* *budget*: the expected best of ``k`` random grid trials, from the runs already recorded.

Each table gives the median and interquartile range over seeds, a bootstrap 95% interval of
the mean, the collapse rate (runs that diverged or ended at the task's chance level) and the
best-during-training metric next to the final one. The compare job keeps
:data:`COMPARE_SEEDS` = 5 seeds to stay within 3 minutes and says so in its output; the
studies in ``experiments/`` run :data:`STUDY_SEEDS` = 10 or more.

:func:`benchmark` runs several tasks and adds the cross-task scores: time-to-target (the first
evaluation step reaching the target set by the tuned AdamW baseline, as in AlgoPerf) and the
performance profile of those times with its area.

Results go to ``<out>/<task>.jsonl``; running the same command again reuses every finished run.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from adaptlr import registry
from adaptlr.benchmarks import plots, results, runner, stats, summary
from adaptlr.benchmarks.tasks import get_task

__all__ = [
    "COMPARE_FACTORS",
    "COMPARE_GRID",
    "COMPARE_METHODS",
    "COMPARE_SCALE_FACTORS",
    "COMPARE_SEEDS",
    "COMPARE_STEPS",
    "DEFAULT_TASK",
    "STUDY_SEEDS",
    "TARGET_METHOD",
    "BenchmarkResult",
    "benchmark",
    "compare",
    "format_benchmark",
    "protocol_report",
    "report",
    "run_protocol",
    "seeds_note",
    "target_and_times",
    "task_target",
    "time_to_target_table",
]

DEFAULT_TASK = "mnist1d_mlp"
#: Budget of the main job on its default task (``--steps`` overrides; other tasks: their own).
COMPARE_STEPS = 3000
#: Learning-rate multipliers of the tuned baselines in the main job (two decades).
COMPARE_FACTORS = (0.1, 0.3162, 1.0, 3.162, 10.0)
#: Scale multipliers of the learning-rate-free methods in the main job (before the protocol;
#: ``compare(..., protocol=False)``).
COMPARE_SCALE_FACTORS = (0.1, 1.0, 10.0)
#: The protocol's grid: the same multipliers for every method, of the task's learning-rate
#: centre (baselines) or of the registered scale (learning-rate-free methods).
COMPARE_GRID = (0.1, 0.3162, 1.0, 3.162, 10.0)
#: Seeds of ``adaptlr compare`` (fewer than a study's, for time; the output says so).
COMPARE_SEEDS = 5
#: Seeds of the studies in ``experiments/``.
STUDY_SEEDS = 10
#: The explicit default method list of ``adaptlr compare``: two tuned baselines (SGD with
#: momentum; AdamW with warm-up + cosine, which also sets the time-to-target targets) and the
#: learning-rate-free methods most used in practice, one per family. ``--all-methods``: every
#: registered learning-rate-free method.
COMPARE_METHODS = ("sgd_momentum", "adamw_warmup_cosine", "prodigy", "dadapt_adam",
                   "schedule_free_sgd", "schedule_free_adamw", "dog")
#: The baseline whose tuned runs set the time-to-target targets (AlgoPerf's target setting).
TARGET_METHOD = "adamw_warmup_cosine"


def report(results_path: str, out_dir: str | None, *, task: str | None = None,
           methods: Sequence[str] | None = None, selection: str = "final",
           formats: Sequence[str] = ("png", "pdf"), steps: int | None = None,
           seeds: Sequence[int] | None = None, prefix: str | None = None,
           ) -> tuple[list[summary.MethodSummary], str, list[str]]:
    """Table and figures of the records in ``results_path`` (filtered by task/methods/budget).

    Figures are ``<out_dir>/<prefix>{sensitivity,curves,effective_lr}.<format>``; the prefix
    defaults to ``<task>_``.
    """
    records = []
    for r in results.read(results_path):
        config = r["config"]
        if task is not None and config["task"] != task:
            continue
        if methods is not None and config["method"] not in methods:
            continue
        if steps is not None and config["steps"] != steps:
            continue
        if seeds is not None and config["seed"] not in seeds:
            continue
        records.append(r)
    if not records:
        return [], f"no records in {results_path}", []
    rows = summary.summarize(records, selection=selection)
    if methods is not None:
        order = {m: i for i, m in enumerate(methods)}
        rows.sort(key=lambda row: order.get(row.method, len(order)))
    metric = records[0]["metric"]
    text = summary.format_table(rows, metric, selection)
    figures: list[str] = []
    if out_dir is not None:
        name = records[0]["config"]["task"]
        figures = plots.plot_all(records, rows, out_dir,
                                 prefix=f"{name}_" if prefix is None else prefix, title=name,
                                 formats=formats, selection=selection)
    return rows, text, figures


def compare(
    task: str = DEFAULT_TASK,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    out_dir: str = "adaptlr-results",
    *,
    steps: int | None = None,
    factors: Sequence[float] | None = None,
    scale_factors: Sequence[float] | None = None,
    task_options: dict[str, Any] | None = None,
    plot: bool = True,
    formats: Sequence[str] = ("png", "pdf"),
    progress: bool = True,
    protocol: bool = True,
) -> tuple[list[Any], str, list[str]]:
    """Run the comparison (resuming any earlier run of it) and report it.

    With ``protocol=True`` (the default) every method runs over the same grid ``factors``
    (default :data:`COMPARE_GRID`; ``scale_factors``, when given, replaces it for the
    learning-rate-free methods) plus its registered default, and the report is the track
    tables (rows: :class:`adaptlr.benchmarks.summary.TrackRow`). ``protocol=False`` keeps the
    earlier comparison (tuned baselines over ``factors``, learning-rate-free methods over
    ``scale_factors``, rows: :class:`adaptlr.benchmarks.summary.MethodSummary`).

    ``methods`` default to :data:`COMPARE_METHODS`, ``seeds`` to ``range(COMPARE_SEEDS)``.
    Returns the table rows, the table as text and the paths of the figures written.
    """
    methods = list(COMPARE_METHODS if methods is None else methods)
    seeds = list(range(COMPARE_SEEDS) if seeds is None else seeds)
    path = os.path.join(out_dir, f"{task}.jsonl")
    if steps is None and task == DEFAULT_TASK and not task_options:
        steps = COMPARE_STEPS
    failures: list[tuple[str, str]] = []
    budget = get_task(task, **(task_options or {})).steps if steps is None else steps
    if protocol:
        grid = COMPARE_GRID if factors is None else tuple(factors)
        grids = run_protocol(task, methods, seeds, path, grid=grid, scale_grid=scale_factors,
                             steps=steps, task_options=task_options, progress=progress,
                             failures=failures)
        rows, text, figures = protocol_report(
            path, out_dir if plot else None, task=task, methods=methods, seeds=seeds,
            steps=_rounded_steps(task, task_options, budget), grids=grids, formats=formats,
            task_options=task_options)
    else:
        factors = COMPARE_FACTORS if factors is None else factors
        scale_factors = COMPARE_SCALE_FACTORS if scale_factors is None else scale_factors
        runner.run(task, methods, seeds, path, task_options=task_options, steps=steps,
                   factors=factors, scale_factors=scale_factors, progress=progress,
                   failures=failures)
        rows, text, figures = report(path, out_dir if plot else None, task=task,
                                     methods=methods, formats=formats, seeds=list(seeds),
                                     steps=_rounded_steps(task, task_options, budget))
    if failures:
        # A method that cannot run on this task must not cost the user the whole comparison.
        text += "\n\nskipped (failed to build or train):\n" + "\n".join(
            f"  {label}: {message.splitlines()[0][:200]}" for label, message in failures)
    return rows, text, figures


def seeds_note(seeds: Sequence[int]) -> str:
    """The line every protocol table starts with: how many seeds, and whether that is enough."""
    n = len(seeds)
    if n >= STUDY_SEEDS:
        return f"{n} seeds per setting."
    return (f"{n} seeds per setting: fewer than the {STUDY_SEEDS} of the studies in "
            f"experiments/ (kept for speed); medians and collapse rates are rough at this "
            f"count (--seeds {STUDY_SEEDS} for the studies' protocol).")


def run_protocol(task: str, methods: Sequence[str], seeds: Sequence[int], path: str, *,
                 grid: Sequence[float] = COMPARE_GRID,
                 scale_grid: Sequence[float] | None = None, steps: int | None = None,
                 task_options: dict[str, Any] | None = None, progress: bool = True,
                 failures: list[tuple[str, str]] | None = None) -> dict[str, tuple[float, ...]]:
    """Train every method over ``grid`` x ``seeds``, plus its registered default if missed.

    Returns each method's grid values (the scale-tuned and budget tracks use only these).
    """
    runner.run(task, methods, seeds, path, task_options=task_options, steps=steps,
               factors=grid, scale_factors=grid if scale_grid is None else scale_grid,
               progress=progress, failures=failures)
    the_task = get_task(task, **(task_options or {}))
    grids: dict[str, tuple[float, ...]] = {}
    for label in methods:
        free = registry.get(runner.parse_label(label)[0]).family in runner.LR_FREE_FAMILIES
        method = runner.grid_for(label, the_task,
                                 scale_grid if free and scale_grid is not None else grid)
        grids[label] = method.values
        if method.sweep_arg is None:
            continue
        default = float(method.spec.defaults[method.sweep_arg])
        if any(math.isclose(v, default, rel_tol=1e-3) for v in method.values):
            continue
        factor = [default / method.centre]
        runner.run(task, [label], seeds, path, task_options=task_options, steps=steps,
                   factors=factor, scale_factors=factor, progress=False, failures=failures)
    return grids


def _select(results_path: str, *, task: str | None, methods: Sequence[str] | None,
            steps: int | None, seeds: Sequence[int] | None) -> list[dict[str, Any]]:
    out = []
    for r in results.read(results_path):
        config = r["config"]
        if task is not None and config["task"] != task:
            continue
        if methods is not None and config["method"] not in methods:
            continue
        if steps is not None and config["steps"] != steps:
            continue
        if seeds is not None and config["seed"] not in seeds:
            continue
        out.append(r)
    return out


def protocol_report(results_path: str, out_dir: str | None, *, task: str,
                    methods: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                    steps: int | None = None,
                    grids: dict[str, tuple[float, ...]] | None = None,
                    formats: Sequence[str] = ("png", "pdf"),
                    task_options: dict[str, Any] | None = None,
                    prefix: str | None = None,
                    records: Sequence[dict[str, Any]] | None = None,
                    ) -> tuple[list[Any], str, list[str]]:
    """The track tables and figures of the records of ``task`` in ``results_path``.

    Figures: ``<prefix>{seeds,budget}`` (every seed per track; budget curves) and the
    per-task figures of :func:`report` (sensitivity, curves, effective learning rates).
    ``records``: those records when the caller has already read them.
    """
    if records is None:
        records = _select(results_path, task=task, methods=methods, steps=steps, seeds=seeds)
    if not records:
        return [], f"no records in {results_path}", []
    the_task = get_task(task, **(task_options or {}))
    rows = summary.track_rows(records, chance=the_task.chance, grids=grids)
    if methods is not None:
        order = {m: i for i, m in enumerate(methods)}
        rows.sort(key=lambda r: (summary.TRACKS.index(r.track), order.get(r.method, len(order))))
    metric = records[0]["metric"]
    n_seeds = sorted({r["config"]["seed"] for r in records})
    head = (f"{task}: {records[0]['config']['steps']} steps; chance level "
            f"{the_task.chance:.4g}" if the_task.chance is not None else f"{task}")
    text = head + "\n" + summary.format_tracks(rows, metric, seeds_note=seeds_note(n_seeds))
    figures: list[str] = []
    if out_dir is not None and formats:
        from adaptlr.benchmarks import protocol_plots

        stem = os.path.join(out_dir, f"{task}_" if prefix is None else prefix)
        figures += protocol_plots.plot_seeds(rows, metric, stem + "seeds",
                                             maximize=the_task.maximize,
                                             chance=the_task.chance, title=task,
                                             formats=formats)
        figures += protocol_plots.plot_budget_curves(rows, summary.BUDGET_KS, metric,
                                                     stem + "budget", title=task,
                                                     formats=formats)
        old_rows = summary.summarize(records)
        figures += plots.plot_all(records, old_rows, out_dir,
                                  prefix=f"{task}_" if prefix is None else prefix, title=task,
                                  formats=formats)
    return rows, text, figures


def _rounded_steps(task: str, options: dict[str, Any] | None, steps: int) -> int:
    every = get_task(task, **(options or {})).eval_every
    if steps < every:
        return steps
    return steps - steps % every


# --------------------------------------------------------------------------------------------
# Several tasks: time-to-target and performance profiles
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """The cross-task scores of :func:`benchmark`.

    ``times[track]`` is a (tasks, methods) array of steps by which half of the seeds reached
    each task's target (``inf``: fewer than half did); ``areas[track]`` the area of each
    method's performance profile of those times over ``[1, tau_max]``
    (:func:`adaptlr.benchmarks.stats.profile_area`).
    """

    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    targets: tuple[float, ...]  # per task
    times: dict[str, Any]
    areas: dict[str, Any]
    tau_max: float


def _median_time(runs: Sequence[dict[str, Any]], target: float) -> float:
    """The step by which half of the seeds (``ceil(n / 2)`` of ``n``) have reached ``target``.

    The lower median of the seeds' times, ``inf`` when fewer than half reach it. With the target
    at the target method's median final metric, that method's own half-best seeds reach it by
    the end, whatever the parity of ``n``.
    """
    times = []
    for r in runs:
        curve = r["curves"]["eval"].get(r["metric"])
        if r.get("diverged") or curve is None:
            times.append(math.inf)
            continue
        values = [math.nan if v is None else v for v in curve]
        times.append(stats.time_to_target(r["curves"]["eval_steps"], values, target,
                                          maximize=bool(r["maximize"])))
    if not times:
        return math.inf
    return float(np.sort(times)[math.ceil(len(times) / 2) - 1])


def task_target(median: float, task: Any) -> float:
    """The time-to-target target of ``task`` from the target method's median final metric.

    A minimised metric's target is floored at the task's :attr:`~adaptlr.benchmarks.tasks.
    Task.resolution` (the smallest difference its evaluation resolves): on the convex suite
    the tuned baseline can end at a suboptimality of exactly 0 in float32, a target only runs
    that hit ``f*`` to the last bit would reach.
    """
    if task.maximize or not math.isfinite(median):
        return median
    return max(median, float(task.resolution))


def target_and_times(records: Sequence[dict[str, Any]], rows: Sequence[Any],
                     methods: Sequence[str], task: Any,
                     grids: dict[str, tuple[float, ...]] | None,
                     target_method: str = TARGET_METHOD) -> tuple[float, dict[str, list[float]]]:
    """A task's time-to-target target and every method's median steps to it, per track.

    The target is the median final metric of the scale-tuned ``target_method`` among the
    track ``rows`` (:func:`adaptlr.benchmarks.summary.track_rows`), floored by
    :func:`task_target`; the times are :func:`time_to_target_table`'s.
    """
    tuned = next((r for r in rows if r.track == "scale-tuned" and r.method == target_method),
                 None)
    target = task_target(math.nan if tuned is None else tuned.final.median, task)
    return target, time_to_target_table(records, methods, target, grids)


def time_to_target_table(records: Sequence[dict[str, Any]], methods: Sequence[str],
                         target: float, grids: dict[str, tuple[float, ...]] | None,
                         ) -> dict[str, list[float]]:
    """Per track (``defaults``, ``scale-tuned``), each method's median steps to ``target``.

    Scale-tuned: the fastest grid value (by median over seeds). Defaults: the registered value.
    """
    out: dict[str, list[float]] = {"defaults": [], "scale-tuned": []}
    for method in methods:
        runs = [r for r in records if r["config"]["method"] == method]
        by_value: dict[float | None, list[dict[str, Any]]] = {}
        for r in runs:
            v = r["config"]["value"]
            by_value.setdefault(None if v is None else float(v), []).append(r)
        grid = None if grids is None else grids.get(method)
        default = None
        if runs and runs[0]["config"]["sweep_arg"] is not None:
            default = float(runs[0]["config"]["defaults"][runs[0]["config"]["sweep_arg"]])
        d = [rs for v, rs in by_value.items()
             if (v is None and default is None)
             or (v is not None and default is not None and math.isclose(v, default,
                                                                         rel_tol=1e-3))]
        out["defaults"].append(_median_time(d[0], target) if d else math.inf)
        tuned = [_median_time(rs, target) for v, rs in by_value.items()
                 if grid is None or v is None
                 or any(math.isclose(v, g, rel_tol=1e-3) for g in grid)]
        out["scale-tuned"].append(min(tuned, default=math.inf))
    return out


def benchmark(
    tasks: Sequence[str],
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    out_dir: str = "adaptlr-results",
    *,
    steps: dict[str, int] | int | None = None,
    grid: Sequence[float] = COMPARE_GRID,
    target_method: str = TARGET_METHOD,
    tau_max: float = 4.0,
    plot: bool = True,
    formats: Sequence[str] = ("png", "pdf"),
    progress: bool = True,
) -> tuple[BenchmarkResult, str, list[str]]:
    """Run the protocol on several tasks and score the methods across them.

    Each task's target is the median final metric of ``target_method`` (default the tuned
    AdamW with warm-up + cosine) at its best grid value, AlgoPerf's target setting on our
    budget (floored at the task's resolution, :func:`task_target`); a method's time on a task
    is the first evaluation step by which half of its seeds have reached it (the lower median
    of the seeds' times), at its registered default (defaults track) or its fastest grid value
    (scale-tuned). The performance profiles of
    those times over the tasks, and their areas, are the cross-task scores. ``steps``: one
    budget for all tasks, or per task name.

    Returns the scores, the report (per-task track tables, then the time-to-target table and
    the areas) and the figure paths.
    """
    methods = list(COMPARE_METHODS if methods is None else methods)
    if target_method not in methods:
        raise ValueError(f"target_method {target_method!r} must be one of the methods "
                         f"{methods}: its tuned runs set each task's target")
    if len(tasks) < 1:
        raise ValueError("tasks must name at least one task")
    seeds = list(range(COMPARE_SEEDS) if seeds is None else seeds)
    sections: list[str] = []
    figures: list[str] = []
    targets: list[float] = []
    times: dict[str, list[list[float]]] = {"defaults": [], "scale-tuned": []}
    for task in tasks:
        budget = steps.get(task) if isinstance(steps, dict) else steps
        the_task = get_task(task)
        path = os.path.join(out_dir, f"{task}.jsonl")
        failures: list[tuple[str, str]] = []
        grids = run_protocol(task, methods, seeds, path, grid=grid, steps=budget,
                             progress=progress, failures=failures)
        rounded = _rounded_steps(task, None, the_task.steps if budget is None else budget)
        records = _select(path, task=task, methods=methods, steps=rounded, seeds=seeds)
        rows, text, figs = protocol_report(path, out_dir if plot else None, task=task,
                                           methods=methods, seeds=seeds, steps=rounded,
                                           grids=grids, formats=formats, records=records)
        figures += figs
        if failures:
            text += "\nskipped: " + ", ".join(label for label, _ in failures)
        sections.append(text)
        target, table = target_and_times(records, rows, methods, the_task, grids,
                                         target_method)
        targets.append(target)
        for track in times:
            times[track].append(table[track])
    arrays = {t: np.asarray(v, dtype=float) for t, v in times.items()}
    areas = {t: stats.profile_area(a, tau_max=tau_max) for t, a in arrays.items()}
    result = BenchmarkResult(tuple(tasks), tuple(methods), tuple(targets), arrays, areas,
                             tau_max)
    sections.append(format_benchmark(result))
    if plot and formats:
        from adaptlr.benchmarks import protocol_plots

        for track, costs in arrays.items():
            figures += protocol_plots.plot_profiles(
                costs, methods, os.path.join(out_dir, f"profile_{track}"), tau_max=tau_max,
                title=f"performance profiles of time-to-target, {track} track, "
                      f"{len(tasks)} tasks", formats=formats)
    return result, "\n\n".join(sections), figures


def format_benchmark(result: BenchmarkResult) -> str:
    """The cross-task table: per-task targets, times to target and profile areas per track."""
    lines = ["time-to-target (steps by which half of the seeds first reached the task's "
             "target, the median final metric of the tuned "
             f"{TARGET_METHOD}; '-' = not reached) and performance-profile area over "
             f"[1, {result.tau_max:g}] (1 = fastest on every task)"]
    lines.append("targets: " + ", ".join(f"{t} {v:.4g}" for t, v in
                                         zip(result.tasks, result.targets, strict=True)))
    for track in ("scale-tuned", "defaults"):
        header = ("method", *result.tasks, "profile area")
        table = [header]
        for j, method in enumerate(result.methods):
            cells = [("-" if not math.isfinite(t) else f"{t:.0f}")
                     for t in result.times[track][:, j]]
            table.append((method, *cells, f"{result.areas[track][j]:.3f}"))
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        text = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                for r in table]
        text.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"\ntrack: {track}\n" + "\n".join(text))
    return "\n".join(lines)
