"""Every number of the paper's Experiments section, recomputed from the committed results.

``paper/paper.md`` holds blocks between a line ``<!-- generated: NAME -->`` and a line
``<!-- end generated: NAME -->``; this script recomputes each block from
``experiments/results/`` (nothing is trained) and writes it into the paper, or with ``--check``
exits with status 1 naming the blocks that differ from what the results give. The paper's
prose quotes no number outside these blocks (the tests check it with ``--check``).

Blocks:

* ``reproduction``: MNIST-1D, the paper's MLP and CNN tuned here (``mnist1d_reproduction.py``).
* ``protocol_defaults``, ``protocol_tuned``, ``protocol_budget``: the protocol's three tracks
  on every task of ``protocol.py`` (median final metric, interquartile range, collapse rate;
  the chosen multiplier; the expected best of k random grid trials).
* ``protocol_profiles``: time-to-target per task and the performance-profile areas.
* ``parity``: reference parity in training (``reference_parity.py``).
* ``schedules``: learning-rate schedules at a fixed budget (``schedules.py``).

Usage::

    python experiments/paper_numbers.py           # rewrite the blocks of paper/paper.md
    python experiments/paper_numbers.py --check   # exit 1 if the paper is out of date
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from _common import RESULTS, ROOT

PAPER = os.path.join(ROOT, "paper", "paper.md")
PROTOCOL_DIR = os.path.join(RESULTS, "protocol")
PROTOCOL_SEEDS = 10
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)"
                   r"(<!-- end generated: (?P=name) -->)", re.S)


# ------------------------------------------------------------------ formatting
def _metric_cell(x: float, metric: str, resolution: float = 0.0) -> str:
    if not math.isfinite(x):
        return "n/a"
    if "accuracy" in metric:
        return f"{100 * x:.1f}%"
    if resolution and abs(x) < resolution:
        return f"<{resolution:.0e}"  # float32 rounding of f - f*: reached the optimum
    return f"{x:.2g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------ the protocol study
def _protocol() -> dict[str, Any]:
    """Track rows per task and the cross-task scores, from the committed protocol runs."""
    import numpy as np
    import protocol

    from adaptlr.benchmarks import compare, stats, summary

    methods = list(compare.COMPARE_METHODS)
    seeds = list(range(PROTOCOL_SEEDS))
    per_task: dict[str, Any] = {}
    times: dict[str, list[list[float]]] = {"defaults": [], "scale-tuned": []}
    for task in protocol.DEFAULT_TASKS:
        the_task, steps, grids, records = protocol.task_records(
            task, methods, seeds, PROTOCOL_DIR, protocol.default_steps())
        found = {(r["config"]["method"], r["config"]["seed"]) for r in records}
        missing = [(m, s) for m in methods for s in seeds if (m, s) not in found]
        if missing:
            raise SystemExit(f"{task}: no runs for {missing[:3]}...; run "
                             "`python experiments/protocol.py` first")
        rows = summary.track_rows(records, chance=the_task.chance, grids=grids)
        target, table = compare.target_and_times(records, rows, methods, the_task, grids)
        for track in times:
            times[track].append(table[track])
        per_task[task] = {"rows": rows, "metric": records[0]["metric"], "steps": steps,
                          "target": target, "res": the_task.resolution}
    arrays = {t: np.asarray(v, dtype=float) for t, v in times.items()}
    areas = {t: stats.profile_area(a, tau_max=4.0) for t, a in arrays.items()}
    return {"methods": methods, "tasks": per_task, "times": arrays, "areas": areas}


def _row(rows: Sequence[Any], track: str, method: str) -> Any:
    return next(r for r in rows if r.track == track and r.method == method)


def _setting(r: Any) -> str:
    """The chosen grid value: a multiplier of the default for learning-rate-free methods
    (their scale), the learning rate itself for the baselines (their grid is centred on the
    task's useful range, not on the registered default)."""
    from adaptlr import registry
    from adaptlr.benchmarks import runner

    if r.value is None:
        return "no scale"
    family = registry.get(runner.parse_label(r.method)[0]).family
    if family in runner.LR_FREE_FAMILIES and r.default:
        return f"{r.value / r.default:.3g}x"
    return f"lr {r.value:.3g}"


def _task_header(p: dict[str, Any]) -> list[str]:
    out = []
    for task, t in p["tasks"].items():
        unit = "accuracy" if "accuracy" in t["metric"] else t["metric"]
        out.append(f"{task} ({unit}, {t['steps']} steps)")
    return out


def _method_by_task(p: dict[str, Any], cell: Any) -> str:
    """A table of one row per method and one column per task: ``cell(task, method)``."""
    rows = [[m, *(cell(t, m) for t in p["tasks"].values())] for m in p["methods"]]
    return _table(["method", *_task_header(p)], rows)


def _collapsed(rate: float) -> str:
    return f", {rate:.0%} collapsed" if rate else ""


def block_protocol_defaults(p: dict[str, Any]) -> str:
    def cell(t: dict[str, Any], m: str) -> str:
        f = _row(t["rows"], "defaults", m).final
        median, q25, q75 = (_metric_cell(v, t["metric"], t["res"])
                            for v in (f.median, f.q25, f.q75))
        return f"{median} [{q25}, {q75}]" + _collapsed(f.collapse_rate)

    return _method_by_task(p, cell)


def block_protocol_tuned(p: dict[str, Any]) -> str:
    def cell(t: dict[str, Any], m: str) -> str:
        r = _row(t["rows"], "scale-tuned", m)
        return (_metric_cell(r.final.median, t["metric"], t["res"]) + f" ({_setting(r)})"
                + _collapsed(r.final.collapse_rate))

    return _method_by_task(p, cell)


def block_protocol_budget(p: dict[str, Any]) -> str:
    from adaptlr.benchmarks import summary

    ks = summary.BUDGET_KS
    picks = [ks.index(k) for k in (1, 4) if k in ks]

    def cell(t: dict[str, Any], m: str) -> str:
        r = _row(t["rows"], "budget", m)
        return (" / ".join(_metric_cell(r.budget[i], t["metric"], t["res"]) for i in picks)
                + f" ({r.final.collapse_rate:.0%})")

    head = "E[best of " + " / ".join(str(ks[i]) for i in picks) + "] (grid runs collapsed)"
    return f"Cells: {head}.\n\n" + _method_by_task(p, cell)


def block_protocol_profiles(p: dict[str, Any]) -> str:
    rows = []
    tasks = list(p["tasks"])
    for j, m in enumerate(p["methods"]):
        cells = [m]
        for track in ("scale-tuned", "defaults"):
            reached = sum(math.isfinite(x) for x in p["times"][track][:, j])
            cells.append(f"{p['areas'][track][j]:.2f} ({reached}/{len(tasks)})")
        rows.append(cells)
    targets = ", ".join(f"{task} {t['target']:.2g}" if "accuracy" not in t["metric"]
                        else f"{task} {_metric_cell(t['target'], t['metric'])}"
                        for task, t in p["tasks"].items())
    return (f"Targets (median final metric of the scale-tuned AdamW + warm-up-cosine): "
            f"{targets}.\n\n"
            + _table(["method", "profile area, scale-tuned (tasks reached)",
                      "profile area, defaults (tasks reached)"], rows))


# ------------------------------------------------------------------ other studies
def block_reproduction(_: Any = None) -> str:
    import mnist1d_reproduction as repro

    from adaptlr.benchmarks import compare

    rows = []
    for task in ("mnist1d_mlp", "mnist1d_cnn"):
        path = os.path.join(RESULTS, "mnist1d_reproduction", f"{task}.jsonl")
        summ, _, _ = compare.report(path, None, task=task, methods=list(repro.METHODS))
        for row in summ:
            rows.append([task, row.method, f"{row.best_value:.3g}",
                         f"{100 * row.mean:.1f}% ± {100 * row.std:.1f}% ({row.seeds} seeds)",
                         f"{100 * repro.PAPER[task]:.0f}%"])
    return _table(["task", "method", "best learning rate", "final test accuracy",
                   "MNIST-1D paper"], rows)


def block_parity(_: Any = None) -> str:
    with open(os.path.join(RESULTS, "reference_parity.json")) as f:
        data = json.load(f)
    meta, tasks = data["meta"], data["tasks"]
    by_method: dict[str, dict[str, Any]] = {}
    for task, g in tasks.items():
        for r in g["rows"]:
            by_method.setdefault(r["method"], {"package": r["package"]})[task] = r

    def p(x: Any) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:.2f}"

    rows = []
    for method, entry in by_method.items():
        package = entry["package"]
        if package.startswith("trac:"):
            package = f"trac_optimizer.start_trac(torch.optim.{package.split(':')[1]})"
        elif package.startswith("sfplus:"):
            package = f"{package.split(':')[1]} (the authors' file)"
        cells = [method, f"`{package}`"]
        for task in tasks:
            r = entry.get(task)
            if r is None:
                cells += ["", ""]
                continue
            cells.append(f"{p(r['mann_whitney_p'])} / {p(r['ks_p'])}")
            cells.append(f"{r['diverged_adaptlr']} / {r['diverged_package']}")
        rows.append(cells)
    header = ["method", "package"]
    for task in tasks:
        header += [f"{task}: p (MW / KS)", f"{task}: diverged (adaptlr / package)"]
    return (f"{meta['seeds']} paired seeds, {meta['steps']} steps, minibatch {meta['batch']}, "
            "float32; p-values of Mann-Whitney and Kolmogorov-Smirnov tests on the seeds that "
            "end finite on both sides ('-': none did); a run has diverged when its final "
            "objective is non-finite or above its initial one:\n\n" + _table(header, rows))


