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


def test_factoring_rule_is_the_packages() -> None:
    # (dc, dr): second-largest and largest axis, ties to the later axis; a leaf is factored
    # with two or more axes of which one has at least 32 entries.
    assert _factored_axes((6, 40)) == (0, 1)
    assert _factored_axes((40, 6)) == (1, 0)
    assert _factored_axes((32, 32)) == (0, 1)
    assert _factored_axes((3, 4, 33)) == (1, 2)
    assert _factored_axes((31, 31)) is None
    assert _factored_axes((13,)) is None
    assert _factored_axes((0, 40)) is None  # zero-size: nothing to factor (no NaN means)


def test_factored_state_shapes() -> None:
    params = {"w": jnp.zeros((6, 40)), "t": jnp.zeros((40, 6)), "b": jnp.zeros(5)}
    base = adaptlr.prodigy_plus_schedule_free().init(params)[0].base_state
    assert base.exp_avg_sq_row["w"].shape == (6, 1) and base.exp_avg_sq_col["w"].shape == (1, 40)
    assert base.exp_avg_sq_row["t"].shape == (1, 6) and base.exp_avg_sq_col["t"].shape == (40, 1)
    assert base.exp_avg_sq["w"].shape == (1,) and base.exp_avg_sq["b"].shape == (5,)
    assert base.s["w"].shape == (22,) and base.p0["b"].shape == (1,)  # every 11th entry
    unfactored = adaptlr.prodigy_plus_schedule_free(factored=False).init(params)[0].base_state
    assert unfactored.exp_avg_sq["w"].shape == (6, 40)


def test_eval_params_is_the_packages_eval_point() -> None:
    """``schedule_free_eval_params`` returns x = (y - (1 - b1) z) / b1, the point the package's
    ``eval()`` puts in the model (the goldens' ``x/`` arrays, checked above at 1e-10), also
    from inside a chain and under ``optax.masked``."""
    with jax.enable_x64(True):
        data = np.load(GOLDENS / "pps_default.npz")
        y = {n: jnp.asarray(data[f"y/{n}"][-1]) for n in NAMES}
        z = {n: jnp.asarray(data[f"z/{n}"][-1]) for n in NAMES}
        tx = adaptlr.prodigy_plus_schedule_free(b1=0.9)
        state = tx.init(y)
        state = (state[0]._replace(z=z), *state[1:])
        x = adaptlr.schedule_free_eval_params(state, y)
        for n in NAMES:
            assert _rel(np.asarray(x[n]), data[f"x/{n}"]) <= 1e-12
        masked = optax.masked(tx, {n: n != "bias" for n in NAMES})
        mstate = masked.init(y)
        xm = adaptlr.schedule_free_eval_params(mstate, y)
        np.testing.assert_array_equal(np.asarray(xm["bias"]), np.asarray(y["bias"]))
        np.testing.assert_allclose(np.asarray(xm["wide"]), np.asarray(y["wide"]))  # z = y at init


def test_unsupported_options_are_not_arguments() -> None:
    for option in ("use_cautious", "use_grams", "use_adopt", "use_orthograd", "use_focus",
                   "use_speed", "use_schedulefree", "split_groups", "split_groups_mean",
                   "stochastic_rounding", "factored_fp32", "fused_back_pass"):
        with pytest.raises(TypeError):
            adaptlr.prodigy_plus_schedule_free(**{option: True})
    with pytest.raises(ValueError, match="use_stableadamw"):
        adaptlr.prodigy_plus_schedule_free(use_atan2=True, use_stableadamw=True)
    with pytest.raises(ValueError, match="b1"):
        adaptlr.prodigy_plus_schedule_free(b1=0.0)
    with pytest.raises(TypeError, match="factored"):
        adaptlr.prodigy_plus_schedule_free(factored=1)  # type: ignore[arg-type]


def test_zero_learning_rate_changes_nothing_but_the_count() -> None:
    tx = adaptlr.prodigy_plus_schedule_free(learning_rate=0.0, weight_decay=0.1,
                                            weight_decay_by_lr=False)
    params = {"w": jnp.ones((4, 40)), "b": jnp.zeros(3)}
    state = tx.init(params)
    grads = jax.tree.map(jnp.ones_like, params)
    updates, new = tx.update(grads, state, params)
    for u in jax.tree.leaves(updates):
        np.testing.assert_array_equal(np.asarray(u), 0.0)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state, new)
    assert changed[0].count and not any(jax.tree.leaves(changed[0]._replace(count=False)))


