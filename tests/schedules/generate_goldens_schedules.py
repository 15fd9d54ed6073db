"""Regenerate the PyTorch golden learning rates for ``tests/test_schedules.py``.

Run with the reference environment (PyTorch; the tests themselves do not need it)::

    .venv-ref/bin/python tests/schedules/generate_goldens_schedules.py

For every case the golden value at step ``i`` is the learning rate after ``i`` calls of
``scheduler.step()`` (``i = 0`` is the value right after construction), which is the value
``adaptlr``'s schedule must return at step ``i``: both count applied updates. Everything is
Python float64 arithmetic inside PyTorch's schedulers. The adaptlr side of each case (same
name) is written independently in the test.

Also from ``pytorch_optimizer`` 4.1.0 (``PO_CASES``): ``CosineAnnealingWarmupRestarts``
(warm-up inside each cycle, peak-only decay, non-integer ``cycle_mult``), the WSD cool-downs
"1-sqrt" and "1-square" (``get_wsd_schedule``) and the fractal Chebyshev step sizes
(``get_chebyshev_perm_steps``, the node sequence itself). ``LONG_CASES`` run PyTorch's
``CyclicLR`` for 20,000 steps and keep every 50th value (``<name>__steps`` holds the steps):
float32 drift over long horizons shows there.
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


def _cawr(**kw):
    from pytorch_optimizer.lr_scheduler.cosine_anealing import CosineAnnealingWarmupRestarts

    return lambda o: CosineAnnealingWarmupRestarts(o, **kw)


def _wsd(**kw):
    from pytorch_optimizer.lr_scheduler.wsd import get_wsd_schedule

    return lambda o: get_wsd_schedule(o, **kw)


PO_CASES = {
    "po_restarts_warmup_peak_decay": (0.3, _cawr(
        first_cycle_steps=30, cycle_mult=1.0, max_lr=0.3, min_lr=0.03, warmup_steps=5,
        gamma=0.7)),
    "po_restarts_mult_1_5": (0.3, _cawr(
        first_cycle_steps=20, cycle_mult=1.5, max_lr=0.3, min_lr=0.01, warmup_steps=4,
        gamma=0.9)),
    "po_restarts_mult_2_no_warmup": (0.3, _cawr(
        first_cycle_steps=10, cycle_mult=2.0, max_lr=0.3, min_lr=0.05, warmup_steps=0,
        gamma=0.5)),
    "po_restarts_mult_1_3_stalls": (0.3, _cawr(
        first_cycle_steps=5, cycle_mult=1.3, max_lr=0.3, min_lr=0.0, warmup_steps=2,
        gamma=1.0)),
    "po_wsd_1_sqrt": (0.2, _wsd(num_warmup_steps=20, num_stable_steps=100,
                                 num_decay_steps=60, cooldown_type="1-sqrt")),
    "po_wsd_1_square": (0.2, _wsd(num_warmup_steps=20, num_stable_steps=100,
                                   num_decay_steps=60, cooldown_type="1-square")),
}

LONG_STEPS = 20_000
LONG_EVERY = 50
LONG_CASES = {
    "long_cyclic_exp_range": (1e-3, lambda o: S.CyclicLR(
        o, base_lr=1e-3, max_lr=0.1, step_size_up=2000, mode="exp_range", gamma=0.99994,
        cycle_momentum=False)),
    "long_cyclic_triangular2": (1e-3, lambda o: S.CyclicLR(
        o, base_lr=1e-3, max_lr=0.1, step_size_up=700, step_size_down=300,
        mode="triangular2", cycle_momentum=False)),
}


def main() -> None:
    from pytorch_optimizer.lr_scheduler.chebyshev import get_chebyshev_perm_steps

    arrays = {name: _trajectory(make, lr) for name, (lr, make) in CASES.items()}
    arrays.update({name: _trajectory(make, lr) for name, (lr, make) in PO_CASES.items()})
    for name, (lr, make) in LONG_CASES.items():
        arrays[name] = _trajectory(make, lr, LONG_STEPS + 1)[::LONG_EVERY]
        arrays[f"{name}__steps"] = np.arange(0, LONG_STEPS + 1, LONG_EVERY)
    for size in (8, 64, 256):
        arrays[f"po_chebyshev_{size}"] = np.asarray(get_chebyshev_perm_steps(size), np.float64)
    arrays["torch_version"] = np.asarray(torch.__version__)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"wrote {len(arrays) - 1} arrays to {OUT}")


if __name__ == "__main__":
    main()
