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

It also reports the bytes XLA itself counts for the compiled step (``cost_analysis()``'s
``bytes accessed``, per parameter) for adaptlr and for the Optax counterpart: deterministic
evidence, independent of the machine's load, of how many passes over memory the compiled
step makes (XLA:CPU fuses each output array separately, so its count sits above the minimal
model even for Optax's Adam: 40 against 28). ``--bytes-only`` reports only these, without
timing anything. ``--flatten`` also times ``optax.flatten(tx)`` (every leaf packed into one
vector) on the 300-leaf tree, where per-leaf overhead dominates.

    python benchmarks/update_throughput.py                       # every method, all trees
    python benchmarks/update_throughput.py --methods adam prodigy --trees 16M
    python benchmarks/update_throughput.py --bytes-only --trees 1M
    python benchmarks/update_throughput.py --torch-python .venv-ref/bin/python --flatten \
        --json docs/performance.json

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
    """Optax's implementation of the same method with the registry's default settings.

    Keys are registry names (``test_update_throughput.py`` checks them against the registry).
    """
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
        "prodigy": lambda: c.prodigy(1.0),
        "dadapt_adam": lambda: c.dadapt_adamw(1.0),
        "schedule_free_adamw": lambda: c.schedule_free_adamw(2.5e-3),
        "schedule_free_sgd": lambda: c.schedule_free_sgd(1e-3),
        "dog": lambda: c.dog(1.0),
        "dowg": lambda: c.dowg(1.0),
        "cocob": lambda: c.cocob(alpha=100.0, eps=1e-8),
        # adaptlr's learning_rate=1.0 is the base optimizer's learning rate.
        "mechanic_sgd": lambda: c.mechanize(optax.sgd(1.0)),
        "mechanic_adam": lambda: c.mechanize(optax.adam(1.0)),
    }
    return table.get(name)


OPTAX_COUNTERPARTS = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", "nadamw",
                      "adagrad", "rmsprop", "adafactor", "lion", "lamb", "prodigy",
                      "dadapt_adam", "schedule_free_adamw", "schedule_free_sgd", "dog", "dowg",
                      "cocob", "mechanic_sgd", "mechanic_adam")


# XLA compiler options for every timed program (``--compiler-option``), e.g.
# ``xla_cpu_copy_insertion_use_region_analysis=true`` (see docs/performance.md).
COMPILER_OPTIONS: dict[str, Any] = {}


def step_fn(tx: optax.GradientTransformation, needs_value: bool,
            needs_value_fn: bool = False) -> Callable[..., Any]:
    """The documented training step: update + apply_updates, old params and state donated.

    A line search (``needs_value_fn``) gets ``value_fn = 0.5 |x|^2``, the loss whose gradient
    at the timed point is about the timed gradient's scale: its trial evaluations are part of
    the step it is timed on.
    """

    def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        extra: dict[str, Any] = {"value": jnp.asarray(1.0, jnp.float32)} if needs_value else {}
        if needs_value_fn:
            extra["value_fn"] = lambda p: 0.5 * optax.tree.norm(p, squared=True)
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1), compiler_options=COMPILER_OPTIONS or None)


def _option_value(text: str) -> Any:
    """``true``/``false`` as booleans, numbers as numbers, anything else as the string."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def has_reduction(lowered: Any) -> bool:
    """Whether a lowered step reduces over array data (a norm, an inner product, a mean).

    A step without one is *elementwise*: every output entry depends only on the same entry
    of the inputs and on scalars, so nothing but memory bandwidth bounds it. Decided from the
    program itself (StableHLO before optimisation), not from a list kept by hand.
    """
    return "stablehlo.reduce" in lowered.as_text()


def xla_bytes_accessed(compiled: Any) -> float:
    """``bytes accessed`` of a compiled executable, as counted by XLA's cost analysis."""
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older jax: one dict per computation
        cost = cost[0]
    return float(cost.get("bytes accessed", float("nan")))


