"""Polyak step-size variants: DecSPS, AdaSPS, SPS_safe and IMA-SPS_safe (family ``polyak``).

DecSPS and AdaSPS make the stochastic Polyak step non-increasing so that SGD converges without
interpolation; SPS_safe and IMA-SPS_safe bound it through a floor on the squared gradient norm.

The safeguarded pair replaces the squared gradient norm in the Polyak step by
``max(M, ||g||^2)``, which bounds the step by ``(f - f*) / M`` where gradients are small
(near a minimiser, or on flat regions of a non-smooth loss) instead of letting it blow up.
All four live next to SPS and ALI-G (:mod:`adaptlr.parameter_free.polyak`), the home of the
``polyak`` family.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    Interval,
    PyTree,
    check_all,
    check_real,
    check_tree_match,
    scalar_dtype,
    tree_sq_norm,
    tree_vdot,
)
from adaptlr._docstrings import args_from
from adaptlr.parameter_free.polyak import _loss_value

__all__ = [
    "ADASPS_RANGES",
    "DECSPS_RANGES",
    "IMA_SPS_SAFE_RANGES",
    "SPS_SAFE_RANGES",
    "ScaleByAdaSpsState",
    "ScaleByDecSpsState",
    "ScaleByImaSpsSafeState",
    "ScaleBySpsSafeState",
    "adasps",
    "decsps",
    "ima_sps_safe",
    "scale_by_adasps",
    "scale_by_decsps",
    "scale_by_ima_sps_safe",
    "scale_by_sps_safe",
    "sps_safe",
]

SPS_SAFE_RANGES: dict[str, Interval] = {
    "f_star": Interval(-float("inf"), float("inf"), lower_closed=False, upper_closed=False),
    "safeguard": Interval(0.0, float("inf"), lower_closed=False),
    "weight_decay": NON_NEGATIVE,
}
IMA_SPS_SAFE_RANGES: dict[str, Interval] = {
    "f_star": SPS_SAFE_RANGES["f_star"],
    "safeguard": NON_NEGATIVE,  # 0: set M from the first squared gradient norm
    "averaging": NON_NEGATIVE,
}

DECSPS_RANGES: dict[str, Interval] = {
    "c0": Interval(0.0, float("inf"), lower_closed=False),
    "max_lr": Interval(0.0, float("inf"), lower_closed=False),
    "f_star": SPS_SAFE_RANGES["f_star"],
}
ADASPS_RANGES: dict[str, Interval] = {
    "c": Interval(0.0, float("inf"), lower_closed=False),
    "f_star": SPS_SAFE_RANGES["f_star"],
}


def _polyak_ratio(gap: jax.Array, den: jax.Array) -> jax.Array:
    """``gap / den``, or ``+inf`` where ``den`` is 0 (no Polyak bound: a zero gradient)."""
    ok = den > 0
    return jnp.where(ok, gap / jnp.where(ok, den, 1.0), jnp.inf)


# --------------------------------------------------------------------------------------------
# DecSPS
# --------------------------------------------------------------------------------------------


class ScaleByDecSpsState(NamedTuple):
    """State of :func:`scale_by_decsps`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): gamma_{k-1}


def scale_by_decsps(
    c0: float = 1.0,
    max_lr: float = 1.0,
    f_star: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """DecSPS: the Polyak step made non-increasing by a growing :math:`c_k = c_0\\sqrt{k+1}`.

    .. math::

       \\gamma_k = \\frac{1}{c_k}\\min\\Big\\{\\frac{\\big(f_{S_k}(x_k) - \\ell^\\star\\big)_+}
       {\\lVert g_k\\rVert^2},\\ c_{k-1}\\gamma_{k-1}\\Big\\},\\qquad u_k = \\gamma_k g_k,

    with :math:`c_{-1} = c_0` and :math:`\\gamma_{-1} = \\gamma_b` (``max_lr``). A zero gradient
    leaves only the second term (the step keeps decreasing).

    Args:
      c0: :math:`c_0`, range ``(0, inf)``.
      max_lr: :math:`\\gamma_b`, range ``(0, inf)``: :math:`\\gamma_k \\le c_0\\gamma_b / c_k`.
      f_star: :math:`\\ell^\\star`, a lower bound of the mini-batch losses (0 for
        non-negative losses), any finite real.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.decsps(c0=1.0, max_lr=10.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))  # min(2.5 / 5, 1 * 10) / (1 * sqrt(1))
      0.5

    References:
      Orvieto, Lacoste-Julien and Loizou, "Dynamics of SGD with Stochastic Polyak Stepsizes:
      Truly Adaptive Variants and Convergence to Exact Solution", NeurIPS 2022 (DecSPS,
      with the paper's :math:`c_k = c_0 \\sqrt{k+1}`).

    Departures:
      No packaged reference; checked against the paper's equation in NumPy. The numerator is
      clipped at 0 (the paper assumes :math:`\\ell^\\star` is a lower bound).
    """
    check_all(DECSPS_RANGES, c0=c0, max_lr=max_lr, f_star=f_star)

    def init_fn(params: PyTree) -> ScaleByDecSpsState:
        return ScaleByDecSpsState(count=jnp.zeros((), jnp.int32),
                                  effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleByDecSpsState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByDecSpsState]:
        check_tree_match(updates, params)
        del params, extra_args
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "decsps", dtype)
        k = state.count.astype(dtype)
        c0_ = jnp.asarray(c0, dtype)
        c_k = c0_ * jnp.sqrt(k + 1.0)
        c_prev = c0_ * jnp.sqrt(jnp.maximum(k, 1.0))  # c_{-1} = c_0
        gamma_prev = jnp.where(state.count == 0, jnp.asarray(max_lr, dtype),
                               state.effective_lr)
        gap = jnp.maximum(loss - jnp.asarray(f_star, dtype), 0.0)
        polyak = _polyak_ratio(gap, tree_sq_norm(updates).astype(dtype))
        step = jnp.minimum(polyak, c_prev * gamma_prev) / c_k
        out = jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)
        return out, ScaleByDecSpsState(count=optax.safe_increment(state.count),
                                       effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_decsps)
