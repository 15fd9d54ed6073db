"""NGN against the paper's step size, transcribed in NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from tests.reference_problems import PROBLEMS, init_params, jax_loss, x64


def _numpy_ngn_steps(problem: str, sigma: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """gamma_t = sigma / (1 + sigma |g|^2 / (2 f)) (Orvieto and Xiao 2024, eq. NGN), with the
    loss and gradient of each iterate from JAX (float64); the update written in NumPy."""
    loss = jax_loss(problem)
    params = {k: np.asarray(v) for k, v in init_params(problem).items()}
    gammas, finals = [], None
    grad_fn = jax.jit(jax.value_and_grad(loss))
    for _ in range(steps):
        f, g = grad_fn({k: jnp.asarray(v) for k, v in params.items()})
        g = {k: np.asarray(v) for k, v in g.items()}
        sq = sum(float(np.sum(v * v)) for v in g.values())
        gamma = sigma / (1.0 + sigma * sq / (2.0 * float(f)))
        params = {k: params[k] - gamma * g[k] for k in params}
        gammas.append(gamma)
    finals = params
    return np.asarray(gammas), finals


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("sigma", [0.5, 20.0])
def test_matches_the_paper_step(problem: str, sigma: float) -> None:
    with x64():
        ref_gammas, ref_params = _numpy_ngn_steps(problem, sigma, 40)
        tx = adaptlr.ngn(sigma)
        loss = jax_loss(problem)
        params = {k: jnp.asarray(v) for k, v in init_params(problem).items()}
        state = tx.init(params)

        @jax.jit
        def step(params, state):
            value, grad = jax.value_and_grad(loss)(params)
            updates, state = tx.update(grad, state, params, value=value)
            return optax.apply_updates(params, updates), state

        gammas = []
        for _ in range(40):
            params, state = step(params, state)
            gammas.append(float(state[0].effective_lr))
    np.testing.assert_allclose(gammas, ref_gammas, rtol=1e-10)
    for k, v in ref_params.items():
        np.testing.assert_allclose(np.asarray(params[k]), v, rtol=1e-10, atol=1e-13)
    assert max(gammas) <= sigma  # never above sigma


def test_step_limits() -> None:
    x = jnp.array([1.0, -2.0])
    grad = x  # |g|^2 = 5
    tx = adaptlr.ngn(2.0)
    for value, expected in [(2.5, 2.0 / (1 + 2.0 * 5 / 5.0)), (1e8, 2.0), (0.0, 0.0),
                            (-1.0, 0.0), (jnp.nan, 0.0), (jnp.inf, 0.0)]:
        updates, state = tx.update(grad, tx.init(x), x, value=value)
        assert float(adaptlr.effective_lr(state)) == pytest.approx(expected, rel=1e-6)
        assert np.all(np.isfinite(np.asarray(updates)))
    # f = 0 and g = 0: nothing moves, step recorded as sigma.
    updates, state = tx.update(jnp.zeros(2), tx.init(x), x, value=0.0)
    assert float(adaptlr.effective_lr(state)) == 2.0 and not np.any(np.asarray(updates))


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        adaptlr.ngn(-1.0)
    tx = adaptlr.ngn()
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(x, tx.init(x), x)
