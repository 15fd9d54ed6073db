"""Hypergradient descent: the learning-rate step is -beta * d f / d alpha (checked with jax.grad),
and SGD-HD / Adam-HD follow the paper's equations written in NumPy.

Baydin's reference code (gbaydin/hypergradient-descent) is not published as a package and
pytorch_optimizer does not implement it, so there are no golden trajectories from it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from tests import reference_problems as rp


def _loss(p):
    lam = jnp.asarray([1.0, 0.3, 2.0, 0.05], p["w"].dtype)
    z = jnp.concatenate([p["w"].reshape(-1), p["b"]])
    return 0.5 * jnp.sum(lam * jnp.square(z - 1.0)) + 0.25 * jnp.sum(z**4) / 4


def _params(dtype=jnp.float64):
    return {"w": jnp.asarray([[0.3], [0.1]], dtype), "b": jnp.asarray([0.5, -1.0], dtype)}


@pytest.mark.parametrize("rule", ["additive", "multiplicative"])
def test_sgd_learning_rate_step_is_the_hypergradient(rule):
    # alpha_t - alpha_{t-1} = -beta * d/d alpha f(theta_{t-1} - alpha g_{t-1}) at alpha_{t-1},
    # which is beta * g_t . g_{t-1} (normalised by both norms for the multiplicative rule).
    beta, alpha0 = 0.05, 0.1
    with jax.enable_x64(True):
        tx = adaptlr.scale_by_hypergradient_sgd(alpha0, beta, rule=rule)
        theta_prev = _params()
        state = tx.init(theta_prev)
        g_prev = jax.grad(_loss)(theta_prev)
        u, state = tx.update(g_prev, state, theta_prev)
        theta = jax.tree.map(lambda p, d: p - d, theta_prev, u)
        alpha_prev = float(state.learning_rate)
        g = jax.grad(_loss)(theta)
        _, state = tx.update(g, state, theta)

        def one_step_loss(alpha):
            return _loss(jax.tree.map(lambda p, d: p - alpha * d, theta_prev, g_prev))

        hypergrad = float(jax.grad(one_step_loss)(alpha_prev))
        dot = float(adaptlr.tree_vdot(g, g_prev))
        assert hypergrad == pytest.approx(-dot, rel=1e-12)
        if rule == "additive":
            expected = alpha_prev - beta * hypergrad
        else:
            norms = float(adaptlr.tree_norm(g)) * float(adaptlr.tree_norm(g_prev))
            expected = alpha_prev * (1 - beta * hypergrad / norms)
        assert float(state.learning_rate) == pytest.approx(expected, rel=1e-12)
        assert float(state.effective_lr) == float(state.learning_rate)


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [(optax.sgd, {}), (optax.sgd, {"momentum": 0.9}), (optax.adam, {"b1": 0.8}),
     (optax.lion, {})],
)
def test_generic_wrapper_step_is_the_hypergradient(factory, kwargs):
    # For any optimizer: alpha_t = alpha_{t-1} - beta * d f(theta_{t-1} + update(alpha)) / d alpha,
    # differentiating through the inner optimizer's own update with jax.grad.
    beta, alpha0 = 1e-2, 0.05
    with jax.enable_x64(True):
        tx = adaptlr.hypergradient(factory, alpha0, beta, **kwargs)
        theta = _params()
        state = tx.init(theta)
        for _ in range(3):
            inner_state = state.inner_state
            g = jax.grad(_loss)(theta)
            updates, state = tx.update(g, state, theta)
            alpha_used = state.learning_rate  # moved first, then applied

            def one_step_loss(alpha, theta=theta, g=g, inner_state=inner_state):
                upd, _ = factory(learning_rate=alpha, **kwargs).update(g, inner_state, theta)
                return _loss(optax.apply_updates(theta, upd))

            theta = optax.apply_updates(theta, updates)
            next_g = jax.grad(_loss)(theta)
            _, probe = tx.update(next_g, state, theta)
            expected = float(alpha_used) - beta * float(jax.grad(one_step_loss)(alpha_used))
            assert float(probe.learning_rate) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def _numpy_hd_sgd(problem, alpha, beta, momentum=0.0, nesterov=False, rule="additive",
                  per_parameter=False):
    """SGD-HD as in the paper (and, with momentum, Baydin's SGDHD), in NumPy."""
    loss_and_grad = jax.jit(jax.grad(rp.jax_loss(problem)))
    params = {k: v.copy() for k, v in rp.init_params(problem).items()}
    names = list(params)
    traj = {k: [v.copy()] for k, v in params.items()}
    lr = {k: np.full(v.shape, alpha) for k, v in params.items()} if per_parameter else alpha
    u_prev = {k: np.zeros_like(v) for k, v in params.items()}
    buf = {k: np.zeros_like(v) for k, v in params.items()}
    for _ in range(rp.STEPS):
        g = {k: np.asarray(v) for k, v in loss_and_grad(params).items()}
        if per_parameter:
            for k in names:
                gu = g[k] * u_prev[k]
                if rule == "additive":
                    lr[k] = lr[k] + beta * gu
                else:
                    lr[k] = lr[k] * (1 + beta * np.sign(gu))
        else:
            dot = sum(float(np.sum(g[k] * u_prev[k])) for k in names)
            if rule == "additive":
                lr = lr + beta * dot
            else:
                norms = np.sqrt(sum(float(np.sum(g[k] ** 2)) for k in names)) * np.sqrt(
                    sum(float(np.sum(u_prev[k] ** 2)) for k in names))
                lr = lr * (1 + beta * (dot / norms if norms > 0 else 0.0))
        for k in names:
            if momentum:
                buf[k] = momentum * buf[k] + g[k]
                u = g[k] + momentum * buf[k] if nesterov else buf[k]
            else:
                u = g[k]
            u_prev[k] = u
            params[k] = params[k] - (lr[k] if per_parameter else lr) * u
            traj[k].append(params[k].copy())
    return {k: np.stack(v) for k, v in traj.items()}


SGD_SETTINGS = {
    "additive": dict(alpha=0.01, beta=1e-3),
    "momentum": dict(alpha=0.005, beta=1e-4, momentum=0.9),
    "nesterov": dict(alpha=0.005, beta=1e-4, momentum=0.9, nesterov=True),
    "multiplicative": dict(alpha=0.01, beta=0.02, rule="multiplicative"),
    "per_parameter": dict(alpha=0.01, beta=1e-2, per_parameter=True),
    "per_parameter_multiplicative": dict(alpha=0.01, beta=0.01, rule="multiplicative",
                                         per_parameter=True),
}


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("setting", sorted(SGD_SETTINGS))
def test_sgd_hd_matches_paper_equations(setting, problem):
    kw = dict(SGD_SETTINGS[setting])
    alpha, beta = kw.pop("alpha"), kw.pop("beta")
    momentum = kw.pop("momentum", 0.0)
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ref = _numpy_hd_sgd(problem, alpha, beta, momentum, **kw)
        ours = rp.run_jax(problem, adaptlr.hypergradient_sgd(alpha, beta, momentum, **kw))
        assert rp.max_relative_error(ours, ref) <= 1e-10
        if not kw.get("per_parameter") and not momentum:
            wrapped = rp.run_jax(problem, adaptlr.hypergradient(
                optax.sgd, alpha, beta, rule=kw.get("rule", "additive")))
            assert rp.max_relative_error(wrapped, ref) <= 1e-10


def _numpy_hd_adam(problem, alpha, beta, b1=0.9, b2=0.999, eps=1e-8):
    """Adam-HD (the paper's Algorithm, Optax's Adam direction m_hat / (sqrt(v_hat) + eps))."""
    grad = jax.jit(jax.grad(rp.jax_loss(problem)))
    params = {k: v.copy() for k, v in rp.init_params(problem).items()}
    traj = {k: [v.copy()] for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in params.items()}
    u_prev = {k: np.zeros_like(x) for k, x in params.items()}
    lr = alpha
    for t in range(1, rp.STEPS + 1):
        g = {k: np.asarray(x) for k, x in grad(params).items()}
        lr = lr + beta * sum(float(np.sum(g[k] * u_prev[k])) for k in params)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            u = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
            u_prev[k] = u
            params[k] = params[k] - lr * u
            traj[k].append(params[k].copy())
    return {k: np.stack(x) for k, x in traj.items()}


@pytest.mark.parametrize("problem", rp.PROBLEMS)
def test_adam_hd_matches_paper_equations(problem):
    alpha, beta = 1e-2, 1e-4
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ref = _numpy_hd_adam(problem, alpha, beta)
        ours = rp.run_jax(problem, adaptlr.hypergradient_adam(alpha, beta))
        assert rp.max_relative_error(ours, ref) <= 1e-10
        wrapped = rp.run_jax(problem, adaptlr.hypergradient(optax.adam, alpha, beta))
        assert rp.max_relative_error(wrapped, ref) <= 1e-10
        # The learning rate really moved: beta * sum g.u is not negligible here.
        no_hd = rp.run_jax(problem, optax.adam(alpha))
        assert rp.max_relative_error(no_hd, ref) > 1e-4


def test_zero_meta_learning_rate_is_the_plain_optimizer():
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        for ours, plain in [
            (adaptlr.hypergradient_sgd(0.01, 0.0), optax.sgd(0.01)),
            (adaptlr.hypergradient_adam(0.01, 0.0), optax.adam(0.01)),
            (adaptlr.hypergradient(optax.lion, 1e-3, 0.0, b1=0.8), optax.lion(1e-3, b1=0.8)),
        ]:
            a = rp.run_jax("mlp", ours, steps=20)
            b = rp.run_jax("mlp", plain, steps=20)
            assert rp.max_relative_error(a, b) <= 1e-14


def test_effective_lr_reports_the_learned_rate():
    tx = adaptlr.hypergradient_sgd(0.1, 0.01, per_parameter=True)
    x = jnp.array([1.0, 2.0])
    state = tx.init(x)
    assert np.all(np.asarray(adaptlr.effective_lr(state)) == 0)
    _, state = tx.update(x, state, x)
    _, state = tx.update(jnp.array([1.0, -1.0]), state, x)
    # per-parameter: 0.1 + 0.01 * g_t * g_{t-1} = [0.11, 0.08]; the record is the leaf mean
    np.testing.assert_allclose(state[0].learning_rate, [0.11, 0.08], rtol=1e-6)
    assert state[0].effective_lr.shape == () and state[0].effective_lr.dtype == jnp.float32
    np.testing.assert_allclose(state[0].effective_lr, 0.095, rtol=1e-6)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(0.095, rel=1e-6)


def test_meta_learning_rate_can_be_injected():
    tx = optax.inject_hyperparams(adaptlr.hypergradient_sgd, static_args=("rule",))(
        learning_rate=0.1, meta_learning_rate=0.01)
    x = jnp.array([1.0, 2.0])
    state = tx.init(x)
    _, state = tx.update(x, state, x)
    _, state = tx.update(x, state, x)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(0.1 + 0.01 * 5.0, rel=1e-6)


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (adaptlr.hypergradient_sgd, {"learning_rate": -1.0}, "learning_rate"),
        (adaptlr.hypergradient_sgd, {"meta_learning_rate": -1.0}, "meta_learning_rate"),
        (adaptlr.hypergradient_sgd, {"momentum": 1.0}, "momentum"),
        (adaptlr.hypergradient_sgd, {"rule": "exponential"}, "rule"),
        (adaptlr.hypergradient_adam, {"b2": 1.0}, "b2"),
        (adaptlr.hypergradient_adam, {"eps": -1.0}, "eps"),
    ],
)
def test_bad_hyperparameters_raise(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


def test_wrapper_validates():
    with pytest.raises(ValueError, match="meta_learning_rate"):
        adaptlr.hypergradient(optax.sgd, 0.1, -1.0)
    with pytest.raises(ValueError, match="rule"):
        adaptlr.hypergradient(optax.sgd, 0.1, 0.1, rule="both")


def test_wrapper_forwards_value_and_wraps_adaptlr_methods():
    # A loss-value optimizer inside: value= reaches it (optax.scale_by_polyak requires it).
    def polyak(learning_rate):
        return optax.chain(optax.scale_by_polyak(max_learning_rate=learning_rate),
                           optax.scale(-1.0))

    tx = adaptlr.hypergradient(polyak, 0.1, 1e-2)
    x = jnp.array([1.0, -2.0])
    state = tx.init(x)
    updates, state = tx.update(x, state, x, value=0.5 * jnp.sum(x**2))
    # capped Polyak step min(2.5 / 5, 0.1) = 0.1; the tangent is -g where the cap is active
    np.testing.assert_allclose(updates, -0.1 * x, rtol=1e-6)
    np.testing.assert_allclose(state.previous_tangent, -x, rtol=1e-6)
    # An adaptlr method whose update is eta / b_t * g learns its eta the same way.
    tx = adaptlr.hypergradient(adaptlr.adagrad_norm, 1.0, 1e-2, b0=1.0)
    state = tx.init(x)
    for _ in range(2):
        updates, state = tx.update(x, state, x)
    # h = g . d(update_1)/d eta = -|x|^2 / sqrt(1 + |x|^2) = -5 / sqrt(6)
    assert float(state.learning_rate) == pytest.approx(1.0 + 1e-2 * 5 / np.sqrt(6), rel=1e-6)
