"""The update-throughput benchmark's tables name registered methods, and its output is sound."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from adaptlr import registry

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import update_throughput  # noqa: E402


def _torch_reference_names() -> list[str]:
    # The PyTorch script imports torch; read its table without running it.
    tree = ast.parse((BENCHMARKS / "torch_reference_step.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "REFERENCES":
            assert isinstance(node.value, ast.Dict)
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    raise AssertionError("no REFERENCES table in torch_reference_step.py")


def test_optax_counterparts_are_registered_methods():
    names = set(registry.names())
    assert set(update_throughput.OPTAX_COUNTERPARTS) <= names
    for name in update_throughput.OPTAX_COUNTERPARTS:
        assert update_throughput.optax_counterpart(name) is not None
    # Every learning-rate-free method Optax implements has its counterpart listed.
    for name in ("prodigy", "dadapt_adam", "schedule_free_adamw", "schedule_free_sgd", "dog",
                 "dowg", "cocob", "mechanic_sgd", "mechanic_adam"):
        assert name in update_throughput.OPTAX_COUNTERPARTS


def test_torch_references_are_registered_methods():
    references = _torch_reference_names()
    assert references and set(references) <= set(registry.names())


def test_minimal_bytes_count_readonly_state_once():
    # Prodigy: 16 bytes of state of which the 4-byte x0 is only read.
    assert update_throughput.minimal_bytes_per_param(registry.get("prodigy")) == 12 + 24 + 4
    assert update_throughput.minimal_bytes_per_param(registry.get("adam")) == 28


@pytest.mark.parametrize("flatten", [False, True])
def test_bytes_only_run_writes_json(tmp_path, flatten):
    out = tmp_path / "bytes.json"
    args = ["--bytes-only", "--methods", "sgd", "--trees", "300leaf", "--json", str(out)]
    assert update_throughput.main(args + (["--flatten"] if flatten else [])) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["method"] == "sgd" and row["tree"] == "300leaf" and "time_s" not in row
    # SGD moves 12 bytes per parameter at least; XLA counts at least that much.
    assert row["xla_bytes_per_param"] >= row["minimal_bytes_per_param"] == 12
    assert row["optax_xla_bytes_per_param"] >= 12
    assert ("flatten_xla_bytes_per_param" in row) == flatten
    assert update_throughput.main(["--markdown", str(out)]) == 0


def test_performance_page_examples_run():
    page = BENCHMARKS.parent / "docs" / "performance.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, "docs/performance.md has no runnable example"
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})
