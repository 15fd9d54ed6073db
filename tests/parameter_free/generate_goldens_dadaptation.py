"""Write the D-Adaptation golden trajectories from the authors' package (``dadaptation`` 3.2).

Run from the repository root with the reference environment::

    .venv-ref/bin/python tests/parameter_free/generate_goldens_dadaptation.py

For every method and setting below, the authors' PyTorch optimizer runs 200 full-batch steps in
float64 on both shared problems of ``tests/reference_problems.py``; each method's file
``goldens/dadapt_<method>.npz`` holds the trajectories under ``<setting>/<problem>/<param>``
and, under ``settings``, a JSON list of ``[setting, adaptlr keyword arguments]`` from which
``test_dadaptation.py`` builds the same optimizer. A setting's ``schedule`` entry, if any,
names a learning-rate schedule applied on both sides (``"linear"``: 1 - k/200 at step k).

To keep the files small, the parameters are stored at the steps listed under ``steps`` (every
step up to 10, then every 5th). Under ``floor/<setting>/<problem>`` each file also holds the
golden's own rounding sensitivity at those steps: the largest relative deviation (the metric
of ``max_relative_error``) of a second reference run whose gradients are all multiplied by
``1 + 2**-52``, i.e. moved by at most one unit in the last place. Two correct float64
implementations differ at least that much (their autodiff rounds differently), so where the
floor exceeds the 1e-10 tolerance the trajectory itself is ill-conditioned (the reference
diverges, or d jumps on a near-cancellation) and cannot be matched to 1e-10 by any
implementation that is not bit-identical to PyTorch's; the test compares closed-loop
trajectories only while the floor stays below 1e-13 (a thousandth of the tolerance: JAX's
and PyTorch's gradients differ by several ulps, not one, and the deviation grows with the
perturbation; measured, adaptlr's closed-loop deviation is 10-100 times the floor). For every
setting
whose floor rises above that, ``replay/<setting>/<problem>/<param>`` holds the reference's
200 gradients, which the test feeds to adaptlr open-loop (no feedback of rounding through the
loss) and compares over the whole run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reference_problems import PROBLEMS, STEPS, run_torch  # noqa: E402

OUT = Path(__file__).resolve().parent / "goldens"

# method -> list of (setting name, torch keyword arguments, adaptlr keyword arguments).
# Non-default settings switch on every option of the package between them.
SETTINGS: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "sgd": [
        ("default", {}, {}),
        ("momentum_growth", {"momentum": 0.9, "growth_rate": 1.02},
         {"momentum": 0.9, "growth_rate": 1.02}),
        ("weight_decay_d0_lr", {"weight_decay": 1e-2, "d0": 1e-4, "lr": 0.5},
         {"weight_decay": 1e-2, "d0": 1e-4, "learning_rate": 0.5}),
        ("schedule", {"momentum": 0.5}, {"momentum": 0.5, "schedule": "linear"}),
    ],
    "adagrad": [
        ("default", {}, {}),
        ("momentum_growth", {"momentum": 0.9, "growth_rate": 1.05},
         {"momentum": 0.9, "growth_rate": 1.05}),
        ("weight_decay_eps_d0_lr", {"weight_decay": 1e-2, "eps": 1e-4, "d0": 1e-3, "lr": 0.5},
         {"weight_decay": 1e-2, "eps": 1e-4, "d0": 1e-3, "learning_rate": 0.5}),
    ],
    "adam": [
        ("default", {}, {}),
        ("decoupled_bias_correction",
         {"weight_decay": 1e-2, "decouple": True, "use_bias_correction": True},
         {"weight_decay": 1e-2, "decoupled_weight_decay": True, "bias_correction": True}),
        ("l2_growth_betas_d0",
         {"weight_decay": 1e-2, "growth_rate": 1.02, "betas": (0.8, 0.99), "d0": 1e-4},
         {"weight_decay": 1e-2, "growth_rate": 1.02, "b1": 0.8, "b2": 0.99, "d0": 1e-4}),
        ("eps_lr_schedule", {"eps": 1e-6, "lr": 0.5},
         {"eps": 1e-6, "learning_rate": 0.5, "schedule": "linear"}),
        # Parameter groups (first half of the parameters, second half) with these layer_scale
        # values; adaptlr's layer_scale is the same per parameter leaf (see split_groups).
        ("layer_scale_decoupled",
         {"layer_scale": [0.5, 2.0], "weight_decay": 1e-2, "decouple": True},
         {"layer_scale": [0.5, 2.0], "weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ],
    "adan": [
        ("default", {}, {}),
        ("no_prox", {"no_prox": True, "weight_decay": 0.05},
         {"proximal": False, "weight_decay": 0.05}),
        ("no_decay_growth_betas_d0",
         {"weight_decay": 0.0, "growth_rate": 1.02, "betas": (0.9, 0.9, 0.999), "d0": 1e-5},
         {"weight_decay": 0.0, "growth_rate": 1.02, "b1": 0.9, "b2": 0.9, "b3": 0.999,
          "d0": 1e-5}),
    ],
    "lion": [
        ("default", {}, {}),
        ("weight_decay_betas", {"weight_decay": 0.1, "betas": (0.95, 0.98)},
         {"weight_decay": 0.1, "b1": 0.95, "b2": 0.98}),
        ("lr_d0_schedule", {"lr": 0.5, "d0": 1e-4},
         {"learning_rate": 0.5, "d0": 1e-4, "schedule": "linear"}),
    ],
}


def split_groups(items: list[Any], scales: list[float]) -> list[tuple[list[Any], float]]:
    """Split ``items`` (parameters in init order) into ``len(scales)`` consecutive groups."""
    size = len(items) // len(scales)
    return [(items[i * size:(i + 1) * size], r) for i, r in enumerate(scales)]


def linear(step: int) -> float:
    """The ``linear`` schedule's factor at step ``step`` (0-based)."""
    return 1.0 - step / STEPS


