"""Result storage: atomic appends, truncated lines, stable keys; the summary table."""

import json
import math

import numpy as np

from adaptlr.benchmarks import results, summary


def test_append_and_read_round_trip(tmp_path):
    path = str(tmp_path / "sub" / "r.jsonl")
    results.append(path, [{"key": "a", "x": np.float32(1.5), "y": np.arange(3)}])
    results.append(path, [{"key": "b", "nan": float("nan")}])
    got = list(results.read(path))
    assert got == [{"key": "a", "x": 1.5, "y": [0, 1, 2]}, {"key": "b", "nan": None}]
    assert results.completed_keys(path) == {"a", "b"}


def test_truncated_last_line_is_skipped_and_not_glued(tmp_path):
    path = str(tmp_path / "r.jsonl")
    results.append(path, [{"key": "a"}])
    with open(path, "a") as f:
        f.write('{"key": "half-writ')  # a crash in the middle of a line
    assert results.completed_keys(path) == {"a"}
    results.append(path, [{"key": "b"}])
    assert results.completed_keys(path) == {"a", "b"}
    with open(path) as f:
        lines = f.read().splitlines()
    assert [json.loads(lines[0])["key"], json.loads(lines[-1])["key"]] == ["a", "b"]


def test_run_key_ignores_order_and_sees_values():
    a = results.run_key({"task": "t", "value": 0.1, "seed": 0})
    assert a == results.run_key({"seed": 0, "value": 0.1, "task": "t"})
    assert a != results.run_key({"task": "t", "value": 0.1, "seed": 1})


def test_subsample_keeps_ends():
    index, values = results.subsample(np.arange(1000.0), 10)
    assert index[0] == 0 and index[-1] == 999 and len(values) == 10


def _record(method, value, seed, accuracy, diverged=False):
    return {"config": {"task": "t", "method": method, "value": value, "seed": seed,
                       "sweep_arg": "learning_rate", "spec": "adam", "defaults": {}},
            "metric": "acc", "maximize": True, "diverged": diverged,
            "final": None if diverged else {"acc": accuracy}}


def test_summary_best_value_std_and_width():
    # Seed means: 0.80, 0.905, 0.91, 0.901, 0.5 at 1e-3 ... 1e1 (decade grid).
    table = {1e-3: (0.8, 0.8), 1e-2: (0.90, 0.91), 1e-1: (0.91, 0.91), 1.0: (0.9, 0.902),
             10.0: (0.5, 0.5)}
    records = [_record("m", lr, s, acc) for lr, accs in table.items()
               for s, acc in enumerate(accs)]
    records += [_record("d", 0.1, 0, 0.99), _record("d", 0.1, 1, None, diverged=True),
                _record("d", 1.0, 0, 0.7), _record("d", 1.0, 1, 0.72)]
    rows = {r.method: r for r in summary.summarize(records)}
    m = rows["m"]
    assert m.best_value == 0.1 and math.isclose(m.mean, 0.91)
    # 1e-2 (0.905) and 1.0 (0.901) are within one point of 0.91; 1e-3 is not: 2 decades.
    assert math.isclose(m.width_decades, 2.0)
    d = rows["d"]
    assert d.best_value == 1.0 and d.diverged == 1  # a diverged seed disqualifies 0.1
    assert math.isclose(d.std, 0.01)
    text = summary.format_table(summary.summarize(records), "test_accuracy")
    assert "91% +- 0%" in text and "1/4" in text
