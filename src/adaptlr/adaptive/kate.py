"""KATE: a scale-invariant AdaGrad without the square root (Choudhury et al., 2024).

AdaGrad divides by ``sqrt(sum g^2)``; KATE divides by ``sum g^2`` itself and multiplies by a
second accumulator ``m = sqrt(sum (delta g^2 + g^2 / b^2))``. For ``delta = 0`` a coordinate
whose gradients are all multiplied by ``c`` takes steps divided by ``c``: what a rescaling
``x -> c x`` of that coordinate's feature needs, so that (for generalised linear models) the
iterates do not depend on the features' scales.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    UNIT_INTERVAL,
    Interval,
    PyTree,
    ScalarOrSchedule,
    accumulation_dtype,
    check_all,
    check_real,
    check_tree_match,
    resolve,
)
from adaptlr.adaptive._common import (
    is_on,
    leaf_means_on_read,
    map_leaves,
    require_params,
    scalar_dtype,
    zeros_like_tree,
)

__all__ = ["RANGES", "KateState", "kate", "scale_by_kate"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "delta": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class KateState(NamedTuple):
    """State of :func:`scale_by_kate`. The accumulators are kept squared (the reference keeps
    their square roots and squares them again each step; the values are the same)."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    m_sq: PyTree  # like params: m_t^2 = sum_i (delta g_i^2 + g_i^2 / b_i^2)
    b_sq: PyTree  # like params: b_t^2 = sum_i (g_i^2 + eps)
    learning_rate: jax.Array  # shape=(), scalar dtype: the learning rate of the last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean of ``lr m_t / b_t^2``, the step
        size applied to the gradient at the last update (0 before it), recomputed from the
        state when read."""
        return leaf_means_on_read(self.count, _step_size, (self.m_sq, self.b_sq),
                                  (self.learning_rate,))


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, jnp.ones_like(den)),
                     jnp.zeros_like(num))


def _step_size(m_sq: jax.Array, b_sq: jax.Array, lr: jax.Array, tiny: jax.Array) -> jax.Array:
    del tiny
    return _safe_div(lr * jnp.sqrt(m_sq), b_sq)


def scale_by_kate(
    learning_rate: ScalarOrSchedule = 1e-3,
    delta: float = 0.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = True,
) -> optax.GradientTransformation:
    r"""KATE: AdaGrad's accumulator used without its square root, rescaled by a second one.

    Per parameter, with :math:`g_t` the gradient (plus :math:`\lambda\theta_t`, an L2 penalty,
    when the decay is not decoupled) and :math:`\gamma_t` the learning rate:

    .. math::

      b_t^2 &= b_{t-1}^2 + g_t^2 + \epsilon,\qquad
      m_t^2 = m_{t-1}^2 + \delta g_t^2 + \frac{g_t^2}{b_t^2},\\
      u_t &= \gamma_t\,\frac{m_t\, g_t}{b_t^2}
      \ \bigl(+\ \gamma_t\lambda\theta_t\ \text{with decoupled decay}\bigr).

    Returns :math:`u_t` (descent-ready, without the sign) and records the mean of
    :math:`\gamma_t m_t / b_t^2` over each parameter leaf as ``effective_lr``.

    Args:
      learning_rate: :math:`\gamma_t` in ``[0, inf)``, or a schedule.
      delta: :math:`\delta` (the paper's :math:`\eta`) in ``[0, 1)``; 0 gives the
        scale-invariant method.
      eps: :math:`\epsilon` in ``[0, inf)``, added to :math:`b_t^2` every step.
      weight_decay: :math:`\lambda` in ``[0, inf)`` (needs ``params``).
      decouple_weight_decay: decay the parameters directly, scaled by the learning rate (the
        reference's default), instead of adding an L2 penalty to the gradient.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.kate(learning_rate=1e-3)
      >>> params = {"w": jnp.ones(3)}
      >>> updates, state = tx.update({"w": jnp.ones(3)}, tx.init(params), params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Choudhury, Tupitsa, Loizou, Horvath, Takac and Gorbunov, *Remove that Square Root: A New
      Efficient Scale-Invariant Version of AdaGrad*, NeurIPS 2024 (arXiv:2403.02648).
      Reference code: ``pytorch_optimizer`` 4.1.0's ``Kate``, which the goldens come from.

    Departures:
      The rule is ``pytorch_optimizer``'s, which adds ``eps`` to :math:`b_t^2` at every step
      (the paper has no :math:`\epsilon`; ``eps = 0`` gives the paper's update) and adds
      weight decay (the paper has none). Where :math:`b_t^2 = 0` (zero gradients with
      ``eps = 0``) the update is 0; the reference computes ``0 / 0``.
    """
    check_all(RANGES, learning_rate=learning_rate, delta=delta, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> KateState:
        check_real(params, "KATE")
        return KateState(count=jnp.zeros((), jnp.int32), m_sq=zeros_like_tree(params),
                         b_sq=zeros_like_tree(params),
                         learning_rate=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree, state: KateState, params: PyTree = None
    ) -> tuple[PyTree, KateState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "kate")
        decay_on = is_on(weight_decay)
        lr = jnp.asarray(resolve(learning_rate, state.count), state.learning_rate.dtype)

        def leaf(g, m_sq, b_sq, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            wd = jnp.asarray(weight_decay, acc)
            if decay_on and not decouple_weight_decay:
                g_ = g_ + wd * p.astype(acc)
            g2 = g_ * g_
            b_new = b_sq.astype(acc) + g2 + jnp.asarray(eps, acc)
            m_new = m_sq.astype(acc) + jnp.asarray(delta, acc) * g2 + _safe_div(g2, b_new)
            lr_ = lr.astype(acc)
            u = lr_ * _safe_div(jnp.sqrt(m_new) * g_, b_new)
            if decay_on and decouple_weight_decay:
                u = u + (lr_ * wd) * p.astype(acc)
            b_out = b_new.astype(b_sq.dtype)
            return u.astype(g.dtype), m_new.astype(m_sq.dtype), b_out

        new_updates, m_sq, b_sq = map_leaves(leaf, 3, updates, state.m_sq, state.b_sq, params)
        return new_updates, KateState(count=optax.safe_increment(state.count), m_sq=m_sq,
                                      b_sq=b_sq, learning_rate=lr)

    return optax.GradientTransformation(init_fn, update_fn)


def kate(
    learning_rate: ScalarOrSchedule = 1e-3,
    delta: float = 0.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = True,
) -> optax.GradientTransformation:
    r"""The KATE optimizer: :func:`scale_by_kate` followed by a descent sign.

    Args:
      learning_rate: in ``[0, inf)``, or a schedule.
      delta: in ``[0, 1)``.
      eps: in ``[0, inf)``.
      weight_decay: in ``[0, inf)``.
      decouple_weight_decay: decoupled decay scaled by the learning rate (default) or an L2
        penalty on the gradient.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.kate(learning_rate=1e-3)
      >>> updates, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    """
    return optax.chain(
        scale_by_kate(learning_rate, delta, eps, weight_decay,
                      decouple_weight_decay=decouple_weight_decay),
        optax.scale(-1.0),
    )