#: The stored steps: every step up to 10, then every 5th, always including the last.
KEPT_STEPS = np.array(sorted(set(range(11)) | set(range(0, STEPS + 1, 5))))

#: Relative size of the gradient perturbation that measures a golden's rounding sensitivity.
PERTURBATION = 2.0**-52

#: Floors above this (1e-3 of the test's 1e-10) get a replay of the reference's gradients.
REPLAY_ABOVE = 1e-13


class _Recorded:
    """A torch optimizer that keeps a copy of every gradient it is given."""

    def __init__(self, opt: Any, params: list[Any]) -> None:
        self.opt, self.params = opt, params
        self.grads: list[list[np.ndarray]] = []

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self, closure: Any = None) -> None:
        self.grads.append([p.grad.detach().numpy().copy() for p in self.params])
        self.opt.step(closure)


class _Perturbed:
    """A torch optimizer that sees every gradient multiplied by ``1 + PERTURBATION``."""

    def __init__(self, opt: Any, params: list[Any]) -> None:
        self.opt, self.params = opt, params

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self, closure: Any = None) -> None:
        for p in self.params:
            p.grad.mul_(1.0 + PERTURBATION)
        self.opt.step(closure)


def relative_deviation(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> np.ndarray:
    """Per-step ``max_relative_error`` of trajectory ``a`` against trajectory ``b``."""
    worst = np.zeros(next(iter(b.values())).shape[0])
    for name, ref in b.items():
        err = np.abs(a[name] - ref) / np.maximum(np.abs(ref), 1e-3)
        worst = np.maximum(worst, err.reshape(err.shape[0], -1).max(axis=1))
    return worst


class _Scheduled:
    """A torch optimizer whose learning rate is ``base * linear(k)`` at its k-th step."""

    def __init__(self, opt: Any) -> None:
        import torch

        self.opt = opt
        self.sched = torch.optim.lr_scheduler.LambdaLR(opt, linear)

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self, closure: Any = None) -> None:
        self.opt.step(closure)
        self.sched.step()

    @property
    def param_groups(self) -> Any:
        return self.opt.param_groups


def main() -> None:
    import dadaptation
    import torch

    torch.set_default_dtype(torch.float64)
    classes = {"sgd": dadaptation.DAdaptSGD, "adagrad": dadaptation.DAdaptAdaGrad,
               "adam": dadaptation.DAdaptAdam, "adan": dadaptation.DAdaptAdan,
               "lion": dadaptation.DAdaptLion}
    OUT.mkdir(exist_ok=True)
    only = set(sys.argv[1:])  # optional: regenerate only these methods
    for method, settings in SETTINGS.items():
        if only and method not in only:
            continue
        arrays: dict[str, np.ndarray] = {}
        for name, torch_kwargs, ours in settings:
            def make(params: list[Any], kw: dict[str, Any] = torch_kwargs,
                     scheduled: bool = "schedule" in ours, perturbed: bool = False) -> Any:
                kw = dict(kw)
                scales = kw.pop("layer_scale", None)
                groups: Any = params if scales is None else [
                    {"params": group, "layer_scale": r}
                    for group, r in split_groups(params, scales)]
                opt = classes[method](groups, **kw)
                opt = _Scheduled(opt) if scheduled else opt
                return _Perturbed(opt, params) if perturbed else opt

            for problem in PROBLEMS:
                recorders: list[_Recorded] = []

                def recorded(params: list[Any]) -> _Recorded:
                    recorders.append(_Recorded(make(params), params))
                    return recorders[-1]

                traj = run_torch(problem, recorded)
                other = run_torch(problem, lambda params: make(params, perturbed=True))
                for param, values in traj.items():
                    if not np.all(np.isfinite(values)):
                        raise RuntimeError(f"{method}/{name}/{problem}: non-finite trajectory")
                    arrays[f"{name}/{problem}/{param}"] = values[KEPT_STEPS]
                floor = relative_deviation(other, traj)[KEPT_STEPS]
                arrays[f"floor/{name}/{problem}"] = floor
                if np.max(floor) > REPLAY_ABOVE:
                    for i, param in enumerate(traj):
                        arrays[f"replay/{name}/{problem}/{param}"] = np.stack(
                            [g[i] for g in recorders[0].grads])
                print(f"{method:8s} {name:28s} {problem:10s} floor at step 200: {floor[-1]:.1e}")
        arrays["settings"] = np.array(json.dumps([[n, o] for n, _, o in settings]))
        arrays["steps"] = KEPT_STEPS
        path = OUT / f"dadapt_{method}.npz"
        np.savez_compressed(path, **arrays)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
