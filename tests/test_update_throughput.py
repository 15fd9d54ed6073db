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


@pytest.mark.parametrize("flatten", [False, pytest.param(True, marks=pytest.mark.slow)])
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


def _lowered(name: str):
    import jax.numpy as jnp

    spec = registry.get(name)
    tx = spec.build()
    params = {"w": jnp.ones((8, 4)), "b": jnp.ones(4)}
    step = update_throughput.step_fn(tx, spec.needs_value, spec.needs_value_fn)
    return step.lower(params, tx.init(params), params)


def test_elementwise_is_decided_from_the_program():
    # Adam, Lion and Schedule-Free touch each entry on its own; D-Adaptation's and DoG's
    # steps need norms and inner products over the whole tree.
    for name in ("adam", "lion", "schedule_free_sgd", "adabound", "cocob"):
        assert not update_throughput.has_reduction(_lowered(name)), name
    for name in ("dadapt_adam", "dog", "lamb", "qhadam", "sls"):
        assert update_throughput.has_reduction(_lowered(name)), name


def test_acceptance_reads_each_criterion_from_the_rows():
    rows = [
        {"method": "prodigy", "tree": "1M", "time_s": 1.0, "ratio_to_optax": 1.05,
         "ratio_to_torch": 0.5, "elementwise": False},
        {"method": "cocob", "tree": "16M", "time_s": 1.0, "ratio_to_optax": 1.2,
         "fraction_of_copy_bandwidth": 0.6, "elementwise": True},
        {"method": "adam", "tree": "16M", "time_s": 1.0, "ratio_to_optax": 2.0,
         "fraction_of_copy_bandwidth": 0.4, "ratio_to_torch": 1.5, "elementwise": True},
        {"method": "dog", "tree": "16M", "time_s": 1.0, "fraction_of_copy_bandwidth": 0.1,
         "elementwise": False},
    ]
    verdicts = update_throughput.acceptance(rows)
    # Only learning-rate-free methods count for the Optax criterion (Adam is a baseline).
    assert verdicts["lr_free_within_1.1x_of_optax"] == {
        "met": ["prodigy/1M: 1.05"], "not_met": ["cocob/16M: 1.20"]}
    # Only elementwise steps on the 16M tree count for the bandwidth criterion.
    assert verdicts["elementwise_half_copy_bandwidth_16M"] == {
        "met": ["cocob/16M: 0.60"], "not_met": ["adam/16M: 0.40"]}
    assert verdicts["faster_than_torch_reference"] == {
        "met": ["prodigy/1M: 0.50"], "not_met": ["adam/16M: 1.50"]}
    text = update_throughput.acceptance_text(verdicts)
    assert "lr_free_within_1.1x_of_optax: 1 / 2" in text and "not met: adam/16M: 0.40" in text
    assert "elementwise_half_median_copy_bandwidth_16M" not in verdicts  # no median given
    # Against the run's median copy bandwidth instead of the copy timed alongside each row.
    rows[1]["gb_per_s"], rows[2]["gb_per_s"] = 20.0, 30.0
    median = update_throughput.acceptance(rows, {"16M": 50.0})
    assert median["elementwise_half_median_copy_bandwidth_16M"] == {
        "met": ["adam/16M: 0.60"], "not_met": ["cocob/16M: 0.40"]}
    assert median["elementwise_half_copy_bandwidth_16M"] == verdicts[
        "elementwise_half_copy_bandwidth_16M"]


def test_timed_run_compares_with_a_copy_timed_alongside(tmp_path):
    out = tmp_path / "timed.json"
    option = "xla_cpu_copy_insertion_use_region_analysis=true"
    args = ["--methods", "sgd", "--trees", "300leaf", "--repeats", "3", "--json", str(out),
            "--compiler-option", option]
    try:
        assert update_throughput.main(args) == 0
    finally:
        update_throughput.COMPILER_OPTIONS.clear()
    summary = json.loads(out.read_text())
    (row,) = summary["rows"]
    assert summary["compiler_options"] == {"xla_cpu_copy_insertion_use_region_analysis": True}
    assert row["elementwise"] and row["copy_gb_per_s"] > 0
    want = row["gb_per_s"] / row["copy_gb_per_s"]
    assert row["fraction_of_copy_bandwidth"] == pytest.approx(want, rel=1e-12)
    assert summary["copy_bandwidth_gb_per_s"]["300leaf"] == row["copy_gb_per_s"]
    assert set(summary["acceptance"]) == {"lr_free_within_1.1x_of_optax",
                                          "elementwise_half_copy_bandwidth_16M",
                                          "faster_than_torch_reference"}
    with pytest.raises(SystemExit):
        update_throughput.main(["--compiler-option", "no-equals-sign", "--bytes-only"])


def test_acceptance_option_rereads_a_json_without_timing(tmp_path, capsys):
    rows = [{"method": "adam", "tree": "16M", "time_s": 1.0, "gb_per_s": 30.0,
             "fraction_of_copy_bandwidth": 0.4, "elementwise": True}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"rows": rows, "copy_bandwidth_gb_per_s": {"16M": 50.0}}))
    assert update_throughput.main(["--acceptance", str(path)]) == 0
    out = capsys.readouterr().out
    assert "elementwise_half_copy_bandwidth_16M: 0 / 1" in out
    assert "elementwise_half_median_copy_bandwidth_16M: 1 / 1" in out
