"""The cautious wrapper against pytorch_optimizer's cautious Lion (the first rule, d / (k + 1)),
the authors' current C-AdamW (C-Optim, d / k) and the paper's equations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.cautious import cautious, cautious_adamw
from tests.adaptive._golden import TOLERANCE, replay_error

FIRST = "count_plus_one"  # pytorch_optimizer's rule

CASES = [
    # Optax's Lion has weight_decay=1e-3 by default; pytorch_optimizer's Lion 0.
    ("default", lambda: cautious(optax.lion(1e-4, b1=0.9, b2=0.99, weight_decay=0.0),
                                 rescale=FIRST)),
    ("custom", lambda: cautious(optax.lion(1e-2, b1=0.8, b2=0.95, weight_decay=0.0),
                                rescale=FIRST)),
    # Lion(cautious=True, weight_decay=0.1) leaves the decay unmasked: the documented
    # composition.
    ("decay", lambda: optax.chain(
        cautious(optax.scale_by_lion(b1=0.9, b2=0.99), descent=False, rescale=FIRST),
        optax.add_decayed_weights(0.1), optax.scale_by_learning_rate(1e-3))),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_cautious_lion_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("cautious_lion", setting, problem, make_tx) <= TOLERANCE


def test_wrapping_lion_with_decay_masks_the_decay_too():
    # The plain wrapper over optax.lion(weight_decay > 0) is not Lion(cautious=True): it
    # masks the decay, and the composition above is needed.
    wrapped = cautious(optax.lion(1e-3, b1=0.9, b2=0.99, weight_decay=0.1), rescale=FIRST)
    assert replay_error("cautious_lion", "decay", "quadratic", lambda: wrapped) > 1e-4


ADAMW_CASES = [
    ("default", dict(learning_rate=1e-3, b1=0.9, b2=0.999, eps=0.0, weight_decay=0.0)),
    ("decay", dict(learning_rate=1e-3, b1=0.8, b2=0.99, eps=0.0, weight_decay=0.1)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "kwargs"), ADAMW_CASES, ids=[s for s, _ in ADAMW_CASES])
def test_cautious_adamw_matches_authors_current_code(setting, kwargs, problem):
    # The default rescaling is the authors' current C-AdamW (C-Optim's c_adamw.py).
    assert replay_error("cautious_adamw", setting, problem,
                        lambda: cautious_adamw(**kwargs)) <= TOLERANCE
    # The first rule is a different trajectory (the golden can tell the two apart).
    assert replay_error("cautious_adamw", setting, problem,
                        lambda: cautious_adamw(**kwargs, rescale=FIRST)) > 1e-6


def test_bad_rescale_raises():
    with pytest.raises(ValueError, match="rescale"):
        cautious(optax.sgd(1.0), rescale="mean")


@pytest.mark.parametrize(("name", "value"), [("b1", 1.0), ("b2", -0.1), ("eps", -1.0),
                                             ("weight_decay", -1.0), ("learning_rate", -1.0)])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        cautious_adamw(**{name: value})


def _fixed(update):
    # A transformation that returns a fixed "update" whatever the gradient, to control the
    # disagreement.
    fixed = jnp.asarray(update)
    return optax.GradientTransformation(lambda p: optax.EmptyState(),
                                        lambda g, s, p=None: (fixed, s))


def test_mask_and_rescaling_closed_form():
    inner = _fixed([-1.0, 2.0, -3.0, 0.0])
    g = jnp.array([1.0, 1.0, 1.0, 1.0])
    # Entries 0 and 2 descend (u g < 0). First rule: scaled by d / (1 + #kept) = 4 / 3.
    tx = cautious(inner, rescale=FIRST)
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(updates), [-4 / 3, 0.0, -4.0, 0.0], rtol=1e-6)
    tx = cautious(inner, descent=False, rescale=FIRST)
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(updates), [0.0, 2 * 4 / 2, 0.0, 0.0], rtol=1e-6)
    # Default (the authors' current code): divided by the mask mean 2 / 4.
    tx = cautious(inner)
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(updates), [-2.0, 0.0, -6.0, 0.0], rtol=1e-6)
    tx = cautious(inner, descent=False)
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(np.asarray(updates), [0.0, 8.0, 0.0, 0.0], rtol=1e-6)


def test_single_entry_tensor_keeps_its_full_step_by_default():
    # A (1,) tensor: the first rule halves every kept step (d / (k + 1) = 1/2), the mask mean
    # keeps it (1 / 1).
    g = jnp.array([2.0])
    for rescale, factor in [("mask_mean", 1.0), (FIRST, 0.5)]:
        tx = cautious(optax.sgd(0.1), rescale=rescale)
        updates, _ = tx.update(g, tx.init(g))
        np.testing.assert_allclose(np.asarray(updates), [-0.2 * factor], rtol=1e-6)


def test_mask_mean_is_clamped_at_one_thousandth():
    # One kept entry of 2000: the mean 1/2000 is clamped to 1e-3 (the authors' clamp), so the
    # kept step is scaled by 1000, not 2000.
    update = jnp.zeros(2000).at[7].set(-1.0)
    g = jnp.ones(2000)
    tx = cautious(_fixed(update))
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(float(updates[7]), -1000.0, rtol=1e-6)
    assert float(jnp.sum(jnp.abs(updates))) == pytest.approx(1000.0, rel=1e-6)


def test_cautious_adamw_matches_numpy_equations():
    # C-AdamW (Liang et al. 2024, Algorithm 1 on AdamW): decoupled decay, then the Adam
    # direction with the momentum masked where m * g <= 0, rescaled by d / nnz (the authors'
    # current code; d / (nnz + 1) in the first version, rescale="count_plus_one").
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
        direction = direction * phi * (4 / max(phi.sum(), 4e-3))
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
    np.testing.assert_allclose(np.asarray(updates), -0.1, rtol=1e-6)  # both kept: mean 1
    assert jax.tree.structure(state.inner_state) == jax.tree.structure(
        optax.chain(optax.sgd(0.1), inner).init(params))
