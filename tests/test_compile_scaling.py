"""Compile cost of the training step grows linearly in the number of parameter leaves.

XLA copies a cheap scalar expression into every fusion that reads it. A global scalar (a
norm, a select on it) that every leaf's pass reads made the compiled program, and the compile
time and memory, grow quadratically in the number of leaves: SPS took 508 s and 6.9 GB on
1,000 leaves, Autostep ran out of memory (see docs/performance.md, "Compile time"). The size
of the compiled program's text measures this without timing anything: it is linear in the
number of leaves (ratio 3 for 3 times as many) unless some expression is copied per leaf.
``benchmarks/compile_memory.py`` times the compilation itself against Optax's Adam.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

from adaptlr import registry


def compiled_chars(name: str, leaves: int) -> int:
    """Length of the optimized HLO of one donated training step on ``leaves`` small leaves."""
    spec = registry.get(name)
    tx = spec.build()
    params = {f"p{i:03d}": jnp.zeros((4, 4) if i % 2 == 0 else (8,), jnp.float32)
              for i in range(leaves)}
    state = jax.tree.map(jnp.copy, tx.init(params))

    def step(params, state, grads):
        extra = {"value": jnp.asarray(1.0, jnp.float32)} if spec.needs_value else {}
        if spec.needs_value_fn:  # line searches: a loss to evaluate at trial points
            extra["value_fn"] = lambda p: sum(jnp.sum(x * x) for x in jax.tree.leaves(p))
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1))
    return len(jitted.lower(params, state, params).compile().as_text())


def growth(name: str, leaves: int = 10) -> float:
    return compiled_chars(name, 3 * leaves) / compiled_chars(name, leaves)


# Before the fix (one global scalar copied into every leaf's fusion), 10 -> 30 leaves grew
# the program 4.5x (SPS), 4.6x (ALI-G) and 3.8x (Autostep); every method is below 2.9 now.
@pytest.mark.parametrize("name", ["sps", "alig", "autostep"])
def test_compiled_step_grows_linearly_in_leaves(name: str) -> None:
    assert growth(name) < 3.2


@pytest.mark.slow
@pytest.mark.parametrize("name", registry.names())
def test_every_method_compiles_linearly_in_leaves(name: str) -> None:
    assert growth(name, 20) < 3.2
