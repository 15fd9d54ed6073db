"""MoMo and MoMo-Adam: model-based momentum step sizes (Schaipp et al., ICML 2024).

MoMo keeps exponential averages of the loss :math:`\\bar f_k`, the gradient :math:`d_k` and
:math:`\\gamma_k = \\text{avg}\\langle g_j, x_j\\rangle`, which define a lower model of the loss
around :math:`x_k`, truncated at a lower bound :math:`f_*` of the loss. The step is the
minimiser of that model plus a proximal term :math:`\\frac{1}{2\\alpha}\\|x - x_k\\|^2`: a
Polyak-like step size capped at the learning rate :math:`\\alpha`,

.. math::

   \\tau_k = \\min\\Big\\{\\frac{\\alpha}{\\rho_k},\\
   \\frac{\\big(\\bar f_k - \\rho_k f_* + \\langle d_k, x_k\\rangle - \\gamma_k\\big)_+}
   {\\lVert d_k\\rVert^2_{D_k^{-1}}}\\Big\\}, \\qquad x_{k+1} = x_k - \\tau_k D_k^{-1} d_k,

(:math:`D_k = I` for MoMo, Adam's preconditioner for MoMo-Adam; :math:`\\rho_k` the bias
correction). With weight decay :math:`\\lambda` the terms in :math:`\\bar f_k` and
:math:`\\gamma_k` are multiplied by :math:`1 + \\alpha\\lambda` and the new point is divided by
it (the proximal step of :math:`\\frac{\\lambda}{2}\\|x\\|^2`).

Both read the loss and the parameters: ``update(grads, state, params, value=loss)``.
"""

from __future__ import annotations

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
    check_all,
    check_real,
    check_tree_match,
    resolve,
    scalar_dtype,
    tree_sq_norm,
    tree_sum,
    tree_vdot,
)
from adaptlr._docstrings import args_from

__all__ = [
    "MOMO_ADAM_RANGES",
    "MOMO_RANGES",
    "RANGES",
    "ScaleByMomoAdamState",
    "ScaleByMomoState",
    "momo",
    "momo_adam",
    "scale_by_momo",
    "scale_by_momo_adam",
]

MOMO_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "lower_bound": Interval(),  # any real (+-inf included); NaN is rejected
    "weight_decay": NON_NEGATIVE,
}
MOMO_ADAM_RANGES: dict[str, Interval] = {
    **MOMO_RANGES,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
}
#: Every documented range in this module.
RANGES: dict[str, Interval] = {**MOMO_ADAM_RANGES}


def _loss_value(value: Any, method: str, dtype: Any) -> jax.Array:
    if value is None:
        raise ValueError(
            f"{method} builds its step from the loss: call update(grads, state, params, "
            "value=loss) (with optax.chain and Flax's nnx.Optimizer, pass value=loss to update)"
        )
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{method}: value must be the scalar loss, got shape {value.shape}")
    return value.astype(dtype)


def _need_params(params: PyTree, method: str) -> None:
    if params is None:
        raise ValueError(f"{method} needs the parameters: call update(grads, state, params, "
                         "value=loss)")


class _Scalars(NamedTuple):
    loss_avg: jax.Array
    grad_dot_w: jax.Array
    lower_bound: jax.Array
    tau: jax.Array


