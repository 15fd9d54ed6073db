"""The two problems every registered method must make progress on with its defaults.

Both have the minimum value 0, so "relative loss" below is simply ``f(x_T) / f(x_0)``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

QUADRATIC_DIM = 20
#: Curvatures log-spaced over two decades: condition number 100.
QUADRATIC_CURVATURES = np.logspace(-2.0, 0.0, QUADRATIC_DIM)


def quadratic_init() -> dict[str, jnp.ndarray]:
    # A matrix leaf and a vector leaf so layer-wise and matrix-shaped methods see both.
    return {"w": jnp.zeros((4, 4), jnp.float32), "b": jnp.zeros((4,), jnp.float32)}


def quadratic_loss(params: dict[str, jnp.ndarray]) -> jnp.ndarray:
    x = jnp.concatenate([params["w"].reshape(-1), params["b"]])
    lam = jnp.asarray(QUADRATIC_CURVATURES, x.dtype)
    return 0.5 * jnp.sum(lam * jnp.square(x - 1.0))


def rosenbrock_init() -> dict[str, jnp.ndarray]:
    # The classical start (-1.2, 1) of Rosenbrock (1960).
    return {"x": jnp.asarray(-1.2, jnp.float32), "y": jnp.asarray(1.0, jnp.float32)}


def rosenbrock_loss(params: dict[str, jnp.ndarray]) -> jnp.ndarray:
    x, y = params["x"], params["y"]
    return jnp.square(1.0 - x) + 100.0 * jnp.square(y - jnp.square(x))


def gd_quadratic_ratio(learning_rate: float, steps: int) -> float:
    """Closed form of ``f(x_T) / f(x_0)`` for gradient descent on the quadratic.

    Each coordinate's error contracts by ``(1 - lr * lam_i)`` per step, so
    ``f_T / f_0 = sum(lam * (1 - lr*lam)^(2T)) / sum(lam)`` (start at 0, optimum at 1).
    """
    lam = QUADRATIC_CURVATURES
    return float(np.sum(lam * (1.0 - learning_rate * lam) ** (2 * steps)) / np.sum(lam))