def decsps(
    c0: float = 1.0,
    max_lr: float = 1.0,
    f_star: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """SGD with the decreasing stochastic Polyak step DecSPS (Orvieto et al., NeurIPS 2022).

    ``update(grads, state, params, value=loss)``. See :func:`scale_by_decsps`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.decsps(max_lr=0.5)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):  # steps shrink like 1 / sqrt(k): sublinear, by design
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 5e-3)
      True

    References:
      Orvieto, Lacoste-Julien and Loizou, NeurIPS 2022.
    """
    return optax.chain(scale_by_decsps(c0, max_lr, f_star), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# AdaSPS
# --------------------------------------------------------------------------------------------


class ScaleByAdaSpsState(NamedTuple):
    """State of :func:`scale_by_adasps`."""

    gap_sum: jax.Array  # shape=(), scalar dtype: sum of (f - l*)_+ over past updates
    bounded: jax.Array  # shape=(), bool: whether a previous step bounds the next one
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): gamma_{t-1}


def scale_by_adasps(
    c: float = 1.0,
    f_star: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """AdaSPS: a Polyak step damped by the root of the summed optimality gaps, non-increasing.

    .. math::

       \\gamma_t = \\min\\Big\\{\\frac{f_{i_t}(x_t) - \\ell^\\star}{c\\,\\lVert g_t\\rVert^2
       \\sqrt{\\sum_{s=0}^{t} \\big(f_{i_s}(x_s) - \\ell^\\star\\big)}},\\ \\gamma_{t-1}\\Big\\},
       \\qquad \\gamma_{-1} = +\\infty,\\qquad u_t = \\gamma_t g_t.

    Args:
      c: :math:`c_p`, range ``(0, inf)`` (the paper's theory: :math:`c_p \\ge
        1/\\sqrt{f_{i_0}(x_0) - \\ell^\\star}`; its experiments tune it).
      f_star: :math:`\\ell^\\star`, a lower bound of every mini-batch loss, any finite real.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adasps(c=1.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # 2.5 / (5 sqrt(2.5))
      0.316228

    References:
      Jiang and Stich, "Adaptive SGD with Polyak stepsize and Line-search: Robust Convergence
      and Variance Reduction", NeurIPS 2023 (AdaSPS).

    Departures:
      No packaged reference; checked against the paper's equation in NumPy. A loss below
      ``f_star`` contributes 0 (the method assumes :math:`\\ell^\\star` is a lower bound; a
      negative gap would make the square root undefined). While every past gradient or gap was
      zero there is no Polyak bound yet and the step is not recorded as a bound (the paper's
      :math:`\\gamma_{-1} = \\infty` would otherwise give :math:`\\infty \\cdot 0`).
    """
    check_all(ADASPS_RANGES, c=c, f_star=f_star)

    def init_fn(params: PyTree) -> ScaleByAdaSpsState:
        dtype = scalar_dtype(params)
        return ScaleByAdaSpsState(gap_sum=jnp.zeros((), dtype), bounded=jnp.zeros((), bool),
                                  effective_lr=jnp.zeros((), dtype))

    def update_fn(
        updates: PyTree,
        state: ScaleByAdaSpsState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByAdaSpsState]:
        check_tree_match(updates, params)
        del params, extra_args
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "adasps", dtype)
        gap = jnp.maximum(loss - jnp.asarray(f_star, dtype), 0.0)
        gap_sum = state.gap_sum + gap
        den = jnp.asarray(c, dtype) * tree_sq_norm(updates).astype(dtype) * jnp.sqrt(gap_sum)
        polyak = _polyak_ratio(gap, den)
        previous = jnp.where(state.bounded, state.effective_lr, jnp.inf)
        step = jnp.minimum(polyak, previous)
        bounded = jnp.isfinite(step)
        step = jnp.where(bounded, step, 0.0)  # no bound yet and a zero direction: no move
        out = jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)
        return out, ScaleByAdaSpsState(gap_sum=gap_sum, bounded=bounded,
                                       effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_adasps)
