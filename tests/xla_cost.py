"""XLA's own count of the memory traffic of a compiled, donated training step (no timing)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax


def step_bytes_per_param(
    tx: optax.GradientTransformation,
    options: dict | None = None,
    *,
    needs_value: bool = False,
    needs_value_fn: bool = False,
    shape: tuple[int, ...] = (256, 256),
    leaves: int = 3,
) -> float:
    """``bytes accessed`` per float32 parameter of the documented training step
    (``tx.update`` + ``optax.apply_updates``, old parameters and state donated), compiled with
    the XLA compiler ``options``, on ``leaves`` leaves of ``shape``."""
    params = {f"p{i}": jnp.zeros(shape, jnp.float32) for i in range(leaves)}

    def step(p: Any, s: Any, g: Any) -> Any:
        extra: dict[str, Any] = {"value": jnp.float32(1.0)} if needs_value else {}
        if needs_value_fn:  # a line search's loss: one more read of the trial parameters
            extra["value_fn"] = lambda q: sum(jnp.sum(x * x) for x in jax.tree.leaves(q))
        u, s = tx.update(g, s, p, **extra)
        return optax.apply_updates(p, u), s

    jitted = jax.jit(step, donate_argnums=(0, 1), compiler_options=options)
    state = jax.tree.map(jnp.copy, tx.init(params))
    cost = jitted.lower(params, state, params).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["bytes accessed"]) / (leaves * params["p0"].size)
