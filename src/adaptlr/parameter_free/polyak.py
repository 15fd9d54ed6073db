"""Polyak step sizes from the loss value: the stochastic Polyak step (SPS) and ALI-G.

Both set the step size of plain gradient descent from the current loss and gradient,

.. math::

   \\gamma_t = \\frac{f(x_t) - f^\\star}{c \\, \\lVert g_t \\rVert^2},

the step that would reach the optimal value ``f_star`` if ``f`` were linear along ``-g_t``
(Polyak, 1987). They need the loss, so they are ``optax.GradientTransformationExtraArgs`` and
take it as ``update(..., value=loss)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    Interval,
    PyTree,
    check_all,
    check_tree_match,
    is_checkable,
    scalar_dtype,
    tree_sq_norm,
)
from adaptlr._docstrings import args_from

__all__ = [
    "ALIG_RANGES",
    "RANGES",
    "SPS_RANGES",
    "ScaleByAligState",
    "ScaleBySpsState",
    "alig",
    "scale_by_alig",
    "scale_by_sps",
    "sps",
]

SPS_RANGES: dict[str, Interval] = {
    "c": POSITIVE,
    "max_lr": POSITIVE,
    "f_star": Interval(),  # any finite or infinite real; NaN is rejected
    "eps": NON_NEGATIVE,
}
ALIG_RANGES: dict[str, Interval] = {
    "max_lr": POSITIVE,
    "momentum": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
}
#: Every documented range in this module (the registry publishes the per-method ones).
RANGES: dict[str, Interval] = {**SPS_RANGES, **ALIG_RANGES}


def _loss_value(value: Any, method: str, dtype: jnp.dtype) -> jax.Array:
    if value is None:
        raise ValueError(
            f"{method} sets its step size from the loss: call update(grads, state, params, "
            "value=loss) (with optax.chain and Flax's nnx.Optimizer, pass value=loss to update)"
        )
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{method}: value must be the scalar loss, got shape {value.shape}")
    return value.astype(dtype)


def _scale(updates: PyTree, step: jax.Array) -> PyTree:
    return jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)


# --------------------------------------------------------------------------------------------
# SPS
# --------------------------------------------------------------------------------------------


class ScaleBySpsState(NamedTuple):
    """State of :func:`scale_by_sps`."""

    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last step size


def scale_by_sps(
    c: float = 0.5,
    max_lr: float | None = 1.0,
    f_star: float = 0.0,
    eps: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """Stochastic Polyak step size, bounded (SPS_max): scale the gradient by the Polyak step.

    .. math::

       \\gamma_t = \\min\\Big\\{ \\frac{\\max(f_i(x_t) - f^\\star, 0)}{c\\,\\lVert g_t\\rVert^2
       + \\epsilon},\\ \\gamma_b \\Big\\}, \\qquad u_t = \\gamma_t\\, g_t,

    with :math:`\\gamma_t = 0` when :math:`g_t = 0`. Returns :math:`u_t` (no sign); the
    optimizer is :func:`sps`.

    Args:
      c: the constant :math:`c > 0` in the denominator; ``0.5`` is the value of the paper's
        convex theory, ``0.2`` the one of its deep-learning experiments. Range ``(0, inf)``.
      max_lr: the bound :math:`\\gamma_b` of SPS_max, range ``(0, inf)``; ``None`` gives the
        unbounded SPS.
      f_star: the optimal value :math:`f_i^\\star` of the (mini-batch) loss, a lower bound of
        it in general; ``0`` for non-negative losses under interpolation. Any real number.
      eps: added to the denominator, range ``[0, inf)``. ``0`` is the paper's step exactly.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` requires ``value=loss``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(x ** 2)
      >>> tx = adaptlr.sps(max_lr=10.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(loss)(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))  # 2 * 2.5 / 5
      1.0

    References:
      Loizou, Vaswani, Laradji and Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
      Adaptive Learning Rate for Fast Convergence", AISTATS 2021.

    Departures:
      The authors' code (``IssamLaradji/sps``) adds ``eps = 1e-8`` to the denominator and
      skips steps whose gradient norm is below ``1e-8``; we default to the paper's ``eps = 0``
      and skip only exactly zero gradients (``eps=1e-8`` reproduces their denominator). Their
      default ``adapt_flag="smooth_iter"`` replaces the bound :math:`\\gamma_b` by the previous
      step size times ``gamma ** (1 / n_batches_per_epoch)``, a heuristic borrowed from their
      line-search paper rather than SPS; it is not provided (chain a schedule on ``max_lr``
      through ``optax.inject_hyperparams`` for a growing bound). The numerator is clipped at 0
      (their code sets the step to 0 when the loss is below ``f_star``: the same thing).
    """
    check_all(SPS_RANGES, c=c, f_star=f_star, eps=eps)
    if max_lr is not None:
        check_all(SPS_RANGES, max_lr=max_lr)

    def init_fn(params: PyTree) -> ScaleBySpsState:
        return ScaleBySpsState(effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleBySpsState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleBySpsState]:
        check_tree_match(updates, params)
        del params, extra_args
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "sps", dtype)
        # Every leaf reads this norm: tree_sq_norm ends it in _base.computed_once so that XLA
        # fuses its sum once, not into each leaf's pass (quadratic compile time otherwise).
        sq_norm = tree_sq_norm(updates).astype(dtype)
        gap = jnp.maximum(loss - jnp.asarray(f_star, dtype), 0.0)
        den = jnp.asarray(c, dtype) * sq_norm + jnp.asarray(eps, dtype)
        ok = (sq_norm > 0) & (den > 0)
        step = jnp.where(ok, gap / jnp.where(ok, den, 1.0), 0.0)
        if max_lr is not None:
            step = jnp.minimum(step, jnp.asarray(max_lr, dtype))
        return _scale(updates, step), ScaleBySpsState(effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_sps)
def sps(
    c: float = 0.5,
    max_lr: float | None = 1.0,
    f_star: float = 0.0,
    eps: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """SGD with the stochastic Polyak step size SPS_max: :math:`x_{t+1} = x_t - \\gamma_t g_t`.

    See :func:`scale_by_sps` for the step size, the arguments and the departures from the
    authors' code. ``update`` requires ``value=loss``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.sps(c=0.5, max_lr=10.0)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(50):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-6)
      True

    References:
      Loizou, Vaswani, Laradji and Lacoste-Julien, AISTATS 2021.
    """
    return optax.chain(scale_by_sps(c=c, max_lr=max_lr, f_star=f_star, eps=eps), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# ALI-G
# --------------------------------------------------------------------------------------------


class ScaleByAligState(NamedTuple):
    """State of :func:`scale_by_alig`."""

    momentum_buffer: PyTree  # like params (None when momentum is 0): the velocity, sign-flipped
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last step size


def scale_by_alig(
    max_lr: float | None = 0.1,
    momentum: float = 0.0,
    eps: float = 1e-5,
    *,
    adjusted_momentum: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """ALI-G: the Polyak step with optimal value 0, capped at ``max_lr``, with momentum.

    .. math::

       \\gamma_t = \\min\\Big\\{ \\frac{\\max(f(x_t), 0)}{\\lVert g_t\\rVert^2 + \\delta},\\
       \\eta \\Big\\}.

    Without momentum the output is :math:`u_t = \\gamma_t g_t`. With momentum :math:`\\mu`
    the authors' Nesterov form is kept: :math:`c_t = \\mu c_{t-1} + \\gamma_t g_t`,
    :math:`u_t = \\gamma_t g_t + \\mu c_t`; with ``adjusted_momentum=True`` (their
    PyTorch-like variant) :math:`c_t = \\mu c_{t-1} + g_t`,
    :math:`u_t = \\gamma_t (g_t + \\mu c_t)`. The optimizer :func:`alig` subtracts
    :math:`u_t`.

    Args:
      max_lr: the maximal learning rate :math:`\\eta`, range ``(0, inf)``; ``None`` leaves the
        step uncapped.
      momentum: :math:`\\mu`, range ``[0, 1)``.
      eps: :math:`\\delta`, added to the squared gradient norm, range ``[0, inf)`` (authors'
        default ``1e-5``).
      adjusted_momentum: use the authors' PyTorch-like momentum instead of Nesterov's.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` requires ``value=loss``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(x ** 2)
      >>> tx = adaptlr.alig(max_lr=10.0, eps=0.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(loss)(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))  # 2.5 / 5
      0.5

    References:
      Berrada, Zisserman and Kumar, "Training Neural Networks for and by Interpolation",
      ICML 2020. Reference code: ``oval-group/ali-g`` (``alig.th.AliG``).

    Departures:
      The loss is clipped at 0 in the numerator (ALI-G assumes a non-negative loss; the
      reference would step uphill on a negative one). A zero gradient with ``eps = 0`` gives a
      zero step instead of a division by zero. The reference's optional projection onto a
      constraint set is not part of the transformation (chain ``optax.projections`` for it).
      ``pytorch_optimizer.AliG``, against which the goldens are generated, fixes
      :math:`\\delta = 10^{-6}` and computes the squared norm in float32; see the generator.
      ``max_lr`` defaults to ``0.1`` (the value of the authors' README example) where the
      reference's default is ``None``; pass ``max_lr=None`` for the uncapped step.
    """
    check_all(ALIG_RANGES, momentum=momentum, eps=eps)
    if max_lr is not None:
        check_all(ALIG_RANGES, max_lr=max_lr)
    use_momentum = not (is_checkable(momentum) and float(momentum) == 0.0)

    def init_fn(params: PyTree) -> ScaleByAligState:
        buffer = optax.tree.zeros_like(params) if use_momentum else None
        return ScaleByAligState(
            momentum_buffer=buffer, effective_lr=jnp.zeros((), scalar_dtype(params))
        )

    def update_fn(
        updates: PyTree,
        state: ScaleByAligState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByAligState]:
        check_tree_match(updates, params)
        del params, extra_args
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "alig", dtype)
        sq_norm = tree_sq_norm(updates).astype(dtype)  # computed once: see scale_by_sps
        den = sq_norm + jnp.asarray(eps, dtype)
        ok = den > 0
        step = jnp.where(ok, jnp.maximum(loss, 0.0) / jnp.where(ok, den, 1.0), 0.0)
        if max_lr is not None:
            step = jnp.minimum(step, jnp.asarray(max_lr, dtype))
        buffer = state.momentum_buffer
        if use_momentum:
            mu = jnp.asarray(momentum, dtype)
            if adjusted_momentum:
                buffer = jax.tree.map(
                    lambda b, g: (mu * b + g).astype(b.dtype), buffer, updates
                )
                out = jax.tree.map(
                    lambda g, b: (step * (g + mu * b)).astype(g.dtype), updates, buffer
                )
            else:
                buffer = jax.tree.map(
                    lambda b, g: (mu * b + step * g).astype(b.dtype), buffer, updates
                )
                out = jax.tree.map(
                    lambda g, b: (step * g + mu * b).astype(g.dtype), updates, buffer
                )
        else:
            out = _scale(updates, step)
        return out, ScaleByAligState(momentum_buffer=buffer, effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_alig)
def alig(
    max_lr: float | None = 0.1,
    momentum: float = 0.0,
    eps: float = 1e-5,
    *,
    adjusted_momentum: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """ALI-G (Berrada et al., ICML 2020): descent with the capped Polyak step.

    ``update`` requires ``value=loss``. See :func:`scale_by_alig` for the rule, the arguments
    and the departures.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.alig(max_lr=1.0, momentum=0.5)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-4)
      True

    References:
      Berrada, Zisserman and Kumar, "Training Neural Networks for and by Interpolation",
      ICML 2020.
    """
    return optax.chain(
        scale_by_alig(max_lr=max_lr, momentum=momentum, eps=eps,
                      adjusted_momentum=adjusted_momentum),
        optax.scale(-1.0),
    )
