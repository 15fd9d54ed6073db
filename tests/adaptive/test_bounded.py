"""AdaBound, AMSBound and AdaMod against the authors' packages and closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.bounded import (
    adabound,
    adaboundw,
    adamod,
    amsbound,
    scale_by_adabound,
)
from adaptlr.schedules import warmup
from tests.adaptive._golden import TOLERANCE, replay_error

# The settings of tests/adaptive/generate_goldens_adaptive.py, in adaptlr's names.
CUSTOM_BOUND = dict(learning_rate=1e-2, final_lr=0.05, b1=0.8, b2=0.99, gamma=1e-2,
                    weight_decay=1e-3)
WARMUP = warmup(1e-2, 20, start_factor=0.05)
PO_EPS_ROOT = 1e-15  # pytorch_optimizer adds it to v under the square root
CASES = [
    ("adabound", "default", lambda: adabound()),
    ("adabound", "custom", lambda: adabound(**CUSTOM_BOUND)),
    ("amsbound", "default", lambda: amsbound()),
    ("amsbound", "custom", lambda: amsbound(**CUSTOM_BOUND)),
    # AdaBound(lr=1e-2) + LinearLR(start_factor=0.05, total_iters=20), the authors' package
    # and pytorch_optimizer: the bounds scale by lr_t / peak.
    ("adabound", "warmup", lambda: adabound(WARMUP, final_lr=0.05, gamma=1e-2, base_lr=1e-2)),
    ("adabound", "warmup_po", lambda: adabound(WARMUP, final_lr=0.05, gamma=1e-2,
                                               base_lr=1e-2, eps_root=PO_EPS_ROOT)),
    ("amsbound", "warmup", lambda: amsbound(WARMUP, final_lr=0.05, gamma=1e-2, base_lr=1e-2)),
    ("amsbound", "warmup_po", lambda: amsbound(WARMUP, final_lr=0.05, gamma=1e-2,
                                               base_lr=1e-2, eps_root=PO_EPS_ROOT)),
    # AdaBoundW: the authors' (decay not scaled by lr) and pytorch_optimizer's AdaBound.
    ("adaboundw", "default", lambda: adaboundw(weight_decay=1e-4)),
    ("adaboundw", "custom", lambda: adaboundw(**CUSTOM_BOUND, amsbound=True)),
    ("adaboundw", "po_decoupled", lambda: adaboundw(1e-2, final_lr=0.05, gamma=1e-2,
                                                    weight_decay=1e-2, fixed_decay=False,
                                                    eps_root=PO_EPS_ROOT)),
    ("adaboundw", "po_fixed", lambda: adaboundw(1e-2, final_lr=0.05, gamma=1e-2,
                                                weight_decay=1e-3, eps_root=PO_EPS_ROOT)),
    ("adamod", "default", lambda: adamod()),
    ("adamod", "custom", lambda: adamod(learning_rate=1e-2, b1=0.8, b2=0.99, b3=0.99,
                                        weight_decay=1e-3)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("method", "setting", "make_tx"), CASES,
                         ids=[f"{m}-{s}" for m, s, _ in CASES])
def test_matches_reference_trajectory(method, setting, make_tx, problem):
    assert replay_error(method, setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("factory", "name", "value"), [
    (adabound, "gamma", 0.0), (adabound, "b1", 1.0), (adabound, "final_lr", -0.1),
    (amsbound, "b2", -0.5), (adamod, "b3", 1.0), (adamod, "eps", -1e-8),
    (adamod, "weight_decay", -1.0),
])
def test_bad_hyperparameters_raise(factory, name, value):
    with pytest.raises(ValueError, match=name):
        factory(**{name: value})


def test_first_step_effective_lr_is_clipped_adam_step():
    # Step 1: m = (1-b1) g, v = (1-b2) g^2, so the unclipped step size is
    # lr sqrt(1-b2)/(1-b1) / (sqrt(1-b2)|g| + eps); bounds final*(1 - 1/(gamma+1)) and
    # final*(1 + 1/gamma).
    lr, final, b1, b2, gamma, eps = 0.3, 0.1, 0.9, 0.999, 0.5, 1e-8
    g = np.array([1e-4, 0.05, 3.0, 40.0])
    tx = scale_by_adabound(lr, final, b1, b2, gamma, eps)
    with jax.enable_x64(True):
        u, state = tx.update(jnp.asarray(g), tx.init(jnp.zeros(4)))
        record = state.effective_lr  # computed from the float64 state when read
    raw = lr * np.sqrt(1 - b2) / (1 - b1) / (np.sqrt(1 - b2) * np.abs(g) + eps)
    lo, hi = final * (1 - 1 / (gamma + 1)), final * (1 + 1 / gamma)
    eta = np.clip(raw, lo, hi)
    assert lo < raw[-1] < hi and raw[0] > hi  # the example covers a clipped and a free entry
    np.testing.assert_allclose(np.asarray(u), eta * (1 - b1) * g, rtol=1e-13)
    # The record is the float32 mean of the step sizes applied.
    assert record.shape == () and record.dtype == jnp.float32
    np.testing.assert_allclose(float(record), np.mean(eta), rtol=1e-6)


def test_bounds_follow_a_learning_rate_schedule():
    # Tiny gradients put the step size on the upper bound final * lr_t/lr_0 * (1 + 1/(gamma t)).
    schedule = optax.exponential_decay(1e-3, transition_steps=1, decay_rate=0.5)
    tx = scale_by_adabound(schedule, final_lr=0.1, gamma=1e-3, base_lr=1e-3)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros(3, jnp.float64))
        for t in (1, 2, 3):
            _, state = tx.update(jnp.full(3, 1e-12, jnp.float64), state)
            upper = 0.1 * 0.5 ** (t - 1) * (1 + 1 / (1e-3 * t))
            np.testing.assert_allclose(float(state.effective_lr), upper, rtol=1e-6)


def test_amsbound_keeps_the_largest_second_moment():
    # v_1 = (1 - b2) 100 and v_2 = b2 v_1: the maximum stays at v_1.
    tx = scale_by_adabound(amsbound=True)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros(2, jnp.float64))
        _, state = tx.update(jnp.array([10.0, 10.0]), state)
        _, state = tx.update(jnp.array([0.0, 0.0]), state)
    np.testing.assert_allclose(np.asarray(state.nu_max), (1 - 0.999) * 100.0, rtol=1e-13)
    assert np.all(np.asarray(state.nu) < np.asarray(state.nu_max))


@pytest.mark.parametrize("make_tx", [lambda: adabound(eps=0.0), lambda: adamod(eps=0.0),
                                     lambda: amsbound(eps=0.0)])
def test_zero_eps_and_zero_gradients_stay_finite(make_tx):
    tx = make_tx()
    params = jnp.ones(3)
    state = tx.init(params)
    for _ in range(5):
        updates, state = tx.update(jnp.zeros(3), state, params)
        params = optax.apply_updates(params, updates)
    assert np.all(np.isfinite(np.asarray(params)))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state))


def test_adamod_caps_step_size_by_its_average():
    # After a large then a tiny gradient the raw Adam step size jumps up; AdaMod's recorded
    # step size is the smaller moving average: s_2 = b3 s_1 + (1 - b3) raw_2.
    core = adamod(learning_rate=1e-3, b3=0.9)
    with jax.enable_x64(True):
        state = core.init(jnp.zeros(1, jnp.float64))
        _, state = core.update(jnp.array([1.0]), state, jnp.zeros(1, jnp.float64))
        s1 = float(state[0].eta[0])
        _, state = core.update(jnp.array([1e-6]), state, jnp.zeros(1, jnp.float64))
        record = state[0].effective_lr  # computed from the float64 state when read
    b1, b2, eps = 0.9, 0.999, 1e-8
    v2 = b2 * (1 - b2) * 1.0 + (1 - b2) * 1e-12
    raw2 = 1e-3 * np.sqrt(1 - b2**2) / (1 - b1**2) / (np.sqrt(v2) + eps)
    s2 = 0.9 * s1 + 0.1 * raw2
    assert s2 < raw2
    np.testing.assert_allclose(float(state[0].eta[0]), s2, rtol=1e-12)
    np.testing.assert_allclose(float(record), s2, rtol=1e-6)  # one entry


def test_warmup_from_zero_takes_the_first_positive_learning_rate_as_base():
    # base_lr="first_positive", pytorch_optimizer's rule for an optimizer built with lr 0 (the
    # authors' code divides by zero there): with lr_t = 1e-3 * t / 4 for t = 0..4,
    # base = lr_1, and at 1-based step k the upper bound is
    # final * lr_{k-1} / lr_1 * (1 + 1 / (gamma k)); tiny gradients sit on it.
    schedule = optax.linear_schedule(0.0, 1e-3, transition_steps=4)
    tx = scale_by_adabound(schedule, final_lr=0.1, gamma=1e-3, base_lr="first_positive")
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros(2, jnp.float64))
        _, state = tx.update(jnp.full(2, 1e-12, jnp.float64), state)
        assert float(state.effective_lr) == 0.0  # lr_0 = 0
        for k in (2, 3, 4):
            _, state = tx.update(jnp.full(2, 1e-12, jnp.float64), state)
            # The schedule's own (float32) values, whose ratio is (k - 1) up to rounding.
            ratio = float(schedule(jnp.int32(k - 1))) / float(schedule(jnp.int32(1)))
            upper = 0.1 * ratio * (1 + 1 / (1e-3 * k))
            np.testing.assert_allclose(float(state.effective_lr), upper, rtol=1e-6)


def test_a_schedule_needs_base_lr():
    schedule = optax.linear_schedule(0.0, 1e-3, transition_steps=4)
    with pytest.raises(ValueError, match="base_lr"):
        adabound(schedule)
    with pytest.raises(ValueError, match="base_lr"):
        adabound(1e-3, base_lr=0.0)
    with pytest.raises(ValueError, match="base_lr"):
        adabound(1e-3, base_lr="first")


def test_first_positive_base_is_wider_than_pytorch_under_a_warmup():
    # The old rule (the first positive learning rate, 0.05 peak here) gives bounds 20x wider
    # than AdaBound(lr=peak) + LinearLR: far from the golden.
    def make():
        return adabound(WARMUP, final_lr=0.05, gamma=1e-2, base_lr="first_positive")

    assert replay_error("adabound", "warmup", "mlp", make) > 1e-2


def test_adaboundw_decoupled_decay_closed_form():
    # One step from theta with a tiny gradient: the step size sits on the upper bound
    # final (1 + 1/gamma); the decay adds wd * theta (fixed) or lr * wd * theta.
    lr, final, gamma, wd = 1e-3, 0.1, 0.5, 0.01
    theta = np.array([2.0, -3.0])
    g = np.full(2, 1e-9)
    for fixed, c in [(True, wd), (False, lr * wd)]:
        tx = adaboundw(lr, final_lr=final, gamma=gamma, weight_decay=wd, fixed_decay=fixed)
        with jax.enable_x64(True):
            u, _ = tx.update(jnp.asarray(g), tx.init(jnp.asarray(theta)), jnp.asarray(theta))
        eta = final * (1 + 1 / gamma)
        np.testing.assert_allclose(np.asarray(u), -(eta * 0.1 * g + c * theta), rtol=1e-12)
