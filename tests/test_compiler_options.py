"""The XLA:CPU option docs/performance.md recommends for the training step changes no result.

``xla_cpu_copy_insertion_use_region_analysis`` lets XLA update a donated state buffer in place
where its default analysis inserts a copy (Lion's and COCOB's steps, Optax's as ours). It must
only change where values are stored: every registered method's parameters and state after a few
donated, jitted steps are bit-identical with and without it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr import registry
from tests.conformance.problems import quadratic_init, quadratic_loss

OPTION = {"xla_cpu_copy_insertion_use_region_analysis": True}


def _run(name: str, compiler_options: dict | None) -> tuple:
    spec = registry.get(name)
    tx = spec.build()

    def step(params, state):
        loss, grads = jax.value_and_grad(quadratic_loss)(params)
        extra = {"value": loss} if spec.needs_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1), compiler_options=compiler_options)
    params = quadratic_init()
    state = jax.tree.map(jnp.copy, tx.init(params))
    for _ in range(4):
        params, state = jitted(params, state)
    return jax.tree.map(np.asarray, (params, state))


@pytest.mark.parametrize("name", registry.names())
def test_region_analysis_changes_no_result(name: str) -> None:
    plain, tuned = _run(name, None), _run(name, OPTION)
    assert jax.tree.structure(plain) == jax.tree.structure(tuned)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(tuned), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_option_removes_the_copy_of_a_donated_state() -> None:
    # Lion reads its momentum in two fusions (update and new momentum) and writes it in place:
    # XLA's default copy insertion copies it first (8 bytes per parameter more), region
    # analysis sees that no copy is needed. Counted by XLA's own cost analysis.
    tx = optax.lion(1e-4)
    params = {"w": jnp.zeros((256, 256))}

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    def bytes_per_param(options: dict | None) -> float:
        jitted = jax.jit(step, donate_argnums=(0, 1), compiler_options=options)
        state = jax.tree.map(jnp.copy, tx.init(params))
        compiled = jitted.lower(params, state, params).compile()
        return compiled.cost_analysis()["bytes accessed"] / params["w"].size

    assert bytes_per_param(None) == pytest.approx(36.0, abs=0.1)
    assert bytes_per_param(OPTION) == pytest.approx(28.0, abs=0.1)
