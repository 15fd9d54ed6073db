"""Regenerate the float64 golden trajectories of the per-parameter adaptive methods.

Run with the reference environment (PyTorch and the authors' packages)::

    .venv-ref/bin/python tests/adaptive/generate_goldens_adaptive.py

Reference implementations:
``adabound`` 0.0.5 (AdaBound, AMSBound, Luo et al.), ``adamod`` 0.0.3 (AdaMod, Ding et al.),
``qhoptim`` 1.1.0 (QHAdam, Ma & Yarats), ``adam_mini`` 1.1.1 (Zhang et al.), ``came-pytorch``
0.1.3 (Luo et al.), ``adam-atan2-pytorch`` 0.4.1, ``pytorch_optimizer`` 4.1.0 for PAdam
(without AMSGrad), StableAdamW and Lion with ``cautious=True``, and the authors' C-AdamW from
their ``C-Optim`` repository (``C_OPTIM_DIR=<checkout>``, see :func:`_c_optim`), the authors'
``AdaBoundW`` from their repository (``ADABOUND_SOURCE=<checkout>/adabound/adabound.py``) and
``pytorch_optimizer``'s ``AdaBound`` (decoupled decay; under a warm-up). Regenerate
some methods only by naming them: ``... generate_goldens_adaptive.py cautious_adamw``.

Each method gets one ``goldens/<method>.npz`` holding, for every setting and problem of
``tests/reference_problems.py``, each parameter's trajectory at the steps :data:`SAVED_STEPS`
(every step up to 10, then every 10th up to 200: errors accumulate, so the later points see
every step, and the files stay small) under the key ``<setting>__<problem>__<parameter>``.
The settings (hyperparameters in the reference's own names) are listed in :data:`SETTINGS`;
the tests build the same settings in adaptlr's names.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.adaptive._golden import SAVED_STEPS  # noqa: E402
from tests.reference_problems import PROBLEMS, init_params, run_torch  # noqa: E402

warnings.filterwarnings("ignore")  # the authors' packages use deprecated torch signatures

#: Names given to the reference problems' parameters for Adam-mini, whose partition reads them.
ADAM_MINI_NAMES = {
    # mlp: w1 one block per row (neuron), b1/b2 Adam, w2 one block (a "norm" weight).
    "mlp": ["mlp.fc1.weight", "mlp.fc1.bias", "ln_f.weight", "lm_head.bias"],
    # quadratic: w split into heads of 10 entries (2 rows), b one block.
    "quadratic": ["q_proj.weight", "norm.weight"],
}


def _adabound(**kw):
    import adabound

    return lambda params: adabound.AdaBound(params, **kw)


class _WithScheduler:
    """An optimizer stepping a PyTorch scheduler after each of its steps (the usual loop)."""

    def __init__(self, optimizer, make_scheduler):
        self.optimizer = optimizer
        self.scheduler = make_scheduler(optimizer)

    def zero_grad(self):
        self.optimizer.zero_grad()

    def step(self, closure=None):
        self.optimizer.step()
        self.scheduler.step()


def _warmup(make, steps=20, start_factor=0.05):
    """``make`` (a ``params -> optimizer`` function, built with lr = the peak) under PyTorch's
    multiplicative warm-up ``LinearLR(start_factor, total_iters=steps)``."""
    from torch.optim.lr_scheduler import LinearLR

    return lambda params: _WithScheduler(make(params), lambda o: LinearLR(
        o, start_factor=start_factor, end_factor=1.0, total_iters=steps))


def _po_adabound(**kw):
    from pytorch_optimizer import AdaBound

    return lambda params: AdaBound(params, foreach=False, **kw)


def _adaboundw(**kw):
    """The authors' ``AdaBoundW`` (github.com/Luolc/AdaBound at 2e928c3; not in the 0.0.5
    package), from the file named by ``ADABOUND_SOURCE`` (``adabound/adabound.py``)."""
    import importlib.util
    import os

    path = os.environ.get("ADABOUND_SOURCE")
    if not path:
        raise SystemExit("set ADABOUND_SOURCE to adabound/adabound.py of Luolc/AdaBound")
    spec = importlib.util.spec_from_file_location("adabound_repo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda params: module.AdaBoundW(params, **kw)


def _adamod(**kw):
    import adamod

    return lambda params: adamod.AdaMod(params, **kw)


def _padam(**kw):
    from pytorch_optimizer import PAdam

    return lambda params: PAdam(params, foreach=False, **kw)


def _qhadam(**kw):
    from qhoptim.pyt import QHAdam

    return lambda params: QHAdam(params, **kw)


def _stable_adamw(**kw):
    from pytorch_optimizer import StableAdamW

    return lambda params: StableAdamW(params, foreach=False, **kw)


def _adam_atan2(**kw):
    from adam_atan2_pytorch import AdamAtan2

    return lambda params: AdamAtan2(params, **kw)


def _came(**kw):
    from came_pytorch import CAME

    return lambda params: CAME(params, **kw)


def _adam_mini(problem, **kw):
    from adam_mini import Adam_mini

    names = ADAM_MINI_NAMES[problem]
    return lambda params: Adam_mini(list(zip(names, params, strict=True)), verbose=False,
                                    dim=10, n_heads=10, **kw)


def _cautious_lion(**kw):
    from pytorch_optimizer import Lion

    return lambda params: Lion(params, cautious=True, foreach=False, **kw)


def _c_optim(module: str):
    """A module of the authors' C-Optim repository (github.com/kyleliang919/C-Optim, checked
    at commit 2c0517c), from the checkout named by the ``C_OPTIM_DIR`` environment variable
    (it is not a package on PyPI; its modules import each other relatively)."""
    import importlib
    import os
    import types

    if "c_optim" not in sys.modules:
        root = os.environ.get("C_OPTIM_DIR")
        if not root:
            raise SystemExit("set C_OPTIM_DIR to a checkout of github.com/kyleliang919/C-Optim")
        package = types.ModuleType("c_optim")
        package.__path__ = [root]
        sys.modules["c_optim"] = package
    return importlib.import_module(f"c_optim.{module}")


def _c_adamw(**kw):
    # The authors' current C-AdamW (per-parameter path): mask / mask.mean().clamp(min=1e-3).
    adamw = _c_optim("c_adamw").AdamW
    return lambda params: adamw(params, foreach=False, no_deprecation_warning=True, **kw)


#: method -> setting -> factory(problem) of a ``params -> torch optimizer`` function.
#: Non-default learning rates stay at or below 1e-3 for Adam-like steps on the MLP: at 1e-2
#: (QHAdam with nu2 < 1, StableAdamW, Adam-atan2, CAME) the late iterates there are chaotic,
#: and float64 rounding differences of 1e-16 in the first steps grow past 1e-10 by step 200
#: (checked: the deviation starts at 1e-16 and grows geometrically, it is not a formula
#: difference). Sign-based Lion is not affected.
SETTINGS = {
    "adabound": {
        "default": lambda pb: _adabound(),
        "custom": lambda pb: _adabound(lr=1e-2, final_lr=0.05, betas=(0.8, 0.99), gamma=1e-2,
                                       weight_decay=1e-3),
        # AdaBound(lr=peak) + LinearLR warm-up: the bounds scale by lr_t / peak.
        "warmup": lambda pb: _warmup(_adabound(lr=1e-2, final_lr=0.05, gamma=1e-2)),
        "warmup_po": lambda pb: _warmup(_po_adabound(lr=1e-2, final_lr=0.05, gamma=1e-2)),
    },
    "amsbound": {
        "default": lambda pb: _adabound(amsbound=True),
        "custom": lambda pb: _adabound(lr=1e-2, final_lr=0.05, betas=(0.8, 0.99), gamma=1e-2,
                                       weight_decay=1e-3, amsbound=True),
        "warmup": lambda pb: _warmup(_adabound(lr=1e-2, final_lr=0.05, gamma=1e-2,
                                               amsbound=True)),
        "warmup_po": lambda pb: _warmup(_po_adabound(lr=1e-2, final_lr=0.05, gamma=1e-2,
                                                     ams_bound=True)),
    },
    "adaboundw": {
        # The authors' AdaBoundW: theta <- theta - update - wd theta (decay not scaled by lr).
        "default": lambda pb: _adaboundw(weight_decay=1e-4),
        "custom": lambda pb: _adaboundw(lr=1e-2, final_lr=0.05, betas=(0.8, 0.99), gamma=1e-2,
                                        weight_decay=1e-3, amsbound=True),
        # pytorch_optimizer's AdaBound decouples by default, scaled by lr (fixed_decay=False).
        "po_decoupled": lambda pb: _po_adabound(lr=1e-2, final_lr=0.05, gamma=1e-2,
                                                weight_decay=1e-2),
        "po_fixed": lambda pb: _po_adabound(lr=1e-2, final_lr=0.05, gamma=1e-2,
                                            weight_decay=1e-3, fixed_decay=True),
    },
    "adamod": {
        "default": lambda pb: _adamod(),
        "custom": lambda pb: _adamod(lr=1e-2, betas=(0.8, 0.99), beta3=0.99, weight_decay=1e-3),
    },
    "padam": {
        "default": lambda pb: _padam(),
        "custom": lambda pb: _padam(lr=0.05, betas=(0.8, 0.99), partial=0.125, weight_decay=1e-3),
        # Partial powers above the paper's 1/2 (pytorch_optimizer accepts (0, 1]).
        "p_three_quarters": lambda pb: _padam(lr=1e-3, partial=0.75),
        "p_one": lambda pb: _padam(lr=1e-4, partial=1.0, weight_decay=1e-3),
    },
    "qhadam": {
        "default": lambda pb: _qhadam(),
        "paper": lambda pb: _qhadam(lr=1e-2, betas=(0.995, 0.999), nus=(0.7, 1.0)),
        "decoupled": lambda pb: _qhadam(lr=1e-3, betas=(0.9, 0.99), nus=(0.8, 0.9),
                                        weight_decay=1e-2, decouple_weight_decay=True),
        "coupled": lambda pb: _qhadam(lr=1e-3, nus=(0.7, 0.5), weight_decay=1e-2, eps=1e-6),
    },
    "stable_adamw": {
        "default": lambda pb: _stable_adamw(),
        "custom": lambda pb: _stable_adamw(lr=1e-3, betas=(0.8, 0.95), weight_decay=0.1,
                                           eps=1e-6),
        # Coupled (L2) decay: weight_decouple=False.
        "coupled": lambda pb: _stable_adamw(lr=1e-3, weight_decay=0.1, weight_decouple=False),
    },
    "adam_atan2": {
        "default": lambda pb: _adam_atan2(),
        "custom": lambda pb: _adam_atan2(lr=1e-3, betas=(0.8, 0.95), weight_decay=1e-2, a=1.0,
                                         b=2.0),
    },
    "came": {
        "default": lambda pb: _came(lr=2e-4),
        "custom": lambda pb: _came(lr=1e-3, betas=(0.8, 0.99, 0.999), clip_threshold=0.5,
                                   weight_decay=1e-2),
    },
    "adam_mini": {
        "default": lambda pb: _adam_mini(pb),
        "custom": lambda pb: _adam_mini(pb, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1,
                                        eps=1e-6),
    },
    "cautious_lion": {
        "default": lambda pb: _cautious_lion(),
        "custom": lambda pb: _cautious_lion(lr=1e-2, betas=(0.8, 0.95)),
        # Decoupled decay, not masked: the composition in adaptlr.cautious's docstring.
        "decay": lambda pb: _cautious_lion(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1),
    },
    # eps = 0: the authors add eps to sqrt(v) before the bias correction, Optax after it.
    "cautious_adamw": {
        "default": lambda pb: _c_adamw(lr=1e-3, betas=(0.9, 0.999), eps=0.0, weight_decay=0.0),
        "decay": lambda pb: _c_adamw(lr=1e-3, betas=(0.8, 0.99), eps=0.0, weight_decay=0.1),
    },
}


def main() -> None:
    import torch

    torch.set_default_dtype(torch.float64)
    out_dir = HERE / "goldens"
    out_dir.mkdir(exist_ok=True)
    only = set(sys.argv[1:])
    for method, settings in SETTINGS.items():
        if only and method not in only:
            continue
        arrays: dict[str, np.ndarray] = {}
        for setting, factory in settings.items():
            for problem in PROBLEMS:
                traj = run_torch(problem, factory(problem))
                for name in init_params(problem):
                    assert np.all(np.isfinite(traj[name])), (method, setting, problem, name)
                    arrays[f"{setting}__{problem}__{name}"] = traj[name][SAVED_STEPS]
        np.savez_compressed(out_dir / f"{method}.npz", **arrays)
        print(f"{method}: {len(arrays)} trajectories")


if __name__ == "__main__":
    main()