def _momo_step(
    *, loss_avg: jax.Array, dot: jax.Array, gamma: jax.Array, norm: jax.Array,
    rho: jax.Array, lr: jax.Array, wd: jax.Array, lower_bound: jax.Array,
    initial_lower_bound: jax.Array, adapt_lower_bound: bool,
) -> tuple[jax.Array, jax.Array]:
    """The step size tau and the (possibly updated) lower bound; shared by both methods."""
    one_wd = 1.0 + lr * wd
    lb = lower_bound
    if adapt_lower_bound:
        cap = one_wd * loss_avg + dot - one_wd * gamma
        lowered = jnp.maximum(cap / (2.0 * one_wd * rho), initial_lower_bound)
        lb = jnp.where(cap < one_wd * rho * lb, lowered, lb)
    nom = one_wd * (loss_avg - rho * lb) + dot - one_wd * gamma
    ok = norm > 0
    t1 = jnp.maximum(nom, 0.0) / jnp.where(ok, norm, 1.0)
    # A zero direction moves nothing whatever the step: record 0 (no NaN from 0/0).
    tau = jnp.where(ok, jnp.minimum(lr / rho, t1), 0.0)
    if adapt_lower_bound:
        h = loss_avg + dot - gamma
        lb = jnp.maximum((h - 0.5 * tau * norm) / rho, initial_lower_bound)
    return tau, lb


# --------------------------------------------------------------------------------------------
# MoMo
# --------------------------------------------------------------------------------------------


