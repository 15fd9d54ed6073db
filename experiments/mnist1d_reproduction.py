"""MNIST-1D: do the paper's MLP and CNN, tuned here, reach the paper's test accuracies?

Greydanus (2020), Table 1 / the repository README: MLP 68%, CNN 94% test accuracy (4000
training / 1000 test sequences, batch 100, 6000 steps, Adam). We train the same models
(:mod:`adaptlr.benchmarks.models`) on the same generated data with Adam, with AdamW with
warm-up + cosine decay, and with the latter plus weight decay 0.2, each over a small
learning-rate grid, 3 seeds, and report the final test
accuracy (end of training, seed mean +- std) at the best learning rate next to the paper's.
Writes ``experiments/results/mnist1d_reproduction/<task>.jsonl`` and
``experiments/results/mnist1d_reproduction.md``.

Usage: ``python experiments/mnist1d_reproduction.py [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import os

from _common import RESULTS, run_each, use_all_cores, write_text

PAPER = {"mnist1d_mlp": 0.68, "mnist1d_cnn": 0.94}
# AdamW with decoupled weight decay 0.2 regularises the MLP, which otherwise overfits the 4000
# training sequences (train loss -> 1e-4 while the test loss grows).
METHODS = ("adam", "adamw_warmup_cosine", "adamw@warmup_cosine:weight_decay=0.2")
GRID = (0.3162, 1.0, 3.162)  # around the task's centre, 1e-2 for both methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", default="mnist1d_mlp,mnist1d_cnn")
    args = parser.parse_args()
    use_all_cores()
    from adaptlr.benchmarks import compare

    seeds = list(range(args.seeds))
    lines = ["# MNIST-1D: paper models, tuned here\n",
             "| task | method | best learning rate | final test accuracy (mean +- std, "
             f"{len(seeds)} seeds) | best during training | paper | reached |",
             "|---|---|---|---|---|---|---|"]
    for task in args.tasks.split(","):
        path = os.path.join(RESULTS, "mnist1d_reproduction", f"{task}.jsonl")
        run_each(task, METHODS, seeds, path, factors=GRID)
        rows, text, _ = compare.report(path, None, task=task, methods=list(METHODS),
                                       seeds=seeds)
        best_rows = {r.method: r for r in compare.summary.summarize(
            compare.results.read(path), selection="best", task=task)}
        print(text)
        for row in rows:
            during = best_rows[row.method]
            lines.append(
                f"| {task} | {row.method} | {row.best_value:.3g} | "
                f"{100 * row.mean:.1f}% +- {100 * row.std:.1f}% | {100 * during.mean:.1f}% | "
                f"{100 * PAPER[task]:.0f}% | {'yes' if row.mean >= PAPER[task] else 'no'} |")
    write_text(os.path.join(RESULTS, "mnist1d_reproduction.md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