def block_schedules(_: Any = None) -> str:
    from adaptlr.benchmarks import results, summary
    from adaptlr.benchmarks.tasks import get_task

    task = "mnist1d_mlp"
    records = list(results.read(os.path.join(RESULTS, "schedules", f"{task}.jsonl")))
    steps = records[0]["config"]["steps"]
    records = [r for r in records if r["config"]["steps"] == steps]
    seeds = sorted({r["config"]["seed"] for r in records})
    rows = summary.track_rows(records, chance=get_task(task).chance, tracks=("scale-tuned",))
    metric = records[0]["metric"]
    table = []
    for r in rows:
        f = r.final
        runs = [x for x in records if x["config"]["method"] == r.method]
        diverged = sum(bool(x.get("diverged")) for x in runs)
        table.append([r.method,
                      f"{_metric_cell(f.median, metric)} [{_metric_cell(f.q25, metric)}, "
                      f"{_metric_cell(f.q75, metric)}]",
                      "-" if r.value is None else f"{r.sweep_arg} {r.value:.3g}",
                      f"{diverged}/{len(runs)}"])
    return (f"MNIST-1D MLP, {steps} steps, {len(seeds)} seeds; each method at the value of "
            "its five-point grid (peak learning rate or scale) with the best median final "
            "test accuracy:\n\n"
            + _table(["method", "final test accuracy, median [IQR]", "best value",
                      "grid runs diverged"], table))


