"""Regenerate the PyTorch golden learning rates for ``tests/test_schedules.py``.

Run with the reference environment (PyTorch; the tests themselves do not need it)::

    .venv-ref/bin/python tests/schedules/generate_goldens_schedules.py

For every case the golden value at step ``i`` is the learning rate after ``i`` calls of
``scheduler.step()`` (``i = 0`` is the value right after construction), which is the value
``adaptlr``'s schedule must return at step ``i``: both count applied updates. Everything is
Python float64 arithmetic inside PyTorch's schedulers. The adaptlr side of each case (same
name) is written independently in the test.
"""

from __future__ import annotations

import pathlib

import numpy as np
import torch
from torch.optim import lr_scheduler as S

STEPS = 200
OUT = pathlib.Path(__file__).parent / "goldens" / "schedules.npz"


def _optimizer(lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=lr)


def _trajectory(make, lr: float, steps: int = STEPS) -> np.ndarray:
    opt = _optimizer(lr)
    sched = make(opt)
    values = [sched.get_last_lr()[0]]
    for _ in range(steps - 1):
        opt.step()
        sched.step()
        values.append(sched.get_last_lr()[0])
    return np.asarray(values, dtype=np.float64)


CASES = {
    "cyclic_triangular": (0.01, lambda o: S.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=15, step_size_down=25, mode="triangular",
        cycle_momentum=False)),
    "cyclic_triangular2": (0.01, lambda o: S.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=10, mode="triangular2",
        cycle_momentum=False)),
    "cyclic_exp_range": (0.01, lambda o: S.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=12, step_size_down=8, mode="exp_range",
        gamma=0.99, cycle_momentum=False)),
    "multistep": (0.1, lambda o: S.MultiStepLR(o, milestones=[30, 80, 80, 150], gamma=0.5)),
    "onecycle_cos": (0.5, lambda o: S.OneCycleLR(
        o, max_lr=0.5, total_steps=STEPS, pct_start=0.3, cycle_momentum=False)),
    "onecycle_linear_three_phase": (0.5, lambda o: S.OneCycleLR(
        o, max_lr=0.5, total_steps=STEPS, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0, cycle_momentum=False)),
    "polynomial_power2": (0.2, lambda o: S.PolynomialLR(o, total_iters=150, power=2.0)),
    "polynomial_linear": (0.2, lambda o: S.PolynomialLR(o, total_iters=120, power=1.0)),
    "linear_warmup": (0.3, lambda o: S.LinearLR(
        o, start_factor=0.1, end_factor=1.0, total_iters=40)),
    "linear_decay_to_zero": (0.3, lambda o: S.LinearLR(
        o, start_factor=1.0, end_factor=0.0, total_iters=150)),
    "cosine_restarts_mult1": (0.2, lambda o: S.CosineAnnealingWarmRestarts(
        o, T_0=20, T_mult=1, eta_min=0.1 * 0.2)),
    "cosine_restarts_mult2": (0.2, lambda o: S.CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2, eta_min=0.0)),
    "sequential_warmup_cosine": (0.4, lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=20),
        S.CosineAnnealingLR(o, T_max=STEPS - 20, eta_min=0.05 * 0.4)], milestones=[20])),
    "sequential_warmup_restarts": (0.4, lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10),
        S.CosineAnnealingWarmRestarts(o, T_0=30, T_mult=2, eta_min=0.02)], milestones=[10])),
    "sequential_wsd": (0.4, lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=0.05, end_factor=1.0, total_iters=20),
        S.ConstantLR(o, factor=1.0, total_iters=0),
        S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=40)], milestones=[20, 160])),
    "sequential_warmup_multistep": (0.4, lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=10),
        S.MultiStepLR(o, milestones=[50, 100], gamma=0.1)], milestones=[10])),
}


def main() -> None:
    arrays = {name: _trajectory(make, lr) for name, (lr, make) in CASES.items()}
    arrays["torch_version"] = np.asarray(torch.__version__)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