class Prepared:
    """One compiled training step on one tree, with its own (donated) buffers."""

    def __init__(self, tx: optax.GradientTransformation, tree_kind: str,
                 needs_value: bool = False, needs_value_fn: bool = False) -> None:
        self.params = make_tree(tree_kind, 0)
        self.grads = make_tree(tree_kind, 1)
        # A fresh copy: some states alias the parameters (optax.contrib.prodigy keeps
        # params0 = params), and a donated buffer cannot be donated twice.
        self.state = jax.tree.map(jnp.copy, tx.init(self.params))
        step = step_fn(tx, needs_value, needs_value_fn)
        t0 = time.perf_counter()
        lowered = step.lower(self.params, self.state, self.grads)
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - t0
        n = n_params(self.params)
        self.stats = {
            "elementwise": not has_reduction(lowered),
            "compile_s": self.compile_s,
            "state_bytes_per_param":
                sum(jnp.asarray(x).nbytes for x in jax.tree.leaves(self.state)) / n,
            "xla_bytes_per_param": xla_bytes_accessed(self.compiled) / n,
        }
        self.times: list[float] = []
        self.run()  # warm-up
        self.times.clear()

    def run(self) -> None:
        t0 = time.perf_counter()
        self.params, self.state = self.compiled(self.params, self.state, self.grads)
        jax.block_until_ready((self.params, self.state))
        self.times.append(time.perf_counter() - t0)


class CopyStep:
    """A donated ``x + 1`` over as many float32 values as a tree has parameters: the copy
    bandwidth (8 bytes per value), timed interleaved with the steps it is compared to."""

    def __init__(self, tree_kind: str) -> None:
        self.n = n_params(make_tree(tree_kind))
        self.x = jnp.zeros((self.n,), jnp.float32)
        self.f = jax.jit(lambda x: x + 1.0, donate_argnums=0,
                         compiler_options=COMPILER_OPTIONS or None)
        self.times: list[float] = []
        self.run()
        self.times.clear()

    def run(self) -> None:
        t0 = time.perf_counter()
        self.x = self.f(self.x)
        jax.block_until_ready(self.x)
        self.times.append(time.perf_counter() - t0)


def time_interleaved(steps: list[Any], repeats: int) -> list[float]:
    """Median time of each step, their calls interleaved so that load changes hit all alike."""
    for _ in range(repeats):
        for step in steps:
            step.run()
    return [statistics.median(step.times) for step in steps]


def time_step(
    tx: optax.GradientTransformation, tree_kind: str, repeats: int, needs_value: bool = False
) -> dict[str, float]:
    """Compile and time one step alone: ``{"time_s", "compile_s", ...}``."""
    prepared = Prepared(tx, tree_kind, needs_value)
    (median,) = time_interleaved([prepared], repeats)
    return {"time_s": median, **prepared.stats}


def copy_bandwidth(tree_kind: str, repeats: int) -> float:
    """Bytes per second of a donated ``x + 1`` over the tree's number of float32 values."""
    step = CopyStep(tree_kind)
    (median,) = time_interleaved([step], repeats)
    return 8.0 * step.n / median


def minimal_bytes_per_param(spec: registry.MethodSpec) -> float:
    readonly = spec.readonly_state_bytes_per_param
    return 12.0 + 2.0 * (spec.state_bytes_per_param - readonly) + readonly


