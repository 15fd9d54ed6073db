"""SGD-SaI: SGD with momentum and one step size per tensor, fixed at initialisation (Xu et al.).

Each parameter tensor's learning rate is scaled once, at the first update, by the
signal-to-noise ratio of its first gradient, ``||g_1|| / (std(g_1) + eps)``; after that the
method is SGD with (averaged) momentum and decoupled weight decay: no second moment.
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
    map_leaves,
    require_params,
    scalar_dtype,
    zeros_like_tree,
    zeros_per_leaf,
)

__all__ = ["RANGES", "SgdSaiState", "gradient_snr", "scale_by_sgd_sai", "sgd_sai"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "momentum": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class SgdSaiState(NamedTuple):
    """State of :func:`scale_by_sgd_sai`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    gsnr: PyTree  # like params, one scalar per leaf (scalar dtype): the first gradient's SNR
    mu: PyTree  # like params: momentum buffer, () with momentum == 0
    effective_lr: PyTree  # like params, one float32 scalar per leaf: lr * gsnr of the last step


def gradient_snr(g: jax.Array, eps: float) -> jax.Array:
    """``||g|| / (std(g) + eps)`` of one tensor, in its accumulation dtype.

    ``std`` is the unbiased (``n - 1``) standard deviation of the entries, taken as 0 for a
    single entry (the reference's ``nan_to_num``); the ratio is 0 for a zero-size tensor or a
    zero gradient with ``eps = 0``.

    Args:
      g: one gradient tensor.
      eps: in ``[0, inf)``, added to the standard deviation.

    Returns:
      A scalar of ``g``'s accumulation dtype.
    """
    acc = accumulation_dtype(g.dtype)
    x = g.astype(acc)
    n = x.size
    if n == 0:
        return jnp.zeros((), acc)
    norm = jnp.sqrt(jnp.sum(x * x))
    if n > 1:
        std = jnp.sqrt(jnp.sum(jnp.square(x - jnp.mean(x))) / (n - 1))
    else:
        std = jnp.zeros((), acc)
    den = std + jnp.asarray(eps, acc)
    return jnp.where(den > 0, norm / jnp.where(den > 0, den, 1), jnp.zeros((), acc))


