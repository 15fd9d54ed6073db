"""ADOPT: Adam with the gradient normalised by the *previous* second moment (Taniguchi et al.).

Normalising before the momentum, by a second moment that does not yet contain the current
gradient, removes the correlation that makes Adam diverge for some ``b2``; the normalised
gradient is clipped at ``t^(1/4)`` for stability in the first steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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
    scale_by_learning_rate,
    written_after,
)
from adaptlr.adaptive._common import is_on, map_leaves, require_params, zeros_like_tree

__all__ = ["RANGES", "ScaleByAdoptState", "adopt", "default_clip", "scale_by_adopt"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class ScaleByAdoptState(NamedTuple):
    """State of :func:`scale_by_adopt`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: momentum of the clipped, normalised gradients
    nu: PyTree  # like params: second moment (g_1^2 after the first update)


def default_clip(step: jax.Array) -> jax.Array:
    """The reference's clip value ``step ** 0.25``, ``step`` the 1-based update number.

    Args:
      step: the update number, 1 for the first update (a float scalar).

    Returns:
      The bound on the normalised gradient's magnitude.
    """
    return step ** 0.25


def _normalised(g: jax.Array, v: jax.Array, eps: jax.Array) -> jax.Array:
    """``g / max(sqrt(v), eps)``; where the denominator is 0: 0 for ``g == 0``, else
    ``+-inf`` (as the reference, which the clip then bounds)."""
    den = jnp.maximum(jnp.sqrt(v), eps)
    positive = den > 0
    ratio = g / jnp.where(positive, den, jnp.ones_like(den))
    infinite = jnp.where(g == 0, jnp.zeros_like(g), jnp.sign(g) * jnp.inf)
    return jnp.where(positive, ratio, infinite)


def scale_by_adopt(
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    *,
    clip: Callable[[jax.Array], Any] | None = default_clip,
) -> optax.GradientTransformation:
    r"""ADOPT's direction: momentum of gradients normalised by the previous second moment.

    With :math:`t = 1, 2, \dots` the update number and :math:`g_t` the gradient (plus
    ``weight_decay * params``, an L2 penalty):

    .. math::

      t = 1:&\quad v_1 = g_1^2,\quad m_1 = 0\ \text{(no step)},\\
      t > 1:&\quad m_t = \beta_1 m_{t-1} + (1-\beta_1)\,
        \operatorname{clip}\Bigl(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}, -c_t, c_t\Bigr),
        \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,

    with :math:`c_t` = ``clip(t)`` (default :math:`t^{1/4}`). Returns :math:`m_t`
    (descent-ready, without the sign or the learning rate).

    Args:
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      eps: :math:`\epsilon` in ``[0, inf)``, a floor on :math:`\sqrt{v_{t-1}}`.
      weight_decay: L2 penalty in ``[0, inf)`` added to the gradient (needs ``params``); for
        decoupled decay use :func:`adopt`'s ``decouple_weight_decay``.
      clip: ``t -> c_t`` with ``t`` the 1-based update number as a float scalar (default
        :func:`default_clip`, :math:`t^{1/4}`), or ``None`` for no clipping.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.scale_by_adopt()
      >>> updates, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
      >>> [float(u) for u in updates]  # the first update only fills v
      [0.0, 0.0]

    References:
      Taniguchi, Harada, Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki, Iwasawa and
      Matsuo, *ADOPT: Modified Adam Can Converge with Any beta2 with the Optimal Rate*,
      NeurIPS 2024. Reference code: the authors' ``iShohei220/adopt`` (not packaged) and
      ``pytorch_optimizer`` 4.1.0's ``ADOPT``, which the goldens come from.

    Departures:
      None from the reference code. The clip is called with the 1-based update number, as
      the reference does (``optax.contrib.scale_by_adopt`` passes its 0-based count, so its
      clip at the second update is 1 where the reference's is :math:`2^{1/4}`). With
      ``eps = 0`` a zero gradient where :math:`v_{t-1} = 0` gives 0 where the reference
      computes ``0 / 0``.
    """
    check_all(RANGES, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)

    def init_fn(params: PyTree) -> ScaleByAdoptState:
        check_real(params, "ADOPT")
        return ScaleByAdoptState(count=jnp.zeros((), jnp.int32), mu=zeros_like_tree(params),
                                 nu=zeros_like_tree(params))

    def update_fn(
        updates: PyTree, state: ScaleByAdoptState, params: PyTree = None
    ) -> tuple[PyTree, ScaleByAdoptState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "adopt")
        decay_on = is_on(weight_decay)
        first = state.count == 0
        count = optax.safe_increment(state.count)

        def leaf(g, m, v, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            if decay_on:
                g_ = g_ + jnp.asarray(weight_decay, acc) * p.astype(acc)
            b1_, b2_ = jnp.asarray(b1, acc), jnp.asarray(b2, acc)
            m_, v_ = m.astype(acc), v.astype(acc)
            n = _normalised(g_, v_, jnp.asarray(eps, acc))
            if clip is not None:
                c = jnp.asarray(clip(count.astype(acc)), acc)
                n = jnp.clip(n, -c, c)
            m_new = jnp.where(first, m_, b1_ * m_ + (1 - b1_) * n)
            # v is read by the pass that forms m and overwritten by another: written after
            # the new m, so that XLA updates it in place (see written_after).
            v_old = written_after(v_, m_new)
            v_new = jnp.where(first, g_ * g_, b2_ * v_old + (1 - b2_) * g_ * g_)
            return m_new.astype(g.dtype), m_new.astype(m.dtype), v_new.astype(v.dtype)

        new_updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu, params)
        return new_updates, ScaleByAdoptState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def adopt(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.9999,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
    clip: Callable[[jax.Array], Any] | None = default_clip,
) -> optax.GradientTransformation:
    r"""The ADOPT optimizer: :func:`scale_by_adopt`, then the learning rate.

    .. math::

      \theta_{t+1} = \theta_t - \alpha_t\,(m_t + \lambda\theta_t\ \text{if decoupled}).

    The learning rate goes through :func:`adaptlr.scale_by_learning_rate`, whose record
    ``adaptlr.effective_lr`` reports (the per-parameter normalisation is part of the
    direction :math:`m_t`, as in Adam).

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: in ``[0, 1)``.
      b2: in ``[0, 1)``.
      eps: in ``[0, inf)``.
      weight_decay: :math:`\lambda` in ``[0, inf)``: an L2 penalty on the gradient, or with
        ``decouple_weight_decay`` AdamW's decay scaled by the learning rate (applied from the
        first update on, as the reference does).
      decouple_weight_decay: the reference's ``weight_decouple=True``.
      clip: as in :func:`scale_by_adopt`.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adopt(learning_rate=1e-3)
      >>> params = jnp.zeros(2)
      >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    """
    check_all(RANGES, learning_rate=learning_rate, weight_decay=weight_decay)
    if decouple_weight_decay:
        return optax.chain(scale_by_adopt(b1, b2, eps, clip=clip),
                           optax.add_decayed_weights(weight_decay),
                           scale_by_learning_rate(learning_rate))
    return optax.chain(scale_by_adopt(b1, b2, eps, weight_decay, clip=clip),
                       scale_by_learning_rate(learning_rate))
