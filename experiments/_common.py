"""Shared plumbing of the experiment scripts: devices, paths, resilient runs, tables."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "results")
FIGURES = os.path.join(ROOT, "paper", "figures")


def use_all_cores() -> None:
    """One JAX host device per core (call before any JAX computation)."""
    from adaptlr.sweep import use_host_devices

    try:
        use_host_devices(max(1, os.cpu_count() or 1))
    except RuntimeError:
        pass


def run_each(task: str, methods: Sequence[str], seeds: Sequence[int], path: str,
             **kwargs: Any) -> list[str]:
    """``runner.run`` one method at a time; a method that fails is reported and skipped.

    Returns the methods that failed (their finished runs, if any, are kept in ``path``).
    """
    from adaptlr.benchmarks import runner

    failed = []
    for method in methods:
        try:
            runner.run(task, [method], seeds, path, **kwargs)
        except Exception:  # one broken method must not stop a long study
            failed.append(method)
            print(f"[{task}] {method} failed:", file=sys.stderr)
            traceback.print_exc()
    return failed


def write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text.rstrip() + "\n")
    print(f"wrote {os.path.relpath(path, ROOT)}")
