"""Compile time and peak memory of one jitted training step on trees of many small leaves.

A real model has hundreds to thousands of parameter leaves, and XLA's compile time can grow
faster than linearly in the number of leaves when one global scalar (a norm, a select on it)
feeds every leaf's pass. For each registered method (and Optax's Adam and ``polyak_sgd`` for
comparison) this script jits the documented training step (``update`` + ``apply_updates``,
parameters and state donated) on a tree of ``n`` small float32 leaves and prints

* ``trace s``: tracing and lowering to StableHLO;
* ``compile s``: XLA's compilation of the lowered step, wall-clock;
* ``cpu s``: the processor time the compilation used (all threads): less sensitive than the
  wall-clock time to other processes on a shared machine;
* ``peak MB``: the peak resident memory of the process that did it (``ru_maxrss``);
* ``x adam``: the compile processor time over Optax Adam's at the same size, in the same run
  (the lowest of ``--baseline-repeats`` compilations of Adam, each in its own process).

Two trees (``--shapes``):

* ``two`` (default): half ``(8, 8)`` matrices and half ``(16,)`` vectors. XLA:CPU compiles
  each distinct fused kernel once, so the leaves of one shape share their kernels, as the
  layers of a real model largely do; the compile time is then set by the HLO passes, linear in
  the instructions and kernels of the whole program.
* ``distinct``: every leaf its own shape (``(i + 1, 8)`` or ``(8 (i + 1),)``), so no kernel is
  shared: the worst case, dominated by code generation, one kernel at a time.

Besides the registry's names, Optax's ``adam``, ``adan``, ``adafactor`` and ``polyak_sgd`` are
accepted as ``optax_adam`` and so on, and ``optax.contrib``'s ``mechanize(adam)``,
``momo_adam``, ``prodigy`` and ``dadapt_adamw`` as ``optax_mechanic_adam``,
``optax_momo_adam``, ``optax_prodigy`` and ``optax_dadapt_adamw``: the same method in Optax,
or the nearest one, is the fair reference for a method with more state per leaf than Adam
(D-Adapt Adan against Adan, CAME against Adafactor).

Every (method, size) runs in its own subprocess, so peak memory is that compilation's and one
slow compilation can be cut short (``--timeout``). The machine may be shared: compare methods
with Adam measured in the same run, not with absolute times.

    python benchmarks/compile_memory.py                          # every method, 100/300/1000
    python benchmarks/compile_memory.py --leaves 300
    python benchmarks/compile_memory.py --methods sps alig --leaves 100 1000
    python benchmarks/compile_memory.py --methods dadapt_adan optax_adan --shapes distinct
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

#: Optax's own transformations, accepted besides the registry's names for comparison: each
#: makes the transformation from the ``optax`` module and says whether its update takes
#: ``value=`` (the ``optax.contrib`` ones are the same methods as adaptlr's of the name).
OPTAX_REFERENCES: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "optax_adam": (lambda optax: optax.adam(1e-3), False),
    "optax_adan": (lambda optax: optax.adan(1e-3), False),
    "optax_adafactor": (lambda optax: optax.adafactor(1e-3), False),
    "optax_polyak_sgd": (lambda optax: optax.polyak_sgd(max_learning_rate=1.0), True),
    "optax_mechanic_adam": (lambda optax: optax.contrib.mechanize(optax.adam(1e-3)), False),
    "optax_momo_adam": (lambda optax: optax.contrib.momo_adam(), True),
    "optax_prodigy": (lambda optax: optax.contrib.prodigy(), False),
    "optax_dadapt_adamw": (lambda optax: optax.contrib.dadapt_adamw(), False),
}
OPTAX_EXTRA = frozenset(OPTAX_REFERENCES)

SHAPES = ("two", "distinct")


def leaf_shape(i: int, shapes: str = "two") -> tuple[int, ...]:
    """Shape of leaf ``i``: alternately a matrix and a vector, of two shapes or all distinct."""
    if shapes == "two":
        return (8, 8) if i % 2 == 0 else (16,)
    return (i + 1, 8) if i % 2 == 0 else (8 * (i + 1),)


def make_params(leaves: int, shapes: str = "two") -> dict[str, Any]:
    import jax.numpy as jnp

    return {f"p{i:04d}": jnp.zeros(leaf_shape(i, shapes), jnp.float32) for i in range(leaves)}


def build(name: str) -> tuple[Any, bool, bool]:
    """The transformation, whether its update takes ``value=`` and whether ``value_fn=``."""
    import optax

    if name in OPTAX_REFERENCES:
        make, needs_value = OPTAX_REFERENCES[name]
        return make(optax), needs_value, False
    from adaptlr import registry

    spec = registry.get(name)
    return spec.build(), spec.needs_value, spec.needs_value_fn


def measure(name: str, leaves: int, shapes: str = "two") -> dict[str, Any]:
    """Trace, lower and compile one step in this process; times and peak RSS."""
    import jax
    import jax.numpy as jnp
    import optax

    tx, needs_value, needs_value_fn = build(name)
    params = make_params(leaves, shapes)
    state = jax.tree.map(jnp.copy, tx.init(params))

    def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        extra: dict[str, Any] = {"value": jnp.asarray(1.0, jnp.float32)} if needs_value else {}
        if needs_value_fn:  # a line search: 0.5 |x|^2, evaluated at its trial points
            extra["value_fn"] = lambda p: 0.5 * optax.tree.norm(p, squared=True)
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    lowered = jitted.lower(params, state, params)
    t1, c1 = time.perf_counter(), time.process_time()
    lowered.compile()
    t2, c2 = time.perf_counter(), time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"method": name, "leaves": leaves, "shapes": shapes, "trace_s": t1 - t0,
            "compile_s": t2 - t1, "compile_cpu_s": c2 - c1, "peak_mb": rss / 1024,
            "base_mb": rss0 / 1024}


def run_child(name: str, leaves: int, timeout: float, shapes: str = "two") -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", name, str(leaves), "--shapes", shapes]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "JAX_PLATFORMS": "cpu"}, check=False)
    except subprocess.TimeoutExpired:
        return {"method": name, "leaves": leaves, "shapes": shapes,
                "error": f"timeout after {timeout:g} s"}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
    return {"method": name, "leaves": leaves, "shapes": shapes,
            "error": f"rc {out.returncode}: {tail[:120]}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=None,
                        help="registry names (default: all) plus " + ", ".join(sorted(OPTAX_EXTRA)))
    parser.add_argument("--leaves", nargs="*", type=int, default=[100, 300, 1000])
    parser.add_argument("--shapes", choices=SHAPES, default="two",
                        help="two shapes (kernels shared by the leaves of a shape) or every "
                             "leaf its own (none shared); default two")
    parser.add_argument("--baseline-repeats", type=int, default=3,
                        help="compilations of Optax's Adam per size, the lowest processor time "
                             "divides (default 3; compilation times vary by 10-20%% from run "
                             "to run)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed to one (method, size) subprocess")
    parser.add_argument("--json", default=None, help="also append every row to this file")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "LEAVES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.shapes)), flush=True)
        return 0
    if args.baseline_repeats < 1:
        parser.error(f"--baseline-repeats must be at least 1, got {args.baseline_repeats}")
    if args.methods is None:
        from adaptlr import registry

        methods = [*registry.names(), *sorted(OPTAX_EXTRA - {"optax_adam"})]
    else:
        methods = list(args.methods)
    methods = ["optax_adam"] + [m for m in methods if m != "optax_adam"]
    print("| method | leaves | trace s | compile s | cpu s | x adam | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for leaves in args.leaves:
        adam = None
        for name in methods:
            row = run_child(name, leaves, args.timeout, args.shapes)
            if name == "optax_adam" and "error" not in row:
                for _ in range(args.baseline_repeats - 1):
                    again = run_child(name, leaves, args.timeout, args.shapes)
                    if again.get("compile_cpu_s", float("inf")) < row["compile_cpu_s"]:
                        row = again
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(row) + "\n")
            if "error" in row:
                print(f"| {name} | {leaves} | | {row['error']} | | | |", flush=True)
                continue
            if name == "optax_adam":
                adam = row["compile_cpu_s"]
            ratio = f"{row['compile_cpu_s'] / adam:.1f}" if adam else ""
            print(f"| {name} | {leaves} | {row['trace_s']:.2f} | {row['compile_s']:.2f} | "
                  f"{row['compile_cpu_s']:.2f} | {ratio} | {row['peak_mb']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
