"""Learning-rate schedules compared at a fixed budget.

Adam and SGD with momentum, each with every schedule of :data:`adaptlr.benchmarks.runner.SCHEDULES`
(the swept learning rate is the schedule's peak; warm-up 5% of the budget where the schedule has
one), over a 5-point learning-rate grid and 3 seeds, on each task at its default budget; plus
the Schedule-Free methods when they are registered (they replace the schedule). Writes
``experiments/results/schedules/<task>.{jsonl,txt}`` and
``paper/figures/schedules_<task>_{sensitivity,curves,effective_lr}.{png,pdf}``.

Usage: ``python experiments/schedules.py [--tasks mnist1d_mlp,digits_mlp] [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import os

from _common import FIGURES, RESULTS, run_each, use_all_cores, write_text

GRID = (0.1, 0.3162, 1.0, 3.162, 10.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mnist1d_mlp,digits_mlp")
    parser.add_argument("--bases", default="adam,sgd_momentum")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    use_all_cores()
    from adaptlr import registry
    from adaptlr.benchmarks import compare, runner

    methods = [f"{base}@{s}" for base in args.bases.split(",") for s in runner.SCHEDULES]
    methods += [name for name in registry.names() if name.startswith("schedule_free")]
    seeds = list(range(args.seeds))
    out = os.path.join(RESULTS, "schedules")
    for task in args.tasks.split(","):
        path = os.path.join(out, f"{task}.jsonl")
        failed = run_each(task, methods, seeds, path, steps=args.steps, factors=GRID,
                          scale_factors=GRID)
        _, text, _ = compare.report(path, FIGURES, task=task, methods=methods, seeds=seeds,
                                    prefix=f"schedules_{task}_")
        if failed:
            text += "\n\nfailed: " + ", ".join(failed)
        write_text(os.path.join(out, f"{task}.txt"), text)
        print(text)


if __name__ == "__main__":
    main()
