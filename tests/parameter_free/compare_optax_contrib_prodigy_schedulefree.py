"""Replay the Prodigy and Schedule-Free goldens through adaptlr and ``optax.contrib``.

Prints the rows of the table in ``docs/faithfulness.md``: for every golden setting, the largest
relative deviation (``reference_problems.max_relative_error``, over both problems, over ``y``
and, for Schedule-Free, the evaluation point ``x``) of Optax's contrib version and of adaptlr.
Where Optax has no equivalent option the closest Optax configuration is run and the cause
column says what is missing. Run with the project's environment::

    python tests/parameter_free/compare_optax_contrib_prodigy_schedulefree.py
"""

from __future__ import annotations

import math
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import adaptlr
from tests import reference_problems as rp
from tests.parameter_free import test_prodigy as tp
from tests.parameter_free import test_schedule_free as ts

contrib = optax.contrib


def _warmup(step: jax.Array) -> jax.Array:
    return jnp.minimum(1.0, step / 10.0)


# setting -> (Optax contrib optimizer or None, cause of the Optax deviation)
PRODIGY_OPTAX: dict[str, tuple[Callable[[], Any] | None, str]] = {
    "prodigy_default": (
        lambda: contrib.prodigy(),
        "Optax always applies Adam's bias correction (the reference: off by default)",
    ),
    "prodigy_coupled_bias": (
        lambda: optax.chain(
            optax.add_decayed_weights(0.1),
            contrib.prodigy(betas=(0.9, 0.99), estim_lr_coef=0.5, eps=1e-6),
        ),
        "coupled decay as add_decayed_weights before Optax's prodigy; rounding only",
    ),
    "prodigy_decoupled_growth_slice": (
        lambda: contrib.prodigy(
            0.2, weight_decay=0.05, safeguard_warmup=True, beta3=0.95, estim_lr0=1e-4
        ),
        "Optax has no growth_rate and no slice_p (and always bias-corrects)",
    ),
    "prodigy_nomomentum_warmup": (
        lambda: contrib.prodigy(_warmup, betas=(0.0, 0.999)),
        "Optax divides 0/0 at the learning-rate-0 step (NaN); the reference skips it",
    ),
}

SCHEDULE_FREE_OPTAX: dict[str, tuple[Callable[[], Any] | None, str]] = {
    "schedule_free_sgd_default": (lambda: contrib.schedule_free_sgd(), "rounding only"),
    "schedule_free_sgd_warmup_r": (
        lambda: contrib.schedule_free_sgd(
            0.5, warmup_steps=20, b1=0.8, weight_decay=0.01, weight_lr_power=1.0
        ),
        "Optax has no r (polynomial averaging weights)",
    ),
    "schedule_free_sgd_r_half": (
        lambda: contrib.schedule_free_sgd(1.5, warmup_steps=50, b1=0.95, weight_lr_power=3.0),
        "Optax has no r (polynomial averaging weights)",
    ),
    "schedule_free_adamw_default": (lambda: contrib.schedule_free_adamw(), "rounding only"),
    "schedule_free_adamw_decay_warmup": (
        lambda: contrib.schedule_free_adamw(
            0.02, warmup_steps=10, b1=0.95, b2=0.99, weight_decay=0.1, weight_lr_power=0.0
        ),
        "Optax has no r (polynomial averaging weights)",
    ),
    "schedule_free_adamw_eps_r": (
        lambda: contrib.schedule_free_adamw(
            0.01, warmup_steps=30, eps=1e-4, weight_lr_power=3.0
        ),
        "Optax has no r (polynomial averaging weights)",
    ),
    "schedule_free_radam_default": (None, "no Schedule-Free RAdam in Optax"),
    "schedule_free_radam_sgd_phase": (None, "no Schedule-Free RAdam in Optax"),
    "schedule_free_radam_r": (None, "no Schedule-Free RAdam in Optax"),
    "schedule_free_wrap_sgd": (
        lambda: contrib.schedule_free(optax.sgd(0.5), 0.5), "rounding only"
    ),
    "schedule_free_wrap_adam_decay": (
        lambda: contrib.schedule_free(optax.adam(0.01, b1=0.0), 0.01),
        "Optax's wrapper has no weight decay at y and no r",
    ),
    "schedule_free_wrap_adagrad": (
        lambda: contrib.schedule_free(
            optax.adagrad(0.1, initial_accumulator_value=0.1, eps=0.0), 0.1, b1=0.8
        ),
        "rounding only",
    ),
    "schedule_free_wrap_sgd_momentum": (
        lambda: contrib.schedule_free(
            optax.sgd(0.2, momentum=0.5), 0.2, b1=0.7, weight_lr_power=1.0
        ),
        "rounding only",
    ),
}


def _error(ours: dict[str, Any], golden: dict[str, Any]) -> float:
    # max_relative_error alone reports 0 for a NaN trajectory (max(0.0, nan) is 0.0).
    if not all(bool(jnp.all(jnp.isfinite(v))) for v in ours.values()):
        return math.nan
    return rp.max_relative_error(ours, golden)


def _fmt(x: float) -> str:
    return "NaN" if not math.isfinite(x) else f"{x:.1e}"


def _prodigy_error(name: str, make: Callable[[], Any]) -> float:
    worst = 0.0
    for problem in rp.PROBLEMS:
        golden = tp.load_golden(name, problem)
        with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
            ours = rp.run_jax(problem, make())
        err = _error(ours, golden)
        worst = max(worst, err) if math.isfinite(err) else math.nan
    return worst


def _schedule_free_error(name: str, make: Callable[[], Any], eval_params: Any) -> float:
    worst = 0.0
    for problem in rp.PROBLEMS:
        golden_y, golden_x = ts.load_golden(name, problem)
        ys, xs = ts._run(problem, make(), eval_params)
        for err in (_error(ys, golden_y), _error(xs, golden_x)):
            worst = max(worst, err) if math.isfinite(err) else math.nan
    return worst


def _optax_eval(state: Any, params: Any) -> Any:
    # Optax's schedule_free state is the outermost state of its optimizers.
    return contrib.schedule_free_eval_params(state, params)


def main() -> None:
    for name, (make, cause) in PRODIGY_OPTAX.items():
        theirs = _fmt(_prodigy_error(name, make)) if make else "—"
        ours = _fmt(_prodigy_error(name, lambda n=name: adaptlr.prodigy(**tp.SETTINGS[n])))
        print(f"| Prodigy | `{name}` | {theirs} | {ours} | {cause} |")
    for name, (make, cause) in SCHEDULE_FREE_OPTAX.items():
        theirs = _fmt(_schedule_free_error(name, make, _optax_eval)) if make else "—"
        ours = _fmt(_schedule_free_error(name, ts.SETTINGS[name],
                                         adaptlr.schedule_free_eval_params))
        print(f"| Schedule-Free | `{name}` | {theirs} | {ours} | {cause} |")


if __name__ == "__main__":
    main()
