"""MoMo and MoMo-Adam against the authors' momo-opt goldens and closed forms."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from tests.reference_problems import PROBLEMS, max_relative_error, run_jax, x64

GOLDENS = Path(__file__).parent / "goldens"

#: golden setting -> our factory and arguments (the generator's settings, translated).
SETTINGS = {
    "momo_default": (adaptlr.momo, {"learning_rate": 1.0}),
    "momo_bias_correction": (adaptlr.momo, {"learning_rate": 1.0, "bias_correction": True}),
    "momo_wd": (adaptlr.momo, {"learning_rate": 0.5, "weight_decay": 1e-2, "b1": 0.8}),
    "momo_fstar": (adaptlr.momo, {"learning_rate": 1.0, "adapt_lower_bound": True,
                                  "lower_bound": -1.0}),
    "momo_fstar_wd_bc": (adaptlr.momo, {"learning_rate": 1.0, "adapt_lower_bound": True,
                                        "weight_decay": 1e-3, "bias_correction": True}),
    "momo_adam_default": (adaptlr.momo_adam, {"learning_rate": 1e-2}),
    "momo_adam_wd": (adaptlr.momo_adam, {"learning_rate": 2e-2, "weight_decay": 1e-2,
                                         "b1": 0.8, "b2": 0.99}),
    "momo_adam_wd_nodivide": (adaptlr.momo_adam, {"learning_rate": 5e-2, "weight_decay": 1e-2,
                                                  "decoupled_weight_decay": True}),
    "momo_adam_fstar": (adaptlr.momo_adam, {"learning_rate": 1e-1, "adapt_lower_bound": True,
                                            "lower_bound": -1.0}),
}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_matches_momo_opt_golden(setting: str, problem: str) -> None:
    golden = dict(np.load(GOLDENS / f"{setting}_{problem}.npz"))
    factory, kwargs = SETTINGS[setting]
    with x64():
        ours = run_jax(problem, factory(**kwargs), pass_value=True)
    assert max_relative_error(ours, golden) <= 1e-10


def test_first_step_is_the_capped_polyak_step() -> None:
    # Without bias correction the first averages are the current values, so the model step is
    # the Polyak step (f - f*) / |g|^2 with <d, x> - gamma = 0, capped at the learning rate.
    x = jnp.array([1.0, -2.0])
    value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
    for lr, expected in [(10.0, 2.5 / 5.0), (0.1, 0.1)]:
        tx = adaptlr.momo(learning_rate=lr)
        updates, state = tx.update(grad, tx.init(x), x, value=value)
        assert float(adaptlr.effective_lr(state)) == pytest.approx(expected, rel=1e-6)
        np.testing.assert_allclose(updates, -expected * grad, rtol=1e-6)


def test_lower_bound_above_loss_gives_zero_step() -> None:
    x = jnp.array([1.0, -2.0])
    value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
    for factory in (adaptlr.momo, adaptlr.momo_adam):
        tx = factory(lower_bound=10.0)
        updates, state = tx.update(grad, tx.init(x), x, value=value)
        assert float(adaptlr.effective_lr(state)) == 0.0
        np.testing.assert_array_equal(updates, 0.0)


@pytest.mark.parametrize("factory", [adaptlr.momo, adaptlr.momo_adam])
def test_zero_gradient_and_nan_free(factory) -> None:
    tx = factory(weight_decay=1e-2, eps=0.0) if factory is adaptlr.momo_adam else factory()
    x = jnp.zeros(3)
    state = tx.init(x)
    for _ in range(3):
        updates, state = tx.update(jnp.zeros(3), state, x, value=jnp.asarray(0.0))
    assert np.all(np.isfinite(np.asarray(updates)))
    assert float(adaptlr.effective_lr(state)) == 0.0


@pytest.mark.parametrize("factory", [adaptlr.momo, adaptlr.momo_adam])
def test_missing_value_or_params_raises(factory) -> None:
    tx = factory()
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(x, tx.init(x), x)
    with pytest.raises(ValueError, match="parameters"):
        tx.update(x, tx.init(x), None, value=1.0)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"b1": 1.0}, "b1"), ({"weight_decay": -1.0}, "weight_decay"),
    ({"learning_rate": -1.0}, "learning_rate"), ({"lower_bound": float("nan")}, "lower_bound"),
])
def test_bad_hyperparameters_raise(kwargs: dict, name: str) -> None:
    for factory in (adaptlr.momo, adaptlr.momo_adam):
        with pytest.raises(ValueError, match=name):
            factory(**kwargs)


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda: adaptlr.momo(1.0), lambda: optax.contrib.momo(1.0)),
    (lambda: adaptlr.momo_adam(1e-1, lower_bound=-1.0, adapt_lower_bound=True),
     lambda: optax.contrib.momo_adam(1e-1, lower_bound=-1.0, adapt_lower_bound=True)),
])
def test_agrees_with_optax_contrib_without_weight_decay(ours, theirs) -> None:
    # Without weight decay optax.contrib's MoMo follows the same equations; with it, Optax
    # does not divide tau d by 1 + lr * wd (docs/faithfulness.md, MoMo rows).
    with x64():
        a = run_jax("quadratic", ours(), steps=50, pass_value=True)
        b = run_jax("quadratic", theirs(), steps=50, pass_value=True)
    assert max_relative_error(a, b) <= 1e-10