def scale_by_sgd_sai(
    learning_rate: ScalarOrSchedule = 1e-2,
    momentum: float = 0.9,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> optax.GradientTransformation:
    r"""SGD-SaI: momentum SGD with per-tensor step sizes set by the first gradient's SNR.

    For every parameter tensor, with :math:`t = 1, 2, \dots` and :math:`\eta_t` the learning
    rate:

    .. math::

      r &= \frac{\lVert g_1\rVert_2}{\operatorname{std}(g_1) + \epsilon}
        \quad\text{(computed once, at } t = 1),\\
      m_1 &= g_1,\qquad m_t = \beta m_{t-1} + (1 - \beta) g_t,\\
      u_t &= \eta_t\,(r\, m_t + \lambda\theta_t),\qquad \theta_{t+1} = \theta_t - u_t .

    Returns :math:`u_t` (descent-ready, without the sign; needs ``params`` when
    ``weight_decay`` is not 0) and records :math:`\eta_t r` per parameter leaf as
    ``effective_lr``.

    Args:
      learning_rate: :math:`\eta_t` in ``[0, inf)``, or a schedule.
      momentum: :math:`\beta` in ``[0, 1)``; ``0`` is plain SGD (no buffer is kept).
      eps: :math:`\epsilon` in ``[0, inf)``, added to the standard deviation.
      weight_decay: :math:`\lambda` in ``[0, inf)``, decoupled and scaled by the learning
        rate (the reference's default 1e-2).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.sgd_sai(learning_rate=1e-2)
      >>> params = {"w": jnp.ones(3)}
      >>> updates, state = tx.update({"w": jnp.array([1.0, 2.0, 3.0])}, tx.init(params), params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Xu, Xiang, Cai and Wen, *No More Adam: Learning Rate Scaling at Initialization is All
      You Need*, arXiv:2412.11768, 2024. Reference code: the authors' ``sgd-sai`` package
      (1.0.3, ``sgd_sai.SGD_sai``), which the goldens come from.

    Departures:
      The rule is the package's: the momentum buffer starts at :math:`g_1` (not
      :math:`(1-\beta) g_1`), the standard deviation is PyTorch's unbiased one, and ``eps``
      is added to it outside the ratio. With ``momentum = 0`` the package fails (its buffer
      is never created); adaptlr then steps along the gradient. A tensor whose first
      gradient is zero keeps step size 0 for good, as in the package.

      Beware single-entry tensors (a learned scalar): their standard deviation is 0, so the
      step size is :math:`\eta |g_1| / \epsilon` (``1e6 |g_1|`` at the defaults) and
      training diverges, in the package as here. ``pytorch_optimizer``'s ``SGDSaI`` uses
      :math:`\lVert g_1\rVert` for vectors and zero-spread tensors instead, and also starts
      the buffer at :math:`(1-\beta) g_1`; adaptlr follows the authors' package.
    """
    check_all(RANGES, learning_rate=learning_rate, momentum=momentum, eps=eps,
              weight_decay=weight_decay)
    use_momentum = not (is_checkable(momentum) and float(momentum) == 0.0)

    def init_fn(params: PyTree) -> SgdSaiState:
        check_real(params, "SGD-SaI")
        sdtype = scalar_dtype(params)
        return SgdSaiState(
            count=jnp.zeros((), jnp.int32),
            gsnr=jax.tree.map(lambda p: jnp.zeros((), sdtype), params),
            mu=zeros_like_tree(params) if use_momentum else (),
            effective_lr=zeros_per_leaf(params),
        )

    def update_fn(
        updates: PyTree, state: SgdSaiState, params: PyTree = None
    ) -> tuple[PyTree, SgdSaiState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "sgd_sai")
        decay_on = is_on(weight_decay)
        first = state.count == 0
        lr = resolve(learning_rate, state.count)

        def snr(g: jax.Array, old: jax.Array) -> jax.Array:
            # Computed at the first update only: a reduction over the gradient skipped later.
            return jax.lax.cond(first, lambda: gradient_snr(g, eps).astype(old.dtype),
                                lambda: old)

        gsnr = jax.tree.map(snr, updates, state.gsnr)

        def leaf(g, r, m, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            if use_momentum:
                beta = jnp.asarray(momentum, acc)
                m_new = jnp.where(first, g_, beta * m.astype(acc) + (1 - beta) * g_)
            else:
                m_new = g_
            lr_ = jnp.asarray(lr, acc)
            u = (lr_ * r.astype(acc)) * m_new
            if decay_on:
                u = u + (lr_ * jnp.asarray(weight_decay, acc)) * p.astype(acc)
            m_out = m_new.astype(m.dtype) if use_momentum else None
            return u.astype(g.dtype), m_out, (lr_ * r.astype(acc)).astype(jnp.float32)

        new_updates, mu, record = map_leaves(
            leaf, 3, updates, gsnr, state.mu if use_momentum else None, params)
        return new_updates, SgdSaiState(
            count=optax.safe_increment(state.count), gsnr=gsnr,
            mu=mu if use_momentum else (), effective_lr=record)

    return optax.GradientTransformation(init_fn, update_fn)


def sgd_sai(
    learning_rate: ScalarOrSchedule = 1e-2,
    momentum: float = 0.9,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> optax.GradientTransformation:
    r"""The SGD-SaI optimizer: :func:`scale_by_sgd_sai` followed by a descent sign.

    Args:
      learning_rate: :math:`\eta_t` in ``[0, inf)``, or a schedule.
      momentum: in ``[0, 1)``.
      eps: in ``[0, inf)``, added to the first gradient's standard deviation.
      weight_decay: in ``[0, inf)``, decoupled, scaled by the learning rate.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.sgd_sai(learning_rate=1e-2, weight_decay=0.0)
      >>> updates, state = tx.update(jnp.array([1.0, -1.0]), tx.init(jnp.zeros(2)))
    """
    return optax.chain(scale_by_sgd_sai(learning_rate, momentum, eps, weight_decay),
                       optax.scale(-1.0))
