"""The cautious wrapper against pytorch_optimizer's cautious Lion and the paper's C-AdamW."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.cautious import cautious, cautious_adamw
from tests.adaptive._golden import TOLERANCE, replay_error

CASES = [
    # Optax's Lion has weight_decay=1e-3 by default; pytorch_optimizer's Lion 0.
    ("default", lambda: cautious(optax.lion(1e-4, b1=0.9, b2=0.99, weight_decay=0.0))),
    ("custom", lambda: cautious(optax.lion(1e-2, b1=0.8, b2=0.95, weight_decay=0.0))),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_cautious_lion_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("cautious_lion", setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("name", "value"), [("b1", 1.0), ("b2", -0.1), ("eps", -1.0),
                                             ("weight_decay", -1.0), ("learning_rate", -1.0)])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        cautious_adamw(**{name: value})


def test_mask_and_rescaling_closed_form():
    # inner = sgd(1): u = -g' where g' is what the inner sees. Feed a fixed "update" through a
    # transformation that ignores the gradient to control the disagreement.
    fixed = jnp.array([-1.0, 2.0, -3.0, 0.0])
    inner = optax.GradientTransformation(lambda p: optax.EmptyState(),
                                         lambda g, s, p=None: (fixed, s))
    g = jnp.array([1.0, 1.0, 1.0, 1.0])
    updates, _ = cautious(inner).update(g, cautious(inner).init(g))
    # Entries 0 and 2 descend (u g < 0): kept and scaled by d / (1 + #kept) = 4 / 3.
    np.testing.assert_allclose(np.asarray(updates), [-4 / 3, 0.0, -4.0, 0.0], rtol=1e-6)
    updates, _ = cautious(inner, descent=False).update(g, cautious(inner).init(g))
    np.testing.assert_allclose(np.asarray(updates), [0.0, 2 * 4 / 2, 0.0, 0.0], rtol=1e-6)


def test_cautious_adamw_matches_numpy_equations():
    # C-AdamW (Liang et al. 2024, Algorithm 1 on AdamW): decoupled decay, then the Adam
    # direction with the momentum masked where m * g <= 0, rescaled by d / (nnz + 1).
    lr, b1, b2, eps, wd = 1e-2, 0.9, 0.999, 1e-8, 1e-2
    curv = np.array([0.1, 1.0, 10.0, 3.0])
    x = np.array([1.0, -2.0, 0.5, 3.0])
    m, v = np.zeros(4), np.zeros(4)
    rng = np.random.default_rng(3)
    noise = [rng.standard_normal(4) for _ in range(40)]
    expected = []
    xs = x.copy()
    for t, e in enumerate(noise, start=1):
        g = curv * xs + e
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        phi = (m * g > 0).astype(float)
        direction = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        direction = direction * phi * (4 / (phi.sum() + 1))
        xs = xs - lr * (direction + wd * xs)
        expected.append(xs.copy())
    tx = cautious_adamw(learning_rate=lr, b1=b1, b2=b2, eps=eps, weight_decay=wd)
    with jax.enable_x64(True):
        params = jnp.asarray(x)
        state = tx.init(params)
        ours = []
        for e in noise:
            g = jnp.asarray(curv) * params + jnp.asarray(e)
            updates, state = tx.update(g, state, params)
            params = optax.apply_updates(params, updates)
            ours.append(np.asarray(params))
    np.testing.assert_allclose(np.stack(ours), np.stack(expected), rtol=1e-12, atol=1e-15)


def test_wrapper_keeps_inner_state_and_passes_extra_args():
    inner = optax.contrib.reduce_on_plateau(patience=1)
    tx = cautious(optax.chain(optax.sgd(0.1), inner))
    params = jnp.ones(2)
    state = tx.init(params)
    updates, state = tx.update(jnp.ones(2), state, params, value=jnp.asarray(1.0))
    np.testing.assert_allclose(np.asarray(updates), -0.1 * 2 / 3, rtol=1e-6)
    assert jax.tree.structure(state.inner_state) == jax.tree.structure(
        optax.chain(optax.sgd(0.1), inner).init(params))
