"""ProdigyPlusScheduleFree against ``prodigy-plus-schedule-free`` 2.0.1.

The goldens (``generate_goldens_prodigy_plus_schedule_free.py``) are the package's float64
trajectories (its internal float32/bfloat16 patched to float64) on a noisy quadratic over five
tensors, two of them factored in each orientation. The test replays the recorded gradients,
so it compares the optimizer's arithmetic step by step, and checks ``y``, ``z``, ``d`` after
every step and the evaluation point ``x`` (the package's ``eval()``) at the end.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.parameter_free.prodigy_plus_schedule_free import _factored_axes

GOLDENS = pathlib.Path(__file__).with_name("goldens")
NAMES = ("wide", "tall", "cube", "small", "bias")

# generate_goldens_prodigy_plus_schedule_free.SETTINGS in adaptlr's vocabulary.
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "steps_nolimiter_decay": dict(prodigy_steps=12, d_limiter=False, d0=1e-4, d_coef=2.0,
                                  weight_decay=0.1, factored=False),
    "bias_factored": dict(use_bias_correction=True, factored=True, b1=0.95, b2=0.999,
                          b3=0.98, d0=1e-4),
    "atan2_decay_not_by_lr_c": dict(use_atan2=True, weight_decay=0.05,
                                    weight_decay_by_lr=False, schedulefree_c=8.0, d0=1e-4,
                                    learning_rate=0.5),
    "no_stableadamw": dict(use_stableadamw=False, eps=1e-6, learning_rate=2.0, d0=1e-5),
}


def _rel(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-3)))


def replay(setting: str) -> tuple[dict[str, np.ndarray], Any]:
    data = np.load(GOLDENS / f"pps_{setting}.npz")
    tx = adaptlr.prodigy_plus_schedule_free(**SETTINGS[setting])
    params = {n: jnp.asarray(data[f"y/{n}"][0]) for n in NAMES}
    state = tx.init(params)

    @jax.jit
    def step(params: Any, state: Any, grads: Any) -> Any:
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    out: dict[str, list[np.ndarray]] = {}
    steps = data["d"].shape[0] - 1
    for t in range(steps):
        grads = {n: jnp.asarray(data[f"grad/{n}"][t]) for n in NAMES}
        params, state = step(params, state, grads)
        sf = state[0]
        for n in NAMES:
            out.setdefault(f"y/{n}", []).append(np.asarray(params[n]))
            out.setdefault(f"z/{n}", []).append(np.asarray(sf.z[n]))
        out.setdefault("d", []).append(np.asarray(sf.base_state.d))
    result = {k: np.stack(v) for k, v in out.items()}
    x = adaptlr.schedule_free_eval_params(state, params)
    for n in NAMES:
        result[f"x/{n}"] = np.asarray(x[n])
    return result, data


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_matches_the_package_in_float64(setting: str) -> None:
    with jax.enable_x64(True):
        ours, data = replay(setting)
    for key, value in ours.items():
        ref = data[key] if key.startswith("x/") else data[key][1:]
        assert value.dtype == np.float64
        err = _rel(value, ref)
        assert err <= 1e-10, f"{setting} {key}: relative error {err:.3g}"
    # The settings are not trivial: d moved, and so did the parameters.
    assert data["d"][-1] > 2 * data["d"][0]
    assert _rel(data["y/wide"][-1], data["y/wide"][0]) > 1e-3