class ScaleByMomoState(NamedTuple):
    """State of :func:`scale_by_momo`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    grad_avg: PyTree  # like params: d_k, the averaged gradient
    grad_dot_w: jax.Array  # shape=(), scalar dtype: gamma_k, averaged <g_j, x_j>
    loss_avg: jax.Array  # shape=(), scalar dtype: averaged loss
    lower_bound: jax.Array  # shape=(), scalar dtype: f_* (updated online if adapted)
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): tau at last update


def scale_by_momo(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    lower_bound: float = 0.0,
    weight_decay: float = 0.0,
    *,
    bias_correction: bool = False,
    adapt_lower_bound: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """MoMo's step as a descent-ready magnitude: returns :math:`x_k - x_{k+1}` (no sign).

    With :math:`\\beta` = ``b1``: :math:`d_k = \\beta d_{k-1} + (1-\\beta) g_k`,
    :math:`\\gamma_k = \\beta\\gamma_{k-1} + (1-\\beta)\\langle g_k, x_k\\rangle`,
    :math:`\\bar f_k = \\beta \\bar f_{k-1} + (1-\\beta) f(x_k)`, the first step initialising
    all three with the current values (``bias_correction=False``, :math:`\\rho_k = 1`) or
    from zero with :math:`\\rho_k = 1 - \\beta^k` (``bias_correction=True``); then

    .. math::

       \\tau_k = \\min\\Big\\{\\frac{\\alpha}{\\rho_k}, \\frac{\\big((1+\\alpha\\lambda)
       (\\bar f_k - \\rho_k f_*) + \\langle d_k, x_k\\rangle - (1+\\alpha\\lambda)\\gamma_k
       \\big)_+}{\\lVert d_k\\rVert^2}\\Big\\},\\qquad
       x_{k+1} = \\frac{x_k - \\tau_k d_k}{1 + \\alpha\\lambda}.

    Args:
      learning_rate: :math:`\\alpha`, the cap of the step (MoMo's ``lr``), range ``[0, inf)``
        or a schedule (authors' default ``1.0``).
      b1: :math:`\\beta`, range ``[0, 1)``.
      lower_bound: :math:`f_*`, a lower bound of the loss, any real (``0`` for non-negative
        losses).
      weight_decay: :math:`\\lambda`, range ``[0, inf)``.
      bias_correction: averaging from zero with :math:`\\rho_k = 1 - \\beta^k`.
      adapt_lower_bound: estimate :math:`f_*` online (the authors' ``use_fstar=True``,
        "MoMo*"), never below ``lower_bound``, for losses without a known lower bound.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params`` and
      ``value=loss``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.momo(learning_rate=1.0)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-5)
      True

    References:
      Schaipp, Ohana, Eickenberg, Defazio and Gower, "MoMo: Momentum Models for Adaptive
      Learning Rates", ICML 2024. Reference code: ``momo-opt`` 0.1.0 (``momo.Momo``).

    Departures:
      The reference accumulates :math:`\\gamma_k` per tensor and sums; here it is one global
      average of :math:`\\langle g_k, x_k\\rangle` (equal in exact arithmetic). A zero averaged
      gradient gives :math:`\\tau_k = 0` where the reference divides by zero. The reference
      keeps :math:`\\gamma_k` in float32 with ``bias_correction=True`` (``torch.zeros(1)``);
      here it follows the scalar dtype (float64 for float64 parameters).
    """
    check_all(MOMO_RANGES, learning_rate=learning_rate, b1=b1, lower_bound=lower_bound,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> ScaleByMomoState:
        check_real(params, "MoMo")
        dtype = scalar_dtype(params)
        # One buffer per field: a donated state must not hold the same buffer twice.
        return ScaleByMomoState(
            count=jnp.zeros((), jnp.int32), grad_avg=optax.tree.zeros_like(params),
            grad_dot_w=jnp.zeros((), dtype), loss_avg=jnp.zeros((), dtype),
            lower_bound=jnp.asarray(lower_bound, dtype), effective_lr=jnp.zeros((), dtype))

    def update_fn(
        updates: PyTree,
        state: ScaleByMomoState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByMomoState]:
        check_tree_match(updates, params)
        del extra_args
        _need_params(params, "momo")
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "momo", dtype)
        k = optax.safe_increment(state.count)
        beta = jnp.asarray(b1, dtype)
        if bias_correction:
            b = beta
            rho = 1.0 - beta ** k.astype(dtype)
        else:
            # The first step starts every average at its current value.
            b = jnp.where(state.count == 0, 0.0, beta).astype(dtype)
            rho = jnp.ones((), dtype)
        grad_avg = jax.tree.map(lambda d, g: (b * d + (1.0 - b) * g).astype(d.dtype),
                                state.grad_avg, updates)
        loss_avg = b * state.loss_avg + (1.0 - b) * loss
        gamma = b * state.grad_dot_w + (1.0 - b) * tree_vdot(params, updates).astype(dtype)
        dot = tree_vdot(params, grad_avg).astype(dtype)
        norm = tree_sq_norm(grad_avg).astype(dtype)
        lr = jnp.asarray(resolve(learning_rate, state.count), dtype)
        wd = jnp.asarray(weight_decay, dtype)
        tau, lb = _momo_step(
            loss_avg=loss_avg, dot=dot, gamma=gamma, norm=norm, rho=rho, lr=lr, wd=wd,
            lower_bound=state.lower_bound, initial_lower_bound=jnp.asarray(lower_bound, dtype),
            adapt_lower_bound=adapt_lower_bound)
        one_wd = 1.0 + lr * wd

        def magnitude(x: jax.Array, d: jax.Array) -> jax.Array:
            xs = x.astype(dtype)
            return (xs - (xs - tau * d.astype(dtype)) / one_wd).astype(x.dtype)

        out = jax.tree.map(magnitude, params, grad_avg)
        return out, ScaleByMomoState(
            count=k, grad_avg=grad_avg, grad_dot_w=gamma, loss_avg=loss_avg, lower_bound=lb,
            effective_lr=tau.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_momo)
def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    lower_bound: float = 0.0,
    weight_decay: float = 0.0,
    *,
    bias_correction: bool = False,
    adapt_lower_bound: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """MoMo (Schaipp et al., ICML 2024): SGD with momentum and a model-based step size.

    ``update(grads, state, params, value=loss)``. See :func:`scale_by_momo` for the rule,
    the arguments and the departures from the authors' ``momo-opt``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.momo(learning_rate=1.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> round(float(adaptlr.effective_lr(state)), 4)  # the Polyak step 2.5 / 5, uncapped
      0.5

    References:
      Schaipp, Ohana, Eickenberg, Defazio and Gower, ICML 2024.
    """
    return optax.chain(
        scale_by_momo(learning_rate, b1, lower_bound, weight_decay,
                      bias_correction=bias_correction, adapt_lower_bound=adapt_lower_bound),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# MoMo-Adam
# --------------------------------------------------------------------------------------------


class ScaleByMomoAdamState(NamedTuple):
    """State of :func:`scale_by_momo_adam`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    grad_avg: PyTree  # like params: d_k
    grad_avg_sq: PyTree  # like params: v_k, Adam's second moment
    grad_dot_w: jax.Array  # shape=(), scalar dtype: gamma_k
    loss_avg: jax.Array  # shape=(), scalar dtype: averaged loss (from 0)
    lower_bound: jax.Array  # shape=(), scalar dtype: f_*
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): tau at last update


