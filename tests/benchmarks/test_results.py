"""Result storage: atomic appends, truncated lines, stable keys; the summary table."""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from adaptlr.benchmarks import results, summary


def _rec(key, **extra):
    return {"key": key, "config": {"method": "m"}, **extra}


def test_append_and_read_round_trip(tmp_path):
    path = str(tmp_path / "sub" / "r.jsonl")
    results.append(path, [_rec("a", x=np.float32(1.5), y=np.arange(3))])
    results.append(path, [_rec("b", nan=float("nan"))])
    got = list(results.read(path))
    assert got == [_rec("a", x=1.5, y=[0, 1, 2]), _rec("b", nan=None)]
    assert results.completed_keys(path) == {"a", "b"}


def test_truncated_last_line_is_skipped_then_removed(tmp_path):
    path = str(tmp_path / "r.jsonl")
    results.append(path, [_rec("a")])
    with open(path, "a") as f:
        f.write('{"key": "half-writ')  # a writer killed in the middle of a line
    assert results.completed_keys(path) == {"a"}
    results.append(path, [_rec("b")])
    assert results.completed_keys(path) == {"a", "b"}
    with open(path) as f:
        lines = f.read().splitlines()
    # The unfinished line is gone, not left in the middle of the file.
    assert [json.loads(line)["key"] for line in lines] == ["a", "b"]


def test_foreign_lines_are_skipped_with_one_warning(tmp_path):
    path = str(tmp_path / "r.jsonl")
    results.append(path, [_rec("a")])
    with open(path, "a") as f:
        f.write('{"event": "epoch", "loss": 1.0}\n[1, 2]\nnot json\n{"key": 3}\n')
    results.append(path, [_rec("b")])
    with pytest.warns(results.ResultsFileWarning, match=r"skipped 4 line\(s\).*line 2"):
        got = [r["key"] for r in results.read(path)]
    assert got == ["a", "b"]


def test_append_drops_keys_already_in_the_file(tmp_path):
    path = str(tmp_path / "r.jsonl")
    assert [r["key"] for r in results.append(path, [_rec("a"), _rec("b")])] == ["a", "b"]
    # A second process that trained "b" and "c" meanwhile records only "c"; a repeat within
    # one call is dropped too.
    written = results.append(path, [_rec("b", x=2), _rec("c"), _rec("c", x=3)])
    assert [r["key"] for r in written] == ["c"]
    with open(path) as f:
        assert [json.loads(line)["key"] for line in f] == ["a", "b", "c"]


def test_read_yields_each_key_once(tmp_path):
    # Files written before appends were deduplicated may hold a run twice.
    path = str(tmp_path / "r.jsonl")
    with open(path, "w") as f:
        for record in (_rec("a", x=1), _rec("b"), _rec("a", x=2)):
            f.write(json.dumps(record) + "\n")
    assert list(results.read(path)) == [_rec("a", x=1), _rec("b")]


_WRITER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("results", sys.argv[1])
results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results)
blob = "x" * 200_000
i = 0
while True:
    results.append(sys.argv[2], [{"key": f"{sys.argv[3]}-{i}", "config": {}, "blob": blob},
                                 {"key": f"{sys.argv[3]}-{i}b", "config": {}, "blob": blob}])
    i += 1
"""


def test_sigkill_during_appends_leaves_only_whole_records(tmp_path):
    """Kill a writer of 400 KB appends at random moments; no partial record survives."""
    path = str(tmp_path / "r.jsonl")
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    rng = np.random.default_rng(0)
    cut = 0
    for attempt in range(12):
        size = os.path.getsize(path) if os.path.exists(path) else 0
        child = subprocess.Popen([sys.executable, str(script), results.__file__, path,
                                  str(attempt)])
        deadline = time.monotonic() + 10
        while (not os.path.exists(path) or os.path.getsize(path) <= size) and \
                time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        child.kill()
        child.wait()
        with open(path, "rb") as f:
            cut += not f.read().endswith(b"\n")
        results.append(path, [_rec(f"parent-{attempt}")])
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    for line in lines[:-1]:  # every line in the file is a whole record
        assert json.loads(line)["key"]
    keys = [r["key"] for r in results.read(path)]
    assert {f"parent-{a}" for a in range(12)} <= set(keys)
    assert len(keys) == len(lines) - 1
    print(f"{cut} of 12 kills cut a write short")

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
