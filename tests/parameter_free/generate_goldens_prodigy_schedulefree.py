"""Write the Prodigy and Schedule-Free golden trajectories from the authors' PyTorch packages.

Run with the reference environment (PyTorch 2.13.0 CPU, ``prodigyopt``, ``schedulefree``)::

    .venv-ref/bin/python tests/parameter_free/generate_goldens_prodigy_schedulefree.py [NAME ...]

(with names, only those settings are written).

Every setting runs 200 full-batch float64 steps on both problems of
``tests/reference_problems.py`` and writes ``goldens/<setting>.npz`` with, for each problem,

* ``<problem>/<param>``: the parameters after each step, ``(201, ...)``, step 0 first. For
  Schedule-Free this is the training point ``y`` (what the optimizer leaves in the model).
* Schedule-Free only, ``<problem>/x/<param>``: the evaluation point ``x`` (what ``.eval()``
  would put in the model) every ``X_EVERY`` steps, ``(201 // X_EVERY + 1, ...)``. It is read
  from the optimizer's ``z`` buffer without switching modes, because an ``eval()``/``train()``
  round trip would itself change ``y`` by rounding.

Non-default settings are chosen so that the 200-step trajectories are not chaotic: a relative
perturbation of 1e-14 of the initial point moves them by less than about 1e-10 (checked with
adaptlr). Some tried settings amplify it to 1e-6 (Prodigy with ``lr=0.5, growth_rate=1.05`` on
the MLP; Schedule-Free AdamW with ``eps=1e-6``), and there float64 rounding differences between
any two implementations alone exceed the 1e-10 agreement the tests require.

The settings' keyword arguments below are the reference's; ``test_prodigy.py`` and
``test_schedule_free.py`` hold the same settings in adaptlr's vocabulary.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tests import reference_problems as rp

GOLDENS = pathlib.Path(__file__).with_name("goldens")
X_EVERY = 10


def warmup_lambda(k: int) -> float:
    """Linear warmup from 0 over 10 steps (the first step has learning rate 0)."""
    return min(1.0, k / 10.0)


PRODIGY: dict[str, dict[str, Any]] = {
    "prodigy_default": {},
    "prodigy_coupled_bias": dict(
        betas=(0.9, 0.99), weight_decay=0.1, decouple=False, use_bias_correction=True,
        d_coef=0.5, eps=1e-6,
    ),
    "prodigy_decoupled_growth_slice": dict(
        weight_decay=0.05, decouple=True, growth_rate=1.02, safeguard_warmup=True, slice_p=3,
        beta3=0.95, d0=1e-4, lr=0.2,
    ),
    "prodigy_nomomentum_warmup": dict(betas=(0.0, 0.999), schedule=True),
    # prodigy_steps = N (adaptlr): d is updated after the first N - 1 steps only. prodigyopt
    # 1.1.2 has no such option; "freeze" sets its growth_rate to 1 from step N on, which keeps
    # d where it is (d <= d_max always; d has left d0 by then, see _Frozen).
    "prodigy_steps_default": dict(freeze=12),
    "prodigy_steps_bias_decay": dict(
        freeze=20, use_bias_correction=True, weight_decay=0.05, betas=(0.9, 0.99),
    ),
    # d_limiter (prodigy-plus-schedule-free's definition) transplanted into prodigyopt 1.1.2 as
    # a one-line source patch (see _limited_prodigy_class).
    "prodigy_d_limiter_default": dict(limiter=True),
    "prodigy_d_limiter_coef_decay": dict(limiter=True, d_coef=2.0, d0=1e-5, weight_decay=0.01),
}

SCHEDULE_FREE: dict[str, dict[str, Any]] = {
    "schedule_free_sgd_default": dict(cls="SGDScheduleFree"),
    "schedule_free_sgd_warmup_r": dict(
        cls="SGDScheduleFree", lr=0.5, momentum=0.8, weight_decay=0.01, warmup_steps=20, r=1.0,
        weight_lr_power=1.0,
    ),
    "schedule_free_sgd_r_half": dict(
        cls="SGDScheduleFree", lr=1.5, momentum=0.95, warmup_steps=50, r=0.5,
        weight_lr_power=3.0,
    ),
    "schedule_free_adamw_default": dict(cls="AdamWScheduleFree"),
    "schedule_free_adamw_decay_warmup": dict(
        cls="AdamWScheduleFree", lr=0.02, betas=(0.95, 0.99), weight_decay=0.1,
        warmup_steps=10, r=2.0, weight_lr_power=0.0,
    ),
    "schedule_free_adamw_eps_r": dict(
        cls="AdamWScheduleFree", lr=0.01, eps=1e-4, warmup_steps=30, r=0.5, weight_lr_power=3.0,
    ),
    "schedule_free_radam_default": dict(cls="RAdamScheduleFree"),
    "schedule_free_radam_sgd_phase": dict(
        cls="RAdamScheduleFree", silent_sgd_phase=False, lr=0.01, betas=(0.9, 0.99),
        weight_decay=0.05,
    ),
    "schedule_free_radam_r": dict(
        cls="RAdamScheduleFree", lr=0.02, betas=(0.8, 0.999), r=1.0, weight_lr_power=1.0,
    ),
    "schedule_free_wrap_sgd": dict(cls="wrap", base="SGD", base_kwargs=dict(lr=0.5)),
    "schedule_free_wrap_adam_decay": dict(
        cls="wrap", base="Adam", base_kwargs=dict(lr=0.01, betas=(0.0, 0.999)),
        weight_decay_at_y=0.1, r=1.0,
    ),
    "schedule_free_wrap_adagrad": dict(
        cls="wrap", base="Adagrad",
        base_kwargs=dict(lr=0.1, initial_accumulator_value=0.1, eps=0.0), momentum=0.8,
    ),
    "schedule_free_wrap_sgd_momentum": dict(
        cls="wrap", base="SGD", base_kwargs=dict(lr=0.2, momentum=0.5), momentum=0.7,
        weight_lr_power=1.0,
    ),
}


class _Scheduled:
    """An optimizer whose ``step`` also advances a ``LambdaLR`` schedule."""

    def __init__(self, opt: Any, scheduler: Any) -> None:
        self.opt, self.scheduler = opt, scheduler

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self, closure: Any = None) -> None:
        self.opt.step()
        self.scheduler.step()


class _Frozen:
    """A ``prodigyopt.Prodigy`` whose ``d`` stops changing after ``freeze - 1`` steps.

    From step ``freeze`` (1-based) on its ``growth_rate`` is 1, so ``d = min(d_max, d)`` keeps
    ``d``. (That holds only once ``d`` has left ``d0``, where prodigyopt's first estimate is not
    limited by the growth rate; the constructor's check in ``step`` makes sure.)
    """

    def __init__(self, opt: Any, freeze: int) -> None:
        self.opt, self.freeze, self.k = opt, freeze, 0
        self.frozen_d: float | None = None

    def zero_grad(self) -> None:
        self.opt.zero_grad()

    def step(self, closure: Any = None) -> None:
        self.k += 1
        group = self.opt.param_groups[0]
        if self.k == self.freeze:
            if group["d"] == group["d0"]:
                raise RuntimeError("d has not left d0 before the freeze: pick a later step")
            group["growth_rate"] = 1.0
            self.frozen_d = group["d"]
        self.opt.step()
        if self.frozen_d is not None and group["d"] != self.frozen_d:
            raise RuntimeError("d moved after the freeze")


def _limited_prodigy_class() -> Any:
    """``prodigyopt.Prodigy`` with prodigy-plus-schedule-free's ``d_limiter`` patched in.

    ProdigyPlusScheduleFree (``core_optimiser.calculate_d``) caps the raw estimate
    ``numerator / denominator`` at ``2**0.25`` times the current ``d`` before ``d_coef``
    multiplies it. The same cap goes into prodigyopt's one line that forms ``d_hat``; the rest
    of prodigyopt's source is run unchanged.
    """
    import inspect

    import prodigyopt.prodigy as module

    source = inspect.getsource(module)
    line = "d_hat = d_coef * global_d_numerator / global_d_denom"
    if source.count(line) != 1:
        raise RuntimeError("prodigyopt's d_hat line changed; update the patch")
    source = source.replace(
        line, "d_hat = d_coef * min(global_d_numerator / global_d_denom, d * 2 ** 0.25)"
    )
    namespace: dict[str, Any] = {"__name__": "prodigyopt_limited"}
    exec(compile(source, module.__file__, "exec"), namespace)
    return namespace["Prodigy"]


def make_prodigy(kwargs: dict[str, Any]) -> Any:
    import prodigyopt
    import torch

    kwargs = dict(kwargs)
    schedule = kwargs.pop("schedule", False)
    freeze = kwargs.pop("freeze", 0)
    cls = _limited_prodigy_class() if kwargs.pop("limiter", False) else prodigyopt.Prodigy

    def make(params: list[Any]) -> Any:
        opt = cls(params, **kwargs)
        if freeze:
            return _Frozen(opt, freeze)
        if not schedule:
            return opt
        return _Scheduled(opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_lambda))

    return make


def run_schedule_free(problem: str, kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Like ``reference_problems.run_torch``, also recording the evaluation point ``x``."""
    import schedulefree
    import torch

    kwargs = dict(kwargs)
    cls = kwargs.pop("cls")
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in rp.init_params(problem).values()]
    if cls == "wrap":
        base_cls = getattr(torch.optim, kwargs.pop("base"))
        base = base_cls(params, **kwargs.pop("base_kwargs"))
        if base_cls is torch.optim.Adam:
            # ScheduleFreeWrapper puts ``z`` into the base's per-parameter state before the
            # base's first step, and torch's Adam initialises its own state only when that
            # dict is empty (KeyError 'exp_avg'). Initialise it here exactly as Adam would.
            for p in params:
                base.state[p].update(
                    step=torch.tensor(0.0, dtype=torch.float64),
                    exp_avg=torch.zeros_like(p, memory_format=torch.preserve_format),
                    exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format),
                )
        opt = schedulefree.ScheduleFreeWrapper(base, **kwargs)
        beta = opt.momentum
    else:
        opt = getattr(schedulefree, cls)(params, **kwargs)
        group = opt.param_groups[0]
        beta = group["momentum"] if "momentum" in group else group["betas"][0]
    opt.train()
    loss_fn = rp.torch_loss(problem)
    names = list(rp.init_params(problem))
    ys: dict[str, list[np.ndarray]] = {
        n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)
    }
    xs: dict[str, list[np.ndarray]] = {
        n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)
    }
    for step in range(1, rp.STEPS + 1):
        opt.zero_grad()
        loss_fn(params).backward()
        opt.step()
        for n, p in zip(names, params, strict=True):
            ys[n].append(p.detach().numpy().copy())
            if step % X_EVERY == 0:
                z = opt.state[p]["z"]
                # What eval() computes in place: x = lerp(y, z, 1 - 1/beta).
                xs[n].append(torch.lerp(p.detach(), z, 1 - 1 / beta).numpy().copy())
    out = {n: np.stack(v) for n, v in ys.items()}
    out.update({f"x/{n}": np.stack(v) for n, v in xs.items()})
    return out


def main(only: list[str]) -> None:
    """Write every setting's golden, or only the settings named in ``only``."""
    import torch

    torch.set_default_dtype(torch.float64)
    GOLDENS.mkdir(exist_ok=True)
    for name, kwargs in PRODIGY.items():
        if only and name not in only:
            continue
        arrays = {}
        for problem in rp.PROBLEMS:
            traj = rp.run_torch(problem, make_prodigy(kwargs))
            arrays.update({f"{problem}/{k}": v for k, v in traj.items()})
        _save(name, arrays)
    for name, kwargs in SCHEDULE_FREE.items():
        if only and name not in only:
            continue
        arrays = {}
        for problem in rp.PROBLEMS:
            traj = run_schedule_free(problem, kwargs)
            arrays.update({f"{problem}/{k}": v for k, v in traj.items()})
        _save(name, arrays)


def _save(name: str, arrays: dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise RuntimeError(f"{name}: {key} is not finite")
    np.savez_compressed(GOLDENS / f"{name}.npz", **arrays)
    worst = max(float(np.max(np.abs(v[-1] - v[0]))) for v in arrays.values())
    print(f"{name}: {len(arrays)} arrays, largest total move {worst:.3g}")


if __name__ == "__main__":
    main(sys.argv[1:])
