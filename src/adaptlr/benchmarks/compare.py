"""The main job: compare learning-rate-free methods against tuned baselines on one task.

``adaptlr compare`` with no arguments trains the MNIST-1D MLP for :data:`COMPARE_STEPS` = 3000
steps (half the paper's 6000, so that the whole comparison fits in 3 minutes on 2 cores) with
SGD with momentum, Adam and AdamW with warm-up + cosine decay (each over
:data:`COMPARE_FACTORS`: 5 learning rates in half-decade steps around the task's centre) and
with every registered learning-rate-free method (each over :data:`COMPARE_SCALE_FACTORS`: its
default scale, 10x smaller and 10x larger), 3 seeds each;
prints the table of :mod:`adaptlr.benchmarks.summary` and writes the figures of
:mod:`adaptlr.benchmarks.plots`. Results go to ``<out>/<task>.jsonl``; running the same command
again reuses every finished run (it only redraws the table and figures).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from adaptlr.benchmarks import plots, results, runner, summary
from adaptlr.benchmarks.tasks import get_task

__all__ = [
    "COMPARE_FACTORS",
    "COMPARE_SCALE_FACTORS",
    "COMPARE_STEPS",
    "DEFAULT_TASK",
    "compare",
    "report",
]

DEFAULT_TASK = "mnist1d_mlp"
#: Budget of the main job on its default task (``--steps`` overrides; other tasks: their own).
COMPARE_STEPS = 3000
#: Learning-rate multipliers of the tuned baselines in the main job (two decades).
COMPARE_FACTORS = (0.1, 0.3162, 1.0, 3.162, 10.0)
#: Scale multipliers of the learning-rate-free methods in the main job.
COMPARE_SCALE_FACTORS = (0.1, 1.0, 10.0)


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
                                 formats=formats)
    return rows, text, figures


def compare(
    task: str = DEFAULT_TASK,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str = "adaptlr-results",
    *,
    steps: int | None = None,
    factors: Sequence[float] | None = None,
    scale_factors: Sequence[float] | None = None,
    task_options: dict[str, Any] | None = None,
    plot: bool = True,
    formats: Sequence[str] = ("png", "pdf"),
    progress: bool = True,
) -> tuple[list[summary.MethodSummary], str, list[str]]:
    """Run the comparison (resuming any earlier run of it) and report it.

    Returns the table rows, the table as text and the paths of the figures written.
    """
    methods = list(runner.default_methods() if methods is None else methods)
    path = os.path.join(out_dir, f"{task}.jsonl")
    if steps is None and task == DEFAULT_TASK and not task_options:
        steps = COMPARE_STEPS
    factors = COMPARE_FACTORS if factors is None else factors
    scale_factors = COMPARE_SCALE_FACTORS if scale_factors is None else scale_factors
    failures: list[tuple[str, str]] = []
    runner.run(task, methods, seeds, path, task_options=task_options, steps=steps,
               factors=factors, scale_factors=scale_factors, progress=progress,
               failures=failures)
    budget = get_task(task, **(task_options or {})).steps if steps is None else steps
    rows, text, figures = report(path, out_dir if plot else None, task=task, methods=methods,
                                 formats=formats, seeds=list(seeds),
                                 steps=_rounded_steps(task, task_options, budget))
    if failures:
        # A method that cannot run on this task must not cost the user the whole comparison.
        text += "\n\nskipped (failed to build or train):\n" + "\n".join(
            f"  {label}: {message.splitlines()[0][:200]}" for label, message in failures)
    return rows, text, figures


def _rounded_steps(task: str, options: dict[str, Any] | None, steps: int) -> int:
    every = get_task(task, **(options or {})).eval_every
    if steps < every:
        return steps
    return steps - steps % every