def torch_times(python: str, methods: list[str], trees: list[str], repeats: int,
                threads: int | None = None) -> dict:
    """Run the PyTorch reference timing script in another interpreter; {} if it fails."""
    cmd = [python, str(HERE / "torch_reference_step.py"), "--repeats", str(repeats),
           "--trees", *trees, "--methods", *methods]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"PyTorch reference timing failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(name: str, tree: str, args: argparse.Namespace, torch: dict) -> dict[str, Any]:
    """One row: adaptlr's step, Optax's counterpart, optax.flatten and the copy, interleaved.

    The fraction of the copy bandwidth compares the step with a copy timed in the same loop,
    so that a change of load during the run moves both.
    """
    spec = registry.get(name)
    counterpart = optax_counterpart(name)
    ours = Prepared(spec.build(), tree, spec.needs_value, spec.needs_value_fn)
    n = n_params(ours.params)
    row: dict[str, Any] = {"method": name, "tree": tree, "params": n,
                           "minimal_bytes_per_param": minimal_bytes_per_param(spec),
                           **ours.stats}
    others: dict[str, Prepared] = {}
    if counterpart is not None:
        others["optax"] = Prepared(counterpart(), tree)
        row["optax_xla_bytes_per_param"] = others["optax"].stats["xla_bytes_per_param"]
    if args.flatten and tree == "300leaf":
        others["flatten"] = Prepared(optax.flatten(spec.build()), tree, spec.needs_value,
                                     spec.needs_value_fn)
        row["flatten_xla_bytes_per_param"] = others["flatten"].stats["xla_bytes_per_param"]
    if args.bytes_only:
        return row
    copy = CopyStep(tree)
    medians = time_interleaved([ours, copy, *others.values()], args.repeats)
    row["time_s"] = medians[0]
    row["copy_gb_per_s"] = 8.0 * n / medians[1] / 1e9
    row["gb_per_s"] = row["minimal_bytes_per_param"] * n / row["time_s"] / 1e9
    row["fraction_of_copy_bandwidth"] = row["gb_per_s"] / row["copy_gb_per_s"]
    for key, median in zip(others, medians[2:], strict=True):
        row[f"{key}_time_s"] = median
        row[f"ratio_to_{key}"] = row["time_s"] / median
    ref = torch.get(name, {}).get(tree)
    if ref is not None:
        row["torch_time_s"] = ref
        row["ratio_to_torch"] = row["time_s"] / ref
    return row


def per_parameter_fields(spec: registry.MethodSpec) -> list[str]:
    """Paths of the state arrays shaped like a (256, 256) parameter: the per-parameter state."""
    state = spec.build().init({"w": jnp.zeros((256, 256), jnp.float32)})
    fields = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        if jnp.shape(leaf) == (256, 256):
            names = [str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k))))
                     for k in path]
            fields.append(".".join(n for n in names if n != "w" and not n.isdigit()))
    return fields


def model_table() -> str:
    """The minimal-bytes model of every registered method, as a Markdown table."""
    lines = []
    for spec in registry.all_specs():
        fields = ", ".join(f"`{f}`" for f in per_parameter_fields(spec)) or "none"
        lines.append(f"| {spec.name} | {spec.state_bytes_per_param:g} "
                     f"| {spec.readonly_state_bytes_per_param:g} "
                     f"| {minimal_bytes_per_param(spec):g} | {fields} |")
    return "\n".join(lines)


