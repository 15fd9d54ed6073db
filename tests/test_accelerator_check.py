"""benchmarks/accelerator_check.sh: the report on synthetic stage outputs, and a tiny CPU run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import accelerator_report  # noqa: E402


def test_markdown_states_cpu_and_stage_results():
    report = {
        "finished_at": "2026-01-01T00:00:00Z", "tiny": True,
        "devices": {"backend": "cpu", "count": 2, "kinds": ["cpu"], "jax": "0.10.2"},
        "stages": {"conformance": {"ran": True, "returncode": 1, "timed_out": False,
                                   "wall_s": 3.0},
                   "throughput": {"ran": True, "returncode": 124, "timed_out": True,
                                  "wall_s": 9.5},
                   "compare": {"ran": False}},
        "conformance": {"tests": 3, "failures": 1, "errors": 0, "skipped": 0,
                        "failed": ["test_conformance[adam-float32]"]},
        "throughput": {"rows": [{"method": "adam", "tree": "16M", "time_s": 0.002,
                                 "gb_per_s": 224.0, "fraction_of_copy_bandwidth": 0.5}]},
        "compare_table": "table",
    }
    md = accelerator_report.markdown(report)
    assert "No accelerator was used" in md and "No accelerator numbers exist yet" in md
    assert "| throughput | 124 (timed out) | 9.5 |" in md and "| compare | not run | - |" in md
    assert "3 tests, 1 failures" in md and "`test_conformance[adam-float32]`" in md
    assert "| adam | 16M | 2 | 224 | 0.50 |" in md


@pytest.mark.slow  # four JAX processes: ~1-5 minutes on 2 busy cores
def test_tiny_run_on_cpu_writes_both_files(tmp_path):
    env = {**os.environ, "ACCEL_OUT": str(tmp_path), "PYTHON": sys.executable,
           "ACCEL_BUDGET_S": "400"}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "accelerator_check.sh"), "--tiny"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "accelerator.json").read_text())
    assert report["devices"]["backend"] == "cpu" and report["tiny"]
    assert report["stages"]["throughput"]["returncode"] == 0
    assert report["stages"]["compare"]["returncode"] == 0
    assert "track: defaults" in report["compare_table"]
    assert (tmp_path / "accelerator.md").read_text().startswith("# Accelerator check")
