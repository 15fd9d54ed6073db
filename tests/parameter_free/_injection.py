"""A method built through ``optax.inject_hyperparams`` must behave as the plain one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax


def assert_injection_changes_nothing(
    factory: Callable[..., optax.GradientTransformation],
    kwargs: dict[str, Any],
    extra: Callable[[Any], Any] = lambda state: (),
) -> None:
    """Three steps of ``factory(**kwargs)`` and of ``inject_hyperparams(factory)(**kwargs)``
    on a small quadratic give the same parameters (and the same ``extra(state)``).

    ``optax.inject_hyperparams`` traces every numeric argument, so a method that branches on a
    hyperparameter's Python value, or casts it to a Python number, fails here.
    """
    params = {"w": jax.numpy.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jax.numpy.ones(2)}

    def loss(p: Any) -> jax.Array:
        return sum(jax.numpy.sum(jax.numpy.square(x - 0.3)) for x in jax.tree.leaves(p))

    finals = []
    for tx in (factory(**kwargs), optax.inject_hyperparams(factory)(**kwargs)):
        p, state = params, tx.init(params)
        for _ in range(3):
            updates, state = tx.update(jax.grad(loss)(p), state, p)
            p = optax.apply_updates(p, updates)
        finals.append((p, extra(state)))
    for a, b in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
