"""AdamC's corrected weight decay: the paper's equation written out, Optax composition, edges."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.weight_decay import adamc, add_adamc_decayed_weights

PEAK = 1e-2


def warmup_cosine(k: int, warm: int = 10, total: int = 60) -> float:
    """Linear warmup 0 -> PEAK over ``warm`` steps, then cosine to 0 at ``total`` (NumPy)."""
    if k < warm:
        return PEAK * k / warm
    frac = min((k - warm) / (total - warm), 1.0)
    return PEAK * 0.5 * (1 + math.cos(math.pi * frac))


def jax_schedule(count: jax.Array) -> jax.Array:
    """``warmup_cosine`` in float64 (Optax's schedules compute in float32)."""
    k = jnp.asarray(count).astype(jnp.float64)
    frac = jnp.clip((k - 10) / 50, 0.0, 1.0)
    return jnp.where(k < 10, PEAK * k / 10, PEAK * 0.5 * (1 + jnp.cos(jnp.pi * frac)))


OPTAX_SCHEDULE = optax.warmup_cosine_decay_schedule(0.0, PEAK, 10, 60)


def grad_of(theta: np.ndarray) -> np.ndarray:
    # f(theta) = sum(a (theta - 1)^2) / 2 + sum(sin(theta)): curved, gradients of both signs.
    a = np.linspace(0.5, 3.0, theta.size).reshape(theta.shape)
    return a * (theta - 1.0) + np.cos(theta)


def paper_adamc(theta0: np.ndarray, steps: int, wd: float, gamma_max: float | None,
                b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                schedule=warmup_cosine) -> np.ndarray:
    """Defazio (2025), AdamC: theta <- theta - g_t m^/(sqrt(v^)+eps) - wd g_t^2/g_max theta.

    ``gamma_max=None``: the running maximum of the schedule (adaptlr's default).
    """
    theta = theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    running = 0.0
    out = [theta.copy()]
    for k in range(steps):
        g = grad_of(theta)
        gamma = float(schedule(k))
        running = max(running, gamma)
        top = running if gamma_max is None else gamma_max
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** (k + 1))
        vhat = v / (1 - b2 ** (k + 1))
        decay = wd * gamma**2 / top if top > 0 else 0.0
        theta = theta - gamma * mhat / (np.sqrt(vhat) + eps) - decay * theta
        out.append(theta.copy())
    return np.stack(out)


def run(tx: optax.GradientTransformation, theta0: np.ndarray, steps: int) -> np.ndarray:
    with jax.enable_x64(True):
        params = jnp.asarray(theta0, jnp.float64)
        state = tx.init(params)

        @jax.jit
        def step(params, state):
            g = jax.grad(lambda t: 0.5 * jnp.sum(
                jnp.linspace(0.5, 3.0, t.size).reshape(t.shape) * (t - 1.0) ** 2)
                + jnp.sum(jnp.sin(t)))(params)
            updates, state = tx.update(g, state, params)
            return optax.apply_updates(params, updates), state

        out = [np.asarray(params)]
        for _ in range(steps):
            params, state = step(params, state)
            out.append(np.asarray(params))
        return np.stack(out)


THETA0 = np.linspace(-2.0, 3.0, 12).reshape(3, 4)


@pytest.mark.parametrize("gamma_max", [PEAK, None])
def test_adamc_matches_the_papers_equation(gamma_max):
    expected = paper_adamc(THETA0, 70, wd=5.0, gamma_max=gamma_max)
    ours = run(adamc(jax_schedule, weight_decay=5.0, max_learning_rate=gamma_max), THETA0, 70)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)
    # The decay matters here: without it the trajectory is elsewhere.
    plain = paper_adamc(THETA0, 70, wd=0.0, gamma_max=PEAK)
    assert np.max(np.abs(plain - expected)) > 1e-3


def test_composes_with_optax_adam_and_a_schedule():
    # The transformation in an Optax chain with optax.adam (which scales by the schedule).
    # optax.scale_by_adam and optax.scale_by_learning_rate around the decay term, with a
    # schedule computed in float64 (Optax's own schedules compute in float32, and XLA's
    # fusion inside the step rounds them differently from a separate evaluation).
    expected = paper_adamc(THETA0, 70, wd=2.0, gamma_max=PEAK)
    tx = optax.chain(
        optax.scale_by_adam(),
        add_adamc_decayed_weights(2.0, jax_schedule, max_learning_rate=PEAK),
        optax.scale_by_learning_rate(jax_schedule),
    )
    np.testing.assert_allclose(run(tx, THETA0, 70), expected, rtol=1e-12, atol=1e-14)


def test_constant_learning_rate_is_optax_adamw():
    ours = run(adamc(1e-2, weight_decay=0.3), THETA0, 40)
    theirs = run(optax.adamw(1e-2, weight_decay=0.3), THETA0, 40)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-15)


