"""NGN: the non-negative Gauss-Newton step size (Orvieto and Xiao, 2024), with the momentum
and diagonal variants of Islamov, Ajroldi, Orvieto and Lucchi (2025).

A non-negative loss is the square of its square root, :math:`f = r^2` with
:math:`r = \\sqrt{f}`. One Gauss-Newton step on :math:`r`, damped by :math:`1/\\sigma`
(Levenberg-Marquardt), is a gradient step with the step size

.. math::

   \\gamma_t = \\frac{\\sigma}{1 + \\sigma \\lVert g_t\\rVert^2 / (2 f(x_t))},

which is close to :math:`\\sigma` where the loss is large compared with the gradient and
shrinks towards the Polyak-like :math:`2 f / \\lVert g\\rVert^2` where it is not.

* :func:`ngn`: that step (NGN).
* :func:`ngn_m`: the same step size inside heavy-ball momentum (NGN-M, Algorithm 1 of
  Islamov et al.).
* :func:`ngn_d`: one NGN step size per coordinate (NGN-D, Algorithm 3 of Islamov et al.);
  :func:`ngn_md` adds NGN-M's heavy-ball momentum to it.
* :func:`ngn_mdv1`: one NGN step size for the RMSprop-preconditioned gradient, with heavy-ball
  momentum and optional decoupled weight decay (NGN-MDv1, Algorithm 2 of Islamov et al.).
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
    accumulation_dtype,
    check_all,
    check_real,
    check_tree_match,
    leaf_mean,
    resolve,
    scalar_dtype,
    tree_sq_norm,
    tree_sum,
    zeros_per_leaf,
)
from adaptlr._docstrings import args_from

__all__ = [
    "NGN_D_RANGES",
    "NGN_MDV1_RANGES",
    "NGN_MD_RANGES",
    "NGN_M_RANGES",
    "RANGES",
    "ScaleByNgnDState",
    "ScaleByNgnMState",
    "ScaleByNgnMdv1State",
    "ScaleByNgnState",
    "ngn",
    "ngn_d",
    "ngn_m",
    "ngn_md",
    "ngn_mdv1",
    "scale_by_ngn",
    "scale_by_ngn_d",
    "scale_by_ngn_m",
    "scale_by_ngn_md",
    "scale_by_ngn_mdv1",
]

# learning_rate 0 is valid (warm-up schedules start there): the step is then 0.
RANGES: dict[str, Interval] = {"learning_rate": NON_NEGATIVE}
NGN_M_RANGES: dict[str, Interval] = {"learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL}
NGN_D_RANGES: dict[str, Interval] = {"learning_rate": NON_NEGATIVE}
NGN_MD_RANGES: dict[str, Interval] = dict(NGN_M_RANGES)


class ScaleByNgnState(NamedTuple):
    """State of :func:`scale_by_ngn`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last step size


class ScaleByNgnMState(NamedTuple):
    """State of :func:`scale_by_ngn_m`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    momentum: PyTree  # like params: the last step x_{k} - x_{k+1} (0 before the first)
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last gamma_k


class ScaleByNgnDState(NamedTuple):
    """State of :func:`scale_by_ngn_d` and :func:`scale_by_ngn_md`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    momentum: PyTree  # like params for ngn_md (the last step); None for ngn_d
    effective_lr: PyTree  # ngn_md: per leaf, float32 mean of gamma_kj; ngn_d: all-coordinate mean


def _loss(value: Any, method: str, dtype: Any) -> jax.Array:
    if value is None:
        raise ValueError(
            f"{method} sets its step size from the loss: call update(grads, state, params, "
            "value=loss) (with optax.chain and Flax's nnx.Optimizer, pass value=loss)")
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{method}: value must be the scalar loss, got shape {value.shape}")
    return value.astype(dtype)


