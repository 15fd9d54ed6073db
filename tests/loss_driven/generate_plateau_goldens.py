"""Golden learning-rate sequences from PyTorch's ``ReduceLROnPlateau`` on scripted metrics.

Run with the reference environment (PyTorch 2.13.0):

    .venv-ref/bin/python tests/loss_driven/generate_plateau_goldens.py

Writes ``tests/loss_driven/goldens/plateau_torch.npz``: for each case ``<name>/metrics`` (the
values fed to ``scheduler.step``), ``<name>/lr`` (the learning rate after each step, float64)
and ``<name>/config`` (the scheduler's arguments as JSON, plus the initial ``lr``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).parent / "goldens" / "plateau_torch.npz"
N = 80


def metric_sequences() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(17)
    t = np.arange(N)
    # A loss that falls, then flattens with noise and occasional small improvements.
    falling = 2.0 * np.exp(-t / 10.0) + 0.05 * rng.standard_normal(N) ** 2 + 0.3
    # Long flat stretches with exact repeats (ties are not improvements).
    steps = np.repeat([5.0, 4.0, 4.0, 3.9996, 3.0, 3.0, 2.0, 2.0], N // 8)
    # A negative loss (log-likelihood-like), falling: only the absolute threshold agrees
    # with PyTorch here (see the departure in scale_by_reduce_on_plateau).
    negative = -1.0 - 0.5 * np.log1p(t) + 0.02 * rng.standard_normal(N)
    return {"falling": falling, "steps": steps, "negative": negative}


def run(metrics: np.ndarray, lr: float, **kwargs: object) -> np.ndarray:
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        sched.step(float(m))
        out.append(opt.param_groups[0]["lr"])
    return np.asarray(out, np.float64)


def main() -> None:
    seqs = metric_sequences()
    arrays: dict[str, np.ndarray] = {}
    cases = []
    for mode, threshold_mode, cooldown, min_lr in itertools.product(
            ("min", "max"), ("rel", "abs"), (0, 3), (0.0, 0.002)):
        for seq in ("falling", "steps"):
            # mode="max": an accuracy-like positive metric rising to plateaus.
            metrics = seqs[seq] if mode == "min" else 10.0 - seqs[seq]
            threshold = 1e-2
            cases.append((f"{mode}_{threshold_mode}_cd{cooldown}_min{min_lr}_{seq}", metrics,
                          dict(lr=1.0, mode=mode, threshold_mode=threshold_mode,
                               cooldown=cooldown, min_lr=min_lr, patience=2, factor=0.1,
                               threshold=threshold)))
    # Other learning rates / patiences / factors; the negative loss with an absolute threshold.
    cases.append(("lr0.5_patience0_factor0.5", seqs["falling"],
                  dict(lr=0.5, mode="min", threshold_mode="rel", cooldown=1, min_lr=0.01,
                       patience=0, factor=0.5, threshold=1e-3)))
    cases.append(("negative_abs", seqs["negative"],
                  dict(lr=1.0, mode="min", threshold_mode="abs", cooldown=0, min_lr=0.0,
                       patience=3, factor=0.3, threshold=0.05)))
    cases.append(("negative_max_abs", -seqs["negative"],
                  dict(lr=1.0, mode="max", threshold_mode="abs", cooldown=2, min_lr=0.0,
                       patience=3, factor=0.3, threshold=0.05)))
    # The documented departure: PyTorch's relative threshold on a negative loss.
    cases.append(("negative_rel_departure", seqs["negative"],
                  dict(lr=1.0, mode="min", threshold_mode="rel", cooldown=0, min_lr=0.0,
                       patience=3, factor=0.3, threshold=0.05)))
    for name, metrics, config in cases:
        kwargs = {k: v for k, v in config.items() if k != "lr"}
        arrays[f"{name}/metrics"] = np.asarray(metrics, np.float64)
        arrays[f"{name}/lr"] = run(metrics, float(config["lr"]), **kwargs)
        arrays[f"{name}/config"] = np.asarray(json.dumps(config))
    OUT.parent.mkdir(exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
