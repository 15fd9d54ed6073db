"""Refined Schedule-Free AdamW and ScheduleFree+: goldens, the papers' equations, edge cases."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.parameter_free.schedule_free import (
    refined_schedule_free_adamw,
    schedule_free_adamw,
    schedule_free_eval_params,
)
from adaptlr.parameter_free.schedule_free_plus import schedule_free_plus
from tests import reference_problems as rp
from tests.parameter_free.test_schedule_free import X_EVERY, load_golden

# generate_goldens_schedule_free_plus.REFINED in adaptlr's names.
REFINED: dict[str, Callable[[], optax.GradientTransformation]] = {
    "refined_sf_adamw_default": lambda: refined_schedule_free_adamw(decoupling_c=20.0),
    "refined_sf_adamw_decay_warmup": lambda: refined_schedule_free_adamw(
        0.01, b1=0.95, b2=0.99, weight_decay=0.05, warmup_steps=10, decoupling_c=50.0),
    "refined_sf_adamw_r_small_c": lambda: refined_schedule_free_adamw(
        0.005, b1=0.8, r=1.0, weight_lr_power=1.0, decoupling_c=3.0),
}


def _run(problem: str, tx: optax.GradientTransformation,
         pass_value: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Float64 run recording ``y`` every step and ``x`` every ``X_EVERY`` steps."""
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        params = {k: jnp.asarray(v, jnp.float64) for k, v in rp.init_params(problem).items()}
        loss_fn = rp.jax_loss(problem)
        state = tx.init(params)

        @jax.jit
        def step(params, state):
            value, grads = jax.value_and_grad(loss_fn)(params)
            extra = {"value": value} if pass_value else {}
            updates, state = tx.update(grads, state, params, **extra)
            params = optax.apply_updates(params, updates)
            return params, state, schedule_free_eval_params(state, params)

        ys = {k: [np.asarray(v)] for k, v in params.items()}
        xs = {k: [np.asarray(v)] for k, v in params.items()}
        for t in range(1, rp.STEPS + 1):
            params, state, x = step(params, state)
            for k in params:
                ys[k].append(np.asarray(params[k]))
                if t % X_EVERY == 0:
                    xs[k].append(np.asarray(x[k]))
    return {k: np.stack(v) for k, v in ys.items()}, {k: np.stack(v) for k, v in xs.items()}


def _check_golden(name: str, problem: str, tx: optax.GradientTransformation,
                  pass_value: bool = False, horizon: int = rp.STEPS) -> None:
    golden_y, golden_x = load_golden(name, problem)
    ours_y, ours_x = _run(problem, tx, pass_value)
    cut_y, cut_x = horizon + 1, horizon // X_EVERY + 1
    golden_y = {k: v[:cut_y] for k, v in golden_y.items()}
    golden_x = {k: v[:cut_x] for k, v in golden_x.items()}
    ours_y = {k: v[:cut_y] for k, v in ours_y.items()}
    ours_x = {k: v[:cut_x] for k, v in ours_x.items()}
    for traj in (*ours_y.values(), *ours_x.values()):
        assert np.all(np.isfinite(traj))
    assert ours_y.keys() == golden_y.keys() and ours_x.keys() == golden_x.keys()
    assert rp.max_relative_error(ours_y, golden_y) <= 1e-10
    assert rp.max_relative_error(ours_x, golden_x) <= 1e-10


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("name", list(REFINED))
def test_refined_matches_pytorch_optimizer(name: str, problem: str) -> None:
    _check_golden(name, problem, REFINED[name]())


def paper_refined(a: np.ndarray, y0: np.ndarray, steps: int, lr: float, b1: float, b2: float,
                  eps: float, big_c: float) -> tuple[np.ndarray, np.ndarray]:
    """Song et al. (2025), refined SF-AdamW, on f = 0.5 sum(a y^2), constant lr, no decay:
    c_{t+1} = min(1, (1-b1) C gamma^2 / sum gamma^2) = min(1, (1-b1) C / t)."""
    z = x = y0.copy()
    v = np.zeros_like(y0)
    ys, xs = [], []
    for t in range(1, steps + 1):
        y = (1 - b1) * z + b1 * x
        g = a * y
        v = b2 * v + (1 - b2) * g * g
        z = z - lr * g / (np.sqrt(v / (1 - b2**t)) + eps)
        c = min(1.0, (1 - b1) * big_c * lr**2 / (t * lr**2))
        x = (1 - c) * x + c * z
        ys.append((1 - b1) * z + b1 * x)
        xs.append(x.copy())
    return np.stack(ys), np.stack(xs)


@pytest.mark.parametrize("big_c", [3.0, 50.0])
def test_refined_follows_the_papers_equations(big_c: float) -> None:
    a = np.array([0.3, 1.0, 2.5])
    y0 = np.array([1.0, -2.0, 0.5])
    exp_y, exp_x = paper_refined(a, y0, 40, 0.05, 0.9, 0.99, 1e-8, big_c)
    tx = refined_schedule_free_adamw(0.05, b1=0.9, b2=0.99, decoupling_c=big_c)
    with jax.enable_x64(True):
        params = jnp.asarray(y0)
        state = tx.init(params)
        ys, xs = [], []
        for _ in range(40):
            updates, state = tx.update(jnp.asarray(a) * params, state, params)
            params = optax.apply_updates(params, updates)
            ys.append(np.asarray(params))
            xs.append(np.asarray(schedule_free_eval_params(state, params)))
    np.testing.assert_allclose(np.stack(ys), exp_y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.stack(xs), exp_x, rtol=1e-12, atol=1e-14)