def test_bfloat16_parameters_train_without_nan() -> None:
    params = {"w": jnp.ones((4, 40), jnp.bfloat16), "b": jnp.zeros(3, jnp.bfloat16)}
    tx = adaptlr.prodigy_plus_schedule_free(d0=1e-2)
    state = tx.init(params)
    for _ in range(5):
        grads = jax.tree.map(lambda p: (p - 2).astype(p.dtype), params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(params))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves((params, state)))
    assert float(params["b"][0]) > 0  # moved towards 2


def test_schedule_free_of_prodigy_is_a_different_optimizer() -> None:
    """docs/prodigy.md: no setting of ``schedule_free(prodigy(...))`` is this optimizer. A
    configuration close to it (no momentum, the same betas, eps, d0, d limiter, every 11th
    entry; StableAdamW off on both sides) leaves the package's trajectory within 10 steps."""
    with jax.enable_x64(True):
        data = np.load(GOLDENS / "pps_no_stableadamw.npz")
        near = adaptlr.schedule_free(
            adaptlr.prodigy(learning_rate=2.0, b1=0.0, b2=0.99, eps=1e-6, d0=1e-5,
                            slice_p=11, d_limiter=True),
            learning_rate=2.0, b1=0.9,
        )
        params = {n: jnp.asarray(data[f"y/{n}"][0]) for n in NAMES}
        state = near.init(params)
        for t in range(10):
            grads = {n: jnp.asarray(data[f"grad/{n}"][t]) for n in NAMES}
            updates, state = near.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        assert _rel(np.asarray(params["small"]), data["y/small"][10]) > 1e-3


def _replay_float32(setting: str, statistics_dtype: Any) -> tuple[np.ndarray, dict]:
    data = np.load(GOLDENS / f"pps_{setting}.npz")
    tx = adaptlr.prodigy_plus_schedule_free(statistics_dtype=statistics_dtype,
                                            **SETTINGS[setting])
    params = {n: jnp.asarray(data[f"y/{n}"][0], jnp.float32) for n in NAMES}
    state = tx.init(params)

    @jax.jit
    def step(params: Any, state: Any, grads: Any) -> Any:
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    ds, ys = [float(state[0].base_state.d)], {n: [np.asarray(params[n])] for n in NAMES}
    for t in range(data["d"].shape[0] - 1):
        grads = {n: jnp.asarray(data[f"grad/{n}"][t], jnp.float32) for n in NAMES}
        params, state = step(params, state, grads)
        ds.append(float(state[0].base_state.d))
        for n in NAMES:
            ys[n].append(np.asarray(params[n]))
    return np.asarray(ds), {n: np.stack(v) for n, v in ys.items()}


def test_bfloat16_statistics_reproduce_the_unpatched_package_in_float32() -> None:
    """``statistics_dtype=jnp.bfloat16`` is the package as users run it on float32 parameters
    (float32 compute, ``p0`` and ``s`` in bfloat16): goldens ``pps_float32_*``. Measured: ``d``
    within 1.4e-6 (defaults) and 6.3e-5 (no limiter); ``y`` within 1e-5 over all 40 default
    steps. In the no-limiter setting the trajectory itself amplifies float32 rounding (adaptlr
    in float32 against its own float64 run: 1.4e-3 by step 7), so ``y`` is compared over the
    first 4 steps only. Without the option, ``p0``'s exactness changes ``d`` by far: the
    package's bfloat16 rounding of ``x0`` makes ``<g, p0 - z>`` nonzero from the first step."""
    ref = np.load(GOLDENS / "pps_float32_default.npz")
    d, ys = _replay_float32("default", jnp.bfloat16)
    assert np.max(np.abs(d - ref["d"]) / ref["d"]) <= 1e-5
    for n in NAMES:
        assert _rel(ys[n], ref[f"y/{n}"]) <= 1e-4, n
    exact, _ = _replay_float32("default", None)
    assert exact[-1] == pytest.approx(ref["d"][-1] / 2**0.25, rel=1e-4)  # one growth fewer

    ref = np.load(GOLDENS / "pps_float32_steps_nolimiter_decay.npz")
    d, ys = _replay_float32("steps_nolimiter_decay", jnp.bfloat16)
    assert np.max(np.abs(d - ref["d"]) / ref["d"]) <= 1e-3
    for n in NAMES:
        assert _rel(ys[n][:5], ref[f"y/{n}"][:5]) <= 1e-4, n
    exact, _ = _replay_float32("steps_nolimiter_decay", None)
    assert ref["d"][-1] > 5 * exact[-1]  # 7.86 against 1.25 (the float64 golden's value)