BLOCKS: dict[str, Callable[[Any], str]] = {
    "reproduction": block_reproduction,
    "protocol_defaults": block_protocol_defaults,
    "protocol_tuned": block_protocol_tuned,
    "protocol_budget": block_protocol_budget,
    "protocol_profiles": block_protocol_profiles,
    "parity": block_parity,
    "schedules": block_schedules,
}


def render(paper: str, only: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The paper with its generated blocks recomputed (all, or those named in ``only``), and
    the names of the blocks that changed."""
    names = [m.group("name") for m in BLOCK.finditer(paper)
             if only is None or m.group("name") in only]
    unknown = sorted(set(names) - set(BLOCKS))
    if unknown:
        raise SystemExit(f"paper/paper.md: unknown generated blocks {unknown}")
    protocol = _protocol() if any(n.startswith("protocol") for n in names) else None
    bodies = {n: BLOCKS[n](protocol).rstrip() + "\n" for n in names}
    changed = []

    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in bodies:
            return m.group(0)
        if m.group("body") != bodies[name]:
            changed.append(name)
        return m.group(1) + bodies[name] + m.group(4)

    return BLOCK.sub(sub, paper), changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a block differs from the results")
    parser.add_argument("--paper", default=PAPER)
    args = parser.parse_args()
    with open(args.paper) as f:
        paper = f.read()
    new, changed = render(paper)
    if args.check:
        if changed:
            print("out of date: " + ", ".join(changed) + " (run experiments/paper_numbers.py)")
            sys.exit(1)
        print("paper/paper.md is up to date with experiments/results/")
        return
    with open(args.paper, "w") as f:
        f.write(new)
    print("rewrote: " + (", ".join(changed) if changed else "nothing (up to date)"))


if __name__ == "__main__":
    main()
