"""SGD-SaI against the authors' ``sgd-sai`` package and its equations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.adaptive.sgd_sai import gradient_snr, scale_by_sgd_sai, sgd_sai
from tests.adaptive._golden import TOLERANCE, replay_error

# The settings of tests/adaptive/generate_goldens_recent.py, in adaptlr's names.
CASES = [
    ("default", lambda: sgd_sai()),
    ("nodecay", lambda: sgd_sai(learning_rate=1e-3, momentum=0.5, eps=1e-3, weight_decay=0.0)),
    ("heavy", lambda: sgd_sai(learning_rate=5e-3, momentum=0.95, weight_decay=0.1)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("sgd_sai", setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("name", "value"), [
    ("learning_rate", -1e-3), ("momentum", 1.0), ("eps", -1e-8), ("weight_decay", -0.1),
])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        sgd_sai(**{name: value})


def test_snr_is_fixed_by_the_first_gradient_and_recorded():
    g1 = np.array([[1.0, 2.0], [3.0, -4.0]])
    r = np.linalg.norm(g1) / (np.std(g1, ddof=1) + 1e-8)
    tx = scale_by_sgd_sai(learning_rate=0.1, momentum=0.9, weight_decay=0.0)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros((2, 2)))
        u1, state = tx.update(jnp.asarray(g1), state)
        g2 = np.full((2, 2), 7.0)  # std 0: would give a huge ratio if it were recomputed
        u2, state = tx.update(jnp.asarray(g2), state)
    np.testing.assert_allclose(np.asarray(state.gsnr), r, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(u1), 0.1 * r * g1, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(u2), 0.1 * r * (0.9 * g1 + 0.1 * g2), rtol=1e-13)
    np.testing.assert_allclose(float(adaptlr.effective_lr(state)), 0.1 * r, rtol=1e-6)


def test_snr_edge_cases():
    assert float(gradient_snr(jnp.array([3.0]), 1e-8)) == pytest.approx(3.0 / 1e-8)
    assert float(gradient_snr(jnp.zeros(0), 1e-8)) == 0.0
    assert float(gradient_snr(jnp.zeros(4), 0.0)) == 0.0


def test_momentum_zero_is_sgd_with_the_snr_step():
    tx = sgd_sai(learning_rate=0.1, momentum=0.0, weight_decay=0.0)
    p = jnp.zeros(3)
    state = tx.init(p)
    assert state[0].mu == ()
    g = jnp.array([1.0, 2.0, 4.0])
    u, state = tx.update(g, state, p)
    r = float(np.linalg.norm(g) / (np.std(np.asarray(g), ddof=1) + 1e-8))
    np.testing.assert_allclose(np.asarray(u), -0.1 * r * np.asarray(g), rtol=1e-6)


def test_decay_needs_params():
    tx = sgd_sai()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_zero_gradients_stay_finite():
    tx = sgd_sai(eps=0.0)
    p = jnp.ones(3)
    state = tx.init(p)
    for _ in range(3):
        u, state = tx.update(jnp.zeros(3), state, p)
        p = optax.apply_updates(p, u)
    assert np.all(np.isfinite(np.asarray(p)))