def adasps(
    c: float = 1.0,
    f_star: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """SGD with AdaSPS (Jiang and Stich, NeurIPS 2023). ``update(..., value=loss)``.

    See :func:`scale_by_adasps`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.adasps(c=0.5)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Jiang and Stich, NeurIPS 2023.
    """
    return optax.chain(scale_by_adasps(c, f_star), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# SPS_safe
# --------------------------------------------------------------------------------------------


class ScaleBySpsSafeState(NamedTuple):
    """State of :func:`scale_by_sps_safe`."""

    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last step size


def scale_by_sps_safe(
    f_star: float = 0.0,
    safeguard: float = 1.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """The safeguarded Polyak step: scale ``g + weight_decay * x`` by it (no sign).

    .. math::

       \\gamma_t = \\frac{\\big(f_i(x_t) - \\ell^\\star\\big)_+}{\\max\\{M, \\lVert g_t
       \\rVert^2\\}}, \\qquad u_t = \\gamma_t \\,(g_t + \\lambda x_t).

    Args:
      f_star: :math:`\\ell^\\star`, a lower bound of the (mini-batch) loss, any finite real
        (``0`` for non-negative losses).
      safeguard: :math:`M`, range ``(0, inf)``: the step is at most :math:`(f - \\ell^\\star)/M`.
      weight_decay: :math:`\\lambda`, range ``[0, inf)``, applied with the step size (the
        reference's ``x <- (1 - \\lambda \\gamma_t) x``).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss`` (and
      ``params`` when ``weight_decay > 0``).

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.sps_safe(safeguard=10.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))  # 2.5 / max(10, 5)
      0.25

    References:
      Oikonomou and Loizou, *Safeguarded Stochastic Polyak Step Sizes for Non-smooth
      Optimization: Robust Performance Without Small (Sub)Gradients*, arXiv:2512.02342, 2025.
      Reference code: the authors' ``sps-safe`` package 1.0.0 (``sps_safe.SPS_safe``).

    Departures:
      The reference does not clip :math:`f - \\ell^\\star` at 0: with a loss below
      ``f_star`` its step is negative (ascent); here the step is 0 there (identical whenever
      ``f_star`` is a lower bound, as the method assumes). The reference squares the square
      root of the squared norm (one rounding more).
    """
    check_all(SPS_SAFE_RANGES, f_star=f_star, safeguard=safeguard, weight_decay=weight_decay)
    decay = not (isinstance(weight_decay, (int, float)) and float(weight_decay) == 0.0)

    def init_fn(params: PyTree) -> ScaleBySpsSafeState:
        return ScaleBySpsSafeState(effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleBySpsSafeState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleBySpsSafeState]:
        check_tree_match(updates, params)
        del extra_args
        if decay and params is None:
            raise ValueError("sps_safe with weight_decay > 0 needs the parameters: call "
                             "update(grads, state, params, value=loss)")
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "sps_safe", dtype)
        sq_norm = tree_sq_norm(updates).astype(dtype)
        gap = jnp.maximum(loss - jnp.asarray(f_star, dtype), 0.0)
        step = gap / jnp.maximum(jnp.asarray(safeguard, dtype), sq_norm)
        if decay:
            wd = jnp.asarray(weight_decay, dtype)
            out = jax.tree.map(lambda g, x: (step * (g.astype(dtype) + wd * x.astype(dtype)))
                               .astype(g.dtype), updates, params)
        else:
            out = jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)
        return out, ScaleBySpsSafeState(effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_sps_safe)
def sps_safe(
    f_star: float = 0.0,
    safeguard: float = 1.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """SGD with the safeguarded Polyak step SPS_safe: :math:`x_{t+1} = x_t - u_t`.

    See :func:`scale_by_sps_safe`. ``update`` requires ``value=loss``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: jnp.sum(jnp.abs(x))  # non-smooth: |g|^2 = 2 never shrinks
      >>> tx = adaptlr.sps_safe(safeguard=1.0)
      >>> x = jnp.array([1.0, -0.5]); state = tx.init(x)
      >>> for _ in range(20):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1.5)
      True

    References:
      ``sps-safe`` 1.0.0 (``SPS_safe``).
    """
    return optax.chain(scale_by_sps_safe(f_star, safeguard, weight_decay), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# IMA-SPS_safe
# --------------------------------------------------------------------------------------------


class ScaleByImaSpsSafeState(NamedTuple):
    """State of :func:`scale_by_ima_sps_safe`."""

    z: PyTree  # like params: the IMA's inner (SGD) sequence
    safeguard: jax.Array  # shape=(), scalar dtype: M (0 until set from the first |g|^2)
    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last step size


def scale_by_ima_sps_safe(
    f_star: float = 0.0,
    averaging: float = 1.0,
    safeguard: float = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """IMA-SPS_safe: the safeguarded Polyak step for iterate-moving-average momentum.

    .. math::

       \\eta_t = \\frac{\\big(f_i(x_t) - \\ell^\\star + \\langle g_t, z_t - x_t\\rangle
       \\big)_+}{\\max\\{M, \\lVert g_t\\rVert^2\\}},\\quad z_{t+1} = z_t - \\eta_t g_t,\\quad
       x_{t+1} = \\frac{\\lambda x_t + z_{t+1}}{1 + \\lambda},

    with :math:`z_0 = x_0` (heavy-ball momentum :math:`\\beta = \\lambda / (1 + \\lambda)`).
    Returns :math:`x_t - x_{t+1}` (no sign).

    Args:
      f_star: :math:`\\ell^\\star`, any finite real.
      averaging: :math:`\\lambda`, range ``[0, inf)`` (0: SPS_safe without momentum).
      safeguard: :math:`M`, range ``[0, inf)``; ``0`` sets :math:`M` to the first squared
        gradient norm (the reference's auto-initialisation, its first step unsafeguarded).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.ima_sps_safe(averaging=1.0, safeguard=0.1)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      ``sps-safe`` 1.0.0 (``IMA_SPS_safe``).

    Departures:
      The reference accepts ``weight_decay`` and ignores it; it is not an argument here. A zero
      first gradient with ``safeguard=0`` gives step 0 and leaves :math:`M` unset (the
      reference divides by zero).
    """
    check_all(IMA_SPS_SAFE_RANGES, f_star=f_star, averaging=averaging, safeguard=safeguard)

    def init_fn(params: PyTree) -> ScaleByImaSpsSafeState:
        check_real(params, "IMA-SPS_safe")
        dtype = scalar_dtype(params)
        return ScaleByImaSpsSafeState(
            z=jax.tree.map(jnp.copy, params), safeguard=jnp.asarray(safeguard, dtype),
            count=jnp.zeros((), jnp.int32), effective_lr=jnp.zeros((), dtype))

    def update_fn(
        updates: PyTree,
        state: ScaleByImaSpsSafeState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByImaSpsSafeState]:
        check_tree_match(updates, params)
        del extra_args
        if params is None:
            raise ValueError("ima_sps_safe needs the parameters: call update(grads, state, "
                             "params, value=loss)")
        dtype = state.effective_lr.dtype
        loss = _loss_value(value, "ima_sps_safe", dtype)
        diff = jax.tree.map(lambda z, x: z - x, state.z, params)
        dot = tree_vdot(updates, diff).astype(dtype)
        sq_norm = tree_sq_norm(updates).astype(dtype)
        num = jnp.maximum(loss - jnp.asarray(f_star, dtype) + dot, 0.0)
        unset = state.safeguard <= 0
        den = jnp.where(unset, sq_norm, jnp.maximum(state.safeguard, sq_norm))
        step = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)
        m = jnp.where(unset, sq_norm, state.safeguard)
        lam = jnp.asarray(averaging, dtype)
        z = jax.tree.map(lambda z, g: (z - step * g).astype(z.dtype), state.z, updates)
        out = jax.tree.map(
            lambda x, z: (x - (lam * x.astype(dtype) + z.astype(dtype)) / (1.0 + lam))
            .astype(x.dtype), params, z)
        return out, ScaleByImaSpsSafeState(z=z, safeguard=m.astype(dtype),
                                           count=optax.safe_increment(state.count),
                                           effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_ima_sps_safe)
def ima_sps_safe(
    f_star: float = 0.0,
    averaging: float = 1.0,
    safeguard: float = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """IMA-SPS_safe: momentum (iterate moving average) with the safeguarded Polyak step.

    ``update(grads, state, params, value=loss)``. See :func:`scale_by_ima_sps_safe`.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ima_sps_safe(averaging=0.0, safeguard=10.0)  # no averaging: SPS_safe
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))
      0.25

    References:
      ``sps-safe`` 1.0.0 (``IMA_SPS_safe``).
    """
    return optax.chain(scale_by_ima_sps_safe(f_star, averaging, safeguard), optax.scale(-1.0))
