"""Generate the ALI-G golden trajectories from ``pytorch_optimizer.AliG``.

Run with the reference environment (PyTorch and pytorch_optimizer installed)::

    .venv-ref/bin/python tests/parameter_free/generate_polyak_goldens.py

Writes ``tests/parameter_free/goldens/alig_<setting>_<problem>.npz``: float64 parameter
trajectories of 200 full-batch steps on the shared problems of ``tests/reference_problems.py``.

The authors' package (``oval-group/ali-g``) is not published on PyPI; ``pytorch_optimizer``'s
``AliG`` implements the same update (Nesterov-style or "adjusted" momentum, step
``min(loss / (|g|^2 + delta), max_lr)``) with delta fixed at ``1e-6``. One change is made for
float64 goldens: ``pytorch_optimizer`` computes the squared gradient norm in float32
(``get_global_gradient_norm`` casts the per-tensor norms with ``.float()``), which moves the
trajectory by up to 8.5e-7 (max_lr 1.0 on the MLP) wherever the cap is inactive; the generator
replaces that helper, inside the ``alig`` module only,
with the same sum of squared norms in float64. Everything else runs unchanged.

Only the SPS authors' code (``IssamLaradji/sps``) and Baydin's hypergradient code
(``gbaydin/hypergradient-descent``) exist as GitHub repositories, not as packages, and
``pytorch_optimizer`` implements neither, so those methods are checked against the papers'
equations in NumPy instead (see the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pytorch_optimizer.optimizer.alig as alig_module  # noqa: E402

from tests.reference_problems import PROBLEMS, STEPS, run_torch  # noqa: E402

OUT = Path(__file__).resolve().parent / "goldens"

#: setting name -> AliG keyword arguments (delta is pytorch_optimizer's fixed 1e-6).
SETTINGS: dict[str, dict] = {
    "plain": {"max_lr": 0.1},
    # A larger cap. No uncapped setting: without a cap the step f / |g|^2 reaches hundreds on
    # these problems and the trajectory is chaotic (rounding differences grow ~1000x every
    # 10 steps), so no two float64 implementations can agree to 1e-10 over 200 steps.
    "cap1": {"max_lr": 1.0},
    "nesterov": {"max_lr": 0.1, "momentum": 0.9},
    "adjusted": {"max_lr": 0.1, "momentum": 0.9, "adjusted_momentum": True},
}


def squared_grad_norm_float64(param_groups, device=None, **_):
    total = torch.zeros(1, dtype=torch.float64)
    for group in param_groups:
        for p in group["params"]:
            if p.grad is not None:
                total += torch.sum(p.grad.to(torch.float64) ** 2)
    return total


def main() -> None:
    torch.set_default_dtype(torch.float64)
    alig_module.get_global_gradient_norm = squared_grad_norm_float64
    OUT.mkdir(exist_ok=True)
    for setting, kwargs in SETTINGS.items():
        for problem in PROBLEMS:
            traj = run_torch(problem, lambda params, kw=kwargs: alig_module.AliG(params, **kw),
                             steps=STEPS, closure_value=True)
            path = OUT / f"alig_{setting}_{problem}.npz"
            np.savez(path, **traj)
            moved = max(float(np.max(np.abs(v[-1] - v[0]))) for v in traj.values())
            print(f"{path.name}: {STEPS} steps, largest parameter change {moved:.3g}")


if __name__ == "__main__":
    main()
