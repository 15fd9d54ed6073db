"""Golden trajectories for SPS_safe and IMA-SPS_safe from the ``sps-safe`` 1.0.0 package.

Run with the reference environment:

    .venv-ref/bin/python tests/parameter_free/generate_sps_safe_goldens.py

Writes ``tests/parameter_free/goldens/<setting>_<problem>.npz``: 200 full-batch float64 steps
on the shared problems of ``tests/reference_problems.py``. The package's ``step`` takes the
loss as ``step(loss=...)`` (no closure), so the loop is written here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sps_safe import IMA_SPS_safe, SPS_safe

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reference_problems import PROBLEMS, STEPS, init_params, torch_loss  # noqa: E402

OUT = Path(__file__).resolve().parent / "goldens"

SETTINGS: dict[str, tuple[type, dict]] = {
    "sps_safe_default": (SPS_safe, {}),
    "sps_safe_m10_wd": (SPS_safe, {"M": 10.0, "weight_decay": 1e-2}),
    "sps_safe_lower_bound": (SPS_safe, {"M": 0.5, "ell_star": -0.05}),
    "ima_sps_safe_default": (IMA_SPS_safe, {}),
    "ima_sps_safe_auto_m": (IMA_SPS_safe, {"M": 0.0, "lambd": 3.0}),
    "ima_sps_safe_lambda0": (IMA_SPS_safe, {"M": 2.0, "lambd": 0.0, "ell_star": -0.05}),
}


def run(problem: str, cls: type, kwargs: dict) -> dict[str, np.ndarray]:
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in init_params(problem).values()]
    opt = cls(params, **kwargs)
    loss_fn = torch_loss(problem)
    names = list(init_params(problem))
    traj = {n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)}
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        opt.step(loss=loss.detach())
        for n, p in zip(names, params, strict=True):
            traj[n].append(p.detach().numpy().copy())
    return {n: np.stack(v) for n, v in traj.items()}


def main() -> None:
    torch.set_default_dtype(torch.float64)
    OUT.mkdir(exist_ok=True)
    for name, (cls, kwargs) in SETTINGS.items():
        for problem in PROBLEMS:
            traj = run(problem, cls, kwargs)
            path = OUT / f"{name}_{problem}.npz"
            np.savez(path, **traj)
            moved = max(float(np.max(np.abs(v[-1] - v[0]))) for v in traj.values())
            print(f"{path.name}: {STEPS} steps, largest parameter change {moved:.3g}")


if __name__ == "__main__":
    main()
