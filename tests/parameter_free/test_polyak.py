"""SPS and ALI-G: closed forms, the papers' equations in NumPy, and ALI-G goldens."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from tests import reference_problems as rp

GOLDENS = Path(__file__).parent / "goldens"
ALIG_SETTINGS = {  # as in generate_polyak_goldens.py; delta = pytorch_optimizer's 1e-6
    "plain": {"max_lr": 0.1},
    "cap1": {"max_lr": 1.0},
    "nesterov": {"max_lr": 0.1, "momentum": 0.9},
    "adjusted": {"max_lr": 0.1, "momentum": 0.9, "adjusted_momentum": True},
}


def _step(tx, params, state, loss_fn):
    value, grads = jax.value_and_grad(loss_fn)(params)
    updates, state = tx.update(grads, state, params, value=value)
    return optax.apply_updates(params, updates), state


# --------------------------------------------------------------------------------------------
# SPS
# --------------------------------------------------------------------------------------------


def test_sps_reaches_optimum_of_isotropic_quadratic_in_one_step():
    # f(x) = 0.5 * lam * |x - x*|^2 + f*: g = lam (x - x*), f - f* = |g|^2 / (2 lam), so the
    # Polyak step with c = 1/2 is exactly 1 / lam: one step lands on x*.
    lam, f_star = 4.0, 3.0
    x_star = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array(7.0)}

    def loss(p):
        sq = sum(jnp.sum(jnp.square(p[k] - x_star[k])) for k in p)
        return 0.5 * lam * sq + f_star

    with jax.enable_x64(True):
        x_star = jax.tree.map(lambda x: x.astype(jnp.float64), x_star)
        params = {"a": jnp.zeros(3, jnp.float64), "b": jnp.asarray(-1.0, jnp.float64)}
        tx = adaptlr.sps(c=0.5, max_lr=None, f_star=f_star)
        params, state = _step(tx, params, tx.init(params), loss)
        for k in params:
            np.testing.assert_allclose(params[k], x_star[k], rtol=0, atol=1e-14)
        assert float(state[0].effective_lr) == pytest.approx(1 / lam, rel=1e-14)
        assert float(adaptlr.effective_lr(state)) == pytest.approx(1 / lam, rel=1e-7)


def test_sps_is_the_polyak_step_on_an_ill_conditioned_quadratic():
    # With f_star the true optimal value, each step is (f - f*) / (c |g|^2) exactly; the
    # trajectory is compared with the same recursion in NumPy, step size by step size.
    lam = np.logspace(-2, 0, 6)
    x_star = np.linspace(-1, 1, 6)
    f_star, c, max_lr = 2.5, 0.5, 2.2

    def f_np(x):
        return 0.5 * np.sum(lam * (x - x_star) ** 2) + f_star

    with jax.enable_x64(True):
        lam_j, xs_j = jnp.asarray(lam), jnp.asarray(x_star)
        tx = adaptlr.sps(c=c, max_lr=max_lr, f_star=f_star)
        x = jnp.zeros(6, jnp.float64)
        state = tx.init(x)
        x_np = np.zeros(6)
        capped = 0
        for _ in range(50):
            g_np = lam * (x_np - x_star)
            gamma = min((f_np(x_np) - f_star) / (c * g_np @ g_np), max_lr)
            capped += gamma == max_lr
            x_np = x_np - gamma * g_np
            x, state = _step(tx, x, state,
                             lambda x: 0.5 * jnp.sum(lam_j * (x - xs_j) ** 2) + f_star)
            # state[0] is the SPS core of the chain (adaptlr.effective_lr reports float32).
            assert float(state[0].effective_lr) == pytest.approx(gamma, rel=1e-12)
            np.testing.assert_allclose(np.asarray(x), x_np, rtol=1e-12, atol=1e-14)
        assert 0 < capped < 50  # both branches of the min were exercised


def test_sps_matches_paper_equations_on_reference_problems():
    # The paper's SPS_max in NumPy on the shared golden problems (float64, 200 steps), with the
    # authors' code's eps = 1e-8 in the denominator.
    c, max_lr, eps = 0.2, 0.5, 1e-8
    for problem in rp.PROBLEMS:
        with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
            ours = rp.run_jax(problem, adaptlr.sps(c=c, max_lr=max_lr, eps=eps), pass_value=True)
            loss_and_grad = jax.jit(jax.value_and_grad(rp.jax_loss(problem)))
            params = {k: np.asarray(v) for k, v in rp.init_params(problem).items()}
            traj = {k: [v.copy()] for k, v in params.items()}
            for _ in range(rp.STEPS):
                value, grads = loss_and_grad(params)
                grads = {k: np.asarray(v) for k, v in grads.items()}
                sq = sum(float(np.sum(g * g)) for g in grads.values())
                gamma = min(max(float(value), 0.0) / (c * sq + eps), max_lr)
                params = {k: params[k] - gamma * grads[k] for k in params}
                for k in params:
                    traj[k].append(params[k].copy())
        ref = {k: np.stack(v) for k, v in traj.items()}
        assert rp.max_relative_error(ours, ref) <= 1e-10, problem


def test_sps_step_is_zero_below_f_star_and_for_zero_gradients():
    tx = adaptlr.scale_by_sps(c=0.5, max_lr=1.0, f_star=1.0)
    params = jnp.ones(3)
    state = tx.init(params)
    updates, state = tx.update(jnp.ones(3), state, params, value=jnp.asarray(0.5))
    np.testing.assert_array_equal(updates, jnp.zeros(3))
    assert float(state.effective_lr) == 0.0
    updates, state = tx.update(jnp.zeros(3), state, params, value=jnp.asarray(5.0))
    np.testing.assert_array_equal(updates, jnp.zeros(3))
    assert np.isfinite(float(state.effective_lr))


@pytest.mark.parametrize("factory", [adaptlr.sps, adaptlr.alig])
def test_missing_value_raises(factory):
    tx = factory()
    state = tx.init(jnp.ones(2))
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(jnp.ones(2), state, jnp.ones(2))
    with pytest.raises(ValueError, match="value=loss"):
        jax.jit(tx.update)(jnp.ones(2), state, jnp.ones(2))


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (adaptlr.sps, {"c": 0.0}, "c"),
        (adaptlr.sps, {"max_lr": -1.0}, "max_lr"),
        (adaptlr.sps, {"eps": -1e-8}, "eps"),
        (adaptlr.sps, {"f_star": float("nan")}, "f_star"),
        (adaptlr.alig, {"max_lr": 0.0}, "max_lr"),
        (adaptlr.alig, {"momentum": 1.0}, "momentum"),
        (adaptlr.alig, {"eps": -1.0}, "eps"),
    ],
)
def test_bad_hyperparameters_raise(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


# --------------------------------------------------------------------------------------------
# ALI-G
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("setting", sorted(ALIG_SETTINGS))
def test_alig_matches_pytorch_optimizer_golden(setting, problem):
    golden = dict(np.load(GOLDENS / f"alig_{setting}_{problem}.npz"))
    # The shared MLP loss broadcasts its biases, which conftest's rank-promotion check rejects.
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = rp.run_jax(problem, adaptlr.alig(eps=1e-6, **ALIG_SETTINGS[setting]),
                          pass_value=True)
    assert rp.max_relative_error(ours, golden) <= 1e-10


def test_alig_step_formula_and_cap():
    # One step: gamma = min(f / (|g|^2 + delta), max_lr), recorded in effective_lr.
    g = {"w": jnp.array([[3.0, 0.0], [0.0, 4.0]]), "b": jnp.array([0.0, 0.0])}
    params = jax.tree.map(jnp.zeros_like, g)
    for max_lr, value, expected in [(10.0, 50.0, 50.0 / 26.0), (1.0, 50.0, 1.0)]:
        tx = adaptlr.scale_by_alig(max_lr=max_lr, eps=1.0)
        updates, state = tx.update(g, tx.init(params), params, value=jnp.asarray(value))
        assert float(state.effective_lr) == pytest.approx(expected, rel=1e-6)
        np.testing.assert_allclose(updates["w"], expected * g["w"], rtol=1e-6)


@pytest.mark.parametrize("problem", rp.PROBLEMS)
def test_sps_matches_optax_polyak_sgd(problem):
    # optax.polyak_sgd(scaling=s) scales the gradient by s *before* its Polyak step, so its
    # step is min(gap / (s |g|^2 + eps_o / s), s * max_o): SPS(c, max_lr, eps) is s = c,
    # max_o = max_lr / c, eps_o = c * eps ("sps+" clips the gap at 0 as we do).
    c, max_lr, eps = 0.2, 0.5, 1e-8
    reference = optax.polyak_sgd(max_learning_rate=max_lr / c, scaling=c, f_min=0.0,
                                 eps=c * eps, variant="sps+")
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = rp.run_jax(problem, adaptlr.sps(c=c, max_lr=max_lr, eps=eps), pass_value=True)
        theirs = rp.run_jax(problem, reference, pass_value=True)
    assert rp.max_relative_error(ours, theirs) <= 1e-10


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("setting", ["plain", "cap1"])
def test_alig_goldens_replayed_through_optax_polyak_sgd(setting, problem):
    # Without momentum ALI-G is optax.polyak_sgd with f_min = 0: the goldens agree with Optax
    # too, which is what docs/faithfulness.md reports.
    golden = dict(np.load(GOLDENS / f"alig_{setting}_{problem}.npz"))
    tx = optax.polyak_sgd(max_learning_rate=ALIG_SETTINGS[setting]["max_lr"], f_min=0.0,
                          eps=1e-6, variant="sps+")
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        theirs = rp.run_jax(problem, tx, pass_value=True)
    assert rp.max_relative_error(theirs, golden) <= 1e-10
