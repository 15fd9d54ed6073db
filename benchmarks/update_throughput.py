"""Update throughput of every registered method, against memory bandwidth, Optax and PyTorch.

An optimiser update is memory-bound: it reads parameters, gradients and state and writes the
parameters and state back. For a method with ``S`` bytes of read-write state and ``R`` bytes of
read-only state per float32 parameter (``MethodSpec.state_bytes_per_param`` and
``MethodSpec.readonly_state_bytes_per_param``), the documented training step

    params, state = step(params, state, grads)   # update + apply_updates, old buffers donated

must move at least ``4 (read p) + 4 (read g) + 4 (write p) + 2 S + R`` bytes per parameter
(Adam: 12 + 2 * 8 = 28). The floor of its time is that byte count divided by the machine's
memory bandwidth, which this script measures in the same run as the time of a donated
``x + 1`` over the same number of float32 values (8 bytes per value).

For each method and each tree it reports, in one run: the median time of the jitted step
(after compilation), the achieved GB/s for the minimal byte count, the fraction of the copy
bandwidth, the ratio to the Optax implementation of the same method where one exists
(``optax.contrib`` included; > 1 means adaptlr is slower), the ratio to the authors' PyTorch
reference step when ``--torch-python`` points at an interpreter with PyTorch and the
reference packages, the compile time and the optimizer-state bytes per parameter.

    python benchmarks/update_throughput.py                       # every method, all trees
    python benchmarks/update_throughput.py --methods adam prodigy --trees 16M
    python benchmarks/update_throughput.py --torch-python .venv-ref/bin/python --json out.json

Timings are medians of ``--repeats`` calls; on a shared or throttled machine rerun it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import adaptlr
from adaptlr import registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trees import TREES, tree_shapes

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# parameter trees: a few large matrices and many small vectors, like a real network
# --------------------------------------------------------------------------------------------


def make_tree(kind: str, seed: int = 0) -> dict[str, jax.Array]:
    key = jax.random.key(seed)
    leaves = {}
    for i, shape in enumerate(tree_shapes(kind)):
        key, sub = jax.random.split(key)
        leaves[f"p{i:03d}"] = 0.02 * jax.random.normal(sub, shape, jnp.float32)
    return leaves


def n_params(tree: Any) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(tree))


# --------------------------------------------------------------------------------------------
# Optax counterparts, and the reference packages' optimizers (for the PyTorch timing script)
# --------------------------------------------------------------------------------------------


def optax_counterpart(name: str) -> Callable[[], optax.GradientTransformation] | None:
    """Optax's implementation of the same method with the registry's default settings."""
    c = optax.contrib
    table: dict[str, Callable[[], optax.GradientTransformation]] = {
        "sgd": lambda: optax.sgd(1e-3),
        "sgd_momentum": lambda: optax.sgd(1e-3, momentum=0.9),
        "sgd_nesterov": lambda: optax.sgd(1e-3, momentum=0.9, nesterov=True),
        "adam": lambda: optax.adam(1e-3),
        "adamw": lambda: optax.adamw(1e-3, weight_decay=1e-4),
        "nadamw": lambda: optax.nadamw(1e-3, weight_decay=1e-4),
        "adagrad": lambda: optax.adagrad(0.1),
        "rmsprop": lambda: optax.rmsprop(1e-3),
        "adafactor": lambda: optax.adafactor(1e-2),
        "lion": lambda: optax.lion(1e-4),
        "lamb": lambda: optax.lamb(1e-3),
        "prodigy": lambda: c.prodigy(),
        "dadapt_adam": lambda: c.dadapt_adamw(),
        "schedule_free_adamw": lambda: c.schedule_free_adamw(),
        "schedule_free_sgd": lambda: c.schedule_free_sgd(),
        "dog": lambda: c.dog(),
        "dowg": lambda: c.dowg(),
        "cocob": lambda: c.cocob(),
        "mechanic": lambda: c.mechanize(optax.adam(1e-3)),
    }
    return table.get(name)


def step_fn(tx: optax.GradientTransformation, needs_value: bool) -> Callable[..., Any]:
    """The documented training step: update + apply_updates, old params and state donated."""

    def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        extra = {"value": jnp.asarray(1.0, jnp.float32)} if needs_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def time_step(
    tx: optax.GradientTransformation, tree_kind: str, repeats: int, needs_value: bool = False
) -> dict[str, float]:
    params = make_tree(tree_kind, 0)
    grads = make_tree(tree_kind, 1)
    # A fresh copy: some states alias the parameters (optax.contrib.prodigy keeps params0 =
    # params), and a donated buffer cannot be donated twice.
    state = jax.tree.map(jnp.copy, tx.init(params))
    step = step_fn(tx, needs_value)
    t0 = time.perf_counter()
    compiled = step.lower(params, state, grads).compile()
    compile_s = time.perf_counter() - t0
    state_bytes = sum(jnp.asarray(x).nbytes for x in jax.tree.leaves(state))
    params, state = compiled(params, state, grads)  # warm-up
    jax.block_until_ready(params)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        params, state = compiled(params, state, grads)
        jax.block_until_ready((params, state))
        times.append(time.perf_counter() - t0)
    return {
        "time_s": statistics.median(times),
        "compile_s": compile_s,
        "state_bytes_per_param": state_bytes / n_params(params),
    }


def copy_bandwidth(tree_kind: str, repeats: int) -> float:
    """Bytes per second of a donated ``x + 1`` over the tree's number of float32 values."""
    n = n_params(make_tree(tree_kind))
    x = jnp.zeros((n,), jnp.float32)
    f = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    x = f(x)
    jax.block_until_ready(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = f(x)
        jax.block_until_ready(x)
        times.append(time.perf_counter() - t0)
    return 8.0 * n / statistics.median(times)


def minimal_bytes_per_param(spec: registry.MethodSpec) -> float:
    readonly = spec.readonly_state_bytes_per_param
    return 12.0 + 2.0 * (spec.state_bytes_per_param - readonly) + readonly


def torch_times(python: str, methods: list[str], trees: list[str], repeats: int) -> dict:
    """Run the PyTorch reference timing script in another interpreter; {} if it fails."""
    cmd = [python, str(HERE / "torch_reference_step.py"), "--repeats", str(repeats),
           "--trees", *trees, "--methods", *methods]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"PyTorch reference timing failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=None, help="default: every method")
    parser.add_argument("--trees", nargs="*", default=list(TREES), choices=TREES)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--torch-python", default=None,
                        help="interpreter with torch and the reference packages")
    args = parser.parse_args(argv)
    names = args.methods or registry.names()

    bandwidth = {t: copy_bandwidth(t, args.repeats) for t in args.trees}
    torch = torch_times(args.torch_python, names, args.trees, args.repeats) \
        if args.torch_python else {}
    rows = []
    for name in names:
        spec = registry.get(name)
        counterpart = optax_counterpart(name)
        for tree in args.trees:
            n = n_params(make_tree(tree))
            ours = time_step(spec.build(), tree, args.repeats, spec.needs_value)
            row: dict[str, Any] = {
                "method": name, "tree": tree, "params": n,
                "minimal_bytes_per_param": minimal_bytes_per_param(spec), **ours,
            }
            row["gb_per_s"] = row["minimal_bytes_per_param"] * n / ours["time_s"] / 1e9
            row["fraction_of_copy_bandwidth"] = row["gb_per_s"] * 1e9 / bandwidth[tree]
            if counterpart is not None:
                theirs = time_step(counterpart(), tree, args.repeats)
                row["optax_time_s"] = theirs["time_s"]
                row["ratio_to_optax"] = ours["time_s"] / theirs["time_s"]
            ref = torch.get(name, {}).get(tree)
            if ref is not None:
                row["torch_time_s"] = ref
                row["ratio_to_torch"] = ours["time_s"] / ref
            rows.append(row)
            print_row(row, header=len(rows) == 1)

    summary = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "devices": [str(d) for d in jax.devices()],
                    "jax": jax.__version__, "optax": optax.__version__,
                    "adaptlr": adaptlr.__version__},
        "copy_bandwidth_gb_per_s": {t: b / 1e9 for t, b in bandwidth.items()},
        "rows": rows,
    }
    print("\ncopy bandwidth (GB/s): " + ", ".join(
        f"{t}: {b / 1e9:.1f}" for t, b in bandwidth.items()))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.json}")
    return 0


def print_row(row: dict[str, Any], header: bool) -> None:
    if header:
        print(f"{'method':22s} {'tree':8s} {'ms':>8s} {'GB/s':>6s} {'%copy':>6s} "
              f"{'/optax':>7s} {'/torch':>7s} {'compile':>8s} {'B/param':>8s}")
    def fmt(key: str, spec: str) -> str:
        return format(row[key], spec) if key in row else "-"
    print(f"{row['method']:22s} {row['tree']:8s} {row['time_s'] * 1e3:8.2f} "
          f"{row['gb_per_s']:6.1f} {100 * row['fraction_of_copy_bandwidth']:5.0f}% "
          f"{fmt('ratio_to_optax', '.2f'):>7s} {fmt('ratio_to_torch', '.2f'):>7s} "
          f"{row['compile_s']:7.2f}s {row['state_bytes_per_param']:8.1f}", flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
