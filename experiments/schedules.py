"""Learning-rate schedules compared at a fixed budget.

Adam (``--bases`` adds others, e.g. ``sgd_momentum``) with every schedule of
:data:`adaptlr.benchmarks.runner.SCHEDULES` (the swept learning rate is the schedule's peak;
warm-up 5% of the budget where the schedule has one), over a 5-point learning-rate grid and
10 seeds (the studies' protocol), on the MNIST-1D MLP at ``adaptlr compare``'s budget of 3000
steps; plus every registered Schedule-Free method (they replace the schedule). Writes
``experiments/results/schedules/<task>.{jsonl,txt}`` and
``paper/figures/schedules_<task>_{sensitivity,curves,effective_lr}.{png,pdf}``.

Usage: ``python experiments/schedules.py [--tasks mnist1d_mlp,digits_mlp] [--seeds 10]``
(the paper's run: no arguments; about 15 minutes on two idle cores).
"""

from __future__ import annotations

import argparse
import os

from _common import FIGURES, RESULTS, run_each, use_all_cores, write_text

GRID = (0.1, 0.3162, 1.0, 3.162, 10.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mnist1d_mlp")
    parser.add_argument("--bases", default="adam")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3000,
                        help="one budget for every task (0: each task's own)")
    args = parser.parse_args()
    use_all_cores()
    from adaptlr import registry
    from adaptlr.benchmarks import compare, runner

    methods = [f"{base}@{s}" for base in args.bases.split(",") for s in runner.SCHEDULES]
    methods += [name for name in registry.names() if "schedule_free" in name]
    seeds = list(range(args.seeds))
    out = os.path.join(RESULTS, "schedules")
    for task in args.tasks.split(","):
        path = os.path.join(out, f"{task}.jsonl")
        failed = run_each(task, methods, seeds, path, steps=args.steps or None, factors=GRID,
                          scale_factors=GRID)
        _, text, _ = compare.report(path, FIGURES, task=task, methods=methods, seeds=seeds,
                                    prefix=f"schedules_{task}_")
        if failed:
            text += "\n\nfailed: " + ", ".join(failed)
        write_text(os.path.join(out, f"{task}.txt"), text)
        print(text)


if __name__ == "__main__":
    main()
