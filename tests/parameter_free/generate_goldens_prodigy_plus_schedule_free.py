"""Write the ProdigyPlusScheduleFree golden trajectories from ``prodigy-plus-schedule-free`` 2.0.1.

Run with the reference environment (PyTorch 2.13.0 CPU, ``prodigy-plus-schedule-free==2.0.1``)::

    .venv-ref/bin/python tests/parameter_free/generate_goldens_prodigy_plus_schedule_free.py

Problem: a noisy diagonal quadratic ``0.5 * sum(a * (p - t)**2)`` over five float64 tensors of
different shapes: a wide matrix ``(6, 40)`` and a tall one ``(40, 6)`` (both factored by the
package, whose factoring needs a dimension of at least 32, and which treats the two
orientations differently), a 3-d tensor ``(3, 4, 33)``, a small matrix ``(5, 7)`` (never
factored) and a zero-initialised vector ``(13,)`` (the package's scalar ``p0`` branch). The
gradient at step ``k`` is ``a * (y_k - t) + 0.05 * noise_k`` with seeded noise, taken at the
training point ``y_k`` the optimizer leaves in the parameters. Every setting runs ``STEPS``
steps and writes ``goldens/pps_<setting>.npz`` with, per tensor ``<name>``:

* ``grad/<name>``: the gradient fed at each step, ``(STEPS, ...)`` (the test replays them, so
  that it compares the optimizer's arithmetic, not the gradient's rounding);
* ``y/<name>``: the parameters (training point ``y``) after each step, ``(STEPS + 1, ...)``;
* ``z/<name>``: the package's ``z`` buffer after each step, ``(STEPS + 1, ...)``;
* ``x/<name>``: the evaluation point after the last step, read from the parameters after
  ``optimizer.eval()`` (the package's own train/eval swap);

and ``d``: the group's ``d`` after each step, ``(STEPS + 1,)``. For the settings in
``FLOAT32_SETTINGS`` it also writes ``goldens/pps_float32_<setting>.npz`` (``y/<name>`` and
``d`` as above): the unpatched package on float32 parameters, fed the float64 run's gradients
cast to float32.

Precision patch (documented in adaptlr's docstring and here): the package computes in float32
whatever the parameters' dtype (``p.float()``, ``grad.to(torch.float32)``, float32 running sums
of the ``d`` statistics, float32 factored moments, bfloat16 ``p0`` and ``s`` for float32
gradients). A float64 trajectory needs all of that in float64, so the two package modules get a
``torch`` in which ``float32`` and ``bfloat16`` name ``torch.float64``, and ``Tensor.float`` returns
a float64 tensor itself (as it returns a float32 tensor itself). With float64 parameters this
changes nothing else: stochastic rounding only ever applies when a bfloat16 buffer receives a
float32 value, and with ``Tensor.float`` returning the tensor itself the package's
``smart_copy`` sees source and target are the same tensor and copies nothing (its float32 path).
"""

from __future__ import annotations

import contextlib
import pathlib
import types
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from prodigyplus import core_optimiser, prodigy_plus_schedulefree
from prodigyplus.prodigy_plus_schedulefree import ProdigyPlusScheduleFree

GOLDENS = pathlib.Path(__file__).with_name("goldens")
STEPS = 40
NOISE = 0.05

SHAPES: OrderedDict[str, tuple[int, ...]] = OrderedDict(
    wide=(6, 40), tall=(40, 6), cube=(3, 4, 33), small=(5, 7), bias=(13,)
)

#: Reference keyword arguments per setting (the package's vocabulary).
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    # d frozen after step 12, no growth limiter, a larger d0 so d moves, decay by lr, no factoring.
    "steps_nolimiter_decay": dict(prodigy_steps=12, d_limiter=False, d0=1e-4, d_coef=2.0,
                                  weight_decay=0.1, factored=False),
    # RAdam-style bias correction with the factored second moment, other betas and beta3.
    "bias_factored": dict(use_bias_correction=True, factored=True, betas=(0.95, 0.999),
                          beta3=0.98, d0=1e-4),
    # Adam-atan2 (eps=None: StableAdamW off), decay not by lr, Refined-SF averaging strength.
    "atan2_decay_not_by_lr_c": dict(eps=None, weight_decay=0.05, weight_decay_by_lr=False,
                                    schedulefree_c=8.0, d0=1e-4, lr=0.5),
    # Without StableAdamW, with eps larger, d_limiter on, learning rate 2.
    "no_stableadamw": dict(use_stableadamw=False, eps=1e-6, lr=2.0, d0=1e-5),
}


