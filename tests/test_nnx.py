"""Flax NNX states read by adaptlr's tools: plain arrays out, the same numbers as plain Optax.

Reference: the same transformation run by hand on the plain parameter tree
(``nnx.State.to_pure_dict``) with the same gradients; NNX only wraps the arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import adaptlr

X = jnp.linspace(-1.0, 1.0, 15).reshape(5, 3)


class Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.dense = nnx.Linear(3, 4, rngs=rngs)
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(jnp.tanh(self.dense(x)))


def loss(model: Net) -> jax.Array:
    return jnp.mean(model(X) ** 2)


def nnx_and_plain(tx: optax.GradientTransformation, steps: int = 2):
    """(nnx.Optimizer after ``steps`` updates, the same run on plain pytrees, plain params)."""
    model = Net(nnx.Rngs(0))
    params = nnx.state(model, nnx.Param).to_pure_dict()
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    state = tx.init(params)
    for _ in range(steps):
        grads = nnx.grad(loss)(model)
        updates, state = tx.update(grads.to_pure_dict(), state, params)
        params = optax.apply_updates(params, updates)
        optimizer.update(model, grads)
    return optimizer, model, state, params


PATHS = {"dense/kernel", "dense/bias", "head/kernel", "head/bias"}


@pytest.mark.parametrize("name", ["inject_adam", "adabound", "prodigy", "ldog", "groups"])
def test_effective_lr_of_an_nnx_optimizer_is_a_plain_array(name):
    tx = {
        "inject_adam": lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.01),
        "adabound": adaptlr.adabound,  # record computed from the state when read
        "prodigy": adaptlr.prodigy,
        "ldog": adaptlr.ldog,  # one step size per leaf
        "groups": lambda: adaptlr.param_groups(
            [adaptlr.group("head/*", lr_scale=0.5, name="head")],
            optax.inject_hyperparams(optax.adam), learning_rate=0.01),
    }[name]()
    optimizer, model, state, _ = nnx_and_plain(tx)
    value = adaptlr.effective_lr(optimizer.opt_state)
    assert type(value) is type(jnp.zeros(())) and value.shape == ()
    np.testing.assert_allclose(value, adaptlr.effective_lr(state), rtol=1e-6)
    by_group = adaptlr.effective_lrs(optimizer.opt_state)
    assert by_group.keys() == adaptlr.effective_lrs(state).keys()
    by_path = adaptlr.effective_lrs(optimizer.opt_state, nnx.state(model, nnx.Param), by="path")
    assert set(by_path) == PATHS
    assert not any(isinstance(v, nnx.Variable) for v in [*by_group.values(), *by_path.values()])
    reference = adaptlr.effective_lrs(state, by="path", params=nnx_and_plain(tx, 0)[3])
    for path in PATHS:
        np.testing.assert_allclose(by_path[path], reference[path], rtol=1e-6, err_msg=path)


def test_log_stats_on_nnx_states():
    optimizer, model, _, _ = nnx_and_plain(adaptlr.adabound())
    params = nnx.state(model, nnx.Param)
    grads = nnx.grad(loss)(model)
    logs = adaptlr.as_floats(adaptlr.log_stats(grads, params, optimizer.opt_state))
    assert np.isfinite(logs["effective_lr"]) and logs["effective_lr"] > 0
    assert {f"update_ratio/{p}" for p in PATHS} <= set(logs)


def test_schedule_free_eval_params_takes_nnx_states():
    tx = adaptlr.schedule_free_adamw(0.05, warmup_steps=0)
    optimizer, model, state, params = nnx_and_plain(tx, steps=3)
    x = adaptlr.schedule_free_eval_params(optimizer.opt_state, nnx.state(model, nnx.Param))
    expected = adaptlr.schedule_free_eval_params(state, params)
    flat = {adaptlr.param_path(p): v for p, v in jax.tree_util.tree_flatten_with_path(x)[0]}
    want = {adaptlr.param_path(p): v
            for p, v in jax.tree_util.tree_flatten_with_path(expected)[0]}
    assert set(flat) == PATHS
    for path in PATHS:
        assert not isinstance(flat[path], nnx.Variable)
        np.testing.assert_allclose(flat[path], want[path], rtol=1e-6, err_msg=path)
    # x is not y after three steps, and nnx.update puts it into the model.
    y = nnx.state(model, nnx.Param).to_pure_dict()
    assert not np.allclose(flat["head/kernel"], y["head"]["kernel"])
    nnx.update(model, x)
    np.testing.assert_allclose(model.head.kernel[...], flat["head/kernel"])
