"""CAME against the authors' ``came-pytorch`` and the paper's equations."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.came import came, scale_by_came
from tests.adaptive._golden import TOLERANCE, replay_error

CASES = [
    ("default", lambda: came(learning_rate=2e-4)),
    ("custom", lambda: came(learning_rate=1e-3, b1=0.8, b2=0.99, b3=0.999, clip_threshold=0.5,
                            weight_decay=1e-2)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("came", setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("name", "value"), [("b3", 1.0), ("eps1", -1.0), ("eps2", -1e-3),
                                             ("clip_threshold", 0.0), ("weight_decay", -1.0)])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        came(**{name: value})


def _numpy_came(grads, lr, b1, b2, b3, eps1, eps2, d):
    """Algorithm 1 of Luo et al. (2023) for one matrix, with the reference's row normalisation."""
    n, k = grads[0].shape
    m = np.zeros((n, k))
    r, c, R, C = np.zeros(n), np.zeros(k), np.zeros(n), np.zeros(k)
    out = []
    for g in grads:
        sq = g * g + eps1
        r = b2 * r + (1 - b2) * sq.mean(axis=1)
        c = b2 * c + (1 - b2) * sq.mean(axis=0)
        v = np.outer(r, c) / r.mean()
        u = g / np.sqrt(v)
        u = u / max(1.0, np.sqrt(np.mean(u * u)) / d)
        m = b1 * m + (1 - b1) * u
        inst = (u - m) ** 2 + eps2
        R = b3 * R + (1 - b3) * inst.mean(axis=1)
        C = b3 * C + (1 - b3) * inst.mean(axis=0)
        s = np.outer(R, C) / R.mean()
        out.append((lr * m / np.sqrt(s), lr / np.sqrt(s)))
    return out


def test_factored_updates_match_paper_equations():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((5, 3)) * (1 + t) for t in range(6)]
    args = dict(lr=1e-2, b1=0.9, b2=0.99, b3=0.999, eps1=1e-30, eps2=1e-16, d=0.5)
    expected = _numpy_came(grads, **args)
    tx = scale_by_came(1e-2, 0.9, 0.99, 0.999, 1e-30, 1e-16, 0.5)
    with jax.enable_x64(True):
        state = tx.init(jnp.zeros((5, 3), jnp.float64))
        for g, (e, eta) in zip(grads, expected, strict=True):
            updates, state = tx.update(jnp.asarray(g), state)
            np.testing.assert_allclose(np.asarray(updates), e, rtol=1e-12)
            # The record: the float32 mean of the full step-size matrix lr / sqrt(S).
            np.testing.assert_allclose(float(state.effective_lr), eta.mean(), rtol=1e-6)
    # The state is factored: rows and columns only, plus the momentum and a scalar record.
    assert state.nu_row.shape == (5,) and state.nu_col.shape == (3,)
    assert state.res_row.shape == (5,) and state.res_col.shape == (3,)
    assert state.nu.shape == () and state.effective_lr.shape == ()


def test_vectors_are_not_factored_and_use_plain_momentum():
    # A vector keeps v = b2 v + (1-b2)(g^2 + eps1) and steps lr * m: the effective lr is lr.
    tx = scale_by_came(learning_rate=0.1, b1=0.5, clip_threshold=100.0)  # RMS(u) = 31.6
    g = jnp.array([3.0, -4.0])
    updates, state = tx.update(g, tx.init(jnp.zeros(2)))
    u = np.array([3.0, -4.0]) / np.sqrt((1 - 0.999) * (np.array([9.0, 16.0]) + 1e-30))
    np.testing.assert_allclose(np.asarray(updates), 0.1 * 0.5 * u, rtol=1e-5)
    np.testing.assert_allclose(float(state.effective_lr), 0.1, rtol=1e-7)


def test_state_can_be_donated_to_a_jitted_step() -> None:
    # The state straight from init (no copy): every field must be its own buffer, or jit
    # rejects the donation ("Attempt to donate the same buffer twice"). Matrices, vectors and
    # scalars hold different fields, so all three kinds of leaf are present.
    tx = came(learning_rate=1e-2)
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2), "s": jnp.ones(())}
    state = tx.init(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, state):
        grads = jax.tree.map(lambda p: 2 * p, params)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    expected = tx.update(jax.tree.map(lambda p: 2 * p, params), tx.init(params), params)[0]
    new_params, _ = step(params, state)
    for name in ("w", "b", "s"):
        np.testing.assert_allclose(new_params[name], 1.0 + expected[name], rtol=1e-6)
