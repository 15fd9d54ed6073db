"""Partially adaptive and quasi-hyperbolic Adam: PAdam (Chen et al.) and QHAdam (Ma & Yarats).

PAdam raises Adam's denominator to a power ``2p`` in ``(0, 1]``, interpolating between SGD with
momentum (``p -> 0``) and Adam/AMSGrad (``p = 1/2``). QHAdam replaces Adam's moments by
weighted averages of the moments and the current gradient.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    PROBABILITY,
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
from adaptlr._docstrings import args_from
from adaptlr.adaptive._common import (
    bias_correction,
    is_on,
    leaf_means_on_read,
    map_leaves,
    nonnegative_ratio,
    recomputed_leaf_mean,
    require_params,
    scalar_dtype,
    smallest_normal,
    zeros_like_tree,
    zeros_per_leaf,
)

__all__ = [
    "PADAM_RANGES",
    "QHADAM_RANGES",
    "PAdamState",
    "QHAdamState",
    "padam",
    "qhadam",
    "scale_by_padam",
    "scale_by_qhadam",
]

PADAM_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "partial": Interval(0.0, 1.0, lower_closed=False),
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}

QHADAM_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "nu1": PROBABILITY,
    "nu2": PROBABILITY,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class PAdamState(NamedTuple):
    """State of :func:`scale_by_padam`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: first moment (not bias-corrected)
    nu: PyTree  # like params: second moment (not bias-corrected)
    nu_max: PyTree  # like params: running maximum of nu (amsgrad=True), else ()
    record_scalars: tuple[jax.Array, ...]  # (step, eps, 2p) of the last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean step size applied to mu at the
        last update (0 before it), recomputed from the state when read (with ``pow`` for the
        root, which may differ from the update's square roots in the last bit)."""
        vhat = self.nu_max if jax.tree.leaves(self.nu_max) else self.nu

        def step_size(v: jax.Array, step: jax.Array, eps: jax.Array, power: jax.Array,
                      tiny: jax.Array) -> jax.Array:
            return _partial_step_size(v, step, eps, tiny, root=lambda x: x**power)

        return leaf_means_on_read(self.count, step_size, (vhat,), self.record_scalars)


class QHAdamState(NamedTuple):
    """State of :func:`scale_by_qhadam`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: first moment (not bias-corrected)
    nu: PyTree  # like params: second moment (not bias-corrected)
    effective_lr: PyTree  # like params, one float32 scalar per leaf: mean step size applied
    #                       to the numerator at the last update (0 before it)


def _root(power: Any) -> Any:
    """``x -> x ** power``, as square roots for the exponents 1, 1/2 and 1/4 (``p`` = 1/2,
    1/4, 1/8): ``pow`` costs a logarithm and an exponential per entry on CPU, several times
    the rest of the update, and the roots agree with it to the last bit or two."""
    if is_checkable(power):
        exponent = float(power)
        if exponent == 2.0:
            return lambda x: x * x
        if exponent == 1.0:
            return lambda x: x
        if exponent == 0.5:
            return jnp.sqrt
        if exponent == 0.25:
            return lambda x: jnp.sqrt(jnp.sqrt(x))
    return lambda x: x ** jnp.asarray(power, x.dtype)


def _partial_step_size(
    vhat: jax.Array, step: jax.Array, eps: jax.Array, tiny: jax.Array, *, root: Any
) -> jax.Array:
    """PAdam's ``step / root(sqrt(vhat) + eps)``, ``root(x) = x ** 2p``; ``0`` where 0/0."""
    return nonnegative_ratio(step, root(jnp.sqrt(vhat) + eps), tiny)


def _qh_step_size(
    v: jax.Array, g: jax.Array, lr: jax.Array, nu2: jax.Array, bc2: jax.Array, eps: jax.Array,
    tiny: jax.Array,
) -> jax.Array:
    """QHAdam's ``lr / (sqrt(nu2 v / bc2 + (1 - nu2) g^2) + eps)``; ``0`` where 0/0."""
    den = jnp.sqrt(nu2 * (v / bc2) + (1 - nu2) * (g * g)) + eps
    return nonnegative_ratio(lr, den, tiny)


def scale_by_padam(
    learning_rate: ScalarOrSchedule = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    partial: float = 0.125,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsgrad: bool = True,
) -> optax.GradientTransformation:
    r"""PAdam: Adam/AMSGrad with the denominator raised to the power :math:`2p`.

    With :math:`g_t` the gradient plus ``weight_decay * params`` (an L2 penalty),

    .. math::

      m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
      v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\qquad
      \hat v_t = \max(\hat v_{t-1}, v_t)\ (\text{or } v_t \text{ without amsgrad}),\\
      \eta_t &= \frac{\alpha_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)}
                     {(\sqrt{\hat v_t} + \epsilon)^{2p}},\qquad
      u_t = \eta_t \odot m_t .

    Returns :math:`u_t` (descent-ready, without the sign); records the mean of :math:`\eta_t`
    over each parameter leaf as ``effective_lr``.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule. PAdam's step sizes are
        SGD-like: the paper uses 0.1.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      partial: :math:`p` in ``(0, 1]``; ``1/2`` is AMSGrad (Adam without ``amsgrad``), the
        paper's range is ``(0, 1/2]`` and its experiments use ``1/8``. Above ``1/2`` the
        denominator grows faster than the gradient (``p = 1`` divides by about
        :math:`g^2`: steps of size :math:`\alpha/|g|`, Newton-like on a diagonal curvature
        estimate), as ``pytorch_optimizer`` allows; use a small learning rate.
      eps: :math:`\epsilon` in ``[0, inf)``, added before the power.
      weight_decay: L2 penalty in ``[0, inf)`` added to the gradient (needs ``params``).
      amsgrad: normalise by the running maximum of :math:`v_t` (the paper's algorithm and the
        authors' default).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.padam(learning_rate=0.1, partial=0.125)
      >>> updates, state = tx.update(jnp.ones(3), tx.init(jnp.zeros(3)))

    References:
      Chen, Zhou, Tang, Yang, Cao and Gu, *Closing the Generalization Gap of Adaptive
      Gradient Methods in Training Deep Neural Networks*, IJCAI 2020. Reference code:
      ``uclaml/Padam`` (``Padam.py``) and ``pytorch_optimizer.PAdam``.

    Departures:
      The bias corrections follow the authors' code, which scales by
      :math:`\sqrt{1-\beta_2^t}` whatever :math:`p` (the paper's algorithm has no bias
      correction; a consistent correction would use :math:`(1-\beta_2^t)^p`). The default
      ``partial = 1/8`` is the value of the paper's experiments and README; the authors' class
      defaults to ``1/4``. ``partial`` may exceed the paper's ``(0, 1/2]``, up to 1, as in
      ``pytorch_optimizer``. With ``eps = 0`` and :math:`\hat v_t = 0` the
      step size is 0 (the reference divides 0 by 0).
    """
    check_all(PADAM_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, partial=partial, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> PAdamState:
        check_real(params, "PAdam")
        return PAdamState(
            count=jnp.zeros((), jnp.int32),
            mu=zeros_like_tree(params),
            nu=zeros_like_tree(params),
            nu_max=zeros_like_tree(params) if amsgrad else (),
            record_scalars=tuple(jnp.zeros((), scalar_dtype(params)) for _ in range(3)),
        )

    def update_fn(
        updates: PyTree, state: PAdamState, params: PyTree = None
    ) -> tuple[PyTree, PAdamState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "padam")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        step = lr * jnp.sqrt(bias_correction(b2, count, sdtype)) / bias_correction(
            b1, count, sdtype)

        def leaf(g, m, v, vmax, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            if decay_on:
                g_ = g_ + jnp.asarray(weight_decay, acc) * p.astype(acc)
            b1_, b2_ = jnp.asarray(b1, acc), jnp.asarray(b2, acc)
            m_ = b1_ * m.astype(acc) + (1 - b1_) * g_
            v_ = b2_ * v.astype(acc) + (1 - b2_) * g_ * g_
            if amsgrad:
                vhat = jnp.maximum(vmax.astype(acc), v_)
                vmax_out = vhat.astype(vmax.dtype)
            else:
                vhat, vmax_out = v_, None
            scalars = (step.astype(acc), jnp.asarray(eps, acc), smallest_normal(acc))
            step_size = functools.partial(_partial_step_size, root=_root(2 * partial))
            eta = step_size(vhat, *scalars)
            return ((eta * m_).astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype),
                    vmax_out)

        new_updates, mu, nu, nu_max = map_leaves(
            leaf, 4, updates, state.mu, state.nu, state.nu_max if amsgrad else None, params)
        scalars = (step, jnp.asarray(eps, sdtype), jnp.asarray(2 * partial, sdtype))
        return new_updates, PAdamState(count=count, mu=mu, nu=nu,
                                       nu_max=nu_max if amsgrad else (), record_scalars=scalars)

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_padam)
def padam(
    learning_rate: ScalarOrSchedule = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    partial: float = 0.125,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsgrad: bool = True,
) -> optax.GradientTransformation:
    """The PAdam optimizer: :func:`scale_by_padam` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.padam(learning_rate=0.1).init(jnp.zeros(2))
    """
    return optax.chain(
        scale_by_padam(learning_rate, b1, b2, partial, eps, weight_decay, amsgrad=amsgrad),
        optax.scale(-1.0),
    )


def scale_by_qhadam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.995,
    b2: float = 0.999,
    nu1: float = 0.7,
    nu2: float = 1.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""QHAdam: quasi-hyperbolic Adam, averaging each moment with the current gradient.

    .. math::

      m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
      v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
      \eta_t &= \frac{\alpha_t}{\sqrt{\nu_2\, v_t/(1-\beta_2^t) + (1-\nu_2)\, g_t^2}
                     + \epsilon},\qquad
      u_t = \eta_t \odot \Bigl(\nu_1 \frac{m_t}{1-\beta_1^t} + (1-\nu_1) g_t\Bigr) .

    With ``weight_decay`` :math:`\lambda`, :math:`g_t` includes :math:`\lambda\theta_t`
    (L2), or with ``decouple_weight_decay`` :math:`u_t` gains
    :math:`\alpha_t\lambda\theta_t` (QHAdamW). Returns :math:`u_t` (descent-ready, without
    the sign); records the mean of :math:`\eta_t` over each parameter leaf as
    ``effective_lr``.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      nu1: :math:`\nu_1` in ``[0, 1]``, weight of the momentum against the gradient
        (``1`` is Adam's numerator).
      nu2: :math:`\nu_2` in ``[0, 1]``, the same for the second moment.
      eps: :math:`\epsilon` in ``[0, inf)``, added to the square root.
      weight_decay: :math:`\lambda` in ``[0, inf)`` (needs ``params``).
      decouple_weight_decay: decoupled decay (QHAdamW) instead of an L2 penalty.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.qhadam(learning_rate=1e-3)
      >>> updates, state = tx.update(jnp.ones(3), tx.init(jnp.zeros(3)))

    References:
      Ma and Yarats, *Quasi-hyperbolic momentum and Adam for deep learning*, ICLR 2019.
      Reference code: the authors' ``qhoptim`` package (``qhoptim.pyt.QHAdam``).

    Departures:
      The defaults ``b1 = 0.995, nu1 = 0.7`` are the paper's recommended starting point
      (Section 7); ``qhoptim`` defaults to ``b1 = 0.9, nu1 = nu2 = 1``, which is Adam.
      ``qhoptim`` keeps the bias-corrected moments directly, with step-dependent decay
      factors; we keep the plain moments and divide by :math:`1-\beta^t` as the paper
      writes it. Both are the same sequence in exact arithmetic (they agree to 1e-13 in
      float64 over 200 steps).
    """
    check_all(QHADAM_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, nu1=nu1, nu2=nu2, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> QHAdamState:
        check_real(params, "QHAdam")
        return QHAdamState(
            count=jnp.zeros((), jnp.int32),
            mu=zeros_like_tree(params),
            nu=zeros_like_tree(params),
            effective_lr=zeros_per_leaf(params),
        )

    def update_fn(
        updates: PyTree, state: QHAdamState, params: PyTree = None
    ) -> tuple[PyTree, QHAdamState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "qhadam")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        bc1, bc2 = bias_correction(b1, count, sdtype), bias_correction(b2, count, sdtype)

        def leaf(g, m, v, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            lr_ = lr.astype(acc)
            if decay_on and not decouple_weight_decay:
                g_ = g_ + jnp.asarray(weight_decay, acc) * p.astype(acc)
            b1_, b2_ = jnp.asarray(b1, acc), jnp.asarray(b2, acc)
            nu1_, nu2_ = jnp.asarray(nu1, acc), jnp.asarray(nu2, acc)
            g2 = g_ * g_
            m_ = b1_ * m.astype(acc) + (1 - b1_) * g_
            v_ = b2_ * v.astype(acc) + (1 - b2_) * g2
            num = nu1_ * (m_ / bc1.astype(acc)) + (1 - nu1_) * g_
            scalars = (lr_, nu2_, bc2.astype(acc), jnp.asarray(eps, acc), smallest_normal(acc))
            eta = _qh_step_size(v_, g_, *scalars)
            u = eta * num
            if decay_on and decouple_weight_decay:
                u = u + lr_ * jnp.asarray(weight_decay, acc) * p.astype(acc)
            return (u.astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype),
                    recomputed_leaf_mean(_qh_step_size, v_, g_, *scalars))

        new_updates, mu, nu, eff = map_leaves(leaf, 4, updates, state.mu, state.nu, params)
        return new_updates, QHAdamState(count=count, mu=mu, nu=nu, effective_lr=eff)

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_qhadam)
def qhadam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.995,
    b2: float = 0.999,
    nu1: float = 0.7,
    nu2: float = 1.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decouple_weight_decay: bool = False,
) -> optax.GradientTransformation:
    """The QHAdam optimizer: :func:`scale_by_qhadam` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.qhadam(learning_rate=1e-3).init(jnp.zeros(2))
    """
    return optax.chain(
        scale_by_qhadam(learning_rate, b1, b2, nu1, nu2, eps, weight_decay,
                        decouple_weight_decay=decouple_weight_decay),
        optax.scale(-1.0),
    )