def _clipped_loss(loss: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(max(f, 0) with 0 for a non-finite f, whether f is finite)."""
    finite = jnp.isfinite(loss)
    return jnp.maximum(jnp.where(finite, loss, 0.0), 0.0), finite


def _ngn_step(f: jax.Array, finite: jax.Array, sigma: jax.Array,
              sq_norm: jax.Array) -> jax.Array:
    """sigma / (1 + sigma |g|^2 / (2 f)); sigma where f = g = 0, 0 where f is not finite.

    Written with the ratio (|g|^2 / 2) / f, never 2 f: for a finite loss near the dtype's
    largest value (3e38 in float32) 2 f overflows and 2 f / (2 f + ...) would be inf / inf.
    An overflowing ratio (|g|^2 overflowing included) gives step 0, the formula's limit.
    """
    half = 0.5 * sq_norm
    positive = f > 0
    # inf / f is spelled out: XLA divides by multiplying with 1 / f, which flushes to 0 for
    # f above ~1e38 in float32, and inf * 0 is NaN.
    ratio = jnp.where(positive & jnp.isfinite(half), half / jnp.where(positive, f, 1.0),
                      jnp.where(half > 0, jnp.inf, 0.0))
    damping = jnp.where(sigma > 0, sigma * ratio, 0.0)  # never 0 * inf
    step = sigma / (1.0 + damping)
    return jnp.where(finite, step, jnp.zeros_like(step))


def scale_by_ngn(learning_rate: ScalarOrSchedule = 1.0) -> optax.GradientTransformationExtraArgs:
    """Scale the gradient by the NGN step size (no sign).

    .. math::

       \\gamma_t = \\frac{\\sigma}{1 + \\frac{\\sigma \\lVert g_t\\rVert^2}{2 f(x_t)}}
       = \\frac{2 \\sigma f(x_t)}{2 f(x_t) + \\sigma \\lVert g_t\\rVert^2},
       \\qquad u_t = \\gamma_t g_t.

    Args:
      learning_rate: :math:`\\sigma`, the largest step size (taken where the gradient is small
        relative to the loss), range ``[0, inf)`` or a schedule (``0`` takes no step).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss``, a
      non-negative loss.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ngn(learning_rate=1.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> float(adaptlr.effective_lr(state))  # 1 / (1 + 5 / (2 * 2.5))
      0.5

    References:
      Orvieto and Xiao, "An Adaptive Stochastic Gradient Method with Non-negative Gauss-Newton
      Stepsizes", arXiv:2407.04358, 2024.

    Departures:
      The method needs :math:`f \\ge 0`. A negative loss is clipped at 0 (giving step 0 unless
      the gradient is 0 too); a non-finite loss gives step 0 (the update is skipped rather
      than turned into NaN). With :math:`f = 0` and :math:`g = 0` the step is recorded as
      :math:`\\sigma` (nothing moves). Complex parameters are refused at ``init``. The
      momentum and diagonal variants are :func:`ngn_m`, :func:`ngn_d` and :func:`ngn_md`.
    """
    check_all(RANGES, learning_rate=learning_rate)

    def init_fn(params: PyTree) -> ScaleByNgnState:
        check_real(params, "ngn")
        return ScaleByNgnState(count=jnp.zeros((), jnp.int32),
                               effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleByNgnState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByNgnState]:
        del extra_args
        check_tree_match(updates, params)
        dtype = state.effective_lr.dtype
        f, finite = _clipped_loss(_loss(value, "ngn", dtype))
        sigma = jnp.asarray(resolve(learning_rate, state.count), dtype)
        step = _ngn_step(f, finite, sigma, tree_sq_norm(updates).astype(dtype))
        out = jax.tree.map(lambda g: (step * g).astype(g.dtype), updates)
        return out, ScaleByNgnState(count=optax.safe_increment(state.count),
                                    effective_lr=step.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_ngn)
def ngn(learning_rate: ScalarOrSchedule = 1.0) -> optax.GradientTransformationExtraArgs:
    """SGD with the NGN step size (Orvieto and Xiao, 2024). ``update(..., value=loss)``.

    See :func:`scale_by_ngn`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.ngn(learning_rate=10.0)  # sigma far too large for SGD: NGN adapts
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-6)
      True

    References:
      Orvieto and Xiao, arXiv:2407.04358, 2024.
    """
    return optax.chain(scale_by_ngn(learning_rate), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# NGN-M: heavy-ball momentum (Islamov, Ajroldi, Orvieto and Lucchi, 2025, Algorithm 1)
# --------------------------------------------------------------------------------------------


def scale_by_ngn_m(
    learning_rate: ScalarOrSchedule = 1.0, momentum: float = 0.9
) -> optax.GradientTransformationExtraArgs:
    """NGN-M: the NGN step size inside heavy-ball momentum; returns :math:`x_k - x_{k+1}`.

    Algorithm 1 of Islamov et al. (2025), with :math:`c` = ``learning_rate`` and
    :math:`\\beta` = ``momentum``, :math:`x_{-1} = x_0`:

    .. math::

       \\gamma_k = \\frac{c}{1 + \\frac{c}{2 f(x_k)} \\lVert g_k\\rVert^2}, \\qquad
       x_{k+1} = x_k - (1 - \\beta)\\gamma_k g_k + \\beta (x_k - x_{k-1}),

    kept here as the step :math:`m_k = x_k - x_{k+1} = \\beta m_{k-1} + (1-\\beta)\\gamma_k
    g_k`, :math:`m_{-1} = 0` (the same iterates).

    Args:
      learning_rate: :math:`c`, the step-size hyperparameter and the largest
        :math:`\\gamma_k`, range ``[0, inf)`` or a schedule (``0`` takes no step).
      momentum: :math:`\\beta`, range ``[0, 1)``; ``0`` is NGN.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss``, a
      non-negative loss.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.ngn_m(learning_rate=10.0, momentum=0.9)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(300):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-6), float(adaptlr.effective_lr(state)) <= 10.0
      (True, True)

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, "Enhancing Optimizer Stability: Momentum
      Adaptation of The NGN Step-size", NeurIPS 2025, arXiv:2508.15071 (Algorithm 1).

    Departures:
      The record ``effective_lr`` is :math:`\\gamma_k`, the step size the current gradient
      gets before the factor :math:`1-\\beta` (the quantity the paper plots). Loss handling as
      :func:`scale_by_ngn`: a negative loss is clipped at 0, a non-finite loss gives
      :math:`\\gamma_k = 0` (the momentum still moves the point), :math:`f = g = 0` gives
      :math:`\\gamma_k = c`. Complex parameters are refused at ``init``.
    """
    check_all(NGN_M_RANGES, learning_rate=learning_rate, momentum=momentum)

    def init_fn(params: PyTree) -> ScaleByNgnMState:
        check_real(params, "ngn_m")
        return ScaleByNgnMState(count=jnp.zeros((), jnp.int32),
                                momentum=optax.tree.zeros_like(params),
                                effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleByNgnMState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByNgnMState]:
        del extra_args
        check_tree_match(updates, state.momentum if params is None else params)
        dtype = state.effective_lr.dtype
        f, finite = _clipped_loss(_loss(value, "ngn_m", dtype))
        sigma = jnp.asarray(resolve(learning_rate, state.count), dtype)
        gamma = _ngn_step(f, finite, sigma, tree_sq_norm(updates).astype(dtype))
        beta = jnp.asarray(momentum, dtype)

        def heavy_ball(m: jax.Array, g: jax.Array) -> jax.Array:
            acc = accumulation_dtype(g.dtype)
            b, w = beta.astype(acc), ((1.0 - beta) * gamma).astype(acc)
            return (b * m.astype(acc) + w * g.astype(acc)).astype(m.dtype)

        new_m = jax.tree.map(heavy_ball, state.momentum, updates)
        out = jax.tree.map(lambda m, g: m.astype(g.dtype), new_m, updates)
        return out, ScaleByNgnMState(count=optax.safe_increment(state.count), momentum=new_m,
                                     effective_lr=gamma.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_ngn_m)
def ngn_m(
    learning_rate: ScalarOrSchedule = 1.0, momentum: float = 0.9
) -> optax.GradientTransformationExtraArgs:
    """NGN-M (Islamov et al., 2025): heavy-ball momentum with the NGN step size.
    ``update(..., value=loss)``.

    See :func:`scale_by_ngn_m`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.ngn_m(learning_rate=1.0, momentum=0.0)  # momentum 0: NGN itself
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> updates.tolist(), float(adaptlr.effective_lr(state))
      ([-0.5, 1.0], 0.5)

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, NeurIPS 2025, arXiv:2508.15071.
    """
    return optax.chain(scale_by_ngn_m(learning_rate, momentum), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# NGN-D: one NGN step size per coordinate; NGN-MD: with NGN-M's momentum
# --------------------------------------------------------------------------------------------


def _scale_by_ngn_diagonal(
    learning_rate: ScalarOrSchedule, momentum: float | None, method: str
) -> optax.GradientTransformationExtraArgs:
    def init_fn(params: PyTree) -> ScaleByNgnDState:
        check_real(params, method)
        if momentum is None:
            return ScaleByNgnDState(count=jnp.zeros((), jnp.int32), momentum=None,
                                    effective_lr=jnp.zeros((), scalar_dtype(params)))
        return ScaleByNgnDState(count=jnp.zeros((), jnp.int32),
                                momentum=optax.tree.zeros_like(params),
                                effective_lr=zeros_per_leaf(params))

    def update_fn(
        updates: PyTree,
        state: ScaleByNgnDState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByNgnDState]:
        del extra_args
        check_tree_match(updates, params)
        if momentum is not None and params is None:
            check_tree_match(updates, state.momentum, reference_name="state")
        dtype = scalar_dtype(updates)
        f, finite = _clipped_loss(_loss(value, method, dtype))
        sigma = jnp.asarray(resolve(learning_rate, state.count), dtype)

        def coordinate_steps(g: jax.Array) -> jax.Array:
            acc = accumulation_dtype(g.dtype)
            ga = g.astype(acc)
            return _ngn_step(f.astype(acc), finite, sigma.astype(acc), ga * ga)

        gammas = jax.tree.map(coordinate_steps, updates)
        if momentum is None:
            out = jax.tree.map(lambda s, g: (s * g.astype(s.dtype)).astype(g.dtype),
                               gammas, updates)
            size = sum(int(jnp.size(s)) for s in jax.tree.leaves(gammas))
            mean = tree_sum(gammas).astype(dtype) / max(size, 1)
            return out, ScaleByNgnDState(count=optax.safe_increment(state.count),
                                         momentum=None, effective_lr=mean)
        record = jax.tree.map(leaf_mean, gammas)

        def heavy_ball(m: jax.Array, s: jax.Array, g: jax.Array) -> jax.Array:
            acc = s.dtype
            b = jnp.asarray(momentum, acc)
            return (b * m.astype(acc) + (1.0 - b) * s * g.astype(acc)).astype(m.dtype)

        new_m = jax.tree.map(heavy_ball, state.momentum, gammas, updates)
        out = jax.tree.map(lambda m, g: m.astype(g.dtype), new_m, updates)
        return out, ScaleByNgnDState(count=optax.safe_increment(state.count), momentum=new_m,
                                     effective_lr=record)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def scale_by_ngn_d(learning_rate: ScalarOrSchedule = 1e-3) -> optax.GradientTransformationExtraArgs:
    """NGN-D: one NGN step size per coordinate (no sign).

    Algorithm 3 of Islamov et al. (2025): NGN's step with the squared gradient norm replaced,
    for every coordinate :math:`j`, by that coordinate's squared partial derivative,

    .. math::

       \\gamma_{k,j} = \\frac{c}{1 + \\frac{c}{2 f(x_k)} g_{k,j}^2}
       = \\frac{2 c f(x_k)}{2 f(x_k) + c\\, g_{k,j}^2}, \\qquad
       u_{k,j} = \\gamma_{k,j}\\, g_{k,j}.

    (the same rule comes out of NGN's damped Gauss-Newton step on :math:`r = \\sqrt f` with
    the rank-one matrix :math:`\\nabla r \\nabla r^\\top` replaced by its diagonal).
    Each :math:`\\gamma_{k,j}` lies in :math:`[\\gamma_k, c]` with :math:`\\gamma_k` NGN's
    global step: coordinates with small gradients keep a step near :math:`c`.

    Limits: unlike NGN's step, :math:`\\gamma_{k,j}` is not capped by a Polyak-like
    :math:`2f/\\lVert g\\rVert^2`: a coordinate whose gradient is small gets a step near
    :math:`c` whatever the curvature along it (each coordinate moves at most
    :math:`\\sqrt{c f / 2}`, but that bound grows with the loss: with :math:`c` large
    compared with :math:`1/\\lambda_{\\max}` the iterates can diverge; on the golden
    tests' quadratic, :math:`\\lambda_{\\max} = 1`, :math:`c = 3` converges and
    :math:`c = 10` reaches :math:`f = 10^{78}` in 200 steps). On Rosenbrock
    from :math:`(-1.2, 1)` (curvature up to ~1300) 1000 steps end above the
    starting loss for :math:`c \\ge 10^{-2}` (measured :math:`f_T/f_0` = 5.1 at
    :math:`10^{-2}`, 1e4 at :math:`c = 1`) and at 0.020 for the default :math:`10^{-3}`;
    with momentum (:func:`ngn_md`) :math:`10^{-2}` reaches 2.4e-6. Choose :math:`c` as a
    gradient-descent learning rate, not as NGN's :math:`\\sigma`.

    Args:
      learning_rate: :math:`c`, the largest coordinate step size, range ``[0, inf)`` or a
        schedule (``0`` takes no step). The paper states no default (it tunes :math:`c`
        over :math:`10^{-4}, \\dots, 10^{2}`) and there is no public code; ours is the
        largest power of ten stable on the conformance problems (see Limits above).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss``, a
      non-negative loss.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ngn_d(learning_rate=1.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)  # f = 2.5
      >>> [round(u, 6) for u in updates.tolist()]  # -g / (1 + g^2 / 5)
      [-0.833333, 1.111111]

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, "Enhancing Optimizer Stability: Momentum
      Adaptation of The NGN Step-size", NeurIPS 2025, arXiv:2508.15071 (Algorithm 3,
      Section 3.3, Appendix C).

    Departures:
      Source: the step :math:`\\gamma_{k,j}` is line 4 of the paper's Algorithm 3; the
      update line of that box is not legible in the text available to us, and
      :math:`x_{k+1,j} = x_{k,j} - \\gamma_{k,j} g_{k,j}` is taken from the paper's
      description (Section 3.3) and its analysis (Appendix C). There is no public code for
      NGN-D; the goldens are a NumPy transcription of Algorithm 3. One scalar :math:`c`, as
      in the algorithm box: the paper's theorems allow one :math:`c_j` per coordinate, and
      its NGN-D experiments (Appendix I.8) set :math:`c_j = c / (D_k)_j` with RMSprop's
      :math:`D_k`, which is not done here (:func:`ngn_mdv1` is the RMSprop-preconditioned
      method). The record ``effective_lr`` is one scalar, the mean of
      :math:`\\gamma_{k,j}` over all
      coordinates (not one mean per leaf as for other per-parameter methods: NGN-D keeps no
      parameter-shaped state from which ``adaptlr.effective_lr`` could weigh per-leaf means
      without being passed the parameters). Loss handling as :func:`scale_by_ngn` (negative
      loss clipped at 0, non-finite loss gives step 0, :math:`f = g_j = 0` gives :math:`c`).
      Complex parameters are refused at ``init``.
    """
    check_all(NGN_D_RANGES, learning_rate=learning_rate)
    return _scale_by_ngn_diagonal(learning_rate, None, "ngn_d")


@args_from(scale_by_ngn_d)
def ngn_d(learning_rate: ScalarOrSchedule = 1e-3) -> optax.GradientTransformationExtraArgs:
    """NGN-D (Islamov et al., 2025): a coordinate-wise NGN step size.
    ``update(..., value=loss)``.

    See :func:`scale_by_ngn_d`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 100.0]) * x ** 2)
      >>> tx = adaptlr.ngn_d(learning_rate=1.0)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-6)
      True

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, NeurIPS 2025, arXiv:2508.15071.
    """
    return optax.chain(scale_by_ngn_d(learning_rate), optax.scale(-1.0))


def scale_by_ngn_md(
    learning_rate: ScalarOrSchedule = 1e-2, momentum: float = 0.9
) -> optax.GradientTransformationExtraArgs:
    """NGN-D's coordinate step sizes inside NGN-M's heavy-ball momentum (no sign).

    .. math::

       \\gamma_{k,j} = \\frac{c}{1 + \\frac{c}{2 f(x_k)} g_{k,j}^2}, \\qquad
       m_k = \\beta m_{k-1} + (1 - \\beta)\\, \\gamma_k \\odot g_k, \\qquad
       x_{k+1} = x_k - m_k,

    :math:`m_{-1} = 0`: the iteration :math:`x_{k+1} = x_k - (1-\\beta)\\gamma_k \\odot g_k
    + \\beta(x_k - x_{k-1})` of NGN-M with the diagonal step sizes of NGN-D.

    Args:
      learning_rate: :math:`c`, the largest coordinate step size, range ``[0, inf)`` or a
        schedule (``0`` takes no step). The paper states no default; ours is the largest
        power of ten stable on the conformance problems (see Limits of
        :func:`scale_by_ngn_d`).
      momentum: :math:`\\beta`, range ``[0, 1)`` (the paper's :math:`\\beta_1`, 0.9 in its
        experiments); ``0`` is NGN-D.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss``, a
      non-negative loss.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 100.0]) * x ** 2)
      >>> tx = adaptlr.ngn_md(learning_rate=1.0, momentum=0.9)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(300):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-6)
      True

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, "Enhancing Optimizer Stability: Momentum
      Adaptation of The NGN Step-size", NeurIPS 2025, arXiv:2508.15071 (NGN-MD).

    Departures:
      Not the paper's NGN-MDv2 itself. The paper's Algorithm 2 has two versions, both with
      RMSprop's preconditioner :math:`D_k` and NGN-M's heavy ball: NGN-MDv1 (one NGN step for
      :math:`D_k^{-1} g_k`, :func:`ngn_mdv1`) and NGN-MDv2 (NGN-D's per-coordinate steps,
      further preconditioned by :math:`D_k`). This method is NGN-MDv2 without
      :math:`D_k` (:math:`D_k = I`), i.e. NGN-D inside Algorithm 1's heavy ball; the paper
      names that combination only through its reduction "NGN-MDv2 with
      :math:`\\beta_1 = 0` and no preconditioner is NGN-D" (Section 3.3). NGN-MDv2 with
      :math:`D_k` is not provided: its step's formula is not legible in the text available
      to us (whether :math:`g_{k,j}^2` is divided by :math:`(D_k)_j` inside
      :math:`\\gamma_{k,j}` cannot be read) and no code for it is public. The heavy-ball form
      is Algorithm 1's; Algorithm 2's update lines are not legible either, but Appendix F.1
      says both versions average the preconditioned steps :math:`\\Sigma_k^{-1} g_k` this
      way and the authors' NGN-MDv1 code does. Checked against a NumPy transcription. The
      default ``c`` is ours (the paper states none). The record ``effective_lr`` is, per
      parameter leaf, the mean of :math:`\\gamma_{k,j}` over the leaf. Loss handling as
      :func:`scale_by_ngn_d`. Complex parameters are refused at ``init``.
    """
    check_all(NGN_MD_RANGES, learning_rate=learning_rate, momentum=momentum)
    return _scale_by_ngn_diagonal(learning_rate, momentum, "ngn_md")


@args_from(scale_by_ngn_md)
def ngn_md(
    learning_rate: ScalarOrSchedule = 1e-2, momentum: float = 0.9
) -> optax.GradientTransformationExtraArgs:
    """NGN-MD (Islamov et al., 2025): coordinate-wise NGN step sizes with heavy-ball
    momentum. ``update(..., value=loss)``.

    See :func:`scale_by_ngn_md`.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ngn_md(learning_rate=1.0, momentum=0.0)  # momentum 0: NGN-D
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)
      >>> [round(u, 6) for u in updates.tolist()]
      [-0.833333, 1.111111]

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, NeurIPS 2025, arXiv:2508.15071.
    """
    return optax.chain(scale_by_ngn_md(learning_rate, momentum), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# NGN-MDv1: one NGN step size for an RMSprop-preconditioned direction, with heavy-ball momentum
# --------------------------------------------------------------------------------------------

NGN_MDV1_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class ScaleByNgnMdv1State(NamedTuple):
    """State of :func:`scale_by_ngn_mdv1`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    nu: PyTree  # like params: v_k, the average of squared gradients (from 0)
    momentum: PyTree  # like params: the last step x_{k} - x_{k+1} (0 before the first)
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): last gamma_k


