"""MADGRAD: momentumized, adaptive, dual-averaged gradients (Defazio and Jelassi, 2021).

A dual-averaging method: the iterate is a fixed point ``x_0`` minus the weighted sum of all
gradients, divided per parameter by the cube root of the weighted sum of their squares, and the
parameters follow that point through a moving average (the "momentum").
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
    is_checkable,
    resolve,
)
from adaptlr.adaptive._common import (
    is_on,
    leaf_means_on_read,
    map_leaves,
    nonnegative_ratio,
    scalar_dtype,
)

__all__ = ["RANGES", "MadgradState", "madgrad", "scale_by_madgrad"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "momentum": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class MadgradState(NamedTuple):
    """State of :func:`scale_by_madgrad`.

    The per-parameter fields are kept in the parameters' accumulation dtype (float32 for
    bf16/f16 parameters, as the authors' code does), since ``x0 - s / rms`` loses the step
    entirely in 8 mantissa bits.
    """

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: the authors' k
    grad_sum_sq: PyTree  # like params: sum of lambda_i g_i^2
    s: PyTree  # like params: sum of lambda_i g_i
    x0: PyTree  # like params: the initial point (momentum > 0), () with momentum == 0
    record_scalars: tuple[jax.Array, ...]  # ((1 - momentum) lambda_k, eps) of the last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean over the leaf of
        ``(1 - momentum) lambda_k / (cbrt(grad_sum_sq) + eps)``, the factor with which the
        last gradient moved the parameters (0 before the first update), recomputed from the
        state when read."""
        return leaf_means_on_read(self.count, _step_size, (self.grad_sum_sq,),
                                  self.record_scalars)


def _step_size(v: jax.Array, coef: jax.Array, eps: jax.Array, tiny: jax.Array) -> jax.Array:
    return nonnegative_ratio(coef, jnp.cbrt(v) + eps, tiny)


def _dual_ratio(s: jax.Array, v: jax.Array, eps: jax.Array) -> jax.Array:
    """``s / (cbrt(v) + eps)``, ``0`` where the denominator is 0 (then ``s`` is 0 too)."""
    rms = jnp.cbrt(v) + eps
    positive = rms > 0
    return jnp.where(positive, s / jnp.where(positive, rms, jnp.ones_like(rms)),
                     jnp.zeros_like(s))


