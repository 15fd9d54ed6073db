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
from tests import reference_problems as rp
from tests.parameter_free.test_schedule_free import _run, load_golden

# generate_goldens_schedule_free_plus.REFINED in adaptlr's names.
REFINED: dict[str, Callable[[], optax.GradientTransformation]] = {
    "refined_sf_adamw_default": lambda: refined_schedule_free_adamw(decoupling_c=20.0),
    "refined_sf_adamw_decay_warmup": lambda: refined_schedule_free_adamw(
        0.01, b1=0.95, b2=0.99, weight_decay=0.05, warmup_steps=10, decoupling_c=50.0),
    "refined_sf_adamw_r_small_c": lambda: refined_schedule_free_adamw(
        0.005, b1=0.8, r=1.0, weight_lr_power=1.0, decoupling_c=3.0),
}


def _check_golden(name: str, problem: str, tx: optax.GradientTransformation,
                  **run_kwargs) -> None:
    golden_y, golden_x = load_golden(name, problem)
    ours_y, ours_x = _run(problem, tx, schedule_free_eval_params, **run_kwargs)
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
