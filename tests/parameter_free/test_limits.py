"""Documented limits of faithful methods and their optional guards (default off).

D-Adapt SGD's step size is fixed by the first gradient's norm; SGD-HD's learned learning rate
is unbounded. Both are the papers' rules, so the default keeps them; ``max_lr`` guards each.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr


def _dadapt_sgd_run(max_lr: float | None, steps: int = 40) -> tuple[int | None, np.ndarray]:
    """D-Adapt SGD on 0.5 |x - 3|^2 whose first gradient is 100 times too small."""
    tx = adaptlr.dadapt_sgd(max_lr=max_lr)
    x = jnp.linspace(-1.0, 2.0, 10)
    state = tx.init(x)
    for t in range(steps):
        g = x - 3.0
        if t == 0:
            g = g / 100.0
        updates, state = tx.update(g, state, x)
        x = optax.apply_updates(x, updates)
        if not np.all(np.isfinite(np.asarray(x))):
            return t, np.asarray(x)
    return None, np.asarray(x)


def test_dadapt_sgd_small_first_gradient_diverges_without_the_guard() -> None:
    # The documented limit: lambda = d / ||g_0|| is 100 times too large for every later step.
    diverged_at, _ = _dadapt_sgd_run(max_lr=None)
    assert diverged_at is not None and diverged_at < 35


def test_dadapt_sgd_max_lr_guard_converges() -> None:
    # With lambda <= 1 = 1/L, every capped step is a gradient step at most to the minimiser.
    diverged_at, x = _dadapt_sgd_run(max_lr=1.0)
    assert diverged_at is None
    np.testing.assert_allclose(x, 3.0, atol=1e-6)


def test_dadapt_sgd_guard_off_by_default_and_inactive_when_loose() -> None:
    tx_default, tx_loose = adaptlr.dadapt_sgd(), adaptlr.dadapt_sgd(max_lr=1e30)
    x = jnp.linspace(-1.0, 2.0, 10)
    s1, s2 = tx_default.init(x), tx_loose.init(x)
    for _ in range(5):
        u1, s1 = tx_default.update(x - 3.0, s1, x)
        u2, s2 = tx_loose.update(x - 3.0, s2, x)
        np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))


def _sgd_hd_run(max_lr: float | None, steps: int = 20) -> tuple[int | None, float, np.ndarray]:
    """SGD-HD at the defaults on 0.5 |x|^2 from x_0 = 1e4 (gradients of 1e4)."""
    tx = adaptlr.hypergradient_sgd(max_lr=max_lr)
    x = 1e4 * jnp.ones(10)
    state = tx.init(x)
    for t in range(steps):
        updates, state = tx.update(x, state, x)
        x = optax.apply_updates(x, updates)
        if not np.all(np.isfinite(np.asarray(x))):
            return t, float(adaptlr.effective_lr(state)), np.asarray(x)
    return None, float(adaptlr.effective_lr(state)), np.asarray(x)


def test_sgd_hd_learned_rate_is_unbounded_without_the_guard() -> None:
    diverged_at, _, _ = _sgd_hd_run(max_lr=None)
    assert diverged_at is not None and diverged_at <= 5


def test_sgd_hd_max_lr_guard() -> None:
    # The learned rate grows by beta g.u = 1e-7 * 1e9 = 100 at the second step, is clipped to
    # 1 = 1/L, and a gradient step at 1/L lands on the minimiser 0.
    diverged_at, lr, x = _sgd_hd_run(max_lr=1.0)
    assert diverged_at is None
    assert lr == 1.0
    np.testing.assert_array_equal(x, 0.0)


@pytest.mark.parametrize("factory", [adaptlr.hypergradient_sgd, adaptlr.hypergradient_adam,
                                     adaptlr.dadapt_sgd])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_max_lr_is_validated(factory: object, bad: float) -> None:
    with pytest.raises(ValueError, match="max_lr"):
        factory(max_lr=bad)  # type: ignore[operator]
