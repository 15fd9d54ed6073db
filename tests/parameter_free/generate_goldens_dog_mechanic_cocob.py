"""Write the golden trajectories of DoG, L-DoG, Mechanic and COCOB from the authors' PyTorch code.

Run with the reference environment, from the repository root::

    .venv-ref/bin/python tests/parameter_free/generate_goldens_dog_mechanic_cocob.py

References (all in float64, on the problems of ``tests/reference_problems.py``, 200 steps):

* ``dog-optimizer`` 1.0.3: ``DoG``, ``LDoG`` and ``PolynomialDecayAverager`` (Ivgi et al.).
* ``mechanic-pytorch`` 0.0.1: ``mechanize`` around ``torch.optim.SGD`` / ``torch.optim.Adam``
  (Cutkosky et al.). Its state tensors are created with the default dtype, so the default dtype
  is set to float64 here.
* ``parameterfree`` 0.0.1: ``COCOB`` (Orabona's own package for COCOB-Backprop).

DoWG has no public reference by its authors; its test checks the paper's equations in NumPy.

Each file ``goldens/<method>_<setting>.npz`` holds ``<problem>__<param>`` arrays of shape
``(201, ...)`` (the initial point, then one row per step) and, for the averaging settings,
``avg__<problem>__<param>`` with the averaged iterates after each step.
"""

from __future__ import annotations

import logging
import pathlib
import sys
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests.reference_problems import (
    PROBLEMS,
    STEPS,
    init_params,
    run_torch,
    torch_loss,
)

torch.set_default_dtype(torch.float64)
logging.disable(logging.WARNING)  # DoG logs a warning when lr != 1

GOLDENS = pathlib.Path(__file__).resolve().parent / "goldens"

#: The settings, shared with the tests: name -> keyword arguments of the reference optimizer.
DOG_SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "reps_wd": {"reps_rel": 1e-4, "weight_decay": 1e-3},
    "init_eta": {"init_eta": 1e-2, "lr": 0.8, "eps": 1e-6},
}
#: gamma of the polynomial-decay averager recorded alongside a setting.
DOG_AVERAGING = {"default": 8.0, "reps_wd": 2.0}

COCOB_SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "alpha10": {"alpha": 10.0},
    "wd_eps": {"weight_decay": 1e-3, "eps": 1e-6},
}

#: name -> (base optimizer, its kwargs, mechanize kwargs)
MECHANIC_SETTINGS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "sgd_default": ("sgd", {"lr": 1.0}, {}),
    "sgd_nodecay": ("sgd", {"lr": 1.0}, {"s_decay": 0.0}),
    "sgd_momentum_store_delta": (
        "sgd",
        {"lr": 0.5, "momentum": 0.9},
        {"s_decay": 0.05, "betas": (0.9, 0.99, 0.999), "s_init": 1e-6, "store_delta": True},
    ),
    "adam_default": ("adam", {"lr": 1.0}, {}),
}


def _run_with_averaging(problem: str, make: Any, gamma: float) -> dict[str, np.ndarray]:
    from dog import PolynomialDecayAverager

    names = list(init_params(problem))

    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for n, v in init_params(problem).items():
                self.register_parameter(n, torch.nn.Parameter(torch.tensor(v)))

    model = Holder()
    params = [getattr(model, n) for n in names]
    opt = make(params)
    averager = PolynomialDecayAverager(model, gamma=gamma)
    loss_fn = torch_loss(problem)
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _ in range(STEPS):
        opt.zero_grad()
        loss_fn(params).backward()
        opt.step()
        averager.step()
        for n in names:
            out[n].append(getattr(averager.averaged_model, n).detach().numpy().copy())
    return {n: np.stack(v) for n, v in out.items()}


def _save(name: str, arrays: dict[str, np.ndarray]) -> None:
    GOLDENS.mkdir(exist_ok=True)
    for key, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise RuntimeError(f"{name}: {key} is not finite")
    np.savez_compressed(GOLDENS / f"{name}.npz", **arrays)
    print("wrote", name)


def generate_dog() -> None:
    from dog import DoG, LDoG

    for method, cls in (("dog", DoG), ("ldog", LDoG)):
        for setting, kwargs in DOG_SETTINGS.items():
            arrays: dict[str, np.ndarray] = {}
            for problem in PROBLEMS:
                traj = run_torch(problem, lambda p, kw=kwargs: cls(p, **kw))
                arrays.update({f"{problem}__{k}": v for k, v in traj.items()})
                if setting in DOG_AVERAGING:
                    avg = _run_with_averaging(
                        problem, lambda p, kw=kwargs: cls(p, **kw), DOG_AVERAGING[setting]
                    )
                    arrays.update({f"avg__{problem}__{k}": v for k, v in avg.items()})
            _save(f"{method}_{setting}", arrays)


def _run_recording_gradients(
    problem: str, make: Any
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Like ``run_torch``, and also return the gradient of each step, ``(STEPS, ...)``."""
    names = list(init_params(problem))
    params = [torch.tensor(v, requires_grad=True) for v in init_params(problem).values()]
    opt = make(params)
    loss_fn = torch_loss(problem)
    traj = {n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)}
    grads: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _ in range(STEPS):
        opt.zero_grad()
        loss_fn(params).backward()
        for n, p in zip(names, params, strict=True):
            grads[n].append(p.grad.detach().numpy().copy())
        opt.step()
        for n, p in zip(names, params, strict=True):
            traj[n].append(p.detach().numpy().copy())
    return ({n: np.stack(v) for n, v in traj.items()}, {n: np.stack(v) for n, v in grads.items()})


def generate_cocob() -> None:
    from parameterfree import COCOB

    for setting, kwargs in COCOB_SETTINGS.items():
        arrays: dict[str, np.ndarray] = {}
        for problem in PROBLEMS:
            traj, grads = _run_recording_gradients(problem, lambda p, kw=kwargs: COCOB(p, **kw))
            arrays.update({f"{problem}__{k}": v for k, v in traj.items()})
            # COCOB's trajectories on the MLP are so sensitive that float64 rounding of the
            # gradient (PyTorch's and XLA's matmuls sum in different orders) grows past 1e-10;
            # the test replays these gradients to compare the arithmetic itself.
            arrays.update({f"grad__{problem}__{k}": v for k, v in grads.items()})
        _save(f"cocob_{setting}", arrays)


def generate_mechanic() -> None:
    from mechanic_pytorch import mechanize

    bases = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    for setting, (base, base_kwargs, mech_kwargs) in MECHANIC_SETTINGS.items():
        arrays: dict[str, np.ndarray] = {}
        for problem in PROBLEMS:
            cls = mechanize(bases[base], **mech_kwargs)
            traj, grads = _run_recording_gradients(
                problem, lambda p, c=cls, kw=base_kwargs: c(p, **kw)
            )
            arrays.update({f"{problem}__{k}": v for k, v in traj.items()})
            # Mechanic's learned scale makes every trajectory here chaotic (a 1e-15 change of
            # x_0 grows to 1e-8 .. 1e-1 by step 200), so the test feeds these gradients back.
            arrays.update({f"grad__{problem}__{k}": v for k, v in grads.items()})
        _save(f"mechanic_{setting}", arrays)


if __name__ == "__main__":
    which = sys.argv[1:] or ["dog", "cocob", "mechanic"]
    for name in which:
        {"dog": generate_dog, "cocob": generate_cocob, "mechanic": generate_mechanic}[name]()
