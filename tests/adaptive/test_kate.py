"""KATE against pytorch_optimizer's Kate and the paper's equations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.kate import kate, scale_by_kate
from tests.adaptive._golden import TOLERANCE, replay_error

# The settings of tests/adaptive/generate_goldens_recent.py, in adaptlr's names.
CASES = [
    ("default", lambda: kate()),
    ("delta_eps0", lambda: kate(learning_rate=1e-2, delta=1e-2, eps=0.0)),
    ("l2", lambda: kate(learning_rate=5e-3, weight_decay=1e-2, decouple_weight_decay=False,
                        eps=1e-6)),
    ("decoupled", lambda: kate(learning_rate=2e-3, weight_decay=1e-1)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("kate", setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("name", "value"), [
    ("learning_rate", -1e-3), ("delta", 1.0), ("eps", -1e-8), ("weight_decay", -0.1),
])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        kate(**{name: value})


def test_paper_update_and_record():
    # The paper's KATE (eps = 0): b^2 += g^2; m^2 += delta g^2 + g^2 / b^2; u = lr m g / b^2.
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(5) for _ in range(4)]
    lr, delta = 0.05, 0.3
    b2, m2, us = np.zeros(5), np.zeros(5), []
    for g in grads:
        b2 = b2 + g * g
        m2 = m2 + delta * g * g + g * g / b2
        us.append(lr * np.sqrt(m2) * g / b2)
    tx = scale_by_kate(learning_rate=lr, delta=delta, eps=0.0)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros(5))
        for g, want in zip(grads, us, strict=True):
            u, state = tx.update(jnp.asarray(g), state)
            np.testing.assert_allclose(np.asarray(u), want, rtol=1e-13)
        record = state.effective_lr
    np.testing.assert_allclose(float(record), np.mean(lr * np.sqrt(m2) / b2), rtol=1e-6)


def test_steps_scale_inversely_with_the_gradients_for_delta_zero():
    # For delta = 0 and eps = 0, m is unchanged and b^2 scales by c^2 when the gradients are
    # multiplied by c, so the update is divided by c (the paper's scale invariance).
    rng = np.random.default_rng(8)
    grads = [rng.standard_normal(3) for _ in range(3)]
    outs = []
    for scale in (1.0, 1e3):
        tx = scale_by_kate(learning_rate=0.1, eps=0.0)
        with jax.enable_x64(True):
            state = tx.init(jnp.zeros(3))
            for g in grads:
                u, state = tx.update(jnp.asarray(scale * g), state)
        outs.append(np.asarray(u) * scale)  # u scales as 1/scale; u * scale is invariant
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)


def test_zero_gradients_with_zero_eps_stay_finite():
    tx = kate(eps=0.0)
    p = jnp.ones(3)
    state = tx.init(p)
    for _ in range(3):
        u, state = tx.update(jnp.zeros(3), state, p)
        p = optax.apply_updates(p, u)
    np.testing.assert_array_equal(np.asarray(p), np.ones(3))
