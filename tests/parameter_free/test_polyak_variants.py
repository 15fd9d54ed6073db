"""SPS_safe and IMA-SPS_safe against the sps-safe 1.0.0 goldens and the step formula."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adaptlr
from tests.reference_problems import PROBLEMS, max_relative_error, run_jax, x64

GOLDENS = Path(__file__).parent / "goldens"

#: golden setting (tests/parameter_free/generate_sps_safe_goldens.py) -> ours.
SETTINGS = {
    "sps_safe_default": (adaptlr.sps_safe, {}),
    "sps_safe_m10_wd": (adaptlr.sps_safe, {"safeguard": 10.0, "weight_decay": 1e-2}),
    "sps_safe_lower_bound": (adaptlr.sps_safe, {"safeguard": 0.5, "f_star": -0.05}),
    "ima_sps_safe_default": (adaptlr.ima_sps_safe, {}),
    "ima_sps_safe_auto_m": (adaptlr.ima_sps_safe, {"safeguard": 0.0, "averaging": 3.0}),
    "ima_sps_safe_lambda0": (adaptlr.ima_sps_safe, {"safeguard": 2.0, "averaging": 0.0,
                                                    "f_star": -0.05}),
}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_matches_sps_safe_golden(setting: str, problem: str) -> None:
    golden = dict(np.load(GOLDENS / f"{setting}_{problem}.npz"))
    factory, kwargs = SETTINGS[setting]
    with x64():
        ours = run_jax(problem, factory(**kwargs), pass_value=True)
    assert max_relative_error(ours, golden) <= 1e-10


def test_safeguard_bounds_the_step() -> None:
    x = jnp.array([1e-3, -2e-3])
    value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2) + 1.0)(x)
    tx = adaptlr.sps_safe(safeguard=2.0)
    _, state = tx.update(grad, tx.init(x), x, value=value)
    # |g|^2 = 5e-6 < M: the step is (f - 0) / M, not the huge f / |g|^2.
    assert float(adaptlr.effective_lr(state)) == pytest.approx(float(value) / 2.0, rel=1e-6)


def test_loss_below_f_star_gives_zero_step() -> None:
    x = jnp.array([1.0, -2.0])
    value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
    for factory in (adaptlr.sps_safe, adaptlr.ima_sps_safe):
        tx = factory(f_star=10.0)
        updates, state = tx.update(grad, tx.init(x), x, value=value)
        assert float(adaptlr.effective_lr(state)) == 0.0
        np.testing.assert_array_equal(updates, 0.0)


def test_auto_safeguard_with_zero_first_gradient_is_nan_free() -> None:
    tx = adaptlr.ima_sps_safe(safeguard=0.0)
    x = jnp.ones(3)
    state = tx.init(x)
    updates, state = tx.update(jnp.zeros(3), state, x, value=1.0)
    assert np.all(np.isfinite(np.asarray(updates))) and float(state[0].safeguard) == 0.0
    _, state = tx.update(jnp.ones(3), state, x, value=1.0)
    assert float(state[0].safeguard) == 3.0  # set from the first non-zero |g|^2


@pytest.mark.parametrize(("factory", "kwargs", "name"), [
    (adaptlr.sps_safe, {"safeguard": 0.0}, "safeguard"),
    (adaptlr.sps_safe, {"weight_decay": -1.0}, "weight_decay"),
    (adaptlr.sps_safe, {"f_star": float("inf")}, "f_star"),
    (adaptlr.ima_sps_safe, {"averaging": -1.0}, "averaging"),
    (adaptlr.ima_sps_safe, {"safeguard": -1.0}, "safeguard"),
])
def test_bad_hyperparameters_raise(factory, kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


@pytest.mark.parametrize("factory", [adaptlr.sps_safe, adaptlr.ima_sps_safe])
def test_missing_value_raises(factory) -> None:
    tx = factory()
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(x, tx.init(x), x)


# --------------------------------------------------------------------------------------------
# DecSPS and AdaSPS: the papers' equations, transcribed in NumPy
# --------------------------------------------------------------------------------------------

_RNG = np.random.default_rng(5)
_A = _RNG.standard_normal((30, 8))
_B = _A @ _RNG.standard_normal(8) + 0.3 * _RNG.standard_normal(30)  # no interpolation


def _batch_loss(x, i):
    """Least squares on rows 5i..5i+4 (a cycling mini-batch): not interpolated, f* > 0."""
    rows = slice(5 * (i % 6), 5 * (i % 6) + 5)
    r = _A[rows] @ x - _B[rows]
    return 0.5 * float(r @ r) / 5, _A[rows].T @ r / 5


def _numpy_decsps(c0, max_lr, f_star, steps):
    x, gamma_prev, xs, gammas = np.zeros(8), max_lr, [], []
    for k in range(steps):
        f, g = _batch_loss(x, k)
        c_k, c_prev = c0 * np.sqrt(k + 1), c0 * np.sqrt(max(k, 1))  # c_{-1} = c_0
        gamma = min((f - f_star) / (g @ g), c_prev * gamma_prev) / c_k
        x = x - gamma * g
        gamma_prev = gamma
        xs.append(x.copy())
        gammas.append(gamma)
    return np.array(xs), np.array(gammas)


def _numpy_adasps(c, f_star, steps):
    x, gamma_prev, total, xs, gammas = np.zeros(8), np.inf, 0.0, [], []
    for k in range(steps):
        f, g = _batch_loss(x, k)
        total += f - f_star
        gamma = min((f - f_star) / (c * (g @ g) * np.sqrt(total)), gamma_prev)
        x = x - gamma * g
        gamma_prev = gamma
        xs.append(x.copy())
        gammas.append(gamma)
    return np.array(xs), np.array(gammas)


def _ours(tx, steps):
    import optax

    def loss(x, i):
        rows = jax.lax.dynamic_slice_in_dim(jnp.arange(30), 5 * (i % 6), 5)
        r = jnp.asarray(_A)[rows] @ x - jnp.asarray(_B)[rows]
        return 0.5 * (r @ r) / 5

    @jax.jit
    def run(x):
        def body(carry, i):
            x, state = carry
            value, grad = jax.value_and_grad(loss)(x, i)
            updates, state = tx.update(grad, state, x, value=value)
            x = optax.apply_updates(x, updates)
            return (x, state), (x, state[0].effective_lr)  # float64 (not the f32 summary)

        return jax.lax.scan(body, (x, tx.init(x)), jnp.arange(steps))[1]

    xs, gammas = run(jnp.zeros(8, jnp.float64))
    return np.asarray(xs), np.asarray(gammas)


@pytest.mark.parametrize(("c0", "max_lr", "f_star"), [(1.0, 1.0, 0.0), (0.5, 10.0, -0.1)])
def test_decsps_matches_the_paper_equation(c0, max_lr, f_star) -> None:
    with x64():
        xs, gammas = _ours(adaptlr.decsps(c0, max_lr, f_star), 60)
    ref_x, ref_g = _numpy_decsps(c0, max_lr, f_star, 60)
    np.testing.assert_allclose(gammas, ref_g, rtol=1e-10)
    np.testing.assert_allclose(xs, ref_x, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(ref_g * c0 * np.sqrt(np.arange(1, 61))) <= 1e-15)  # c_k g_k falls


@pytest.mark.parametrize(("c", "f_star"), [(1.0, 0.0), (0.3, -0.05)])
def test_adasps_matches_the_paper_equation(c, f_star) -> None:
    with x64():
        xs, gammas = _ours(adaptlr.adasps(c, f_star), 60)
    ref_x, ref_g = _numpy_adasps(c, f_star, 60)
    np.testing.assert_allclose(gammas, ref_g, rtol=1e-10)
    np.testing.assert_allclose(xs, ref_x, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(ref_g) <= 0)  # non-increasing


def test_decsps_adasps_zero_gradients_are_nan_free() -> None:
    for tx in (adaptlr.decsps(), adaptlr.adasps()):
        x = jnp.ones(3)
        state = tx.init(x)
        for _ in range(3):
            updates, state = tx.update(jnp.zeros(3), state, x, value=0.0)
        assert np.all(np.isfinite(np.asarray(updates)))
        assert np.isfinite(float(adaptlr.effective_lr(state)))
    # AdaSPS: after zero gradients the first real gradient still gets a Polyak step.
    tx = adaptlr.adasps()
    x = jnp.array([1.0, -2.0])
    state = tx.init(x)
    _, state = tx.update(jnp.zeros(2), state, x, value=0.0)
    _, state = tx.update(x, state, x, value=2.5)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(2.5 / (5 * np.sqrt(2.5)))