def test_decay_coefficient_closed_form_per_step():
    # Zero updates in: out comes wd * lr_t / lr_max * params, lr_max the running max.
    sched = optax.piecewise_constant_schedule(1.0, {2: 4.0, 4: 0.25})  # 1, 1, 4, 4, 1, ...
    tx = add_adamc_decayed_weights(0.5, sched)
    params = jnp.full(3, 2.0)
    state = tx.init(params)
    ratios = []
    for _ in range(6):
        u, state = tx.update(jnp.zeros(3), state, params)
        ratios.append(float(u[0]) / (0.5 * 2.0))
    np.testing.assert_allclose(ratios, [1, 1, 1, 1, 0.25, 0.25], rtol=1e-6)
    # With the peak given: lr_t / peak from the first step.
    tx = add_adamc_decayed_weights(0.5, sched, max_learning_rate=4.0)
    state = tx.init(params)
    u, state = tx.update(jnp.zeros(3), state, params)
    assert float(u[0]) == pytest.approx(0.5 * 2.0 * 0.25)


def test_mask_and_none_leaves():
    params = {"w": jnp.ones(2), "b": jnp.ones(2)}
    tx = add_adamc_decayed_weights(1.0, 0.1, mask={"w": True, "b": False})
    state = tx.init(params)
    u, _ = tx.update({"w": jnp.zeros(2), "b": jnp.zeros(2)}, state, params)
    np.testing.assert_allclose(u["w"], 1.0)
    np.testing.assert_allclose(u["b"], 0.0)


def test_zero_learning_rate_gives_no_decay_and_no_nan():
    for lr in (0.0, optax.constant_schedule(0.0)):
        tx = adamc(lr, weight_decay=1.0)
        params = jnp.ones(3)
        state = tx.init(params)
        u, _ = tx.update(jnp.zeros(3), state, params)
        assert np.all(np.asarray(u) == 0)


def test_dtype_preserved():
    tx = adamc(1e-3, weight_decay=0.1)
    params = jnp.ones(3, jnp.bfloat16)
    state = tx.init(params)
    u, _ = tx.update(jnp.ones(3, jnp.bfloat16), state, params)
    assert u.dtype == jnp.bfloat16


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(max_learning_rate=0.0), "max_learning_rate"),
    (dict(learning_rate=-1.0), "learning_rate"),
])
def test_bad_values_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        add_adamc_decayed_weights(**{"weight_decay": 0.1, **kwargs})


def test_numbers_only_arguments_reject_callables():
    with pytest.raises(TypeError, match="weight_decay"):
        add_adamc_decayed_weights(lambda k: 0.1, 1e-3)
    with pytest.raises(TypeError, match="max_learning_rate"):
        add_adamc_decayed_weights(0.1, 1e-3, max_learning_rate=lambda k: 1.0)


def test_needs_params():
    tx = add_adamc_decayed_weights(0.1, 1e-3)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_effective_lr_reports_the_schedule():
    tx = adamc(OPTAX_SCHEDULE, weight_decay=0.1)
    state = tx.init(jnp.ones(2))
    for _ in range(3):
        _, state = tx.update(jnp.ones(2), state, jnp.ones(2))
    assert float(adaptlr.effective_lr(state)) == pytest.approx(PEAK * 2 / 10, rel=1e-6)


def _schedule_of_the_golden(count: jax.Array) -> jax.Array:
    """generate_goldens_adamc.warmup_cosine times the peak 1e-2, in float64."""
    k = jnp.asarray(count).astype(jnp.float64)
    frac = jnp.clip((k - 20) / 180, 0.0, 1.0)
    return 1e-2 * jnp.where(k < 20, k / 20, 0.5 * (1 + jnp.cos(jnp.pi * frac)))


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "kwargs"), [
    ("default", dict(weight_decay=0.1)),
    ("betas_strong_decay", dict(b1=0.8, b2=0.99, weight_decay=2.0)),
])
def test_adamc_matches_pytorch_optimizer(setting, kwargs, problem):
    # pytorch_optimizer 4.1.0 AdamC (normalized group, max_lr = the peak), eps = 0 and its
    # 1e-15 under the root removed (tests/adaptive/generate_goldens_adamc.py says why).
    from pathlib import Path

    from tests import reference_problems as rp

    golden = rp.load_golden(Path(__file__).parent / "adaptive" / "goldens" / "adamc.npz",
                            problem, prefix=f"{setting}/")
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = rp.run_jax(problem, adamc(_schedule_of_the_golden, eps=0.0,
                                         max_learning_rate=1e-2, **kwargs))
    assert rp.max_relative_error(ours, golden) <= 1e-10
