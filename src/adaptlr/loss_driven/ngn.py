"""NGN: the non-negative Gauss-Newton step size (Orvieto and Xiao, 2024).

A non-negative loss is the square of its square root, :math:`f = r^2` with
:math:`r = \\sqrt{f}`. One Gauss-Newton step on :math:`r`, damped by :math:`1/\\sigma`
(Levenberg-Marquardt), is a gradient step with the step size

.. math::

   \\gamma_t = \\frac{\\sigma}{1 + \\sigma \\lVert g_t\\rVert^2 / (2 f(x_t))},

which is close to :math:`\\sigma` where the loss is large compared with the gradient and
shrinks towards the Polyak-like :math:`2 f / \\lVert g\\rVert^2` where it is not.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    POSITIVE,
    Interval,
    PyTree,
    ScalarOrSchedule,
    check_all,
    resolve,
    scalar_dtype,
    tree_sq_norm,
)
from adaptlr._docstrings import args_from

__all__ = ["RANGES", "ScaleByNgnState", "ngn", "scale_by_ngn"]

RANGES: dict[str, Interval] = {"learning_rate": POSITIVE}


class ScaleByNgnState(NamedTuple):
    """State of :func:`scale_by_ngn`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last step size


def scale_by_ngn(learning_rate: ScalarOrSchedule = 1.0) -> optax.GradientTransformationExtraArgs:
    """Scale the gradient by the NGN step size (no sign).

    .. math::

       \\gamma_t = \\frac{\\sigma}{1 + \\frac{\\sigma \\lVert g_t\\rVert^2}{2 f(x_t)}}
       = \\frac{2 \\sigma f(x_t)}{2 f(x_t) + \\sigma \\lVert g_t\\rVert^2},
       \\qquad u_t = \\gamma_t g_t.

    Args:
      learning_rate: :math:`\\sigma`, the largest step size (taken where the gradient is small
        relative to the loss), range ``(0, inf)`` or a schedule.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss``, a
      non-negative loss.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ngn(learning_rate=1.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))  # 1 / (1 + 5 / (2 * 2.5))
      0.5

    References:
      Orvieto and Xiao, "An Adaptive Stochastic Gradient Method with Non-negative Gauss-Newton
      Stepsizes", arXiv:2407.04358, 2024.

    Departures:
      The method needs :math:`f \\ge 0`. A negative loss is clipped at 0 (giving step 0 unless
      the gradient is 0 too); a non-finite loss gives step 0 (the update is skipped rather
      than turned into NaN). With :math:`f = 0` and :math:`g = 0` the step is recorded as
      :math:`\\sigma` (nothing moves). The paper's momentum and diagonal (per-parameter)
      variants are not provided here.
    """
    check_all(RANGES, learning_rate=learning_rate)

    def init_fn(params: PyTree) -> ScaleByNgnState:
        return ScaleByNgnState(count=jnp.zeros((), jnp.int32),
                               effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleByNgnState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByNgnState]:
        del params, extra_args
        if value is None:
            raise ValueError(
                "ngn sets its step size from the loss: call update(grads, state, params, "
                "value=loss) (with optax.chain and Flax's nnx.Optimizer, pass value=loss)")
        value = jnp.asarray(value)
        if value.ndim != 0:
            raise ValueError(f"ngn: value must be the scalar loss, got shape {value.shape}")
        dtype = state.effective_lr.dtype
        loss = value.astype(dtype)
        finite = jnp.isfinite(loss)
        two_f = 2.0 * jnp.maximum(jnp.where(finite, loss, 0.0), 0.0)
        sigma = jnp.asarray(resolve(learning_rate, state.count), dtype)
        den = two_f + sigma * tree_sq_norm(updates).astype(dtype)
        step = jnp.where(den > 0, sigma * two_f / jnp.where(den > 0, den, 1.0), sigma)
        step = jnp.where(finite, step, 0.0)
        out = jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)
        return out, ScaleByNgnState(count=optax.safe_increment(state.count),
                                    effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_ngn)
def ngn(learning_rate: ScalarOrSchedule = 1.0) -> optax.GradientTransformationExtraArgs:
    """SGD with the NGN step size (Orvieto and Xiao, 2024). ``update(..., value=loss)``.

    See :func:`scale_by_ngn`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.ngn(learning_rate=10.0)  # sigma far too large for SGD: NGN adapts
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-6)
      True

    References:
      Orvieto and Xiao, arXiv:2407.04358, 2024.
    """
    return optax.chain(scale_by_ngn(learning_rate), optax.scale(-1.0))
