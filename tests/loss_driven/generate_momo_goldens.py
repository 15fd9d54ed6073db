"""Golden trajectories for MoMo and MoMo-Adam from the authors' ``momo-opt`` 0.1.0.

Run with the reference environment:

    .venv-ref/bin/python tests/loss_driven/generate_momo_goldens.py

Writes ``tests/loss_driven/goldens/<method>_<setting>_<problem>.npz``: 200 full-batch float64
steps on the shared problems of ``tests/reference_problems.py`` (the loss is passed to
``step`` through a closure). ``torch.set_default_dtype(torch.float64)`` makes the reference's
``torch.zeros(1)`` scalar state float64 as well.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from momo import Momo, MomoAdam

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reference_problems import PROBLEMS, STEPS, run_torch  # noqa: E402

OUT = Path(__file__).resolve().parent / "goldens"

#: name -> (optimizer class, keyword arguments). "fstar": no known lower bound (online
#: estimate, the authors' use_fstar=True); "wd": weight decay.
SETTINGS: dict[str, tuple[type, dict]] = {
    "momo_default": (Momo, {"lr": 1.0}),
    "momo_bias_correction": (Momo, {"lr": 1.0, "bias_correction": True}),
    "momo_wd": (Momo, {"lr": 0.5, "weight_decay": 1e-2, "beta": 0.8}),
    "momo_fstar": (Momo, {"lr": 1.0, "use_fstar": True, "lb": -1.0}),
    "momo_fstar_wd_bc": (Momo, {"lr": 1.0, "use_fstar": True, "weight_decay": 1e-3,
                                "bias_correction": True}),
    "momo_adam_default": (MomoAdam, {"lr": 1e-2}),
    "momo_adam_wd": (MomoAdam, {"lr": 2e-2, "weight_decay": 1e-2, "betas": (0.8, 0.99)}),
    "momo_adam_wd_nodivide": (MomoAdam, {"lr": 5e-2, "weight_decay": 1e-2, "divide": False}),
    "momo_adam_fstar": (MomoAdam, {"lr": 1e-1, "use_fstar": True, "lb": -1.0}),
}


def main() -> None:
    torch.set_default_dtype(torch.float64)
    OUT.mkdir(exist_ok=True)
    for name, (cls, kwargs) in SETTINGS.items():
        for problem in PROBLEMS:
            traj = run_torch(problem, lambda params, c=cls, kw=kwargs: c(params, **kw),
                             steps=STEPS, closure_value=True)
            path = OUT / f"{name}_{problem}.npz"
            np.savez(path, **traj)
            moved = max(float(np.max(np.abs(v[-1] - v[0]))) for v in traj.values())
            print(f"{path.name}: {STEPS} steps, largest parameter change {moved:.3g}")


if __name__ == "__main__":
    main()
