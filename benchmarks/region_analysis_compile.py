"""Compile time of the training step with and without XLA:CPU's region analysis.

``xla_cpu_copy_insertion_use_region_analysis`` removes copies of donated state (see
docs/performance.md) but its cost grows with the program. This script compiles the documented
training step (``update_throughput.step_fn``) of a few methods on trees of ``n`` leaves of 4096
float32 values, with and without the option, and prints the two compile times. A method stops
growing ``n`` once a compilation with the option takes longer than ``--stop-after`` seconds.

    python benchmarks/region_analysis_compile.py
    python benchmarks/region_analysis_compile.py --methods prodigy --leaves 50 100 150
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from adaptlr import registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
import update_throughput as ut

OPTION = {"xla_cpu_copy_insertion_use_region_analysis": True}


def compile_seconds(name: str, leaves: int, options: dict) -> float:
    spec = registry.get(name)
    tx = spec.build()
    params = {f"p{i:03d}": jnp.zeros((4096,), jnp.float32) for i in range(leaves)}
    state = jax.tree.map(jnp.copy, tx.init(params))
    ut.COMPILER_OPTIONS.clear()
    ut.COMPILER_OPTIONS.update(options)
    try:
        step = ut.step_fn(tx, spec.needs_value, spec.needs_value_fn)
        t0 = time.perf_counter()
        step.lower(params, state, params).compile()
        return time.perf_counter() - t0
    finally:
        ut.COMPILER_OPTIONS.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=["prodigy", "dadapt_adam", "adam"])
    parser.add_argument("--leaves", nargs="*", type=int, default=[50, 100, 150, 200])
    parser.add_argument("--stop-after", type=float, default=60.0)
    args = parser.parse_args(argv)
    print("| method | leaves | compile s (default) | compile s (region analysis) |")
    print("|---|---:|---:|---:|")
    for name in args.methods:
        for leaves in args.leaves:
            plain = compile_seconds(name, leaves, {})
            region = compile_seconds(name, leaves, OPTION)
            print(f"| {name} | {leaves} | {plain:.2f} | {region:.2f} |", flush=True)
            if region > args.stop_after:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
