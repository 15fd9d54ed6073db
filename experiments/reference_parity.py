"""Reference parity in training: adaptlr against the authors' packages, paired runs.

For each method with an authors' PyTorch package, both implementations train the same model
from the same initial parameters on the same minibatch sequence in float32, for ``--seeds``
seeds; two-sample tests (Mann-Whitney U and Kolmogorov-Smirnov, scipy) ask whether the two
distributions of the final training objective differ, and the paired differences are reported.
One seed is also run in float64 on both sides, with the step size each applied compared step by
step where the package exposes it.

Two tasks (``--task``, default both):

* ``wine``: ridge multinomial logistic regression on scikit-learn's wine data (the convex
  suite's ``logreg_wine``: 178 x 13 standardised features + bias, 3 classes, l2 = 1e-3), one
  parameter tensor;
* ``digits_mlp``: a 64-32-10 tanh MLP with biases (four parameter tensors, so layer-wise
  methods differ from global ones) on scikit-learn's digits (the 1438-image training split of
  ``adaptlr.benchmarks.data.digits``, standardised), softmax cross-entropy, no regularisation;
  initial weights drawn in NumPy (normal with standard deviation ``1/sqrt(fan_in)``, zero
  biases) and given to both sides.

Minibatch 32, ``--steps`` steps. The forward pass and the objective are one function
(:func:`objective`) run by both sides on their own arrays. Methods that read the loss (MoMo,
MoMo-Adam, SPS_safe, IMA-SPS_safe) get the minibatch objective at the current parameters, the
value their package's ``step`` sees (a closure returning it, or ``loss=``). The PyTorch side
runs in a separate interpreter (``--torch-python``, an environment with torch and the packages;
it needs only numpy besides), concurrently with the adaptlr side, and exchanges arrays through
``.npz`` files.

Writes ``experiments/results/reference_parity.md`` and ``.json``.

Usage::

    SCHEDULE_FREE_REPO=/path/to/schedule_free/.git \
        python experiments/reference_parity.py --torch-python /path/to/.venv-ref/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, NamedTuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BATCH = 32
TASKS = ("wine", "digits_mlp")
#: l2 coefficient of the objective per task
L2 = {"wine": 1e-3, "digits_mlp": 0.0}
MLP_SIZES = (64, 32, 10)


class Method(NamedTuple):
    """One row: adaptlr's registered method against its authors' package."""

    name: str  # registry name
    overrides: dict[str, Any]  # adaptlr arguments besides the registry's defaults
    package: str  # "module.Class" (``trac:<torch.optim class>`` for start_trac)
    kwargs: dict[str, Any]  # the package's arguments
    call: str  # how the package's step gets the loss: "" (it does not), "closure", "loss",
    # "step_func" (ScheduleFree+'s step_func(loss value))
    step_size: str | None  # the package's record of its step size: "d_lr", "ss", "trac"
    shift: int = 0  # the package's record after step t is adaptlr's after step t + shift
    ref: str | None = None  # reuse the package runs of another row


#: Rows, at the registry's defaults with the package called with the same values (where the
#: package's own default differs, the registry's value is passed, noted in a comment).
METHODS: dict[str, Method] = {
    "prodigy": Method("prodigy", {}, "prodigyopt.Prodigy", {"lr": 1.0}, "", "d_lr", 1),
    "dadapt_adam": Method("dadapt_adam", {}, "dadaptation.DAdaptAdam", {"lr": 1.0}, "",
                          "d_lr", 1),
    "schedule_free_adamw": Method("schedule_free_adamw", {}, "schedulefree.AdamWScheduleFree",
                                  {"lr": 0.0025}, "", None),
    "dog": Method("dog", {}, "dog.DoG", {"lr": 1.0}, "", None),
    # D-Adapt SGD's registered momentum 0.9 is passed to the package, whose default is 0.
    "dadapt_sgd": Method("dadapt_sgd", {}, "dadaptation.DAdaptSGD",
                         {"lr": 1.0, "momentum": 0.9}, "", None),
    "dadapt_adagrad": Method("dadapt_adagrad", {}, "dadaptation.DAdaptAdaGrad", {"lr": 1.0},
                             "", None),
    "dadapt_lion": Method("dadapt_lion", {}, "dadaptation.DAdaptLion", {"lr": 1.0}, "", None),
    "dadapt_adan": Method("dadapt_adan", {}, "dadaptation.DAdaptAdan", {"lr": 1.0}, "", None),
    "ldog": Method("ldog", {}, "dog.LDoG", {"lr": 1.0}, "", None),
    # Loss-driven: the package's step gets the minibatch loss.
    "momo": Method("momo", {}, "momo.Momo", {"lr": 1.0}, "closure", None),
    "momo_adam": Method("momo_adam", {}, "momo.MomoAdam", {"lr": 1e-2}, "closure", None),
    "sps_safe": Method("sps_safe", {}, "sps_safe.SPS_safe", {"ell_star": 0.0, "M": 1.0},
                       "loss", "ss"),
    "ima_sps_safe": Method("ima_sps_safe", {}, "sps_safe.IMA_SPS_safe",
                           {"ell_star": 0.0, "lambd": 1.0, "M": 1.0}, "loss", "ss"),
    # TRAC around torch.optim.Adam at the registry's base learning rate 1 (Adam's default is
    # 1e-3); adaptlr's default erfi is the package's approximation (exact_erfi=False).
    "trac_adam": Method("trac_adam", {}, "trac:Adam", {"lr": 1.0}, "", "trac"),
    # The package keeps p0 and s in bfloat16 for float32 parameters: statistics_dtype=bfloat16
    # is that; the second row is adaptlr's default (p0 and s in the parameters' dtype) against
    # the same package runs.
    "prodigy_plus_schedule_free": Method(
        "prodigy_plus_schedule_free", {"statistics_dtype": "bfloat16"},
        "prodigyplus.ProdigyPlusScheduleFree", {"lr": 1.0}, "", "d_lr", 1),
    "prodigy_plus_schedule_free (default)": Method(
        "prodigy_plus_schedule_free", {}, "prodigyplus.ProdigyPlusScheduleFree", {"lr": 1.0},
        "", "d_lr", 1, ref="prodigy_plus_schedule_free"),
    # ScheduleFree+: the authors' AdamCScheduleFreePlusPaper (not on the package index; the
    # file at the commit the goldens use, read from the git directory named by
    # --schedule-free-repo / SCHEDULE_FREE_REPO), whose step_func takes the loss value.
    "schedule_free_plus": Method("schedule_free_plus", {}, "sfplus:AdamCScheduleFreePlusPaper",
                                 {"lr": 1.0}, "step_func", None),
}
#: Rows evaluated at the Schedule-Free averaged point (the package's ``eval()``).
SCHEDULE_FREE = ("schedule_free_adamw", "prodigy_plus_schedule_free", "schedule_free_plus")


def objective(task: str, params: Any, x: Any, y: Any, ops: Any) -> Any:
    """The minibatch objective; ``ops`` supplies ``tanh``, ``cross_entropy`` (mean, integer
    labels) and ``sum`` for torch or jax.numpy."""
    if task == "wine":
        logits = x @ params[0]
    else:
        w1, b1, w2, b2 = params
        logits = ops.tanh(x @ w1 + b1[None, :]) @ w2 + b2[None, :]
    f = ops.cross_entropy(logits, y)
    if L2[task]:
        f = f + 0.5 * L2[task] * sum(ops.sum(p * p) for p in params)
    return f


# ------------------------------------------------------------------ torch side (no adaptlr)
def _package_optimizer(method: Method, params: list[Any]) -> Any:
    import importlib

    import torch

    if method.package.startswith("sfplus:"):
        generator = importlib.import_module(
            "tests.parameter_free.generate_goldens_schedule_free_plus")
        return generator._sf_plus_class()(params, **method.kwargs)
    if method.package.startswith("trac:"):
        from trac_optimizer import trac as trac_module

        base = getattr(torch.optim, method.package.split(":")[1])
        return trac_module.start_trac(os.devnull, base)(params, **method.kwargs)
    module, cls = method.package.rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)(params, **method.kwargs)


def _package_step_size(method: Method, opt: Any) -> float:
    group = opt.param_groups[0]
    if method.step_size == "d_lr":
        return float(group["d"]) * float(group["lr"])
    if method.step_size == "ss":
        return float(opt.ss)
    s = float(opt.state["_trac"]["s"].sum())  # trac: lr * max(sum of the tuners' s, 0)
    return float(group["lr"]) * max(s, 0.0)


def torch_side(inp: str, out: str) -> None:
    import contextlib
    import importlib
    import types

    import torch

    sys.path.insert(0, ROOT)
    torch.set_num_threads(1)  # tiny matrices: threads only add contention
    ops = types.SimpleNamespace(tanh=torch.tanh, sum=torch.sum,
                                cross_entropy=torch.nn.functional.cross_entropy)
    data = np.load(inp)
    tasks = str(data["tasks"]).split(",")
    results: dict[str, Any] = {}
    start = time.perf_counter()
    for dtype_name, torch_dtype in (("f32", torch.float32), ("f64", torch.float64)):
        # Scalar state the packages create with torch.zeros (MoMo) and TRAC's erfi tables
        # (built at import) follow the default dtype: float64 for the float64 runs, as in the
        # golden generators.
        torch.set_default_dtype(torch_dtype)
        import trac_optimizer.trac

        importlib.reload(trac_optimizer.trac)
        for task in tasks:
            x = torch.tensor(data[f"{task}/x"], dtype=torch_dtype)
            y = torch.tensor(data[f"{task}/y"], dtype=torch.long)
            n_tensors = int(data[f"{task}/n_tensors"])
            for label, method in METHODS.items():
                if method.ref is not None:
                    continue
                seeds = range(data[f"{task}/w0_0"].shape[0]) if dtype_name == "f32" else [0]
                precision: Any = contextlib.nullcontext()
                if dtype_name == "f64" and label == "prodigy_plus_schedule_free":
                    # The package computes in float32/bfloat16 whatever the parameters' dtype;
                    # the golden generator's patch makes it compute in float64.
                    precision = importlib.import_module(
                        "tests.parameter_free.generate_goldens_prodigy_plus_schedule_free"
                    ).package_in_float64()
                finals, traces = [], []
                with precision:
                    for s in seeds:
                        torch.manual_seed(s)  # no package here draws random numbers
                        params = [torch.tensor(data[f"{task}/w0_{i}"][s], dtype=torch_dtype,
                                               requires_grad=True) for i in range(n_tensors)]
                        opt = _package_optimizer(method, params)
                        if hasattr(opt, "train"):
                            opt.train()
                        trace = []
                        try:
                            for idx in data[f"{task}/batches"][s]:
                                index = torch.tensor(idx, dtype=torch.long)
                                opt.zero_grad()
                                loss = objective(task, params, x[index], y[index], ops)
                                loss.backward()
                                if method.call == "closure":
                                    opt.step(closure=lambda loss=loss: loss)
                                elif method.call == "loss":
                                    opt.step(loss=loss.detach())
                                elif method.call == "step_func":
                                    opt.step_func(float(loss.detach()))
                                else:
                                    opt.step()
                                if method.step_size is not None:
                                    trace.append(_package_step_size(method, opt))
                            if hasattr(opt, "eval"):
                                opt.eval()  # Schedule-Free: evaluate at the averaged iterate
                            with torch.no_grad():
                                f = float(objective(task, params, x, y, ops))
                        except ValueError:  # TRAC raises on NaN
                            f = float("nan")
                        finals.append(f)
                        traces.append(trace)
                results[f"{task}/{label}_{dtype_name}_final"] = np.asarray(finals)
                if method.step_size is not None and dtype_name == "f64":
                    results[f"{task}/{label}_f64_trace"] = np.asarray(traces[0])
    results["wall_s"] = np.asarray(time.perf_counter() - start)
    np.savez(out, **results)


# ------------------------------------------------------------------ adaptlr side
def adaptlr_side(data: dict[str, np.ndarray], tasks: list[str]) -> dict[str, np.ndarray]:
    import types

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    import adaptlr

    ops = types.SimpleNamespace(tanh=jnp.tanh, sum=jnp.sum,
                                cross_entropy=lambda z, y: optax.
                                softmax_cross_entropy_with_integer_labels(z, y).mean())
    results: dict[str, np.ndarray] = {}
    for task in tasks:
        n_tensors = int(data[f"{task}/n_tensors"])
        for dtype_name, dtype in (("f32", jnp.float32), ("f64", jnp.float64)):
            x = jnp.asarray(data[f"{task}/x"], dtype)
            y = jnp.asarray(data[f"{task}/y"], jnp.int32)
            for label, method in METHODS.items():
                spec = adaptlr.registry.get(method.name)
                # statistics_dtype=bfloat16 is the package on float32 parameters; the float64
                # run is against the package patched to compute in float64 throughout, which
                # adaptlr's default (statistics in the parameters' dtype) is.
                overrides = {k: jnp.dtype(v) if k == "statistics_dtype" else v
                             for k, v in method.overrides.items()
                             if not (k == "statistics_dtype" and dtype_name == "f64")}
                tx = spec.build(**overrides)

                @jax.jit
                def run(w0, batches, tx=tx, x=x, y=y, spec=spec,  # type: ignore[no-untyped-def]
                        method=method, label=label, task=task):
                    def step(carry, idx):  # type: ignore[no-untyped-def]
                        w, state = carry
                        loss, g = jax.value_and_grad(
                            lambda w: objective(task, w, x[idx], y[idx], ops))(w)
                        if spec.needs_value:
                            u, state = tx.update(g, state, w, value=loss)
                        else:
                            u, state = tx.update(g, state, w)
                        w = optax.apply_updates(w, u)
                        lr = adaptlr.effective_lr(state) if method.step_size else jnp.zeros(())
                        return (w, state), lr

                    (w, state), lrs = jax.lax.scan(step, (w0, tx.init(w0)), batches)
                    w_eval = adaptlr.schedule_free_eval_params(state, w) \
                        if label.startswith(SCHEDULE_FREE) else w
                    return objective(task, w_eval, x, y, ops), lrs

                seeds = range(data[f"{task}/w0_0"].shape[0]) if dtype_name == "f32" else [0]
                finals, traces = [], []
                for s in seeds:
                    w0 = tuple(jnp.asarray(data[f"{task}/w0_{i}"][s], dtype)
                               for i in range(n_tensors))
                    f, lrs = run(w0, jnp.asarray(data[f"{task}/batches"][s]))
                    finals.append(float(f))
                    traces.append(np.asarray(lrs, np.float64))
                results[f"{task}/{label}_{dtype_name}_final"] = np.asarray(finals)
                if dtype_name == "f64":
                    # The floor: adaptlr's own float64 run from the initial weights moved by
                    # one ulp (relative 2^-52). A float64 difference to the package well above
                    # it would be a discrepancy; one at or below it is rounding, amplified.
                    w0 = tuple(jnp.asarray(data[f"{task}/w0_{i}"][0], dtype) * (1 + 2.0**-52)
                               for i in range(n_tensors))
                    f, _ = run(w0, jnp.asarray(data[f"{task}/batches"][0]))
                    results[f"{task}/{label}_f64_floor"] = np.asarray(
                        abs(float(f) - finals[0]) / abs(finals[0]))
                    if method.step_size is not None:
                        results[f"{task}/{label}_f64_trace"] = traces[0]
    return results


# ------------------------------------------------------------------ data, statistics, report
def task_data(task: str, seeds: int, steps: int) -> tuple[dict[str, np.ndarray], dict]:
    """The task's arrays (data, initial parameters per seed, minibatch indices) and metadata."""
    if task == "wine":
        from adaptlr.benchmarks import convex

        p = convex.load("wine")
        x, y = p.x, p.y
        shapes: list[tuple[int, ...]] = [(x.shape[1], p.classes)]
        meta = {"description": "ridge multinomial logistic regression, sklearn wine (178 x 14 "
                               f"with the bias column, 3 classes), l2 {L2[task]:g}, one "
                               "parameter tensor", "f_star": p.f_star}
    else:
        from adaptlr.benchmarks import data as bdata

        split = bdata.digits()
        x, y = split.x_train.astype(np.float64), split.y_train.astype(np.int64)
        a, h, c = MLP_SIZES
        shapes = [(a, h), (h,), (h, c), (c,)]
        meta = {"description": f"MLP {a}-{h}-{c} (tanh, biases; four parameter tensors, "
                               f"{sum(int(np.prod(s)) for s in shapes)} parameters), sklearn "
                               f"digits training split ({x.shape[0]} x {a}, standardised), "
                               "softmax cross-entropy, no regularisation", "f_star": None}
    arrays: dict[str, np.ndarray] = {f"{task}/x": x, f"{task}/y": y,
                                     f"{task}/n_tensors": np.asarray(len(shapes))}
    rngs = [np.random.default_rng(s) for s in range(seeds)]
    for i, shape in enumerate(shapes):
        # Weights N(0, 1/fan_in) for the MLP, N(0, 0.01^2) for the linear model; biases 0.
        std = 0.01 if task == "wine" else 1 / np.sqrt(shape[0])
        arrays[f"{task}/w0_{i}"] = np.stack([
            r.normal(0, std, shape) if len(shape) == 2 else np.zeros(shape) for r in rngs])
    n = x.shape[0]
    arrays[f"{task}/batches"] = np.stack([
        np.random.default_rng(10_000 + s).integers(0, n, (steps, BATCH)) for s in range(seeds)])
    return arrays, meta