def problem() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(20260318)
    init, curv, target = {}, {}, {}
    for name, shape in SHAPES.items():
        init[name] = np.zeros(shape) if name == "bias" else rng.standard_normal(shape)
        curv[name] = rng.uniform(0.1, 2.0, shape)
        target[name] = rng.standard_normal(shape)
    return init, curv, target


@contextlib.contextmanager
def package_in_float64() -> Iterator[None]:
    """The package's internal float32/bfloat16 computations done in float64 (see above)."""
    real = torch

    class Float64Torch(types.ModuleType):
        float32 = real.float64
        bfloat16 = real.float64

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    fake = Float64Torch("torch")
    modules = (core_optimiser, prodigy_plus_schedulefree)
    original_float = torch.Tensor.float

    def float_(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.dtype == torch.float64:
            return self
        return original_float(self, *args, **kwargs)

    for m in modules:
        m.torch = fake  # type: ignore[attr-defined]
    torch.Tensor.float = float_  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in modules:
            m.torch = real  # type: ignore[attr-defined]
        torch.Tensor.float = original_float  # type: ignore[method-assign]


def run(kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    init, curv, target = problem()
    noise_rng = np.random.default_rng(7)
    params = [torch.tensor(init[n], dtype=torch.float64, requires_grad=True) for n in SHAPES]
    with package_in_float64():
        opt = ProdigyPlusScheduleFree(params, **kwargs)
        out: dict[str, list[np.ndarray]] = {}

        def record() -> None:
            for name, p in zip(SHAPES, params, strict=True):
                out.setdefault(f"y/{name}", []).append(p.detach().numpy().copy())
                z = opt.state[p].get("z", p)  # before the first step z is the initial point
                out.setdefault(f"z/{name}", []).append(z.detach().numpy().copy())
            out.setdefault("d", []).append(np.asarray(opt.param_groups[0]["d"], np.float64))

        record()
        for _ in range(STEPS):
            for name, p in zip(SHAPES, params, strict=True):
                y = p.detach().numpy()
                g = curv[name] * (y - target[name]) + NOISE * noise_rng.standard_normal(y.shape)
                out.setdefault(f"grad/{name}", []).append(g)
                p.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
            record()
        opt.eval()
        result = {k: np.stack(v) for k, v in out.items()}
        for name, p in zip(SHAPES, params, strict=True):
            result[f"x/{name}"] = p.detach().numpy().copy()
        opt.train()
    for k, v in result.items():
        assert v.dtype == np.float64 and np.all(np.isfinite(v)), k
    return result


#: Settings also run unpatched in float32 (the package as users run it: float32 compute,
#: bfloat16 ``p0`` and ``s``), replaying the float64 run's gradients cast to float32.
FLOAT32_SETTINGS = ("default", "steps_nolimiter_decay")


def run_float32(kwargs: dict[str, Any], golden: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    params = [torch.tensor(golden[f"y/{n}"][0], dtype=torch.float32, requires_grad=True)
              for n in SHAPES]
    opt = ProdigyPlusScheduleFree(params, **kwargs)
    out: dict[str, list[np.ndarray]] = {"d": [np.asarray(opt.param_groups[0]["d"], np.float64)]}
    for name, p in zip(SHAPES, params, strict=True):
        out[f"y/{name}"] = [p.detach().numpy().copy()]
    for t in range(STEPS):
        for name, p in zip(SHAPES, params, strict=True):
            p.grad = torch.tensor(golden[f"grad/{name}"][t], dtype=torch.float32)
        opt.step()
        out["d"].append(np.asarray(opt.param_groups[0]["d"], np.float64))
        for name, p in zip(SHAPES, params, strict=True):
            out[f"y/{name}"].append(p.detach().numpy().copy())
    return {k: np.stack(v) for k, v in out.items()}


def main() -> None:
    GOLDENS.mkdir(exist_ok=True)
    for setting, kwargs in SETTINGS.items():
        result = run(kwargs)
        np.savez_compressed(GOLDENS / f"pps_{setting}.npz", **result)
        print(f"{setting}: d {result['d'][0]:.3g} -> {result['d'][-1]:.3g}")
        if setting in FLOAT32_SETTINGS:
            f32 = run_float32(kwargs, result)
            np.savez_compressed(GOLDENS / f"pps_float32_{setting}.npz", **f32)
            print(f"  float32 (unpatched): d -> {f32['d'][-1]:.3g}")


if __name__ == "__main__":
    main()
