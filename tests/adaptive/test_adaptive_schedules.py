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


def _with_schedule(spec, schedule):
    # AdaBound/AMSBound scale their bounds by lr_t / base_lr: with a schedule, base_lr is the
    # learning rate PyTorch's AdaBound would be built with (here the constant one).
    extra = {"base_lr": spec.defaults["learning_rate"]} if "base_lr" in spec.defaults or \
        spec.name in ("adabound", "amsbound") else {}
    return spec.build(learning_rate=schedule, **extra)


@pytest.mark.parametrize("name", METHODS)
def test_constant_schedule_equals_float(name):
    spec = adaptlr.registry.get(name)
    lr = spec.defaults["learning_rate"]
    plain, _ = _run(spec.build())
    scheduled, _ = _run(_with_schedule(spec, optax.constant_schedule(lr)))
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(scheduled), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", METHODS)
def test_first_update_uses_schedule_at_zero(name):
    # schedule(0) = 0: the first update moves nothing (no weight decay in the defaults that
    # is not scaled by the learning rate), the second does.
    spec = adaptlr.registry.get(name)
    schedule = lambda count: jnp.where(count == 0, 0.0, spec.defaults["learning_rate"])  # noqa: E731
    tx = _with_schedule(spec, schedule)
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
def test_effective_lr_is_one_float32_mean_per_leaf(name):
    # Per-parameter methods record one float32 scalar per parameter leaf, not a full copy.
    _, state = _run(adaptlr.registry.get(name).build())
    record = state[0].effective_lr
    assert set(record) == {"w", "b"}
    for x in jax.tree.leaves(record):
        assert x.shape == () and x.dtype == jnp.float32 and float(x) > 0
    # effective_lrs(by="path") reads them as they are, keyed by parameter path.
    assert adaptlr.effective_lrs(state, by="path") == dict(record)


# Methods whose update is u = eta * mu entrywise (mu the new first moment in the state), with
# the arguments that make it so (no weight decay added after the step size).
MOMENTUM_SCALED = {"adabound": {}, "amsbound": {}, "adamod": {}, "padam": {},
                   "stable_adamw": {"weight_decay": 0.0}, "came": {}, "adam_mini": {}}


@pytest.mark.parametrize("name", sorted(MOMENTUM_SCALED))
def test_effective_lr_is_the_mean_of_the_applied_step_sizes(name):
    # Independent of the method's own arithmetic: eta = u / mu entrywise, then its mean.
    tx = adaptlr.registry.get(name).build(**MOMENTUM_SCALED[name])
    with jax.enable_x64(True):
        params = {"w": jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float64).reshape(3, 4),
                  "b": jnp.array([0.5, -0.25, 2.0], jnp.float64)}
        state = tx.init(params)
        for step in range(3):
            grads = jax.tree.map(lambda x, step=step: jnp.sin(3.0 * x + step), params)
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        for key in ("w", "b"):
            eta = -np.asarray(updates[key]) / np.asarray(state[0].mu[key])
            np.testing.assert_allclose(float(state[0].effective_lr[key]), eta.mean(),
                                       rtol=1e-6)
