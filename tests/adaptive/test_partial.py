"""PAdam and QHAdam against reference code, the authors' equations in NumPy, and Optax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.partial import padam, qhadam
from tests.adaptive._golden import TOLERANCE, replay_error

CASES = [
    # pytorch_optimizer.PAdam has no AMSGrad: amsgrad=False; its defaults are lr 0.1, p 1/4.
    ("padam", "default", lambda: padam(learning_rate=0.1, partial=0.25, amsgrad=False)),
    ("padam", "custom", lambda: padam(learning_rate=0.05, b1=0.8, b2=0.99, partial=0.125,
                                      weight_decay=1e-3, amsgrad=False)),
    # Above the paper's p <= 1/2, as pytorch_optimizer allows.
    ("padam", "p_three_quarters", lambda: padam(learning_rate=1e-3, partial=0.75,
                                                amsgrad=False)),
    ("padam", "p_one", lambda: padam(learning_rate=1e-4, partial=1.0, weight_decay=1e-3,
                                     amsgrad=False)),
    ("qhadam", "default", lambda: qhadam(b1=0.9, nu1=1.0, nu2=1.0)),
    ("qhadam", "paper", lambda: qhadam(learning_rate=1e-2)),
    ("qhadam", "decoupled", lambda: qhadam(learning_rate=1e-3, b1=0.9, b2=0.99, nu1=0.8,
                                           nu2=0.9, weight_decay=1e-2,
                                           decouple_weight_decay=True)),
    ("qhadam", "coupled", lambda: qhadam(learning_rate=1e-3, b1=0.9, nu1=0.7, nu2=0.5,
                                         weight_decay=1e-2, eps=1e-6)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("method", "setting", "make_tx"), CASES,
                         ids=[f"{m}-{s}" for m, s, _ in CASES])
def test_matches_reference_trajectory(method, setting, make_tx, problem):
    assert replay_error(method, setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("factory", "name", "value"), [
    (padam, "partial", 0.0), (padam, "partial", 1.5), (padam, "b1", 1.0),
    (qhadam, "nu1", 1.5), (qhadam, "nu2", -0.1), (qhadam, "eps", -1.0),
])
def test_bad_hyperparameters_raise(factory, name, value):
    with pytest.raises(ValueError, match=name):
        factory(**{name: value})


CURVATURES = np.logspace(-2, 1, 6)


def _quadratic_grad(x: np.ndarray) -> np.ndarray:
    return CURVATURES * (x - 1.0)


# 1/8, 1/4 and 1/2 take square roots in place of pow, 1 a product; 0.3 and 0.75 take pow.
@pytest.mark.parametrize("p", [0.125, 0.25, 0.3, 0.5, 0.75, 1.0])
def test_padam_amsgrad_matches_numpy_equations(p):
    # The authors' Padam.py (uclaml/Padam) with its default amsgrad=True, written out here:
    # L2 decay into g, AMSGrad maximum, step lr sqrt(1-b2^t)/(1-b1^t), denominator^(2p).
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.999, 1e-8, 1e-3
    x = np.zeros(6)
    m, v, vmax = np.zeros(6), np.zeros(6), np.zeros(6)
    expected = []
    for t in range(1, 101):
        g = _quadratic_grad(x) + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        x = x - step * m / (np.sqrt(vmax) + eps) ** (2 * p)
        expected.append(x)
    tx = padam(learning_rate=lr, b1=b1, b2=b2, partial=p, eps=eps, weight_decay=wd)
    with jax.enable_x64(True):
        params = jnp.zeros(6)
        state = tx.init(params)
        ours = []
        for _ in range(100):
            grads = jnp.asarray(_quadratic_grad(np.asarray(params)))
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            ours.append(np.asarray(params))
    np.testing.assert_allclose(np.stack(ours), np.stack(expected), rtol=1e-12, atol=1e-14)


def test_padam_with_half_is_adam():
    # p = 1/2 without amsgrad is Adam; with eps = 0 the authors' placement of eps (added to
    # sqrt(v), not to the bias-corrected sqrt) does not matter, so Optax's Adam must agree.
    with jax.enable_x64(True):
        def run(tx):
            params = jnp.zeros(6)
            state = tx.init(params)
            for _ in range(50):
                grads = jnp.asarray(_quadratic_grad(np.asarray(params)))
                updates, state = tx.update(grads, state, params)
                params = optax.apply_updates(params, updates)
            return np.asarray(params)

        ours = run(padam(learning_rate=1e-2, partial=0.5, eps=0.0, amsgrad=False))
        reference = run(optax.adam(1e-2, eps=0.0))
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_qhadam_with_unit_nus_is_adam():
    with jax.enable_x64(True):
        def run(tx):
            params = jnp.zeros(6)
            state = tx.init(params)
            for _ in range(100):
                grads = jnp.asarray(_quadratic_grad(np.asarray(params)))
                updates, state = tx.update(grads, state, params)
                params = optax.apply_updates(params, updates)
            return np.asarray(params)

        ours = run(qhadam(learning_rate=3e-2, b1=0.9, b2=0.999, nu1=1.0, nu2=1.0))
        reference = run(optax.adam(3e-2, b1=0.9, b2=0.999, eps=1e-8))
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_qhadam_with_zero_nus_is_normalised_sgd():
    # nu1 = nu2 = 0: u = lr g / (|g| + eps), a sign-like step; effective_lr = lr / (|g|+eps).
    tx = qhadam(learning_rate=0.1, nu1=0.0, nu2=0.0, eps=1e-3)
    g = jnp.array([2.0, -0.5, 0.0])
    updates, state = tx.update(g, tx.init(jnp.zeros(3)))
    np.testing.assert_allclose(np.asarray(updates), -0.1 * np.array([2.0, -0.5, 0.0])
                               / (np.abs([2.0, -0.5, 0.0]) + 1e-3), rtol=1e-6)
    np.testing.assert_allclose(float(state[0].effective_lr),
                               np.mean(0.1 / (np.abs([2.0, -0.5, 0.0]) + 1e-3)), rtol=1e-6)
