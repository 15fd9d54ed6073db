"""Reference parity in training: adaptlr against the authors' packages, paired runs.

For each learning-rate-free method with an authors' PyTorch package, both implementations
train the same model from the same initial parameters on the same minibatch sequence in
float32, for ``--seeds`` seeds; a two-sample test (Mann-Whitney U and Kolmogorov-Smirnov,
scipy) asks whether the two distributions of the final training objective differ, and the
paired differences are reported. One seed is also run in float64 on both sides, with the step
size each applied (``adaptlr.effective_lr`` against the package's ``d * lr``) compared step by
step.

The task is ridge multinomial logistic regression on scikit-learn's wine data (the convex
suite's ``logreg_wine``: 178 x 13 standardised features + bias, 3 classes, l2 = 1e-3),
minibatch 32, ``--steps`` steps: small enough to run 20 seeds x 9 methods x 2 implementations
in minutes on a CPU. The PyTorch side runs in a separate interpreter (``--torch-python``, an
environment with torch and the packages; it needs only numpy besides) and exchanges arrays
through ``.npz`` files.

Writes ``experiments/results/reference_parity.md`` and ``.json``.

Usage::

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

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
L2 = 1e-3
BATCH = 32
#: method -> (package class path, keyword arguments, whether the package exposes d * lr)
METHODS = {
    "prodigy": ("prodigyopt.Prodigy", {"lr": 1.0}, True),
    "dadapt_adam": ("dadaptation.DAdaptAdam", {"lr": 1.0}, True),
    "schedule_free_adamw": ("schedulefree.AdamWScheduleFree", {"lr": 0.0025}, False),
    "dog": ("dog.DoG", {"lr": 1.0}, False),
    # The rest of the D-Adaptation family and L-DoG, at the registry's defaults (D-Adapt SGD's
    # registered momentum 0.9 passed to the package, whose default is 0). Their float64
    # step-size traces are not compared (the objective is).
    "dadapt_sgd": ("dadaptation.DAdaptSGD", {"lr": 1.0, "momentum": 0.9}, False),
    "dadapt_adagrad": ("dadaptation.DAdaptAdaGrad", {"lr": 1.0}, False),
    "dadapt_lion": ("dadaptation.DAdaptLion", {"lr": 1.0}, False),
    "dadapt_adan": ("dadaptation.DAdaptAdan", {"lr": 1.0}, False),
    "ldog": ("dog.LDoG", {"lr": 1.0}, False),
}


# ------------------------------------------------------------------ torch side (no adaptlr)
def torch_side(inp: str, out: str) -> None:
    import importlib

    import torch

    torch.set_num_threads(1)  # tiny matrices: threads only add contention
    data = np.load(inp)
    results: dict[str, np.ndarray] = {}
    for dtype_name, torch_dtype in (("f32", torch.float32), ("f64", torch.float64)):
        x = torch.tensor(data["x"], dtype=torch_dtype)
        y = torch.tensor(data["y"], dtype=torch.long)
        for method, (path, kwargs, has_d) in METHODS.items():
            module, cls = path.rsplit(".", 1)
            opt_cls = getattr(importlib.import_module(module), cls)
            seeds = range(data["w0"].shape[0]) if dtype_name == "f32" else [0]
            finals, traces = [], []
            for s in seeds:
                w = torch.tensor(data["w0"][s], dtype=torch_dtype, requires_grad=True)
                opt = opt_cls([w], **kwargs)
                if hasattr(opt, "train"):
                    opt.train()
                trace = []
                for idx in data["batches"][s]:
                    index = torch.tensor(idx, dtype=torch.long)
                    opt.zero_grad()
                    loss = torch.nn.functional.cross_entropy(x[index] @ w, y[index]) \
                        + 0.5 * L2 * (w * w).sum()
                    loss.backward()
                    opt.step()
                    if has_d:
                        group = opt.param_groups[0]
                        trace.append(float(group["d"]) * float(group["lr"]))
                if hasattr(opt, "eval"):
                    opt.eval()  # Schedule-Free: evaluate at the averaged iterate
                with torch.no_grad():
                    f = torch.nn.functional.cross_entropy(x @ w, y) + 0.5 * L2 * (w * w).sum()
                finals.append(float(f))
                traces.append(trace)
            results[f"{method}_{dtype_name}_final"] = np.asarray(finals)
            if has_d and dtype_name == "f64":
                results[f"{method}_f64_trace"] = np.asarray(traces[0])
    np.savez(out, **results)


# ------------------------------------------------------------------ adaptlr side
def adaptlr_side(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    import adaptlr

    results: dict[str, np.ndarray] = {}
    for dtype_name, dtype in (("f32", jnp.float32), ("f64", jnp.float64)):
        x = jnp.asarray(data["x"], dtype)
        y = jnp.asarray(data["y"], jnp.int32)

        def objective(w, xb, yb, x=x):  # type: ignore[no-untyped-def]
            del x
            return optax.softmax_cross_entropy_with_integer_labels(xb @ w, yb).mean() \
                + 0.5 * L2 * jnp.sum(w * w)

        for method in METHODS:
            tx = adaptlr.registry.get(method).build()

            @jax.jit
            def run(w0, batches, tx=tx, x=x, y=y):  # type: ignore[no-untyped-def]
                def step(carry, idx):  # type: ignore[no-untyped-def]
                    w, state = carry
                    g = jax.grad(objective)(w, x[idx], y[idx])
                    u, state = tx.update(g, state, w)
                    w = optax.apply_updates(w, u)
                    return (w, state), adaptlr.effective_lr(state)

                (w, state), lrs = jax.lax.scan(step, (w0, tx.init(w0)), batches)
                w_eval = adaptlr.schedule_free_eval_params(state, w) \
                    if method.startswith("schedule_free") else w
                return objective(w_eval, x, y), lrs

            seeds = range(data["w0"].shape[0]) if dtype_name == "f32" else [0]
            finals, traces = [], []
            for s in seeds:
                f, lrs = run(jnp.asarray(data["w0"][s], dtype), jnp.asarray(data["batches"][s]))
                finals.append(float(f))
                traces.append(np.asarray(lrs, np.float64))
            results[f"{method}_{dtype_name}_final"] = np.asarray(finals)
            if METHODS[method][2] and dtype_name == "f64":
                results[f"{method}_f64_trace"] = traces[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default=None,
                        help="interpreter with torch + the authors' packages")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--torch-side", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(RESULTS, "reference_parity"))
    args = parser.parse_args()
    if args.torch_side:
        torch_side(*args.torch_side)
        return
    if not args.torch_python:
        parser.error("--torch-python is required")
    from scipy import stats as sps

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    from adaptlr.benchmarks import convex

    start = time.perf_counter()
    p = convex.load("wine")
    n, d = p.x.shape
    w0 = np.stack([np.random.default_rng(s).normal(0, 0.01, (d, p.classes))
                   for s in range(args.seeds)])
    batches = np.stack([np.random.default_rng(10_000 + s).integers(0, n, (args.steps, BATCH))
                        for s in range(args.seeds)])
    data = {"x": p.x, "y": p.y, "w0": w0, "batches": batches}
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(inp, **data)
        t0 = time.perf_counter()
        subprocess.run([args.torch_python, __file__, "--torch-side", inp, out], check=True)
        torch_wall = time.perf_counter() - t0
        ref = dict(np.load(out))
    t0 = time.perf_counter()
    ours = adaptlr_side(data)
    jax_wall = time.perf_counter() - t0
    rows = []
    for method in METHODS:
        a_all, b_all = ours[f"{method}_f32_final"], ref[f"{method}_f32_final"]
        # Runs that end non-finite are counted per side (and whether they are the same
        # seeds); the tests compare the seeds that end finite on both sides.
        bad_a, bad_b = ~np.isfinite(a_all), ~np.isfinite(b_all)
        both = ~(bad_a | bad_b)
        a, b = a_all[both], b_all[both]
        sub_a, sub_b = a - p.f_star, b - p.f_star
        row = {
            "method": method, "package": METHODS[method][0], "seeds": int(a_all.size),
            "nonfinite_adaptlr": int(bad_a.sum()), "nonfinite_package": int(bad_b.sum()),
            "nonfinite_same_seeds": bool(np.array_equal(bad_a, bad_b)),
            "median_suboptimality_adaptlr": float(np.median(sub_a)),
            "median_suboptimality_package": float(np.median(sub_b)),
            "mann_whitney_p": float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue),
            "ks_p": float(sps.ks_2samp(a, b).pvalue),
            "max_paired_rel_diff_objective": float(np.max(np.abs(a - b) / np.abs(b))),
            "f64_objective_rel_diff": float(abs(ours[f"{method}_f64_final"][0]
                                                - ref[f"{method}_f64_final"][0])
                                            / abs(ref[f"{method}_f64_final"][0])),
        }
        if f"{method}_f64_trace" in ref:
            # The packages update group["d"] at the end of a step, after using the previous d
            # for that step's update: their value after step t is the d * lr applied at step
            # t + 1, which effective_lr records after step t + 1.
            ta, tb = ours[f"{method}_f64_trace"][1:], ref[f"{method}_f64_trace"][:-1]
            row["f64_step_size_max_rel_diff"] = float(np.max(np.abs(ta - tb) / np.abs(tb)))
            row["f64_step_size_final"] = [float(ta[-1]), float(tb[-1])]
        rows.append(row)
    wall = time.perf_counter() - start
    meta = {"task": "ridge logistic regression, sklearn wine (178 x 14, 3 classes), l2 1e-3, "
                    f"batch {BATCH}", "steps": args.steps, "seeds": args.seeds,
            "f_star": p.f_star, "wall_s": wall, "torch_wall_s": torch_wall,
            "adaptlr_wall_s": jax_wall}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = ["# Reference parity in training", "",
             f"Generated by `python experiments/reference_parity.py --seeds {args.seeds} "
             f"--steps {args.steps} --torch-python ...` in {wall:.0f} s (torch side "
             f"{torch_wall:.0f} s, adaptlr side {jax_wall:.0f} s, 2 CPU cores).", "",
             f"Task: {meta['task']}, {args.steps} steps, f* = {p.f_star:.10g}. Paired runs: "
             "same initial weights and minibatch indices on both sides, float32. p-values of "
             "two-sided tests that the final-objective distributions differ; a large p means "
             "no detectable difference. The float64 columns: one seed run in float64 on both "
             "sides.", "",
             "| method | package | seeds | non-finite runs (adaptlr / package, same seeds?) "
             "| median f - f* (adaptlr) | median f - f* (package) "
             "| Mann-Whitney p | KS p | max paired rel. diff (f32) | f64 objective rel. diff "
             "| f64 step size max rel. diff |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        step = r.get("f64_step_size_max_rel_diff")
        same = ("" if r["nonfinite_adaptlr"] + r["nonfinite_package"] == 0
                else ", same" if r["nonfinite_same_seeds"] else ", different")
        lines.append(
            f"| {r['method']} | {r['package']} | {r['seeds']} | "
            f"{r['nonfinite_adaptlr']} / {r['nonfinite_package']}{same} | "
            f"{r['median_suboptimality_adaptlr']:.4g} | {r['median_suboptimality_package']:.4g} "
            f"| {r['mann_whitney_p']:.3g} | {r['ks_p']:.3g} | "
            f"{r['max_paired_rel_diff_objective']:.2g} | {r['f64_objective_rel_diff']:.2g} | "
            f"{'-' if step is None else f'{step:.2g}'} |")
    lines += ["", "Step sizes are compared where the package exposes `d * lr` in its parameter "
                  "group (Prodigy, D-Adapt Adam; the package's value after step t against "
                  "`adaptlr.effective_lr` after step t + 1, the step that applies it); '-' "
                  "elsewhere. adaptlr keeps its scalar statistics (here d * lr) in float32 even "
                  "for float64 parameters, so the step sizes agree to float32 rounding. "
                  "Medians and tests use the seeds that end finite on both sides. L-DoG "
                  "equals DoG here: the model has one parameter tensor, so layer-wise is global."]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