def scale_by_ngn_mdv1(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """NGN-MDv1: NGN's step size for the RMSprop-preconditioned gradient, inside heavy-ball
    momentum; returns :math:`x_k - x_{k+1}` (no sign).

    Algorithm 2 of Islamov et al. (2025), version 1, with :math:`c` = ``learning_rate``,
    :math:`\\beta_1, \\beta_2` = ``b1, b2``, :math:`v_{-1} = 0`, :math:`x_{-1} = x_0`:

    .. math::

       v_k = \\beta_2 v_{k-1} + (1-\\beta_2)\\, g_k \\odot g_k, \\qquad
       D_k = \\mathrm{diag}\\Big(\\epsilon + \\sqrt{v_k / (1-\\beta_2^{k+1})}\\Big),

       \\gamma_k = \\frac{c}{1 + \\frac{c}{2 f(x_k)} \\lVert g_k\\rVert^2_{D_k^{-1}}},
       \\qquad \\lVert g\\rVert^2_{D^{-1}} = \\sum_j g_j^2 / D_j,

       x_{k+1} = x_k - (1-\\beta_1)\\gamma_k D_k^{-1} g_k + \\beta_1 (x_k - x_{k-1})
       - c\\lambda x_k,

    kept here as the step :math:`m_k = x_k - x_{k+1} = \\beta_1 m_{k-1} + (1-\\beta_1)
    \\gamma_k D_k^{-1} g_k + c \\lambda x_k`, :math:`m_{-1} = 0` (the same iterates). The last
    term is decoupled weight decay (the paper's Dec-NGN-MDv1), absent for :math:`\\lambda = 0`.

    Args:
      learning_rate: :math:`c`, the step-size hyperparameter and the largest
        :math:`\\gamma_k`, range ``[0, inf)`` or a schedule (``0`` takes no step).
        Default 1, the authors' code's; the paper states no default (it tunes :math:`c` over
        powers of ten: its best ViT-on-CIFAR10 run has :math:`10^{-3}`, its language models
        :math:`3\\cdot10^{-3}` to :math:`3\\cdot10^{-2}`). A large :math:`c` is held back
        by :math:`\\gamma_k \\le 2 f / \\lVert g_k\\rVert^2_{D_k^{-1}}`, which shrinks with
        the number of parameters (at the first step :math:`\\lVert g\\rVert^2_{D^{-1}}
        \\approx \\lVert g\\rVert_1`).
      b1: :math:`\\beta_1`, the heavy-ball momentum, range ``[0, 1)`` (paper and code: 0.9).
      b2: :math:`\\beta_2`, the second-moment average, range ``[0, 1)`` (paper and code:
        0.999; the paper's language models use 0.95).
      eps: :math:`\\epsilon` added to :math:`\\sqrt{\\hat v}`, range ``[0, inf)`` (the
        authors' code: 1e-8; the paper states no value).
      weight_decay: :math:`\\lambda`, range ``[0, inf)``; multiplied by :math:`c` as in the
        authors' code (``0`` turns it off).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value=loss``, a
      non-negative loss, and ``params`` when ``weight_decay > 0``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ngn_mdv1(learning_rate=1.0, b1=0.0, b2=0.0, eps=0.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x ** 2))(x)
      >>> updates, state = tx.update(grad, state, x, value=value)  # D = |g|, |g|^2_D^-1 = 3
      >>> updates.tolist(), float(adaptlr.effective_lr(state))  # gamma = 1 / (1 + 3 / 5)
      ([-0.625, 0.625], 0.625)

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, "Enhancing Optimizer Stability: Momentum
      Adaptation of The NGN Step-size", NeurIPS 2025, arXiv:2508.15071 (Algorithm 2, NGN-MDv1;
      Appendix G, Dec-NGN-MDv1). Reference code: ``optim/NGNMDv1.py`` (``NGN_MDv1``) in
      armanbolatov/plainLM, a fork of the second author's plainLM.

    Departures:
      Sources: Algorithm 2's lines for :math:`v_k`, :math:`D_k` and :math:`\\gamma_k` are
      legible in the text available to us; its update lines are not, and the update above is
      the authors' code's (it matches the paper's description: heavy ball on the
      preconditioned step, Appendix F.1). The goldens are the authors' ``NGN_MDv1`` run in
      float64. Bias correction: Algorithm 2 writes :math:`1 - \\beta_2^k` with
      :math:`k = 0, 1, \\dots` (a division by zero at :math:`k = 0`); the code, and this
      method, use the number of steps taken including the current one, :math:`k + 1`.
      Weight decay: the paper offers two forms, Dec-NGN-MDv1 (decoupled, Appendix G, Eq. 63,
      whose formula is not legible to us; the text says the decay is added separately from
      the step :math:`\\Sigma_k^{-1} g_k`) and NGN-MDv1W (Algorithm 4, the decay inside the
      NGN step). Only the decoupled form is provided, written as the authors' code writes
      it: :math:`c\\lambda x_k` subtracted inside the two-point heavy ball, so that the decay
      displacement is carried on by the momentum term :math:`\\beta_1(x_k - x_{k-1})` (an
      AdamW-style :math:`x \\leftarrow (1 - c\\lambda) x` outside the momentum is a different
      method). The authors' code skips the decay at the first step (it sits in the branch
      that has a previous iterate); here it is applied at every step. NGN-MDv1W is not
      provided: the formulas of its step are not legible in the text available to us and no
      code for it is public.
      The record ``effective_lr`` is :math:`\\gamma_k` (the quantity the paper plots and the
      code logs as ``lr_eff``). Loss handling as :func:`scale_by_ngn_m`: a negative loss is
      clipped at 0, a non-finite loss gives :math:`\\gamma_k = 0` (momentum and decay still
      move the point), :math:`f = 0` with :math:`g = 0` gives :math:`\\gamma_k = c`. With
      ``eps = 0`` a coordinate with :math:`v_{k,j} = 0` (its gradient has been 0 so far)
      contributes 0 instead of 0/0. Complex parameters are refused at ``init``.
    """
    check_all(NGN_MDV1_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> ScaleByNgnMdv1State:
        check_real(params, "ngn_mdv1")
        return ScaleByNgnMdv1State(count=jnp.zeros((), jnp.int32),
                                   nu=optax.tree.zeros_like(params),
                                   momentum=optax.tree.zeros_like(params),
                                   effective_lr=jnp.zeros((), scalar_dtype(params)))

    def update_fn(
        updates: PyTree,
        state: ScaleByNgnMdv1State,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByNgnMdv1State]:
        del extra_args
        check_tree_match(updates, params)
        if params is None:
            check_tree_match(updates, state.momentum, reference_name="state")
            if weight_decay > 0:
                raise ValueError("ngn_mdv1 with weight_decay > 0 needs the parameters: call "
                                 "update(grads, state, params, value=loss)")
        dtype = state.effective_lr.dtype
        f, finite = _clipped_loss(_loss(value, "ngn_mdv1", dtype))
        count = optax.safe_increment(state.count)
        c = jnp.asarray(resolve(learning_rate, state.count), dtype)
        bc2 = 1.0 - jnp.asarray(b2, dtype) ** count.astype(dtype)

        def second_moment(v: jax.Array, g: jax.Array) -> jax.Array:
            acc = accumulation_dtype(g.dtype)
            b = jnp.asarray(b2, acc)
            ga = g.astype(acc)
            return (b * v.astype(acc) + (1.0 - b) * ga * ga).astype(v.dtype)

        nu = jax.tree.map(second_moment, state.nu, updates)

        def direction(v: jax.Array, g: jax.Array) -> jax.Array:
            acc = accumulation_dtype(g.dtype)
            den = jnp.asarray(eps, acc) + jnp.sqrt(v.astype(acc) / bc2.astype(acc))
            # eps = 0 and v = 0 means g = 0: count the coordinate as 0 rather than 0/0.
            return jnp.where(den > 0, g.astype(acc) / jnp.where(den > 0, den, 1.0), 0.0)

        directions = jax.tree.map(direction, nu, updates)
        sq_norm = tree_sum(jax.tree.map(lambda d, g: d * g.astype(d.dtype), directions,
                                        updates)).astype(dtype)
        gamma = _ngn_step(f, finite, c, sq_norm)
        beta = jnp.asarray(b1, dtype)
        decay = c * jnp.asarray(weight_decay, dtype)

        def heavy_ball(m: jax.Array, d: jax.Array, x: Any) -> jax.Array:
            acc = d.dtype
            new = beta.astype(acc) * m.astype(acc) + ((1.0 - beta) * gamma).astype(acc) * d
            if weight_decay > 0:
                new = new + decay.astype(acc) * x.astype(acc)
            return new.astype(m.dtype)

        xs = params if weight_decay > 0 else jax.tree.map(lambda _: 0, updates)
        new_m = jax.tree.map(heavy_ball, state.momentum, directions, xs)
        out = jax.tree.map(lambda m, g: m.astype(g.dtype), new_m, updates)
        return out, ScaleByNgnMdv1State(count=count, nu=nu, momentum=new_m,
                                        effective_lr=gamma.astype(dtype))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_ngn_mdv1)
def ngn_mdv1(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """NGN-MDv1 (Islamov et al., 2025): heavy-ball momentum on the RMSprop-preconditioned
    gradient, scaled by one NGN step size. ``update(..., value=loss)``.

    See :func:`scale_by_ngn_mdv1`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 100.0]) * x ** 2)
      >>> tx = adaptlr.ngn_mdv1(learning_rate=0.1)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(300):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-4)
      True

    References:
      Islamov, Ajroldi, Orvieto and Lucchi, NeurIPS 2025, arXiv:2508.15071.
    """
    return optax.chain(scale_by_ngn_mdv1(learning_rate, b1, b2, eps, weight_decay),
                       optax.scale(-1.0))
