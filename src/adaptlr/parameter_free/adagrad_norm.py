"""AdaGrad-Norm: one global AdaGrad step size from the running sum of squared gradient norms."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    Interval,
    PyTree,
    ScalarOrSchedule,
    accumulation_dtype,
    check_all,
    check_tree_match,
    resolve,
    tree_sq_norm,
)
from adaptlr._docstrings import args_from

__all__ = ["RANGES", "ScaleByAdagradNormState", "adagrad_norm", "scale_by_adagrad_norm"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b0": NON_NEGATIVE,
}


class ScaleByAdagradNormState(NamedTuple):
    """State of :func:`scale_by_adagrad_norm`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates so far
    sum_sq: jax.Array  # shape=(), float32 (float64 for f64 params): b_t^2
    effective_lr: jax.Array  # shape=(), like sum_sq: eta / b_{t+1} applied at the last update


def scale_by_adagrad_norm(
    learning_rate: ScalarOrSchedule = 1.0,
    b0: float = 1e-2,
) -> optax.GradientTransformation:
    """AdaGrad-Norm: scale the gradient by :math:`\\eta / b_{t+1}` (no sign).

    .. math::

       b_{t+1}^2 = b_t^2 + \\lVert g_t \\rVert^2, \\qquad u_t = \\frac{\\eta}{b_{t+1}}\\, g_t,

    the norm taken over all parameters; :math:`u_t = 0` while :math:`b_{t+1} = 0` (only
    possible with ``b0 = 0`` and zero gradients). :func:`adagrad_norm` descends.

    Args:
      learning_rate: :math:`\\eta`, range ``[0, inf)``, or a schedule. The method is robust to
        it: any :math:`\\eta` converges, a large one after a first phase of growing
        :math:`b_t`.
      b0: the initial :math:`b_0`, range ``[0, inf)``. The paper's analysis needs
        :math:`b_0 > 0`; its experiments start from small values such as ``1e-2``.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adagrad_norm(learning_rate=1.0, b0=0.0)
      >>> state = tx.init(jnp.zeros(2))
      >>> updates, state = tx.update(jnp.array([3.0, 4.0]), state)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # 1 / sqrt(0 + 25)
      0.2

    References:
      Ward, Wu and Bottou, "AdaGrad stepsizes: sharp convergence over nonconvex landscapes",
      JMLR 21 (2020) (Algorithm "AdaGrad-Norm"; earlier version ICML 2019).

    Departures:
      None. ``b0`` is the paper's :math:`b_0` itself (not its square).
    """
    check_all(RANGES, learning_rate=learning_rate, b0=b0)

    def init_fn(params: PyTree) -> ScaleByAdagradNormState:
        dtype = jnp.dtype(jnp.float32)
        for leaf in jax.tree.leaves(params):
            dtype = jnp.promote_types(dtype, accumulation_dtype(leaf.dtype))
        b0_sq = jnp.square(jnp.asarray(b0, dtype))
        return ScaleByAdagradNormState(
            count=jnp.zeros((), jnp.int32), sum_sq=b0_sq, effective_lr=jnp.zeros((), dtype)
        )

    def update_fn(
        updates: PyTree, state: ScaleByAdagradNormState, params: PyTree = None
    ) -> tuple[PyTree, ScaleByAdagradNormState]:
        check_tree_match(updates, params)
        del params
        dtype = state.sum_sq.dtype
        sum_sq = state.sum_sq + tree_sq_norm(updates).astype(dtype)
        ok = sum_sq > 0
        inv_b = jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, sum_sq, 1.0)), 0.0)
        step = (jnp.asarray(resolve(learning_rate, state.count), dtype) * inv_b).astype(dtype)
        out = jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)
        return out, ScaleByAdagradNormState(
            count=optax.safe_increment(state.count), sum_sq=sum_sq, effective_lr=step
        )

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_adagrad_norm)
def adagrad_norm(
    learning_rate: ScalarOrSchedule = 1.0,
    b0: float = 1e-2,
) -> optax.GradientTransformation:
    """AdaGrad-Norm (Ward, Wu and Bottou, JMLR 2020): :math:`x_{t+1} = x_t - \\eta g_t / b_{t+1}`.

    See :func:`scale_by_adagrad_norm` for the rule and the arguments.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.adagrad_norm(learning_rate=1.0)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     updates, state = tx.update(jax.grad(loss)(x), state, x)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Ward, Wu and Bottou, JMLR 2020.
    """
    return optax.chain(scale_by_adagrad_norm(learning_rate, b0), optax.scale(-1.0))

