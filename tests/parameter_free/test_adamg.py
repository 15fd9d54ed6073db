"""AdamG against pytorch_optimizer's AdamG and the update written out in NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.parameter_free.adamg import adamg
from tests.adaptive._golden import TOLERANCE, replay_error

# The settings of tests/adaptive/generate_goldens_recent.py, in adaptlr's names.
CASES = [
    ("default", lambda: adamg()),
    ("l2", lambda: adamg(learning_rate=0.1, b1=0.9, b2=0.99, b3=0.9, p=0.3, q=0.2,
                         weight_decay=1e-3, eps=1e-6)),
    ("decoupled", lambda: adamg(learning_rate=0.5, p=0.1, q=0.3, weight_decay=1e-2,
                                decouple_weight_decay=True)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("adamg", setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("name", "value"), [
    ("learning_rate", -1.0), ("b1", 1.0), ("b3", -0.1), ("p", 0.0), ("q", -1.0),
    ("eps", -1e-8), ("weight_decay", -0.1),
])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        adamg(**{name: value})


def test_three_steps_match_the_equations_and_the_record():
    b1, b2, b3, p, q, eps = 0.95, 0.999, 0.95, 0.2, 0.24, 1e-8
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(4) for _ in range(3)]
    x = rng.standard_normal(4)
    m, v, r = np.zeros(4), np.zeros(4), np.zeros(4)
    want = x.copy()
    for t, g in enumerate(grads, start=1):
        v = b2 * v + (1 - b2) * g * g
        r = b3 * r + (1 - b3) * p * v ** q
        m = b1 * m + (1 - b1) * r * g
        step = min(1.0, 1 / np.sqrt(t)) / (1 - b1 ** t)
        den = np.sqrt(v / (1 - b2 ** t)) + eps
        want = want - step * m / den
    tx = adamg()
    with jax.enable_x64(True):
        params = jnp.asarray(x)
        state = tx.init(params)
        for g in grads:
            u, state = tx.update(jnp.asarray(g), state, params)
            params = optax.apply_updates(params, u)
        record = state[0].effective_lr
    np.testing.assert_allclose(np.asarray(params), want, rtol=1e-13)
    np.testing.assert_allclose(float(record), np.mean(r * step / den), rtol=1e-6)


def test_zero_gradients_stay_finite():
    tx = adamg(eps=0.0)
    params = jnp.ones(3)
    state = tx.init(params)
    for _ in range(3):
        u, state = tx.update(jnp.zeros(3), state, params)
        params = optax.apply_updates(params, u)
    np.testing.assert_array_equal(np.asarray(params), np.ones(3))
