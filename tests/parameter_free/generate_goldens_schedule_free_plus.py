"""Golden trajectories for refined Schedule-Free AdamW and ScheduleFree+.

Run with the reference environment (PyTorch 2.13.0 CPU, ``pytorch_optimizer`` 4.1.0)::

    SCHEDULE_FREE_REPO=/path/to/schedule_free/.git \\
        .venv-ref/bin/python tests/parameter_free/generate_goldens_schedule_free_plus.py [NAME ...]

* Refined Schedule-Free AdamW (Song et al., 2025): ``pytorch_optimizer.ScheduleFreeAdamW``
  with ``decoupling_c`` (the authors publish no package). pytorch_optimizer adds 1e-15 to the
  bias-corrected second moment under the square root (``BaseOptimizer.apply_ams_bound``'s
  ``exp_avg_sq_eps``); Schedule-Free's own code (schedulefree 1.4.1) has no such term and
  neither has adaptlr, so the generator runs it with that constant set to 0. Nothing else
  is changed; ``foreach=False`` selects the per-parameter loop.
* ScheduleFree+ (Defazio, 2026): the authors' ``AdamCScheduleFreePlusPaper``, file
  ``schedulefree/adamc_schedulefree_plus_paper.py`` of facebookresearch/schedule_free at
  commit ``43e5c2d978920e1a3707a7609662c72b56401e62`` ("Added ScheduleFree+", on the main
  branch; not in the 1.4.1 release). The file needs only torch; it is read with
  ``git show`` from the repository named by ``SCHEDULE_FREE_REPO`` (a git directory) and
  run unchanged. Its ``step_func`` takes the loss value.

Each setting runs 200 full-batch float64 steps on both problems of
``tests/reference_problems.py`` and writes ``goldens/<setting>.npz`` in the layout of
``generate_goldens_prodigy_schedulefree.py``: ``<problem>/<param>`` the training point ``y``
after each step, ``<problem>/x/<param>`` the evaluation point ``x`` every ``X_EVERY`` steps.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests import reference_problems as rp

GOLDENS = pathlib.Path(__file__).with_name("goldens")
X_EVERY = 10
SF_PLUS_COMMIT = "43e5c2d978920e1a3707a7609662c72b56401e62"
SF_PLUS_PATH = "schedulefree/adamc_schedulefree_plus_paper.py"

# pytorch_optimizer's keyword arguments.
REFINED: dict[str, dict[str, Any]] = {
    # The registry's default C (20); everything else pytorch_optimizer's defaults.
    "refined_sf_adamw_default": dict(decoupling_c=20.0),
    "refined_sf_adamw_decay_warmup": dict(
        lr=0.01, betas=(0.95, 0.99), weight_decay=0.05, warmup_steps=10, decoupling_c=50.0,
    ),
    "refined_sf_adamw_r_small_c": dict(
        lr=0.005, betas=(0.8, 0.999), r=1.0, weight_lr_power=1.0, decoupling_c=3.0,
    ),
}

# AdamCScheduleFreePlusPaper's keyword arguments.
SF_PLUS: dict[str, dict[str, Any]] = {
    "sf_plus_default": dict(),
    "sf_plus_decay_anneal": dict(
        lr=0.5, betas=(0.8, 0.99), sf_beta1=0.8, weight_decay=5.0, polyak_beta=0.9,
        c_warmup=5, sf_beta1_anneal_steps=50, sf_beta1_max=0.95,
    ),
    "sf_plus_r_power": dict(
        lr=0.3, eps=1e-6, r=1.0, weight_lr_power=1.0, polyak_beta=0.5, c_warmup=0,
    ),
}


def _sf_plus_class() -> Any:
    repo = os.environ.get("SCHEDULE_FREE_REPO")
    if not repo:
        raise RuntimeError("set SCHEDULE_FREE_REPO to a git directory of "
                           "facebookresearch/schedule_free containing " + SF_PLUS_COMMIT)
    source = subprocess.run(
        ["git", f"--git-dir={repo}", "show", f"{SF_PLUS_COMMIT}:{SF_PLUS_PATH}"],
        check=True, capture_output=True, text=True).stdout
    namespace: dict[str, Any] = {"__name__": "adamc_schedulefree_plus_paper"}
    exec(compile(source, SF_PLUS_PATH, "exec"), namespace)
    return namespace["AdamCScheduleFreePlusPaper"]


def _refined(params: list[Any], kwargs: dict[str, Any]) -> tuple[Any, float]:
    from pytorch_optimizer.base.optimizer import BaseOptimizer
    from pytorch_optimizer.optimizer.schedulefree import ScheduleFreeAdamW

    original = BaseOptimizer.apply_ams_bound

    def no_root_eps(ams_bound: bool, exp_avg_sq: Any, max_exp_avg_sq: Any, eps: float,
                    exp_avg_sq_eps: float = 0.0) -> Any:
        return original(ams_bound, exp_avg_sq, max_exp_avg_sq, eps, exp_avg_sq_eps=0.0)

    BaseOptimizer.apply_ams_bound = staticmethod(no_root_eps)  # type: ignore[method-assign]
    opt = ScheduleFreeAdamW(params, foreach=False, **kwargs)
    return opt, opt.param_groups[0]["betas"][0]


def run(problem: str, kind: str, kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    import torch

    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in rp.init_params(problem).values()]
    if kind == "refined":
        opt, beta = _refined(params, kwargs)
    else:
        opt = _sf_plus_class()(params, **kwargs)
    opt.train()
    loss_fn = rp.torch_loss(problem)
    names = list(rp.init_params(problem))
    ys: dict[str, list[np.ndarray]] = {
        n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)}
    xs: dict[str, list[np.ndarray]] = {
        n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)}
    for step in range(1, rp.STEPS + 1):
        opt.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        if kind == "refined":
            opt.step()
        else:
            opt.step_func(float(loss.detach()))
        for n, p in zip(names, params, strict=True):
            ys[n].append(p.detach().numpy().copy())
            if step % X_EVERY == 0:
                state = opt.state[p]
                if kind == "refined":
                    x = torch.lerp(p.detach(), state["z"], 1 - 1 / beta)
                else:
                    x = state["x"]
                xs[n].append(x.detach().numpy().copy())
    out = {n: np.stack(v) for n, v in ys.items()}
    out.update({f"x/{n}": np.stack(v) for n, v in xs.items()})
    return out


def main(only: list[str]) -> None:
    import torch

    torch.set_default_dtype(torch.float64)
    GOLDENS.mkdir(exist_ok=True)
    for kind, table in (("refined", REFINED), ("plus", SF_PLUS)):
        for name, kwargs in table.items():
            if only and name not in only:
                continue
            arrays = {}
            for problem in rp.PROBLEMS:
                traj = run(problem, kind, kwargs)
                arrays.update({f"{problem}/{k}": v for k, v in traj.items()})
            for key, value in arrays.items():
                if not np.all(np.isfinite(value)):
                    raise RuntimeError(f"{name}: {key} is not finite")
            np.savez_compressed(GOLDENS / f"{name}.npz", **arrays)
            worst = max(float(np.max(np.abs(v[-1] - v[0]))) for v in arrays.values())
            print(f"{name}: {len(arrays)} arrays, largest total move {worst:.3g}")


if __name__ == "__main__":
    main(sys.argv[1:])
