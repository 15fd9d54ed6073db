"""Learning-rate schedules and the step-size record across the per-parameter adaptive methods."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr

METHODS = ["adabound", "amsbound", "adamod", "padam", "qhadam", "adam_mini", "stable_adamw",
           "adam_atan2", "came", "cautious_adamw"]


def _run(tx, steps=3):
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.25, 2.0])}
    state = tx.init(params)
    for _ in range(steps):
        grads = jax.tree.map(lambda x: x - 0.3, params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", METHODS)
def test_constant_schedule_equals_float(name):
    spec = adaptlr.registry.get(name)
    lr = spec.defaults["learning_rate"]
    plain, _ = _run(spec.build())
    scheduled, _ = _run(spec.build(learning_rate=optax.constant_schedule(lr)))
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(scheduled), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", METHODS)
def test_first_update_uses_schedule_at_zero(name):
    # schedule(0) = 0: the first update moves nothing (no weight decay in the defaults that
    # is not scaled by the learning rate), the second does.
    spec = adaptlr.registry.get(name)
    schedule = lambda count: jnp.where(count == 0, 0.0, spec.defaults["learning_rate"])  # noqa: E731
    tx = spec.build(learning_rate=schedule)
    start, _ = _run(tx, steps=0)
    first, _ = _run(tx, steps=1)
    for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(first), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    second, state = _run(tx, steps=2)
    assert any(not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True))
    record = adaptlr.effective_lr(state)
    assert any(np.any(np.asarray(x) > 0) for x in jax.tree.leaves(record))


@pytest.mark.parametrize("name", [m for m in METHODS if m != "cautious_adamw"])
def test_effective_lr_is_per_parameter(name):
    # Per-parameter methods record a tree like the params (per block for Adam-mini).
    _, state = _run(adaptlr.registry.get(name).build())
    record = state[0].effective_lr
    assert set(record) == {"w", "b"}
    if name != "adam_mini":
        assert record["w"].shape == (2, 3) and record["b"].shape == (3,)
    assert all(np.all(np.asarray(x) >= 0) for x in jax.tree.leaves(record))
