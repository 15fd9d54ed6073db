"""Learning-rate sensitivity of every registered method on every default task.

Each method is swept over its grid (tuned methods: 7 learning rates in half-decade steps around
the task's centre; learning-rate-free methods: 5 scales from 0.1x to 10x their default), with
10 seeds (the studies' protocol), at the task's default budget. Writes, per task:

* ``experiments/results/lr_sensitivity/<task>.jsonl`` -- one line per run (resumable);
* ``experiments/results/lr_sensitivity/<task>.txt`` -- the table;
* ``paper/figures/lr_sensitivity_<task>_{sensitivity,curves,effective_lr}.{png,pdf}``.

Usage: ``python experiments/lr_sensitivity.py [--tasks a,b] [--methods x,y] [--seeds 10]``
(the committed screening ran ``--seeds 3``: all registered methods, several tasks).
The full study trains every registered method on all eight tasks and takes hours on two cores;
an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os

from _common import FIGURES, RESULTS, run_each, use_all_cores, write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="comma-separated (default: all)")
    parser.add_argument("--methods", default=None, help="comma-separated (default: all)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="default: each task's budget")
    args = parser.parse_args()
    use_all_cores()
    from adaptlr import registry
    from adaptlr.benchmarks import compare, tasks

    task_names = args.tasks.split(",") if args.tasks else tasks.task_names()
    methods = args.methods.split(",") if args.methods else registry.names()
    out = os.path.join(RESULTS, "lr_sensitivity")
    for task in task_names:
        path = os.path.join(out, f"{task}.jsonl")
        failed = run_each(task, methods, list(range(args.seeds)), path, steps=args.steps)
        _, text, _ = compare.report(path, FIGURES, task=task, methods=methods,
                                    seeds=list(range(args.seeds)),
                                    prefix=f"lr_sensitivity_{task}_")
        if failed:
            text += "\n\nfailed: " + ", ".join(failed)
        write_text(os.path.join(out, f"{task}.txt"), text)
        print(text)


if __name__ == "__main__":
    main()