def markdown_table(summary: dict[str, Any]) -> str:
    """The results of one run (the JSON this script writes) as a Markdown table."""
    def cell(row: dict[str, Any], key: str, spec: str, scale: float = 1.0) -> str:
        return format(row[key] * scale, spec) if key in row else "-"

    lines = ["| method | tree | ms | GB/s | % copy | / optax | / torch | / flatten | compile s "
             "| state B | min B | XLA B | Optax XLA B |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in summary["rows"]:
        lines.append(
            f"| {row['method']} | {row['tree']} | {cell(row, 'time_s', '.2f', 1e3)} "
            f"| {cell(row, 'gb_per_s', '.1f')} "
            f"| {cell(row, 'fraction_of_copy_bandwidth', '.0f', 100)} "
            f"| {cell(row, 'ratio_to_optax', '.2f')} | {cell(row, 'ratio_to_torch', '.2f')} "
            f"| {cell(row, 'ratio_to_flatten', '.2f')} | {row['compile_s']:.1f} "
            f"| {row['state_bytes_per_param']:.1f} | {row['minimal_bytes_per_param']:.0f} "
            f"| {row['xla_bytes_per_param']:.1f} "
            f"| {cell(row, 'optax_xla_bytes_per_param', '.1f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=None, help="default: every method")
    parser.add_argument("--trees", nargs="*", default=list(TREES), choices=TREES)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--torch-python", default=None,
                        help="interpreter with torch and the reference packages")
    parser.add_argument("--torch-repeats", type=int, default=None,
                        help="repeats of the PyTorch steps (default: --repeats)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="PyTorch's intra-op threads (default: its own choice)")
    parser.add_argument("--flatten", action="store_true",
                        help="also time optax.flatten(method) on the 300-leaf tree")
    parser.add_argument("--bytes-only", action="store_true",
                        help="only XLA's byte counts and compile times, no timing")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="print the table of a JSON file this script wrote, and exit")
    parser.add_argument("--acceptance", type=Path, default=None,
                        help="print the acceptance verdicts read from a JSON file this script "
                             "wrote (recomputed from its rows, nothing timed), and exit")
    parser.add_argument("--model", action="store_true",
                        help="print the minimal-bytes model of every method, and exit")
    parser.add_argument("--compiler-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an XLA compiler option for every JAX program timed, e.g. "
                             "xla_cpu_copy_insertion_use_region_analysis=true (repeatable)")
    args = parser.parse_args(argv)
    COMPILER_OPTIONS.clear()
    for option in args.compiler_option:
        key, sep, value = option.partition("=")
        if not sep:
            parser.error(f"--compiler-option wants KEY=VALUE, got {option!r}")
        COMPILER_OPTIONS[key] = _option_value(value)
    if args.model:
        print(model_table())
        return 0
    if args.markdown:
        print(markdown_table(json.loads(args.markdown.read_text())))
        return 0
    if args.acceptance:
        summary = json.loads(args.acceptance.read_text())
        print(acceptance_text(acceptance(summary["rows"], summary["copy_bandwidth_gb_per_s"])))
        return 0
    names = args.methods or registry.names()
    unknown = [n for n in names if n not in registry.names()]
    if unknown:
        parser.error(f"unknown methods {unknown}; see `adaptlr list`")

    torch = torch_times(args.torch_python, names, args.trees,
                        args.torch_repeats or args.repeats, args.torch_threads) \
        if args.torch_python and not args.bytes_only else {}
    rows = []
    for name in names:
        for tree in args.trees:
            rows.append(measure(name, tree, args, torch))
            print_row(rows[-1], header=len(rows) == 1)

    summary = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "devices": [str(d) for d in jax.devices()],
                    "jax": jax.__version__, "optax": optax.__version__,
                    "adaptlr": adaptlr.__version__},
        "repeats": args.repeats,
        "torch": {"python": args.torch_python, "repeats": args.torch_repeats or args.repeats,
                  "threads": args.torch_threads},
        "compiler_options": dict(COMPILER_OPTIONS),
        # Process-wide settings that change the timings (XLA flags, the C allocator's).
        "environment": {k: os.environ[k] for k in ("XLA_FLAGS", "GLIBC_TUNABLES")
                        if k in os.environ},
        "copy_bandwidth_gb_per_s": {
            t: statistics.median(r["copy_gb_per_s"] for r in rows if r["tree"] == t)
            for t in args.trees if not args.bytes_only},
        "rows": rows,
    }
    summary["acceptance"] = acceptance(rows, summary["copy_bandwidth_gb_per_s"])
    if not args.bytes_only:
        print("\ncopy bandwidth (GB/s, median over the rows): " + ", ".join(
            f"{t}: {b:.1f}" for t, b in summary["copy_bandwidth_gb_per_s"].items()))
        print()
        print(acceptance_text(summary["acceptance"]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.json}")
    return 0


LR_FREE_FAMILY = "parameter_free"
HALF = 0.5  # elementwise methods: at least half the copy bandwidth on the 16M tree
WITHIN = 1.1  # learning-rate-free methods: within 1.1x of their optax.contrib counterpart


def acceptance(rows: list[dict[str, Any]],
               median_copy: dict[str, float] | None = None) -> dict[str, Any]:
    """The issue's three criteria, read from the rows: for each, the rows that meet it and the
    rows that do not (``method/tree: value``).

    The bandwidth criterion is read against the copy timed alongside each row and, given the
    run's median copy bandwidth per tree (``median_copy``), against that median too: the
    copy's own rate moves by up to 2x between rows on a shared machine.
    """
    def verdict(selected: list[dict[str, Any]], key: str, ok: Callable[[float], bool]) -> dict:
        met, missed = [], []
        for r in selected:
            if key in r:
                (met if ok(r[key]) else missed).append(f"{r['method']}/{r['tree']}: {r[key]:.2f}")
        return {"met": met, "not_met": missed}

    timed = [r for r in rows if "time_s" in r]
    lr_free = [r for r in timed if registry.get(r["method"]).family == LR_FREE_FAMILY]
    elementwise = [r for r in timed if r["tree"] == "16M" and r["elementwise"]]
    verdicts = {
        f"lr_free_within_{WITHIN}x_of_optax": verdict(lr_free, "ratio_to_optax",
                                                      lambda v: v <= WITHIN),
        "elementwise_half_copy_bandwidth_16M": verdict(
            elementwise, "fraction_of_copy_bandwidth", lambda v: v >= HALF),
    }
    if median_copy and "16M" in median_copy:
        against_median = [{**r, "fraction_of_median_copy": r["gb_per_s"] / median_copy["16M"]}
                          for r in elementwise]
        verdicts["elementwise_half_median_copy_bandwidth_16M"] = verdict(
            against_median, "fraction_of_median_copy", lambda v: v >= HALF)
    verdicts["faster_than_torch_reference"] = verdict(timed, "ratio_to_torch",
                                                      lambda v: v < 1.0)
    return verdicts


def acceptance_text(verdicts: dict[str, Any]) -> str:
    lines = ["acceptance (met / rows with the measurement):"]
    for name, v in verdicts.items():
        total = len(v["met"]) + len(v["not_met"])
        lines.append(f"  {name}: {len(v['met'])} / {total}")
        lines.extend(f"    not met: {item}" for item in v["not_met"])
    return "\n".join(lines)


def print_row(row: dict[str, Any], header: bool) -> None:
    """One line of the table; ``-`` where a column does not apply."""
    if header:
        print(f"{'method':20s} {'tree':7s} {'ms':>8s} {'GB/s':>6s} {'%copy':>6s} "
              f"{'/optax':>7s} {'/torch':>7s} {'/flat':>6s} {'compile':>8s} {'state B':>7s} "
              f"{'min B':>6s} {'XLA B':>6s} {'optaxB':>6s}")

    def fmt(key: str, spec: str, scale: float = 1.0) -> str:
        return format(row[key] * scale, spec) if key in row else "-"

    print(f"{row['method']:20s} {row['tree']:7s} {fmt('time_s', '8.2f', 1e3):>8s} "
          f"{fmt('gb_per_s', '6.1f'):>6s} {fmt('fraction_of_copy_bandwidth', '5.0f', 100):>5s}% "
          f"{fmt('ratio_to_optax', '.2f'):>7s} {fmt('ratio_to_torch', '.2f'):>7s} "
          f"{fmt('ratio_to_flatten', '.2f'):>6s} {row['compile_s']:7.2f}s "
          f"{row['state_bytes_per_param']:7.1f} {row['minimal_bytes_per_param']:6.1f} "
          f"{row['xla_bytes_per_param']:6.1f} {fmt('optax_xla_bytes_per_param', '6.1f'):>6s}",
          flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
