"""StableAdamW and Adam-atan2 against reference code and closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.clipped import (
    adam_atan2,
    scale_by_adam_atan2,
    scale_by_stable_adamw,
    stable_adamw,
)
from tests.adaptive._golden import TOLERANCE, replay_error

CASES = [
    ("stable_adamw", "default", lambda: stable_adamw()),
    ("stable_adamw", "coupled", lambda: stable_adamw(learning_rate=1e-3, weight_decay=0.1,
                                                     decouple_weight_decay=False)),
    ("stable_adamw", "custom", lambda: stable_adamw(learning_rate=1e-3, b1=0.8, b2=0.95,
                                                    weight_decay=0.1, eps=1e-6)),
    # adam-atan2-pytorch's default learning rate is 1e-4 (ours is 1e-3).
    ("adam_atan2", "default", lambda: adam_atan2(learning_rate=1e-4)),
    ("adam_atan2", "custom", lambda: adam_atan2(learning_rate=1e-3, b1=0.8, b2=0.95,
                                                weight_decay=1e-2, a=1.0, b=2.0)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("method", "setting", "make_tx"), CASES,
                         ids=[f"{m}-{s}" for m, s, _ in CASES])
def test_matches_reference_trajectory(method, setting, make_tx, problem):
    assert replay_error(method, setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("factory", "name", "value"), [
    (stable_adamw, "b2", 1.0), (stable_adamw, "eps", -1.0), (stable_adamw, "weight_decay", -1.0),
    (adam_atan2, "a", 0.0), (adam_atan2, "b", -1.0), (adam_atan2, "b1", 1.5),
])
def test_bad_hyperparameters_raise(factory, name, value):
    with pytest.raises(ValueError, match=name):
        factory(**{name: value})


def test_stable_adamw_clips_a_gradient_spike():
    # Wortsman et al., Algorithm 1, for one tensor. Steps 1-2 see g = 1; step 3 sees g = 10.
    # With bias-corrected averages v_1 = v_2 = 1, v_3 = b2h * 1 + (1 - b2h) * 100 where
    # b2h = b2 (1 - b2^2) / (1 - b2^3); RMS_3 = sqrt(100 / v_3) > 1 divides the learning rate.
    lr, b1, b2, eps = 1e-2, 0.9, 0.99, 1e-8
    tx = scale_by_stable_adamw(lr, b1, b2, eps, weight_decay=0.0)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros(4, jnp.float64))
        for g in (1.0, 1.0, 10.0):
            updates, state = tx.update(jnp.full(4, g, jnp.float64), state)
        record = state.effective_lr  # computed from the float64 state when read
    b1h = b1 * (1 - b1**2) / (1 - b1**3)
    b2h = b2 * (1 - b2**2) / (1 - b2**3)
    m3 = b1h * 1.0 + (1 - b1h) * 10.0
    v3 = b2h * 1.0 + (1 - b2h) * 100.0
    lr_t = lr / max(1.0, np.sqrt(100.0 / v3))
    assert np.sqrt(100.0 / v3) > 1
    # The record is the leaf's float32 mean; every entry has the same step size here.
    np.testing.assert_allclose(float(record), lr_t / (np.sqrt(v3) + eps),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(updates), lr_t * m3 / (np.sqrt(v3) + eps), rtol=1e-13)


def test_stable_adamw_without_clipping_is_adamw_with_debiased_moments():
    # A constant gradient keeps RMS = 1 (no clipping) and m = g, v = g^2 exactly, so every
    # update is lr * (g / (|g| + eps) + wd * theta): here the parameters follow a closed form.
    lr, wd, eps = 1e-2, 0.1, 1e-8
    tx = stable_adamw(learning_rate=lr, weight_decay=wd, eps=eps)
    with jax.enable_x64(True):
        params = jnp.zeros(3, jnp.float64)
        state = tx.init(params)
        g = jnp.array([2.0, -1.0, 0.5])
        for _ in range(20):
            updates, state = tx.update(g, state, params)
            params = optax.apply_updates(params, updates)
    x = np.zeros(3)
    step = np.array([2.0, -1.0, 0.5]) / (np.abs([2.0, -1.0, 0.5]) + eps)
    for _ in range(20):
        x = x - lr * (step + wd * x)
    np.testing.assert_allclose(np.asarray(params), x, rtol=1e-12)


def test_adam_atan2_is_adam_for_small_ratios_and_bounded_for_large():
    # atan2(m, b sqrt(v)) ~ m / (b sqrt(v)) when |m| << sqrt(v); the step never exceeds
    # lr * a * pi / 2 even with v = 0 (no epsilon anywhere).
    tx = scale_by_adam_atan2(learning_rate=1.0, b1=0.9, b2=0.99, a=1.0, b=100.0)
    with jax.enable_x64(True):
        updates, state = tx.update(jnp.array([3.0, -1e-3]), tx.init(jnp.zeros(2, jnp.float64)))
        record = state.effective_lr  # computed from the float64 state when read
    # Step 1: m_hat = g, sqrt(v_hat) = |g|, so the update is atan2(g, 100 |g|) = sign(g)
    # atan(1/100), and effective_lr = atan(1/100) / |g|.
    np.testing.assert_allclose(np.asarray(updates), np.sign([3.0, -1e-3]) * np.arctan(0.01),
                               rtol=1e-13)
    np.testing.assert_allclose(float(record),
                               np.mean(np.arctan(0.01) / np.array([3.0, 1e-3])), rtol=1e-6)
    tx = scale_by_adam_atan2(learning_rate=1.0, a=1.0, b=1.0, b2=0.0)
    state = tx.init(jnp.zeros(1))
    _, state = tx.update(jnp.array([5.0]), state)
    updates, state = tx.update(jnp.array([0.0]), state)  # v_2 = 0, m_2 > 0
    np.testing.assert_allclose(np.asarray(updates), np.pi / 2, rtol=1e-6)
    assert np.isfinite(float(state.effective_lr))


def test_adam_atan2_effective_lr_is_finite_at_zero_momentum():
    tx = scale_by_adam_atan2(learning_rate=0.5, a=1.27, b=1.0)
    state = tx.init(jnp.zeros(2))
    updates, state = tx.update(jnp.zeros(2), state)
    np.testing.assert_array_equal(np.asarray(updates), 0.0)
    assert float(state.effective_lr) == 0.0


@pytest.mark.parametrize("dtype, max_ulp", [(np.float32, 2.5), (np.float64, 4.0)])
def test_atan2_for_nonnegative_x_is_within_a_few_ulp(dtype, max_ulp):
    # Adam-atan2 evaluates atan2 with its own polynomial (XLA:CPU's arctan2 is several times
    # slower): compared with float64 arctan2 over 16 decades of |y| and x, signs, zeros.
    from adaptlr.adaptive.clipped import _atan2_nonnegative_x

    rng = np.random.default_rng(0)
    n = 200_000
    y = (rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 8, n)).astype(dtype)
    x = (np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-8, 8, n)).astype(dtype)
    x[:100] = 0.0  # atan2(y, 0) = +-pi/2
    y[100:200] = 0.0  # atan2(0, x) = 0
    y[150:200] = -0.0
    x[150:200] = 0.0  # atan2(-0, 0) = -0
    ratios = np.array([1.0, np.tan(np.pi / 12), 1 / np.sqrt(3.0), 3.0], dtype)
    y[200:204], x[200:204] = ratios, np.ones(4, dtype)  # the reduction's switch points
    with jax.enable_x64(dtype == np.float64):
        got = np.asarray(jax.jit(_atan2_nonnegative_x)(jnp.asarray(y), jnp.asarray(x)))
    assert got.dtype == dtype
    want = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    zero = want == 0
    np.testing.assert_array_equal(got[zero], want[zero])
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(y[zero]))
    ulp = np.abs(got[~zero] - want[~zero]) / np.spacing(np.abs(want[~zero]).astype(dtype))
    assert ulp.max() <= max_ulp