def _initial_objective(task: str, data: dict[str, Any]) -> np.ndarray:
    """The full-data objective at each seed's initial weights (float64, NumPy)."""
    def cross_entropy(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = z - z.max(1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y])

    ops = argparse.Namespace(tanh=np.tanh, sum=np.sum, cross_entropy=cross_entropy)
    n_tensors = int(data[f"{task}/n_tensors"])
    return np.asarray([
        objective(task, [data[f"{task}/w0_{i}"][s] for i in range(n_tensors)],
                  data[f"{task}/x"], data[f"{task}/y"], ops)
        for s in range(data[f"{task}/w0_0"].shape[0])])


def compare(task: str, ours: dict, ref: dict, f_star: float | None,
            f0: np.ndarray) -> list[dict]:
    from scipy import stats as sps

    rows = []
    for label, method in METHODS.items():
        key = f"{task}/{label}"
        ref_key = f"{task}/{method.ref or label}"
        a_all, b_all = ours[f"{key}_f32_final"], ref[f"{ref_key}_f32_final"]
        # Runs that end non-finite are counted per side (and whether they are the same
        # seeds); the tests compare the seeds that end finite on both sides.
        bad_a, bad_b = ~np.isfinite(a_all), ~np.isfinite(b_all)
        both = ~(bad_a | bad_b)
        a, b = a_all[both], b_all[both]
        shift = 0.0 if f_star is None else f_star
        enough = a.size >= 2
        fa, fb = ours[f"{key}_f64_final"][0], ref[f"{ref_key}_f64_final"][0]
        row = {
            "method": label, "package": method.package, "seeds": int(a_all.size),
            "nonfinite_adaptlr": int(bad_a.sum()), "nonfinite_package": int(bad_b.sum()),
            "nonfinite_same_seeds": bool(np.array_equal(bad_a, bad_b)),
            # Diverged: non-finite or above the initial objective at the end.
            "diverged_adaptlr": int(np.sum(bad_a | (a_all > f0))),
            "diverged_package": int(np.sum(bad_b | (b_all > f0))),
            "median_adaptlr": float(np.median(a - shift)) if a.size else float("nan"),
            "median_package": float(np.median(b - shift)) if b.size else float("nan"),
            "mann_whitney_p": float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
            if enough else float("nan"),
            "ks_p": float(sps.ks_2samp(a, b).pvalue) if enough else float("nan"),
            "max_paired_rel_diff_objective": float(np.max(np.abs(a - b) / np.abs(b)))
            if a.size else float("nan"),
            "f64_objective_rel_diff": float(abs(fa - fb) / abs(fb)),
            "f64_floor": float(ours[f"{key}_f64_floor"]),
        }
        if method.step_size is not None:
            ta, tb = ours[f"{key}_f64_trace"], ref[f"{ref_key}_f64_trace"]
            # Prodigy-style packages update group["d"] at the end of a step, after using the
            # previous d: their value after step t is the d * lr applied at step t + 1, which
            # effective_lr records after step t + 1 (shift 1). SPS_safe's ss and TRAC's scale
            # are those of the step just taken (shift 0).
            k = method.shift
            ta, tb = ta[k:], tb[:len(tb) - k]
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.abs(ta - tb) / np.abs(tb)
            row["f64_step_size_max_rel_diff"] = float(np.max(rel[tb != 0])) \
                if np.any(tb != 0) else float(np.max(np.abs(ta)))
            row["f64_step_size_final"] = [float(ta[-1]), float(tb[-1])]
        rows.append(row)
    return rows


