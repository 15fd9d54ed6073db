"""Learning-rate-free methods at their defaults versus tuned baselines.

The baselines (SGD with momentum, Adam, AdamW with warm-up + cosine) are tuned over 7 learning
rates (half-decade steps); every registered learning-rate-free method runs once per seed at its
registered defaults (no tuning at all). 3 seeds, each task's default budget. Writes
``experiments/results/parameter_free_vs_tuned/<task>.jsonl``, the combined table
``experiments/results/parameter_free_vs_tuned.md`` and one bar chart per task,
``paper/figures/parameter_free_vs_tuned_<task>.{png,pdf}`` (mean +- std over seeds; tuned
baselines at their best learning rate).

Usage: ``python experiments/parameter_free_vs_tuned.py [--tasks digits_mlp,mnist1d_mlp]``.
"""

from __future__ import annotations

import argparse
import math
import os

from _common import FIGURES, RESULTS, run_each, use_all_cores, write_text


def bar_chart(rows, metric: str, title: str, stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if math.isfinite(r.mean)]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(rows) + 1.2))
    colors = ["tab:blue" if r.sweep_arg and len(r.values) > 1 else "tab:orange" for r in rows]
    ax.barh([r.method for r in rows], [r.mean for r in rows], xerr=[r.std for r in rows],
            color=colors)
    ax.invert_yaxis()
    ax.set_xlabel(f"final {metric} (blue: tuned, orange: defaults)")
    finite = [r.mean for r in rows]
    if finite and "accuracy" in metric:
        ax.set_xlim(max(0.0, min(finite) - 0.05), min(1.0, max(finite) + 0.02))
    elif finite:
        ax.set_xscale("log")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    for fmt in ("png", "pdf"):
        fig.savefig(f"{stem}.{fmt}", bbox_inches="tight", dpi=150)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="digits_mlp,mnist1d_mlp,mnist1d_cnn")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    use_all_cores()
    from adaptlr.benchmarks import compare, runner, summary

    free = [m for m in runner.default_methods() if m not in runner.BASELINE_METHODS]
    seeds = list(range(args.seeds))
    sections = ["# Learning-rate-free methods (defaults) vs tuned baselines\n"]
    for task in args.tasks.split(","):
        path = os.path.join(RESULTS, "parameter_free_vs_tuned", f"{task}.jsonl")
        failed = run_each(task, list(runner.BASELINE_METHODS), seeds, path, steps=args.steps)
        failed += run_each(task, free, seeds, path, steps=args.steps, scale_factors=[1.0])
        rows, text, _ = compare.report(path, None, task=task,
                                       methods=[*runner.BASELINE_METHODS, *free], seeds=seeds)
        metric = next(iter(compare.results.read(path)))["metric"] if rows else "metric"
        rows = sorted(rows, key=lambda r: -r.mean if math.isfinite(r.mean) else math.inf)
        if "accuracy" not in metric:
            rows.reverse()
        bar_chart(rows, metric, task, os.path.join(FIGURES, f"parameter_free_vs_tuned_{task}"))
        sections.append(f"## {task}\n\n```\n{summary.format_table(rows, metric)}\n```\n")
        if failed:
            sections.append("failed: " + ", ".join(failed) + "\n")
        print(text)
    write_text(os.path.join(RESULTS, "parameter_free_vs_tuned.md"), "\n".join(sections))


if __name__ == "__main__":
    main()
