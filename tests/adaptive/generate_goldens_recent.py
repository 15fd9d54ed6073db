"""Regenerate the float64 golden trajectories of the methods added for issue 18.

Run with the reference environment (PyTorch and the authors' packages)::

    .venv-ref/bin/python tests/adaptive/generate_goldens_recent.py [method ...]

Reference implementations: ``madgrad`` 1.3 (MADGRAD, Defazio and Jelassi's package);
``pytorch_optimizer`` 4.1.0 ``ADOPT`` (per-parameter path, ``foreach=False``); ``sgd-sai``
1.0.3 (``SGD_sai``, the authors' package; it prints a banner at its first step);
``pytorch_optimizer`` 4.1.0 ``AdamG`` and ``Kate`` (no packages by their authors);
``trac-optimizer`` 0.0.2 (``start_trac``, the authors' package; its erfi tables are built in the
default dtype when it is first imported, float64 here).

Same layout as ``generate_goldens_adaptive.py``: one ``goldens/<method>.npz`` per method with,
for every setting and problem of ``tests/reference_problems.py``, each parameter's trajectory at
:data:`SAVED_STEPS` under ``<setting>__<problem>__<parameter>``. The settings use the
reference's own argument names; the tests build the same settings in adaptlr's names.
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

warnings.filterwarnings("ignore")


def _adopt(**kw):
    from pytorch_optimizer import ADOPT

    return lambda params: ADOPT(params, foreach=False, **kw)


def _sgd_sai(**kw):
    from sgd_sai import SGD_sai

    return lambda params: SGD_sai(params, **kw)


def _adamg(**kw):
    from pytorch_optimizer import AdamG

    return lambda params: AdamG(params, foreach=False, **kw)


def _kate(**kw):
    from pytorch_optimizer import Kate

    return lambda params: Kate(params, foreach=False, **kw)


def _trac(base, trac_kw=None, **kw):
    import tempfile

    import torch
    from trac_optimizer import start_trac

    # start_trac appends one log line per step to this file.
    log = tempfile.NamedTemporaryFile(suffix=".log", delete=False).name
    opt_class = start_trac(log, getattr(torch.optim, base), **(trac_kw or {}))
    return lambda params: opt_class(params, **kw)


def _madgrad(**kw):
    from madgrad import MADGRAD

    return lambda params: MADGRAD(params, **kw)


#: method -> setting -> factory(problem) of a ``params -> torch optimizer`` function.
SETTINGS = {
    "madgrad": {
        "default": lambda pb: _madgrad(),
        # momentum 0: the reference recomputes x0 from p, s and the old sum every step.
        "nomomentum_l2": lambda pb: _madgrad(lr=3e-2, momentum=0.0, weight_decay=1e-3,
                                             eps=1e-6),
        "decoupled_eps0": lambda pb: _madgrad(lr=5e-3, momentum=0.8, weight_decay=1e-2,
                                              eps=0.0, decouple_decay=True),
    },
    "adopt": {
        "default": lambda pb: _adopt(),
        "l2": lambda pb: _adopt(lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, eps=1e-8),
        "decoupled_noclip": lambda pb: _adopt(lr=3e-3, betas=(0.9, 0.999), weight_decay=0.1,
                                              weight_decouple=True, clip_lambda=None),
    },
    "sgd_sai": {
        "default": lambda pb: _sgd_sai(),
        "nodecay": lambda pb: _sgd_sai(lr=1e-3, momentum=0.5, eps=1e-3, weight_decay=0.0),
        "heavy": lambda pb: _sgd_sai(lr=5e-3, momentum=0.95, weight_decay=0.1),
    },
    "adamg": {
        "default": lambda pb: _adamg(),
        "l2": lambda pb: _adamg(lr=0.1, betas=(0.9, 0.99, 0.9), p=0.3, q=0.2, weight_decay=1e-3,
                                eps=1e-6),
        "decoupled": lambda pb: _adamg(lr=0.5, p=0.1, q=0.3, weight_decay=1e-2,
                                       weight_decouple=True),
    },
    "kate": {
        "default": lambda pb: _kate(),
        "delta_eps0": lambda pb: _kate(lr=1e-2, delta=1e-2, eps=0.0),
        "l2": lambda pb: _kate(lr=5e-3, weight_decay=1e-2, weight_decouple=False, eps=1e-6),
        "decoupled": lambda pb: _kate(lr=2e-3, weight_decay=1e-1),
    },
    "trac": {
        "adam_default": lambda pb: _trac("Adam", lr=1e-3),
        "sgd_momentum": lambda pb: _trac("SGD", lr=1e-2, momentum=0.9),
        "adam_custom": lambda pb: _trac("Adam", dict(betas=(0.9, 0.99, 0.999), s_prev=1e-6,
                                                     eps=1e-6), lr=1e-2),
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