def scale_by_momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    lower_bound: float = 0.0,
    weight_decay: float = 0.0,
    *,
    decoupled_weight_decay: bool = False,
    adapt_lower_bound: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """MoMo-Adam's step as a descent-ready magnitude :math:`x_k - x_{k+1}` (no sign).

    Adam's moments :math:`d_k` (``b1``) and :math:`v_k` (``b2``) from zero,
    :math:`D_k = \\sqrt{v_k / (1 - \\beta_2^k)} + \\epsilon`, :math:`\\rho_k = 1 - \\beta_1^k`,
    :math:`\\gamma_k` and :math:`\\bar f_k` averaged with ``b1`` from zero; then

    .. math::

       \\tau_k = \\min\\Big\\{\\frac{\\alpha}{\\rho_k}, \\frac{\\big((1+\\alpha\\lambda)
       (\\bar f_k - \\rho_k f_*) + \\langle d_k, x_k\\rangle - (1+\\alpha\\lambda)\\gamma_k
       \\big)_+}{\\langle d_k, D_k^{-1} d_k\\rangle}\\Big\\},\\qquad
       x_{k+1} = \\frac{x_k - \\tau_k D_k^{-1} d_k}{1 + \\alpha\\lambda}

    (with ``decoupled_weight_decay=True``: :math:`x_{k+1} = (1 - \\alpha\\lambda) x_k -
    \\tau_k D_k^{-1} d_k`, the AdamW-like form).

    Args:
      learning_rate: :math:`\\alpha`, range ``[0, inf)`` or a schedule (authors' default
        ``1e-2``).
      b1, b2: Adam's averaging constants, range ``[0, 1)``.
      eps: added to :math:`D_k`, range ``[0, inf)``.
      lower_bound: :math:`f_*`, any real.
      weight_decay: :math:`\\lambda`, range ``[0, inf)``.
      decoupled_weight_decay: the AdamW-like decay (the authors' ``divide=False``) instead of
        the proximal division.
      adapt_lower_bound: estimate :math:`f_*` online (``use_fstar=True``).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.momo_adam(learning_rate=0.1)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Schaipp, Ohana, Eickenberg, Defazio and Gower, "MoMo: Momentum Models for Adaptive
      Learning Rates", ICML 2024. Reference code: ``momo-opt`` 0.1.0 (``momo.MomoAdam``).

    Departures:
      :math:`\\gamma_k` is one global average (the reference keeps one per tensor and sums);
      a zero direction gives :math:`\\tau_k = 0` instead of a division by zero. The flag is
      named ``decoupled_weight_decay`` (``= not divide``).
    """
    check_all(MOMO_ADAM_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              lower_bound=lower_bound, weight_decay=weight_decay)

    def init_fn(params: PyTree) -> ScaleByMomoAdamState:
        check_real(params, "MoMo-Adam")
        dtype = scalar_dtype(params)
        return ScaleByMomoAdamState(
            count=jnp.zeros((), jnp.int32), grad_avg=optax.tree.zeros_like(params),
            grad_avg_sq=optax.tree.zeros_like(params), grad_dot_w=jnp.zeros((), dtype),
            loss_avg=jnp.zeros((), dtype), lower_bound=jnp.asarray(lower_bound, dtype),
            effective_lr=jnp.zeros((), dtype))

    def update_fn(
        updates: PyTree,
        state: ScaleByMomoAdamState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByMomoAdamState]:
        check_tree_match(updates, params)
        del extra_args
        _need_params(params, "momo_adam")
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "momo_adam", dtype)
        k = optax.safe_increment(state.count)
        beta1, beta2 = jnp.asarray(b1, dtype), jnp.asarray(b2, dtype)
        rho = 1.0 - beta1 ** k.astype(dtype)
        bc2 = 1.0 - beta2 ** k.astype(dtype)
        e = jnp.asarray(eps, dtype)
        grad_avg = jax.tree.map(lambda d, g: (beta1 * d + (1.0 - beta1) * g).astype(d.dtype),
                                state.grad_avg, updates)
        grad_avg_sq = jax.tree.map(
            lambda v, g: (beta2 * v + (1.0 - beta2) * jnp.square(g.astype(dtype))).astype(
                v.dtype), state.grad_avg_sq, updates)

        def preconditioner(v: jax.Array) -> jax.Array:
            return jnp.sqrt(v.astype(dtype) / bc2) + e

        def weighted(d: jax.Array, v: jax.Array) -> jax.Array:
            dd = d.astype(dtype)
            den = preconditioner(v)
            # eps = 0 with v = 0 means d = 0 too: count it as 0 rather than 0/0.
            return jnp.where(den > 0, dd * dd / jnp.where(den > 0, den, 1.0), 0.0)

        loss_avg = (1.0 - beta1) * loss + beta1 * state.loss_avg
        gamma = beta1 * state.grad_dot_w + (1.0 - beta1) * tree_vdot(params, updates).astype(
            dtype)
        dot = tree_vdot(params, grad_avg).astype(dtype)
        norm = tree_sum(jax.tree.map(weighted, grad_avg, grad_avg_sq)).astype(dtype)
        lr = jnp.asarray(resolve(learning_rate, state.count), dtype)
        wd = jnp.asarray(weight_decay, dtype)
        tau, lb = _momo_step(
            loss_avg=loss_avg, dot=dot, gamma=gamma, norm=norm, rho=rho, lr=lr, wd=wd,
            lower_bound=state.lower_bound, initial_lower_bound=jnp.asarray(lower_bound, dtype),
            adapt_lower_bound=adapt_lower_bound)

        def magnitude(x: jax.Array, d: jax.Array, v: jax.Array) -> jax.Array:
            xs, den = x.astype(dtype), preconditioner(v)
            direction = jnp.where(den > 0, d.astype(dtype) / jnp.where(den > 0, den, 1.0), 0.0)
            if decoupled_weight_decay:
                new = (1.0 - wd * lr) * xs - tau * direction
            else:
                new = (xs - tau * direction) / (1.0 + wd * lr)
            return (xs - new).astype(x.dtype)

        out = jax.tree.map(magnitude, params, grad_avg, grad_avg_sq)
        return out, ScaleByMomoAdamState(
            count=k, grad_avg=grad_avg, grad_avg_sq=grad_avg_sq, grad_dot_w=gamma,
            loss_avg=loss_avg, lower_bound=lb, effective_lr=tau.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_momo_adam)
def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    lower_bound: float = 0.0,
    weight_decay: float = 0.0,
    *,
    decoupled_weight_decay: bool = False,
    adapt_lower_bound: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """MoMo-Adam (Schaipp et al., ICML 2024): Adam's direction with MoMo's step size.

    ``update(grads, state, params, value=loss)``. See :func:`scale_by_momo_adam`.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.momo_adam(learning_rate=1e-2)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state)) <= 1e-2 / 0.1 + 1e-6  # capped at lr / rho_1
      True

    References:
      Schaipp, Ohana, Eickenberg, Defazio and Gower, ICML 2024.
    """
    return optax.chain(
        scale_by_momo_adam(learning_rate, b1, b2, eps, lower_bound, weight_decay,
                           decoupled_weight_decay=decoupled_weight_decay,
                           adapt_lower_bound=adapt_lower_bound),
        optax.scale(-1.0),
    )
