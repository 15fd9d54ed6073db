"""AdamC golden trajectories from pytorch_optimizer 4.1.0's ``AdamC``.

Run with the reference environment::

    .venv-ref/bin/python tests/adaptive/generate_goldens_adamc.py

pytorch_optimizer's ``AdamC`` applies the corrected decay ``lr_t**2 / max_lr`` to parameter
groups marked ``normalized=True``, with ``max_lr`` the learning rate it was built with (here
the schedule's peak; a ``LambdaLR`` scheduler sets ``lr_t``). Its denominator is
``(sqrt(v + 1e-15) + eps) / sqrt(1 - b2**t)``, Optax's ``sqrt(v_hat) + eps``: the two agree
only for ``eps = 0`` once the 1e-15 is removed, so the goldens use ``eps = 0`` and set
``apply_ams_bound``'s ``exp_avg_sq_eps`` to 0 (nothing else is changed). The tests compare
``adaptlr.adamc(schedule, eps=0, max_learning_rate=peak)``.

Writes ``goldens/adamc.npz`` with ``<setting>/<problem>__<param>`` trajectories (201 steps).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests import reference_problems as rp

GOLDENS = pathlib.Path(__file__).with_name("goldens")
PEAK = 1e-2


def warmup_cosine(k: int) -> float:
    """Factor of the peak at step k (0-based): linear warmup over 20 steps, cosine to 0 at 200."""
    import math

    if k < 20:
        return k / 20
    return 0.5 * (1 + math.cos(math.pi * min((k - 20) / 180, 1.0)))


# pytorch_optimizer keyword arguments (lr is the peak).
SETTINGS: dict[str, dict[str, Any]] = {
    "default": dict(weight_decay=0.1),
    "betas_strong_decay": dict(betas=(0.8, 0.99), weight_decay=2.0),
}


class _Scheduled:
    def __init__(self, opt: Any, scheduler: Any) -> None:
        self.opt, self.scheduler = opt, scheduler

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self, closure: Any = None) -> None:
        self.opt.step()
        self.scheduler.step()


def make(kwargs: dict[str, Any]) -> Any:
    import torch
    from pytorch_optimizer.base.optimizer import BaseOptimizer
    from pytorch_optimizer.optimizer.adamc import AdamC

    original = BaseOptimizer.apply_ams_bound

    def no_root_eps(ams_bound: bool, exp_avg_sq: Any, max_exp_avg_sq: Any, eps: float,
                    exp_avg_sq_eps: float = 0.0) -> Any:
        return original(ams_bound, exp_avg_sq, max_exp_avg_sq, eps, exp_avg_sq_eps=0.0)

    BaseOptimizer.apply_ams_bound = staticmethod(no_root_eps)  # type: ignore[method-assign]

    def build(params: list[Any]) -> Any:
        opt = AdamC([{"params": params, "normalized": True}], lr=PEAK, eps=0.0, foreach=False,
                    **kwargs)
        return _Scheduled(opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine))

    return build


def main() -> None:
    import torch

    torch.set_default_dtype(torch.float64)
    arrays = {}
    for name, kwargs in SETTINGS.items():
        for problem in rp.PROBLEMS:
            traj = rp.run_torch(problem, make(kwargs))
            arrays.update({f"{name}/{problem}__{k}": v for k, v in traj.items()})
    for key, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise RuntimeError(f"{key} is not finite")
    np.savez_compressed(GOLDENS / "adamc.npz", **arrays)
    print(f"adamc: {len(arrays)} arrays")


if __name__ == "__main__":
    main()