def report(results: dict, args: argparse.Namespace, meta: dict) -> str:
    load = meta["load_average_1min_start_end"]
    lines = ["# Reference parity in training", "",
             f"Generated by `python experiments/reference_parity.py --task {args.task} --seeds "
             f"{args.seeds} --steps {args.steps} --torch-python ...` in {meta['wall_s']:.0f} s "
             f"wall (the torch side, {meta['torch_wall_s']:.0f} s, runs concurrently with the "
             f"adaptlr side, {meta['adaptlr_wall_s']:.0f} s) on 2 CPU cores, 1-minute load "
             f"average {load[0]:.1f} at the start and {load[1]:.1f} at the end.", "",
             "Paired runs: same initial weights and minibatch indices (batch "
             f"{BATCH}, {args.steps} steps) on both sides, float32, {args.seeds} seeds. "
             "p-values of two-sided tests that the final-objective distributions differ; a "
             "large p means no detectable difference. The float64 columns: one seed run in "
             "float64 on both sides. Methods that read the loss get the minibatch objective "
             "at the current parameters on both sides."]
    for task, res in results.items():
        meta, rows = res["meta"], res["rows"]
        star = meta["f_star"]
        what = "f - f*" if star is not None else "final objective f"
        lines += ["", f"## {task}", "", f"Task: {meta['description']}"
                  + (f", f* = {star:.10g}." if star is not None else "."), "",
                  "| method | package | non-finite runs (adaptlr / package, same seeds?) "
                  "| diverged runs (adaptlr / package) "
                  f"| median {what} (adaptlr) | median {what} (package) "
                  "| Mann-Whitney p | KS p | max paired rel. diff (f32) "
                  "| f64 objective rel. diff | f64 floor (1 ulp) "
                  "| f64 step size max rel. diff |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            step = r.get("f64_step_size_max_rel_diff")
            same = ("" if r["nonfinite_adaptlr"] + r["nonfinite_package"] == 0
                    else ", same" if r["nonfinite_same_seeds"] else ", different")
            lines.append(
                f"| {r['method']} | {r['package']} | "
                f"{r['nonfinite_adaptlr']} / {r['nonfinite_package']}{same} | "
                f"{r['diverged_adaptlr']} / {r['diverged_package']} | "
                f"{r['median_adaptlr']:.4g} | {r['median_package']:.4g} "
                f"| {r['mann_whitney_p']:.3g} | {r['ks_p']:.3g} | "
                f"{r['max_paired_rel_diff_objective']:.2g} | {r['f64_objective_rel_diff']:.2g} "
                f"| {r['f64_floor']:.2g} | {'-' if step is None else f'{step:.2g}'} |")
        overflow = [r["method"] for r in rows
                    if r["nonfinite_adaptlr"] != r["nonfinite_package"]
                    and r["diverged_adaptlr"] == r["diverged_package"]]
        if overflow:
            lines += ["", f"{', '.join(overflow)}: the non-finite counts differ but the same "
                      "number of runs diverge on both sides; see the notes on divergent runs."]
    lines += [
        "", "## Notes", "",
        "- Arguments: the registry's defaults, passed to the packages by their names; where a "
        "package's default differs, the registry's value is passed (D-Adapt SGD momentum 0.9; "
        "TRAC's base `torch.optim.Adam` at lr 1, the registry's `trac_adam` learning rate, "
        "against Adam's default 1e-3). TRAC: adaptlr's default `exact_erfi=False` is the "
        "package's approximation of erfi (up to ~0.9% off the true erfi), used here for "
        "parity.",
        "- ProdigyPlusScheduleFree: the package keeps `p0` and `s` in bfloat16 for float32 "
        "parameters (its stochastic rounding only writes bfloat16 parameters: not used "
        "here); the row "
        "`prodigy_plus_schedule_free` runs adaptlr with `statistics_dtype=jnp.bfloat16`, "
        "which reproduces that, and the row `(default)` adaptlr's default (`p0` and `s` in "
        "float32) against the same package runs. Its float64 run patches the package to "
        "compute in float64 (the golden generator's `package_in_float64`); unpatched it "
        "computes in float32 whatever the parameters' dtype (so both rows' float64 runs are "
        "adaptlr's default, p0 in float64). Both Schedule-Free methods are "
        "evaluated at the averaged point (`optimizer.eval()` / "
        "`adaptlr.schedule_free_eval_params`).",
        "- Step sizes are compared where the package exposes them: `d * lr` of the parameter "
        "group (Prodigy, D-Adapt Adam, ProdigyPlusScheduleFree; the package's value after "
        "step t against `adaptlr.effective_lr` after step t + 1, the step that applies it), "
        "SPS_safe's `ss`, TRAC's `lr * max(sum(s), 0)`; '-' elsewhere. adaptlr keeps its "
        "scalar statistics in float32 even for float64 parameters, so step sizes agree to "
        "about float32 rounding.",
        "- Medians and tests use the seeds that end finite on both sides. A run has "
        "diverged when its final objective is non-finite or above its initial one. adaptlr "
        "keeps its scalar statistics (D-Adaptation's d and the sums behind it) in float32, "
        "where the D-Adaptation packages keep them as Python floats (float64): a run that "
        "diverges on both sides overflows to inf sooner in adaptlr, so the non-finite counts "
        "can differ while the diverged counts do not.",
        "- f64 floor: adaptlr's float64 run from the initial weights scaled by 1 + 2^-52, "
        "relative change of its final objective. On the MLP some methods (D-Adapt Adam/Adan) "
        "amplify rounding to order-one changes within 300 steps: their float64 difference to "
        "the package is to be read against that floor, not against 1e-16.",
        "- On wine (one parameter tensor) L-DoG equals DoG; on the MLP it is layer-wise."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default=None,
                        help="interpreter with torch + the authors' packages")
    parser.add_argument("--task", default="all", choices=(*TASKS, "all"))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--torch-side", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(RESULTS, "reference_parity"))
    parser.add_argument("--schedule-free-repo", default=os.environ.get("SCHEDULE_FREE_REPO"),
                        help="git directory of facebookresearch/schedule_free holding the "
                             "ScheduleFree+ commit (default: $SCHEDULE_FREE_REPO)")
    args = parser.parse_args()
    if args.torch_side:
        torch_side(*args.torch_side)
        return
    if not args.torch_python:
        parser.error("--torch-python is required")
    if not args.schedule_free_repo:
        parser.error("--schedule-free-repo (or SCHEDULE_FREE_REPO) is required for the "
                     "ScheduleFree+ row: a git directory of facebookresearch/schedule_free")
    os.environ["SCHEDULE_FREE_REPO"] = args.schedule_free_repo  # read by the torch side

    sys.path.insert(0, os.path.join(ROOT, "src"))
    start = time.perf_counter()
    load_start = os.getloadavg()[0]  # other jobs on the machine slow both sides
    tasks = list(TASKS) if args.task == "all" else [args.task]
    data: dict[str, Any] = {"tasks": np.asarray(",".join(tasks))}
    metas = {}
    for task in tasks:
        arrays, metas[task] = task_data(task, args.seeds, args.steps)
        data.update(arrays)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(inp, **data)
        t0 = time.perf_counter()
        proc = subprocess.Popen([args.torch_python, __file__, "--torch-side", inp, out])
        ours = adaptlr_side(data, tasks)
        jax_wall = time.perf_counter() - t0
        if proc.wait() != 0:
            raise SystemExit(f"the torch side failed (exit status {proc.returncode})")
        ref = dict(np.load(out))
        torch_wall = float(ref["wall_s"])
    results = {task: {"meta": metas[task],
                      "rows": compare(task, ours, ref, metas[task]["f_star"],
                                      _initial_objective(task, data))}
               for task in tasks}
    wall = time.perf_counter() - start
    meta = {"batch": BATCH, "steps": args.steps, "seeds": args.seeds, "wall_s": wall,
            "torch_wall_s": torch_wall, "adaptlr_wall_s": jax_wall,
            "load_average_1min_start_end": [load_start, os.getloadavg()[0]]}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump({"meta": meta, "tasks": results}, f, indent=1)
    text = report(results, args, meta)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