def scale_by_madgrad(
    learning_rate: ScalarOrSchedule = 1e-2,
    momentum: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""MADGRAD: dual averaging with cube-root adaptivity and momentum by iterate averaging.

    With :math:`k = 0, 1, \dots` the step counter, :math:`\eta_k` the learning rate,
    :math:`g_k` the gradient (plus :math:`\lambda x_k`, an L2 penalty, unless the decay is
    decoupled) and :math:`c = 1 - \text{momentum}`:

    .. math::

      \gamma_k &= \eta_k + \epsilon\ (\eta_k \neq 0),\qquad
      \lambda_k = \gamma_k\sqrt{k+1},\\
      s_{k+1} &= s_k + \lambda_k g_k,\qquad
      \nu_{k+1} = \nu_k + \lambda_k g_k^2,\\
      z_{k+1} &= x_0 - \frac{s_{k+1}}{\nu_{k+1}^{1/3} + \epsilon},\qquad
      x_{k+1} = (1 - c)\, x_k + c\, z_{k+1}
      \ \bigl(-\ \gamma_k \lambda x_k\ \text{with decoupled decay}\bigr).

    The transformation returns :math:`x_k - x_{k+1}` (descent-ready, without the sign; it
    needs ``params``) and records, per parameter leaf, the mean of
    :math:`c\lambda_k / (\nu_{k+1}^{1/3} + \epsilon)`, the factor with which the newest
    gradient moved the parameters, as ``effective_lr``.

    Args:
      learning_rate: :math:`\eta_k` in ``[0, inf)``, or a schedule (evaluated at ``k``).
      momentum: :math:`1 - c` in ``[0, 1)``. With ``0`` no copy of :math:`x_0` is kept: it is
        recomputed each step as :math:`x_k + s_k / (\nu_k^{1/3} + \epsilon)`, as the authors
        do (4 bytes per parameter less).
      eps: :math:`\epsilon` in ``[0, inf)``, added to the cube root and to a non-zero
        learning rate.
      weight_decay: :math:`\lambda` in ``[0, inf)``: an L2 penalty added to the gradient, or
        with ``decouple_weight_decay`` a decay :math:`\gamma_k\lambda x_k` of the parameters.
      decouple_weight_decay: the authors' experimental AdamW-style decay (``decouple_decay``).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.madgrad(learning_rate=1e-2)
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Defazio and Jelassi, *Adaptivity without Compromise: A Momentumized, Adaptive, Dual
      Averaged Gradient Method for Stochastic Optimization*, JMLR 23, 2022
      (arXiv:2101.11075). Reference code: the authors' ``madgrad`` package (1.3,
      ``madgrad.MADGRAD``), which the golden trajectories come from.

    Departures:
      The rule is the authors' code, which differs from the paper's Algorithm 1 in two ways
      we keep: the learning rate is :math:`\eta_k + \epsilon` (for "stability"; a zero
      learning rate stays zero), so that ``eps`` also enlarges the step, and the weight
      :math:`\lambda_k` uses :math:`\sqrt{k+1}` with :math:`k` counted from 0 over every
      update (the authors' ``k``, one counter shared by all parameters, counted as an int32
      and converted to the scalar dtype, float64 for float64 parameters). The decoupled
      decay multiplies by :math:`\gamma_k = \eta_k + \epsilon`, as the code does. With
      ``momentum = 0`` and ``eps = 0`` the authors' first step computes ``0 / 0`` when
      recovering :math:`x_0` (NaN); we take that ratio as 0. State is kept in float32 for
      bf16/f16 parameters, as the reference does.
    """
    check_all(RANGES, learning_rate=learning_rate, momentum=momentum, eps=eps,
              weight_decay=weight_decay)
    keep_x0 = not (is_checkable(momentum) and float(momentum) == 0.0)

    def init_fn(params: PyTree) -> MadgradState:
        check_real(params, "MADGRAD")
        def zeros(p: jax.Array) -> jax.Array:
            return jnp.zeros(jnp.shape(p), accumulation_dtype(jnp.asarray(p).dtype))

        def copy(p: jax.Array) -> jax.Array:
            return jnp.array(p, dtype=accumulation_dtype(jnp.asarray(p).dtype), copy=True)

        sdtype = scalar_dtype(params)
        return MadgradState(
            count=jnp.zeros((), jnp.int32),
            grad_sum_sq=jax.tree.map(zeros, params),
            s=jax.tree.map(zeros, params),
            x0=jax.tree.map(copy, params) if keep_x0 else (),
            record_scalars=(jnp.zeros((), sdtype), jnp.zeros((), sdtype)),
        )

    def update_fn(
        updates: PyTree, state: MadgradState, params: PyTree = None
    ) -> tuple[PyTree, MadgradState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("madgrad: the update is a new iterate and needs the parameters: "
                             "call update(grads, state, params)")
        decay_on = is_on(weight_decay)
        sdtype = state.record_scalars[0].dtype
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        eps_ = jnp.asarray(eps, sdtype)
        gamma = jnp.where(lr != 0, lr + eps_, lr)
        lam = gamma * jnp.sqrt(state.count.astype(sdtype) + 1)
        ck = 1 - jnp.asarray(momentum, sdtype)

        def leaf(g, v, s, x0, p):  # type: ignore[no-untyped-def]
            acc = v.dtype
            g_ = g.astype(acc)
            p_ = p.astype(acc)
            e = eps_.astype(acc)
            if decay_on and not decouple_weight_decay:
                g_ = g_ + jnp.asarray(weight_decay, acc) * p_
            if keep_x0:
                start = x0
            else:
                start = p_ + _dual_ratio(s, v, e)
            lam_ = lam.astype(acc)
            v_ = v + lam_ * g_ * g_
            s_ = s + lam_ * g_
            z = start - _dual_ratio(s_, v_, e)
            if keep_x0:
                ck_ = ck.astype(acc)
                p_new = p_ * (1 - ck_) + ck_ * z
            else:
                p_new = z
            if decay_on and decouple_weight_decay:
                p_new = p_new - (gamma.astype(acc) * jnp.asarray(weight_decay, acc)) * p_
            return (p_ - p_new).astype(g.dtype), v_, s_

        new_updates, grad_sum_sq, s = map_leaves(
            leaf, 3, updates, state.grad_sum_sq, state.s, state.x0 if keep_x0 else None, params)
        return new_updates, MadgradState(
            count=optax.safe_increment(state.count), grad_sum_sq=grad_sum_sq, s=s,
            x0=state.x0, record_scalars=(ck * lam, eps_))

    return optax.GradientTransformation(init_fn, update_fn)


def madgrad(
    learning_rate: ScalarOrSchedule = 1e-2,
    momentum: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""The MADGRAD optimizer: :func:`scale_by_madgrad` followed by a descent sign.

    Args:
      learning_rate: :math:`\eta_k` in ``[0, inf)``, or a schedule.
      momentum: in ``[0, 1)``; the parameters average the dual iterate with weight
        ``1 - momentum``.
      eps: in ``[0, inf)``, added to the cube root and to a non-zero learning rate.
      weight_decay: in ``[0, inf)``, an L2 penalty (or decoupled, see below).
      decouple_weight_decay: apply the decay to the parameters directly (AdamW style).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.madgrad(learning_rate=1e-2, momentum=0.9)
      >>> params = jnp.zeros(2)
      >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    """
    return optax.chain(
        scale_by_madgrad(learning_rate, momentum, eps, weight_decay,
                         decouple_weight_decay=decouple_weight_decay),
        optax.scale(-1.0),
    )