def test_refined_with_c_one_over_one_minus_b1_is_schedule_free_adamw() -> None:
    # C = 1 / (1 - b1) gives back c itself (c <= 1 always); C = 0 is pytorch_optimizer's "off".
    with jax.enable_x64(True):
        for big_c in (1 / (1 - 0.8), 0.0):
            ours = rp.run_jax("quadratic", refined_schedule_free_adamw(
                0.02, b1=0.8, decoupling_c=big_c), steps=50)
            plain = rp.run_jax("quadratic", schedule_free_adamw(0.02, b1=0.8), steps=50)
            assert rp.max_relative_error(ours, plain) <= 1e-12


def test_refined_validation() -> None:
    with pytest.raises(ValueError, match="decoupling_c"):
        refined_schedule_free_adamw(decoupling_c=-1.0)
    with pytest.raises(TypeError, match="decoupling_c"):
        refined_schedule_free_adamw(decoupling_c=lambda k: 1.0)
    with pytest.raises(TypeError):
        refined_schedule_free_adamw()  # decoupling_c has no default


def test_refined_under_inject_hyperparams() -> None:
    tx = optax.inject_hyperparams(refined_schedule_free_adamw)(
        learning_rate=0.01, decoupling_c=5.0)
    params = jnp.ones(3)
    state = tx.init(params)
    updates, state = jax.jit(tx.update)(jnp.ones(3), state, params)
    assert np.all(np.isfinite(np.asarray(updates)))


# generate_goldens_schedule_free_plus.SF_PLUS in adaptlr's names.
SF_PLUS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sf_plus_default": lambda: schedule_free_plus(),
    "sf_plus_decay_anneal": lambda: schedule_free_plus(
        0.5, b1=0.8, b2=0.99, sf_b1=0.8, weight_decay=5.0, polyak_beta=0.9, c_warmup=5,
        sf_b1_anneal_steps=50, sf_b1_max=0.95),
    "sf_plus_r_power": lambda: schedule_free_plus(
        0.3, eps=1e-6, r=1.0, weight_lr_power=1.0, polyak_beta=0.5, c_warmup=0),
}


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("name", list(SF_PLUS))
def test_schedule_free_plus_matches_the_authors_code(name: str, problem: str) -> None:
    # The defaults' MLP trajectory is chaotic after ~100 steps (a 1e-14 relative change of
    # the initial point moves adaptlr's own run by 3e-10 at step 120 and 1e-4 at step 200;
    # against the golden: 7e-13 at step 100, 1e-5 at 200): compared over 100 steps.
    horizon = 100 if (name, problem) == ("sf_plus_default", "mlp") else rp.STEPS
    _check_golden(name, problem, SF_PLUS[name](), pass_value=True, horizon=horizon)


def test_schedule_free_plus_needs_the_loss_and_params() -> None:
    tx = schedule_free_plus()
    params = jnp.ones(3)
    state = tx.init(params)
    with pytest.raises(ValueError, match="loss"):
        tx.update(jnp.ones(3), state, params)
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(3), state, value=jnp.ones(()))


def test_schedule_free_plus_first_step_closed_form() -> None:
    # Step 0: x = z = y, so the Polyak step is lr f / (sqrt(pi/2) ||g||_1), the Adam direction
    # is sign(g) / (1 + eps / |g|) and c = 1, so y_1 = z_1 = y_0 - alpha^2 wd y_0 - alpha dir.
    lr, wd, f = 0.5, 2.0, 3.0
    g = np.array([0.5, -1.0, 2.0])
    y0 = np.array([1.0, 2.0, -1.0])
    alpha = lr * f / (np.sqrt(np.pi / 2) * np.abs(g).sum())
    expected = y0 - alpha**2 * wd * y0 - alpha * g / (np.abs(g) + 1e-8)
    with jax.enable_x64(True):
        tx = schedule_free_plus(lr, weight_decay=wd)
        state = tx.init(jnp.asarray(y0))
        updates, state = tx.update(jnp.asarray(g), state, jnp.asarray(y0), value=f)
        np.testing.assert_allclose(y0 + np.asarray(updates), expected, rtol=1e-13)
        assert float(state[0].effective_lr) == pytest.approx(alpha, rel=1e-13)


def test_schedule_free_plus_zero_gradient_and_negative_loss_give_no_step() -> None:
    tx = schedule_free_plus()
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    for grads, value in (({"w": jnp.zeros(3)}, 1.0), ({"w": jnp.ones(3)}, -1.0)):
        updates, state = tx.update(grads, state, params, value=jnp.asarray(value))
        assert np.all(np.asarray(updates["w"]) == 0)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(sf_b1=0.0), "sf_b1"), (dict(c_warmup=0.9), "c_warmup"),
    (dict(polyak_beta=1.0), "polyak_beta"), (dict(eps=0.0), "eps"),
    (dict(sf_b1_anneal_steps=-1), "sf_b1_anneal_steps"),
])
def test_schedule_free_plus_validation(kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        schedule_free_plus(**kwargs)
