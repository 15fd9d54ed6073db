"""AdamG: Adam with a "golden step size" numerator, parameter-free (Pang et al., 2024).

The gradient entering Adam's momentum is scaled per parameter by a moving average of
``p * v^q`` (a power of the second moment), and the step size is ``min(lr, 1/sqrt(t))`` with
``lr = 1`` by default: no learning rate to tune.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
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
    bias_correction,
    is_on,
    leaf_means_on_read,
    map_leaves,
    nonnegative_ratio,
    require_params,
    scalar_dtype,
    smallest_normal,
    zeros_like_tree,
)

__all__ = ["RANGES", "AdamGState", "adamg", "scale_by_adamg"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "b3": UNIT_INTERVAL,
    "p": POSITIVE,
    "q": POSITIVE,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class AdamGState(NamedTuple):
    """State of :func:`scale_by_adamg`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: momentum of r * g
    nu: PyTree  # like params: second moment (not bias-corrected)
    r: PyTree  # like params: moving average of the numerator p * nu^q
    record_scalars: tuple[jax.Array, ...]  # (eta_t / bc1, bc2, eps) of the last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean of
        ``r * eta_t / (bc1 (sqrt(nu / bc2) + eps))``, the step size applied to the gradient
        momentum at the last update (0 before it), recomputed from the state when read."""
        return leaf_means_on_read(self.count, _step_size, (self.nu, self.r),
                                  self.record_scalars)


def _step_size(v: jax.Array, r: jax.Array, step: jax.Array, bc2: jax.Array, eps: jax.Array,
               tiny: jax.Array) -> jax.Array:
    return nonnegative_ratio(r * step, jnp.sqrt(v / bc2) + eps, tiny)


def scale_by_adamg(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.95,
    b2: float = 0.999,
    b3: float = 0.95,
    p: float = 0.2,
    q: float = 0.24,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""AdamG: Adam whose momentum averages gradients scaled by a power of the second moment.

    With :math:`t = 1, 2, \dots`, :math:`g_t` the gradient (plus :math:`\lambda\theta_t`, an L2
    penalty, unless the decay is decoupled) and :math:`\eta` the learning rate:

    .. math::

      v_t &= \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\qquad
      r_t = \beta_3 r_{t-1} + (1-\beta_3)\, p\, v_t^{\,q},\qquad
      m_t = \beta_1 m_{t-1} + (1-\beta_1)\, r_t g_t,\\
      \eta_t &= \min(\eta, 1/\sqrt{t}),\qquad
      u_t = \frac{\eta_t}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}
      \ \bigl(+\ \eta\lambda\theta_t\ \text{with decoupled decay}\bigr).

    Returns :math:`u_t` (descent-ready, without the sign) and records, per parameter leaf, the
    mean of :math:`r_t\eta_t / ((1-\beta_1^t)(\sqrt{v_t/(1-\beta_2^t)}+\epsilon))` as
    ``effective_lr``.

    Args:
      learning_rate: :math:`\eta` in ``[0, inf)``, or a schedule; the step is capped at
        :math:`1/\sqrt{t}` (default 1: the cap alone).
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      b3: :math:`\beta_3` in ``[0, 1)``, the memory of the numerator average.
      p: in ``(0, inf)``, the numerator function's scale.
      q: in ``(0, inf)``, the numerator function's power (the paper's "golden" 0.24).
      eps: :math:`\epsilon` in ``[0, inf)``.
      weight_decay: :math:`\lambda` in ``[0, inf)``: an L2 penalty on the gradient, or with
        ``decouple_weight_decay`` a decay scaled by :math:`\eta` (needs ``params``).
      decouple_weight_decay: the reference's ``weight_decouple=True``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.adamg()
      >>> params = {"w": jnp.ones(3)}
      >>> updates, state = tx.update({"w": jnp.ones(3)}, tx.init(params), params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Pang, Yu, Hoang and Zhou, *Towards Stability of Parameter-free Optimization*,
      arXiv:2405.04376, 2024
      (AdamG, Algorithm 1). Reference code: ``pytorch_optimizer`` 4.1.0's ``AdamG``, which
      the goldens come from (the authors published no package).

    Departures:
      The rule is ``pytorch_optimizer``'s (the goldens pin it; its agreement with the
      paper's Algorithm 1 was not re-derived line by line here). Its decoupled decay
      multiplies by the learning rate :math:`\eta`, not the capped :math:`\eta_t`; adaptlr
      does the same. Its ``fixed_decay`` option (decay not scaled by the learning rate) is
      not offered.
    """
    check_all(RANGES, learning_rate=learning_rate, b1=b1, b2=b2, b3=b3, p=p, q=q, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> AdamGState:
        check_real(params, "AdamG")
        sdtype = scalar_dtype(params)
        return AdamGState(
            count=jnp.zeros((), jnp.int32), mu=zeros_like_tree(params),
            nu=zeros_like_tree(params), r=zeros_like_tree(params),
            record_scalars=tuple(jnp.zeros((), sdtype) for _ in range(3)))

    def update_fn(
        updates: PyTree, state: AdamGState, params: PyTree = None
    ) -> tuple[PyTree, AdamGState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "adamg")
        decay_on = is_on(weight_decay)
        sdtype = state.record_scalars[0].dtype
        count = optax.safe_increment(state.count)
        t = count.astype(sdtype)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        capped = jnp.minimum(lr, 1 / jnp.sqrt(t))
        step = capped / bias_correction(b1, count, sdtype)
        bc2 = bias_correction(b2, count, sdtype)

        def leaf(g, m, v, r, x):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            if decay_on and not decouple_weight_decay:
                g_ = g_ + jnp.asarray(weight_decay, acc) * x.astype(acc)
            b1_, b2_, b3_ = (jnp.asarray(b, acc) for b in (b1, b2, b3))
            v_ = b2_ * v.astype(acc) + (1 - b2_) * g_ * g_
            r_ = b3_ * r.astype(acc) + (1 - b3_) * (jnp.asarray(p, acc) * v_ ** jnp.asarray(q, acc))
            m_ = b1_ * m.astype(acc) + (1 - b1_) * r_ * g_
            u = step.astype(acc) * nonnegative_ratio(
                m_, jnp.sqrt(v_ / bc2.astype(acc)) + jnp.asarray(eps, acc), smallest_normal(acc))
            if decay_on and decouple_weight_decay:
                u = u + (lr.astype(acc) * jnp.asarray(weight_decay, acc)) * x.astype(acc)
            return (u.astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype),
                    r_.astype(r.dtype))

        new_updates, mu, nu, r = map_leaves(leaf, 4, updates, state.mu, state.nu, state.r,
                                            params)
        return new_updates, AdamGState(count=count, mu=mu, nu=nu, r=r,
                                       record_scalars=(step, bc2, jnp.asarray(eps, sdtype)))

    return optax.GradientTransformation(init_fn, update_fn)


def adamg(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.95,
    b2: float = 0.999,
    b3: float = 0.95,
    p: float = 0.2,
    q: float = 0.24,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""The AdamG optimizer: :func:`scale_by_adamg` followed by a descent sign.

    Args:
      learning_rate: in ``[0, inf)``, or a schedule; capped at :math:`1/\sqrt{t}`.
      b1: in ``[0, 1)``.
      b2: in ``[0, 1)``.
      b3: in ``[0, 1)``.
      p: in ``(0, inf)``.
      q: in ``(0, inf)``.
      eps: in ``[0, inf)``.
      weight_decay: in ``[0, inf)``.
      decouple_weight_decay: decay the parameters directly (scaled by the learning rate).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adamg()
      >>> updates, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    """
    return optax.chain(
        scale_by_adamg(learning_rate, b1, b2, b3, p, q, eps, weight_decay,
                       decouple_weight_decay=decouple_weight_decay),
        optax.scale(-1.0),
    )
