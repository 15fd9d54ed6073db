"""The protocol's tracks, time-to-target and cross-task scores (synthetic records + tiny runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptlr import cli
from adaptlr.benchmarks import compare, results, stats, summary, tasks


def _record(method, value, seed, final, best=None, *, default=1.0, maximize=True,
            curve=None, steps=(10, 20, 30)):
    diverged = final is None
    return {
        "config": {"method": method, "value": value, "seed": seed, "sweep_arg": "learning_rate",
                   "defaults": {"learning_rate": default}, "task": "t", "steps": 30},
        "metric": "acc", "maximize": maximize, "diverged": diverged,
        "final": None if diverged else {"acc": final},
        "best": None if diverged else {"acc": final if best is None else best},
        "curves": {"eval_steps": list(steps),
                   "eval": {"acc": list(curve) if curve is not None else [0.1, 0.2, final]}},
    }


def _records():
    # method m: default 1.0; grid 0.1, 1, 10; 4 seeds each
    table = {0.1: [0.5, 0.6, 0.55, 0.58], 1.0: [0.7, 0.1, 0.72, 0.71],
             10.0: [0.9, 0.88, None, 0.1]}
    out = [_record("m", v, s, f, best=None if f is None else f + 0.01)
           for v, fs in table.items() for s, f in enumerate(fs)]
    out += [_record("m", 3.0, s, 0.99) for s in range(4)]  # off the grid: ignored by tuning
    return out, table


def test_tracks_pick_default_best_median_and_budget():
    records, table = _records()
    rows = summary.track_rows(records, chance=0.1, grids={"m": (0.1, 1.0, 10.0)})
    by = {r.track: r for r in rows}
    assert set(by) == {"defaults", "scale-tuned", "budget"}
    d = by["defaults"]
    assert d.value == 1.0 and d.final.median == pytest.approx(np.median([0.7, 0.1, 0.72, 0.71]))
    assert d.final.collapse_rate == 0.25  # 0.1 is at chance
    assert d.best.median == pytest.approx(np.median([0.71, 0.11, 0.73, 0.72]))
    # medians with the diverged run at chance: 0.1 -> 0.565, 1 -> 0.705, 10 -> 0.49
    t = by["scale-tuned"]
    assert t.value == 1.0 and t.runs == 4
    # budget: the 12 grid runs, the diverged one counted as chance (0.1); not the 3.0 runs
    pool = [f if f is not None else 0.1 for fs in table.values() for f in fs]
    b = by["budget"]
    assert b.runs == 12
    np.testing.assert_allclose(b.budget, stats.expected_best_of_k(pool, summary.BUDGET_KS))
    assert b.final.collapse_rate == pytest.approx(3 / 12)  # 0.1, nan, 0.1
    text = summary.format_tracks(rows, "test_accuracy", seeds_note="note")
    assert text.startswith("note") and "track: scale-tuned" in text and "E[best of 16]" in text
    assert "25% (1/4)" in text


def test_scale_tuned_on_a_minimised_metric():
    records = [_record("m", v, s, f, maximize=False)
               for v, fs in {1.0: [3.0, 2.0, 2.5], 2.0: [1.0, 9.0, 1.5]}.items()
               for s, f in enumerate(fs)]
    [t] = summary.track_rows(records, chance=10.0, tracks=["scale-tuned"])
    assert t.value == 2.0 and t.final.median == 1.5


def test_time_to_target_table_and_profile():
    curves = {"a": [0.2, 0.5, 0.6], "b": [0.2, 0.3, 0.6], "c": [0.2, 0.3, 0.4]}
    records = [_record(m, 1.0, s, c[-1], curve=c) for m, c in curves.items() for s in range(3)]
    records += [_record("a", 2.0, s, 0.6, curve=[0.6, 0.6, 0.6]) for s in range(3)]
    table = compare.time_to_target_table(records, ["a", "b", "c"], 0.5, None)
    assert table["defaults"] == [20.0, 30.0, math.inf]
    assert table["scale-tuned"] == [10.0, 30.0, math.inf]
    # half of the seeds: the 2nd fastest of 4, the 1st of 2 (lower median), inf if fewer
    mixed = [_record("d", 1.0, s, 0.6, curve=c) for s, c in
             enumerate([[0.5] * 3, [0.1, 0.5, 0.5], [0.1] * 3, [0.1] * 3])]
    assert compare.time_to_target_table(mixed, ["d"], 0.5, None)["defaults"] == [20.0]
    assert compare.time_to_target_table(mixed[1:], ["d"], 0.5, None)["defaults"] == [math.inf]
    assert compare.time_to_target_table(mixed[1:3], ["d"], 0.5, None)["defaults"] == [20.0]
    # restricted to the grid {1.0}, a's fastest value is 20
    assert compare.time_to_target_table(records, ["a"], 0.5, {"a": (1.0,)})["scale-tuned"] \
        == [20.0]


def test_task_target_is_floored_at_the_resolution_of_a_minimised_metric():
    convex_task = tasks.get_task("lstsq_diabetes")
    assert convex_task.resolution > 0
    assert compare.task_target(0.0, convex_task) == convex_task.resolution
    assert compare.task_target(-1e-9, convex_task) == convex_task.resolution
    assert compare.task_target(0.5, convex_task) == 0.5
    assert math.isnan(compare.task_target(math.nan, convex_task))
    accuracy = tasks.get_task("digits_mlp")  # maximised: no floor
    assert compare.task_target(0.25, accuracy) == 0.25


def test_seeds_note_states_the_count():
    assert "fewer than the 10" in compare.seeds_note(range(5))
    assert compare.seeds_note(range(12)) == "12 seeds per setting."


def test_task_chance_levels():
    assert tasks.get_task("digits_logreg").chance == pytest.approx(0.1)
    quad = tasks.get_task("quadratic")
    eig = np.logspace(-3, 0, 100)
    assert quad.chance == pytest.approx(eig.mean() / 2)
    assert tasks.get_task("rosenbrock").chance == pytest.approx(24.2, rel=1e-6)


@pytest.mark.slow  # ~50 s on 2 busy cores (compilation); the logic is covered above
def test_benchmark_end_to_end(tmp_path, capsys):
    argv = ["benchmark", "--tasks", "quadratic,rosenbrock", "--methods",
            "sgd,adamw_warmup_cosine", "--grid", "1", "--seeds", "2", "--steps", "50",
            "--out", str(tmp_path), "--formats", "png", "--quiet", "--compile-cache", ""]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "time-to-target" in out and "profile area" in out and "track: budget" in out
    for name in ("profile_scale-tuned.png", "profile_defaults.png", "quadratic_seeds.png",
                 "rosenbrock_budget.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # the target is the tuned AdamW's median final loss, which its own median run reaches
    records = list(results.read(str(tmp_path / "quadratic.jsonl")))
    result, _, _ = compare.benchmark(["quadratic", "rosenbrock"], ["sgd", "adamw_warmup_cosine"],
                                     [0, 1], str(tmp_path), steps=50, grid=(1.0,), plot=False,
                                     progress=False)
    adamw = [r["final"]["loss"] for r in records
             if r["config"]["method"] == "adamw_warmup_cosine"
             and math.isclose(r["config"]["value"], tasks.get_task("quadratic")
                              .learning_rates["adamw"], rel_tol=1e-3)]
    assert result.targets[0] == pytest.approx(float(np.median(adamw)))
    assert math.isfinite(result.times["scale-tuned"][0, 1])
    with pytest.raises(ValueError, match="target_method"):
        compare.benchmark(["quadratic"], ["sgd"], [0], str(tmp_path), plot=False)
