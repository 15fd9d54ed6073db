"""Golden trajectories of the authors' AlgoPerf ``schedule_free_prodigy`` submission (NumPy).

The submission (``schedulefree/algoperf/external_tuning/schedule_free_prodigy/submission.py``
in facebookresearch/schedule_free, class ``ProdigyScheduleFree``) needs CUDA and the AlgoPerf
harness, so this script transcribes its ``step`` into NumPy, operation by operation, in
float64. Gradients come from PyTorch (``tests/reference_problems.py``'s ``torch_loss``), so
run it with the reference environment::

    .venv-ref/bin/python tests/parameter_free/generate_goldens_schedule_free_prodigy.py

Departures of the transcription from the submission, all about precision: the submission keeps
``exp_avg_sq``, ``s`` and ``p0`` in bfloat16 and sums the ``d`` statistics in float32 CUDA
tensors; here everything is float64. The submission stores ``x`` in the model, moves it to
``y = b1 x + (1 - b1) z`` for the gradient and back by ``(y - (1 - b1) z) / b1``; here ``x``
is kept and ``y`` formed from it (the round trip only adds rounding).

Each setting writes ``goldens/<setting>.npz`` with, per problem, ``<problem>/<param>``: the
gradient point ``y`` after each step, ``(201, ...)``, and ``<problem>/x/<param>``: the
averaged point ``x`` (what the submission leaves in the model) after each step.
"""

from __future__ import annotations

import math
import pathlib
import sys
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests import reference_problems as rp

GOLDENS = pathlib.Path(__file__).with_name("goldens")

# The submission's constructor arguments (its defaults: lr 1, betas (0.9, 0.9955), r 0.75,
# eps 1e-8, weight_decay 0, d0 1e-6, d_coef 1) and ``warmup``: the steps of its linear warm-up
# lr = (step + 1) / warmup (0: constant lr 1; the submission uses 7.5% of the step budget).
SETTINGS: dict[str, dict[str, Any]] = {
    "sf_prodigy_algoperf_default": {},
    "sf_prodigy_algoperf_warmup_coef": dict(warmup=20, d_coef=0.5),
    "sf_prodigy_algoperf_r0_betas_d0": dict(r=0.0, betas=(0.95, 0.99), d0=1e-4),
    # Weight decay at x, scaled by d * lr: adaptlr's wrapper has no such decay (see the test).
    "sf_prodigy_algoperf_decay": dict(weight_decay=0.01),
}


def run(problem: str, warmup: int = 0, lr: float = 1.0, betas: tuple[float, float] = (0.9, 0.9955),
        r: float = 0.75, eps: float = 1e-8, weight_decay: float = 0.0, d0: float = 1e-6,
        d_coef: float = 1.0) -> dict[str, np.ndarray]:
    import torch

    names = list(rp.init_params(problem))
    x = [v.copy() for v in rp.init_params(problem).values()]
    z = [v.copy() for v in x]
    p0 = [v.copy() for v in x]
    v2 = [np.zeros_like(v) for v in x]
    s = [np.zeros_like(v) for v in x]
    d, d_numerator, k, weight_sum = d0, 0.0, 0, 0.0
    beta1, beta2 = betas
    sqrt_beta2 = math.sqrt(beta2)
    loss_fn = rp.torch_loss(problem)
    ys: list[list[np.ndarray]] = [[v.copy() for v in x]]
    xs: list[list[np.ndarray]] = [[v.copy() for v in x]]
    for step in range(rp.STEPS):
        group_lr = (step + 1) / warmup if warmup and step < warmup else lr
        dlr = d * group_lr
        d_numerator *= sqrt_beta2
        y = [beta1 * xi + (1 - beta1) * zi for xi, zi in zip(x, z, strict=True)]
        params = [torch.tensor(yi, dtype=torch.float64, requires_grad=True) for yi in y]
        loss_fn(params).backward()
        grads = [p.grad.numpy().copy() for p in params]  # type: ignore[union-attr]
        acc, d_denom = 0.0, 0.0
        for i, g in enumerate(grads):
            acc += float(np.dot(g.ravel(), (p0[i] - z[i]).ravel())) * (d * dlr)
            v2[i] = beta2 * v2[i] + d * d * (1 - beta2) * g * g
            s[i] = sqrt_beta2 * s[i] + d * dlr * g
            d_denom += float(np.abs(s[i]).sum())
        d_numerator += acc
        if d_denom == 0:
            raise RuntimeError("zero d_denom: the submission would skip the step")
        d_hat = d_coef * d_numerator / d_denom
        d = max(d, d_hat)
        weight = (k + 1) ** r
        weight_sum += weight
        ckp1 = weight / weight_sum
        for i, g in enumerate(grads):
            denom = np.sqrt(v2[i]) + d * eps
            z[i] = z[i] - weight_decay * dlr * x[i]
            z[i] = z[i] - d * dlr * g / denom
            x[i] = (1 - ckp1) * x[i] + ckp1 * z[i]
        k += 1
        ys.append([beta1 * xi + (1 - beta1) * zi for xi, zi in zip(x, z, strict=True)])
        xs.append([xi.copy() for xi in x])
    out = {n: np.stack([t[i] for t in ys]) for i, n in enumerate(names)}
    out.update({f"x/{n}": np.stack([t[i] for t in xs]) for i, n in enumerate(names)})
    return out


def main() -> None:
    GOLDENS.mkdir(exist_ok=True)
    for name, kwargs in SETTINGS.items():
        arrays = {}
        for problem in rp.PROBLEMS:
            arrays.update({f"{problem}/{k}": v for k, v in run(problem, **kwargs).items()})
        for key, value in arrays.items():
            if not np.all(np.isfinite(value)):
                raise RuntimeError(f"{name}: {key} is not finite")
        np.savez_compressed(GOLDENS / f"{name}.npz", **arrays)
        worst = max(float(np.max(np.abs(v[-1] - v[0]))) for v in arrays.values())
        print(f"{name}: {len(arrays)} arrays, largest total move {worst:.3g}")


if __name__ == "__main__":
    main()
