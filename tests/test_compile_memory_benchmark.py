"""benchmarks/compile_memory.py: its trees, its Optax references and its baseline rule.

The timings themselves are not tested (speed is measured by the benchmark, not asserted);
these tests check that the script measures what its docs say it measures.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optax
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import compile_memory  # noqa: E402


def test_two_shapes_tree_has_two_shapes_and_distinct_tree_has_none_repeated():
    two = compile_memory.make_params(12, "two")
    distinct = compile_memory.make_params(12, "distinct")
    assert len(two) == len(distinct) == 12
    assert {x.shape for x in two.values()} == {(8, 8), (16,)}
    shapes = [x.shape for x in distinct.values()]
    assert len(set(shapes)) == 12
    # Alternately a matrix and a vector, as in the two-shape tree.
    assert [len(s) for s in shapes] == [2, 1] * 6


@pytest.mark.parametrize("name", sorted(compile_memory.OPTAX_EXTRA))
def test_optax_references_build(name: str):
    tx, needs_value, needs_value_fn = compile_memory.build(name)
    assert isinstance(tx, optax.GradientTransformation)
    assert needs_value == (name in {"optax_polyak_sgd", "optax_momo_adam"})
    assert not needs_value_fn


def test_ratio_divides_by_the_fastest_of_the_baseline_repeats(monkeypatch, capsys):
    adam_times = iter([3.0, 1.5, 2.0])

    def fake_child(name: str, leaves: int, timeout: float, shapes: str = "two") -> dict[str, Any]:
        cpu = next(adam_times) if name == "optax_adam" else 4.5
        return {"method": name, "leaves": leaves, "shapes": shapes, "trace_s": 0.1,
                "compile_s": cpu, "compile_cpu_s": cpu, "peak_mb": 100.0}

    monkeypatch.setattr(compile_memory, "run_child", fake_child)
    assert compile_memory.main(["--methods", "sgd", "--leaves", "5",
                                "--baseline-repeats", "3"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    adam = next(r for r in rows if r.startswith("| optax_adam "))
    sgd = next(r for r in rows if r.startswith("| sgd "))
    assert "| 1.50 |" in adam
    assert "| 3.0 |" in sgd  # 4.5 / 1.5, not 4.5 / 3.0 (the first run)


def test_baseline_repeats_below_one_is_an_error():
    with pytest.raises(SystemExit) as info:
        compile_memory.main(["--baseline-repeats", "0"])
    assert info.value.code == 2
