"""Replay the momo-opt goldens through ``optax.contrib.momo`` / ``momo_adam`` and adaptlr.

Prints the rows of docs/faithfulness.md (largest relative deviation over the mlp / quadratic
goldens, closed loop, float64). Run with the test environment:

    PYTHONPATH=src .venv/bin/python tests/loss_driven/compare_optax_contrib_momo.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import optax

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.loss_driven.test_momo import GOLDENS, SETTINGS  # noqa: E402
from tests.reference_problems import PROBLEMS, max_relative_error, run_jax, x64  # noqa: E402

#: setting -> the optax.contrib call with the same meaning, or None where Optax lacks an option.
OPTAX = {
    "momo_default": lambda: optax.contrib.momo(1.0),
    "momo_bias_correction": None,  # no bias_correction in optax.contrib.momo
    "momo_wd": lambda: optax.contrib.momo(0.5, beta=0.8, weight_decay=1e-2),
    "momo_fstar": lambda: optax.contrib.momo(1.0, lower_bound=-1.0, adapt_lower_bound=True),
    "momo_fstar_wd_bc": None,
    "momo_adam_default": lambda: optax.contrib.momo_adam(1e-2),
    "momo_adam_wd": lambda: optax.contrib.momo_adam(2e-2, b1=0.8, b2=0.99, weight_decay=1e-2),
    "momo_adam_wd_nodivide": None,  # Optax has only one weight-decay form
    "momo_adam_fstar": lambda: optax.contrib.momo_adam(1e-1, lower_bound=-1.0,
                                                       adapt_lower_bound=True),
}


def main() -> None:
    for setting, (factory, kwargs) in SETTINGS.items():
        ours, theirs = [], []
        for problem in PROBLEMS:
            golden = dict(np.load(GOLDENS / f"{setting}_{problem}.npz"))
            with x64():
                ours.append(max_relative_error(
                    run_jax(problem, factory(**kwargs), pass_value=True), golden))
                if OPTAX[setting] is not None:
                    theirs.append(max_relative_error(
                        run_jax(problem, OPTAX[setting](), pass_value=True), golden))
        fmt = " / ".join
        optax_text = fmt(f"{e:.1e}" for e in theirs) if theirs else "n/a"
        print(f"| {setting} | {optax_text} | {fmt(f'{e:.1e}' for e in ours)} |")


if __name__ == "__main__":
    main()
