"""Delta-bar-delta, IDBD and Autostep.

* On a linear (LMS) learner, where the gradient is exactly ``-delta * x`` and ``curvature=x**2``,
  IDBD and Autostep equal the papers' algorithms written in NumPy (Sutton 1992, Figure 2;
  Mahmood et al. 2012, Table 1) step by step.
* On the papers' tracking task (Sutton 1992, Experiment 2; reused by Mahmood et al. 2012):
  the learned step sizes grow on the relevant inputs and shrink on the irrelevant ones.
* Delta-bar-delta equals Jacobs' (1988) rule in NumPy on the shared problems.

No packaged reference implementation exists for any of the three.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from tests import reference_problems as rp

N_INPUTS, N_RELEVANT = 20, 5


def _lms_stream(seed: int, steps: int, flip_every: int = 20):
    """Sutton's (1992) tracking task: y* = s . x, x ~ N(0, I_20); s_i = +-1 on the first five
    inputs and 0 on the other fifteen; every ``flip_every`` examples one relevant sign flips."""
    rng = np.random.default_rng(seed)
    s = np.zeros(N_INPUTS)
    s[:N_RELEVANT] = rng.choice([-1.0, 1.0], N_RELEVANT)
    xs = rng.standard_normal((steps, N_INPUTS))
    ys = np.empty(steps)
    for t in range(steps):
        if t > 0 and t % flip_every == 0:
            i = rng.integers(N_RELEVANT)
            s[i] = -s[i]
        ys[t] = s @ xs[t]
    return xs, ys


def _run_lms(tx, xs, ys):
    """Run ``tx`` as the step-size rule of a linear learner; return the final state."""
    w = jnp.zeros(xs.shape[1], xs.dtype)

    def step(carry, data):
        w, state = carry
        x, y_star = data
        delta = y_star - w @ x
        updates, state = tx.update(-delta * x, state, w, curvature=x * x)
        return (optax.apply_updates(w, updates), state), None

    (w, state), _ = jax.lax.scan(step, (w, tx.init(w)), (jnp.asarray(xs), jnp.asarray(ys)))
    return w, state


# --------------------------------------------------------------------------------------------
# The papers' algorithms in NumPy
# --------------------------------------------------------------------------------------------


def _numpy_idbd(xs, ys, alpha0, theta):
    n = xs.shape[1]
    w, h, beta = np.zeros(n), np.zeros(n), np.full(n, np.log(alpha0))
    alphas = []
    for x, y_star in zip(xs, ys, strict=True):
        delta = y_star - w @ x
        beta = beta + theta * delta * x * h
        alpha = np.exp(beta)
        w = w + alpha * delta * x
        h = h * np.maximum(1 - alpha * x * x, 0.0) + alpha * delta * x
        alphas.append(alpha)
    return w, np.array(alphas)


def _numpy_autostep(xs, ys, alpha0, mu, tau):
    n = xs.shape[1]
    w, h, v, alpha = np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, alpha0)
    alphas = []
    for x, y_star in zip(xs, ys, strict=True):
        delta = y_star - w @ x
        dxh = delta * x * h
        v = np.maximum(np.abs(dxh), v + alpha * x * x * (np.abs(dxh) - v) / tau)
        pos = v > 0
        alpha = alpha.copy()
        alpha[pos] = alpha[pos] * np.exp(mu * dxh[pos] / v[pos])
        alpha = alpha / max(alpha @ (x * x), 1.0)
        w = w + alpha * delta * x
        h = h * (1 - alpha * x * x) + alpha * delta * x
        alphas.append(alpha)
    return w, np.array(alphas)


@pytest.mark.parametrize(
    ("name", "factory", "reference"),
    [
        ("idbd", lambda: adaptlr.idbd(0.05, 0.05),
         lambda xs, ys: _numpy_idbd(xs, ys, 0.05, 0.05)),
        ("autostep", lambda: adaptlr.autostep(0.05, 0.05, 100.0),
         lambda xs, ys: _numpy_autostep(xs, ys, 0.05, 0.05, 100.0)),
    ],
)
def test_lms_setting_equals_papers_algorithm(name, factory, reference):
    # Large meta step sizes and a short tau so that every branch (positive part, v > 0, M > 1)
    # is exercised within 300 steps.
    xs, ys = _lms_stream(seed=1, steps=300)
    with jax.enable_x64(True):
        w, state = _run_lms(factory(), xs, ys)
        w_ref, alphas = reference(xs, ys)
        np.testing.assert_allclose(np.asarray(w), w_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(state[0].step_sizes), alphas[-1], rtol=1e-10)
        np.testing.assert_allclose(float(state[0].effective_lr), np.mean(alphas[-1]),
                                   rtol=1e-6)  # the float32 per-leaf mean
    assert np.ptp(alphas[-1]) > 0.01  # the step sizes really moved apart


@pytest.mark.parametrize(
    ("factory", "alpha0"),
    [
        # Sutton (1992), Experiment 2: theta = 0.001 from alpha_0 = 0.05, 250,000 examples.
        (lambda a: adaptlr.idbd(learning_rate=a, meta_learning_rate=1e-3), 0.05),
        # Mahmood et al. (2012) on the same task with their recommended mu = 0.01, tau = 1e4.
        (lambda a: adaptlr.autostep(learning_rate=a, meta_learning_rate=1e-2, tau=1e4), 0.01),
    ],
)
def test_tracking_task_step_sizes_separate_relevant_from_irrelevant(factory, alpha0):
    xs, ys = _lms_stream(seed=0, steps=250_000)
    with jax.enable_x64(True):
        _, state = _run_lms(factory(alpha0), xs, ys)
        alpha = np.asarray(state[0].step_sizes)
    relevant, irrelevant = alpha[:N_RELEVANT], alpha[N_RELEVANT:]
    assert np.all(relevant > alpha0), relevant  # grew on every relevant input
    assert np.all(irrelevant < alpha0), irrelevant  # shrank on every irrelevant one
    # "near zero" on the irrelevant inputs: an order of magnitude below every relevant one.
    assert relevant.min() > 10 * irrelevant.max(), (relevant, irrelevant)


def test_autostep_final_step_sizes_do_not_depend_on_the_initial_one():
    # Autostep's claim (Mahmood et al. 2012): tuning-free, the learned step sizes reach the same
    # level from different initial values: relevant ones started at 0.01 and at 0.05 (a factor
    # of five apart) end within a factor of two of each other.
    xs, ys = _lms_stream(seed=0, steps=250_000)
    finals = []
    with jax.enable_x64(True):
        for alpha0 in (0.01, 0.05):
            _, state = _run_lms(adaptlr.autostep(alpha0, 1e-2, 1e4), xs, ys)
            finals.append(np.asarray(state[0].step_sizes)[:N_RELEVANT])
    ratio = finals[1].mean() / finals[0].mean()
    assert 0.5 < ratio < 2.0, finals


def test_default_curvature_is_squared_gradient():
    # Without curvature=, x_i^2 is replaced by g_i^2: one IDBD step by hand.
    g = jnp.array([0.5, -2.0])
    tx = adaptlr.scale_by_idbd(learning_rate=0.1, meta_learning_rate=0.3)
    state = tx.init(g)
    _, state = tx.update(g, state)  # h = 0: alpha unchanged, h = -alpha g
    np.testing.assert_allclose(state.trace, -0.1 * g, rtol=1e-6)
    _, state = tx.update(g, state)
    alpha = 0.1 * np.exp(-0.3 * np.asarray(g) * (-0.1 * np.asarray(g)))
    np.testing.assert_allclose(state.step_sizes, alpha, rtol=1e-6)
    np.testing.assert_allclose(state.effective_lr, np.mean(alpha), rtol=1e-6)
    h = -0.1 * np.asarray(g) * np.maximum(1 - alpha * np.asarray(g) ** 2, 0) - alpha * np.asarray(g)
    np.testing.assert_allclose(state.trace, h, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Delta-bar-delta
# --------------------------------------------------------------------------------------------


def _numpy_delta_bar_delta(problem, eps0, kappa, phi, theta):
    grad = jax.jit(jax.grad(rp.jax_loss(problem)))
    params = {k: v.copy() for k, v in rp.init_params(problem).items()}
    traj = {k: [v.copy()] for k, v in params.items()}
    eps = {k: np.full(v.shape, eps0) for k, v in params.items()}
    bar = {k: np.zeros_like(v) for k, v in params.items()}
    for _ in range(rp.STEPS):
        g = {k: np.asarray(v) for k, v in grad(params).items()}
        for k in params:
            agree = bar[k] * g[k]
            eps[k] = np.where(agree > 0, eps[k] + kappa,
                              np.where(agree < 0, (1 - phi) * eps[k], eps[k]))
            bar[k] = (1 - theta) * g[k] + theta * bar[k]
            params[k] = params[k] - eps[k] * g[k]
            traj[k].append(params[k].copy())
    return {k: np.stack(v) for k, v in traj.items()}


@pytest.mark.parametrize("problem", rp.PROBLEMS)
def test_delta_bar_delta_matches_jacobs_rule(problem):
    eps0, kappa, phi, theta = 0.02, 2e-3, 0.2, 0.7
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = rp.run_jax(problem, adaptlr.delta_bar_delta(eps0, kappa, phi, theta))
        ref = _numpy_delta_bar_delta(problem, eps0, kappa, phi, theta)
    assert rp.max_relative_error(ours, ref) <= 1e-10


def test_delta_bar_delta_grows_and_shrinks():
    tx = adaptlr.scale_by_delta_bar_delta(learning_rate=0.1, kappa=0.01, phi=0.5, b1=0.0)
    state = tx.init(jnp.zeros(3))
    _, state = tx.update(jnp.array([1.0, 1.0, 1.0]), state)
    _, state = tx.update(jnp.array([2.0, -1.0, 0.0]), state)
    np.testing.assert_allclose(state.step_sizes, [0.11, 0.05, 0.1], rtol=1e-6)
    np.testing.assert_allclose(state.effective_lr, np.mean([0.11, 0.05, 0.1]), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Common
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [adaptlr.delta_bar_delta, adaptlr.idbd, adaptlr.autostep])
def test_effective_lr_is_per_leaf_mean_and_zero_before_first_update(factory):
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    tx = factory()
    state = tx.init(params)
    record = state[0].effective_lr
    assert jax.tree.structure(record) == jax.tree.structure(params)
    assert all(x.shape == () and x.dtype == jnp.float32 and float(x) == 0
               for x in jax.tree.leaves(record))
    grads = {"w": jnp.arange(6.0).reshape(2, 3) - 2.5, "b": jnp.array([1.0, -2.0, 0.5])}
    for _ in range(3):
        _, state = tx.update(grads, state, params)
    # The learned step sizes are the state; the record is their mean over each leaf.
    for key in params:
        rates = np.asarray(state[0].step_sizes[key])
        assert rates.shape == params[key].shape and np.all(rates > 0)
        np.testing.assert_allclose(float(state[0].effective_lr[key]), rates.mean(), rtol=1e-6)


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (adaptlr.delta_bar_delta, {"kappa": -1.0}, "kappa"),
        (adaptlr.delta_bar_delta, {"phi": 1.5}, "phi"),
        (adaptlr.delta_bar_delta, {"b1": 1.0}, "b1"),
        (adaptlr.idbd, {"learning_rate": -0.1}, "learning_rate"),
        (adaptlr.idbd, {"meta_learning_rate": -0.1}, "meta_learning_rate"),
        (adaptlr.autostep, {"tau": 0.5}, "tau"),
        (adaptlr.autostep, {"meta_learning_rate": float("nan")}, "meta_learning_rate"),
    ],
)
def test_bad_hyperparameters_raise(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)
