"""Classic per-parameter learning-rate learners: delta-bar-delta, IDBD and Autostep.

Each keeps one learning rate per parameter entry and adapts it online from the correlation of
successive gradients. IDBD and Autostep were derived for a linear (LMS) learner
:math:`y = w \\cdot x` with error :math:`\\delta = y^\\star - y`, where the loss
:math:`\\tfrac12 \\delta^2` has gradient :math:`g_i = -\\delta x_i` and Hessian diagonal
:math:`x_i^2`. As Optax transformations they are written in terms of the gradient:
:math:`\\delta x_i` becomes :math:`-g_i`, and :math:`x_i^2` becomes a per-parameter
*curvature* :math:`c_i`, passed as ``update(..., curvature=tree)`` (``x ** 2`` recovers the
papers' algorithms exactly) or, when not passed, estimated by the squared gradient
:math:`g_i^2` (the Gauss-Newton / empirical-Fisher diagonal).

Learned step sizes live in the state (``step_sizes``, a tree like the parameters);
``learning_rate`` is their initial value. The step-size record ``effective_lr`` holds their mean
over each parameter leaf (one float32 scalar per leaf, ``0`` before the first update).
"""

from __future__ import annotations

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
    accumulation_dtype,
    check_all,
    check_real,
    check_tree_match,
    tree_vdot,
    written_after,
)
from adaptlr._docstrings import args_from
from adaptlr.adaptive._common import leaf_means_on_read

__all__ = [
    "AUTOSTEP_RANGES",
    "DELTA_BAR_DELTA_RANGES",
    "IDBD_RANGES",
    "RANGES",
    "ScaleByAutostepState",
    "ScaleByDeltaBarDeltaState",
    "ScaleByIdbdState",
    "autostep",
    "delta_bar_delta",
    "idbd",
    "scale_by_autostep",
    "scale_by_delta_bar_delta",
    "scale_by_idbd",
]

DELTA_BAR_DELTA_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "kappa": NON_NEGATIVE,
    "phi": PROBABILITY,
    "b1": UNIT_INTERVAL,
}
IDBD_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "meta_learning_rate": NON_NEGATIVE,
}
AUTOSTEP_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "meta_learning_rate": NON_NEGATIVE,
    "tau": Interval(1.0, float("inf")),
}
RANGES: dict[str, Interval] = {**DELTA_BAR_DELTA_RANGES, **IDBD_RANGES, **AUTOSTEP_RANGES}


def _zeros(params: PyTree, *, accumulate: bool) -> PyTree:
    def leaf(p: jax.Array) -> jax.Array:
        dtype = accumulation_dtype(p.dtype) if accumulate else p.dtype
        return jnp.zeros(p.shape, dtype)

    return jax.tree.map(leaf, params)


def _initial_step_sizes(params: PyTree, value: Any) -> PyTree:
    """``value`` for every entry, in the accumulation dtype of each leaf."""
    return jax.tree.map(lambda p: jnp.full(p.shape, value, accumulation_dtype(p.dtype)), params)


def _leaf_means(count: jax.Array, step_sizes: PyTree) -> PyTree:
    """The step-size record: one float32 mean per leaf (``0`` for a zero-size leaf, and before
    the first update). A property of the states rather than a field, so that an update does
    not spend a pass over the step sizes on a record that nobody reads."""
    return leaf_means_on_read(count, lambda alpha, tiny: alpha, (step_sizes,))


def _curvature(updates: PyTree, curvature: PyTree | None) -> PyTree:
    if curvature is None:
        return jax.tree.map(jnp.square, updates)
    return curvature


def _unzip(like: PyTree, pairs: PyTree) -> tuple[PyTree, PyTree]:
    """Split a tree of per-leaf ``(a, b)`` pairs, shaped like ``like``, into two trees."""
    # ``like`` is a prefix of ``pairs``: the map stops at its leaves, where the pairs sit.
    return (jax.tree.map(lambda _, p: p[0], like, pairs),
            jax.tree.map(lambda _, p: p[1], like, pairs))


def _descent_scaled(alpha: PyTree, updates: PyTree) -> PyTree:
    return jax.tree.map(lambda a, g: (a * g).astype(g.dtype), alpha, updates)


# --------------------------------------------------------------------------------------------
# Delta-bar-delta
# --------------------------------------------------------------------------------------------


class ScaleByDeltaBarDeltaState(NamedTuple):
    """State of :func:`scale_by_delta_bar_delta`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates so far
    bar_delta: PyTree  # like params: the average gradient \bar\delta_{t-1}
    step_sizes: PyTree  # like params, accumulation dtype: epsilon_{t-1}, the learned rates

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean of the learned step sizes
        (0 before the first update), computed from ``step_sizes`` when read."""
        return _leaf_means(self.count, self.step_sizes)


def scale_by_delta_bar_delta(
    learning_rate: float = 1e-3,
    kappa: float = 1e-4,
    phi: float = 0.1,
    b1: float = 0.7,
) -> optax.GradientTransformation:
    """Delta-bar-delta: grow a parameter's learning rate additively while its gradient keeps
    its sign, shrink it geometrically when the sign flips (Jacobs, 1988).

    With :math:`\\delta_t = g_t` and the average :math:`\\bar\\delta_t = (1-\\theta)\\delta_t +
    \\theta \\bar\\delta_{t-1}` (entrywise),

    .. math::

       \\epsilon_t = \\begin{cases}
         \\epsilon_{t-1} + \\kappa & \\bar\\delta_{t-1} \\delta_t > 0 \\\\
         (1 - \\phi)\\, \\epsilon_{t-1} & \\bar\\delta_{t-1} \\delta_t < 0 \\\\
         \\epsilon_{t-1} & \\text{otherwise}
       \\end{cases}, \\qquad u_t = \\epsilon_t\\, \\delta_t .

    Returns :math:`u_t` (no sign); :func:`delta_bar_delta` descends.

    Args:
      learning_rate: the initial learning rate :math:`\\epsilon_0` of every entry, range
        ``[0, inf)``.
      kappa: the additive increment :math:`\\kappa`, range ``[0, inf)``.
      phi: the multiplicative decrement :math:`\\phi`, range ``[0, 1]``.
      b1: the averaging constant :math:`\\theta` of :math:`\\bar\\delta`, range ``[0, 1)``.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.delta_bar_delta(learning_rate=0.1, kappa=0.01, phi=0.5, b1=0.5)
      >>> state = tx.init(jnp.zeros(2))
      >>> _, state = tx.update(jnp.array([1.0, 1.0]), state)
      >>> _, state = tx.update(jnp.array([1.0, -1.0]), state)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # summarised: the mean over entries
      0.08
      >>> [round(float(x), 6) for x in state[0].step_sizes]
      [0.11, 0.05]

    References:
      Jacobs, "Increased rates of convergence through learning rate adaptation", Neural
      Networks 1(4), 1988.

    Departures:
      Jacobs combines the rule with momentum on the weight change; here momentum is left out
      (chain ``optax.trace`` after the transformation for it). The first update, with no
      average yet (:math:`\\bar\\delta_0 = 0`), uses :math:`\\epsilon_0`.
    """
    check_all(DELTA_BAR_DELTA_RANGES, learning_rate=learning_rate, kappa=kappa, phi=phi, b1=b1)

    def init_fn(params: PyTree) -> ScaleByDeltaBarDeltaState:
        check_real(params, "delta-bar-delta")
        return ScaleByDeltaBarDeltaState(
            count=jnp.zeros((), jnp.int32),
            bar_delta=_zeros(params, accumulate=False),
            step_sizes=_initial_step_sizes(params, learning_rate),
        )

    def update_fn(
        updates: PyTree, state: ScaleByDeltaBarDeltaState, params: PyTree = None
    ) -> tuple[PyTree, ScaleByDeltaBarDeltaState]:
        check_tree_match(updates, params)
        del params
        eps_prev = state.step_sizes

        def new_rate(eps: jax.Array, bar: jax.Array, g: jax.Array) -> jax.Array:
            agreement = bar.astype(eps.dtype) * g.astype(eps.dtype)
            grown = eps + jnp.asarray(kappa, eps.dtype)
            shrunk = eps * (1 - jnp.asarray(phi, eps.dtype))
            return jnp.where(agreement > 0, grown, jnp.where(agreement < 0, shrunk, eps))

        eps = jax.tree.map(new_rate, eps_prev, state.bar_delta, updates)
        # The new average is written after eps reads the old one (see written_after).
        bar_delta = jax.tree.map(
            lambda bar, g, e: ((1 - b1) * g + b1 * written_after(bar, e)).astype(bar.dtype),
            state.bar_delta, updates, eps,
        )
        return _descent_scaled(eps, updates), ScaleByDeltaBarDeltaState(
            count=optax.safe_increment(state.count), bar_delta=bar_delta, step_sizes=eps,
        )

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_delta_bar_delta)
def delta_bar_delta(
    learning_rate: float = 1e-3,
    kappa: float = 1e-4,
    phi: float = 0.1,
    b1: float = 0.7,
) -> optax.GradientTransformation:
    """Delta-bar-delta (Jacobs, 1988): :math:`w_{t+1} = w_t - \\epsilon_t \\odot g_t`.

    See :func:`scale_by_delta_bar_delta` for the rule, the arguments and the departures.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.delta_bar_delta(learning_rate=0.05, kappa=0.01)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(loss)(x), state, x)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-4)
      True

    References:
      Jacobs, Neural Networks 1988.
    """
    return optax.chain(scale_by_delta_bar_delta(learning_rate, kappa, phi, b1), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# IDBD
# --------------------------------------------------------------------------------------------


class ScaleByIdbdState(NamedTuple):
    """State of :func:`scale_by_idbd`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates so far
    trace: PyTree  # like params, accumulation dtype: h, the decaying trace of weight changes
    step_sizes: PyTree  # like params, accumulation dtype: alpha = exp(beta), the learned rates

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean of the learned step sizes
        (0 before the first update), computed from ``step_sizes`` when read."""
        return _leaf_means(self.count, self.step_sizes)


def scale_by_idbd(
    learning_rate: float = 1e-3,
    meta_learning_rate: float = 1e-2,
) -> optax.GradientTransformationExtraArgs:
    """IDBD: incremental delta-bar-delta, step sizes learned by meta-gradient descent on
    :math:`\\beta_i = \\log\\alpha_i` (Sutton, 1992).

    In the gradient form described in the module docstring (:math:`\\delta x_i \\to -g_i`,
    :math:`x_i^2 \\to c_i`):

    .. math::

       \\beta_i \\leftarrow \\beta_i - \\theta\\, g_i h_i, \\quad
       \\alpha_i = e^{\\beta_i}, \\quad
       u_i = \\alpha_i g_i, \\quad
       h_i \\leftarrow h_i\\,[1 - \\alpha_i c_i]^+ - \\alpha_i g_i .

    Returns :math:`u` (no sign); :func:`idbd` descends. ``update`` accepts
    ``curvature=`` (a tree like the parameters; ``x ** 2`` for a linear learner), default
    :math:`g^2`.

    Args:
      learning_rate: the initial step size :math:`\\alpha_0 = e^{\\beta_0}` of every entry,
        range ``[0, inf)``. Sutton's tracking experiment (unit-variance inputs) starts from
        ``0.05`` with :math:`\\theta = 10^{-3}`; the defaults are for unscaled problems.
      meta_learning_rate: the meta step size :math:`\\theta`, range ``[0, inf)``.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.idbd(learning_rate=0.1, meta_learning_rate=1.0)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(jnp.zeros(2))
      >>> delta = 1.0  # the LMS error y* - w.x; its gradient is -delta * x
      >>> _, state = tx.update(-delta * x, state, curvature=x ** 2)
      >>> _, state = tx.update(-delta * x, state, curvature=x ** 2)
      >>> round(float(state[0].step_sizes[0]), 6)  # 0.1 * exp(1.0 * 1 * 0.1)
      0.110517

    References:
      Sutton, "Adapting bias by gradient descent: an incremental version of delta-bar-delta",
      AAAI 1992.

    Departures:
      The gradient form above equals the paper's algorithm when the gradient is
      :math:`-\\delta x` and ``curvature=x ** 2``. Without ``curvature`` the trace decay uses
      :math:`g_i^2` in place of :math:`x_i^2`, a choice that the paper does not make (it has
      no general loss). The state keeps :math:`\\alpha` rather than :math:`\\beta`; the
      update :math:`\\alpha \\leftarrow \\alpha\\, e^{-\\theta g h}` is the same.
    """
    check_all(IDBD_RANGES, learning_rate=learning_rate, meta_learning_rate=meta_learning_rate)

    def init_fn(params: PyTree) -> ScaleByIdbdState:
        check_real(params, "IDBD")
        return ScaleByIdbdState(
            count=jnp.zeros((), jnp.int32),
            trace=_zeros(params, accumulate=True),
            step_sizes=_initial_step_sizes(params, learning_rate),
        )

    def update_fn(
        updates: PyTree,
        state: ScaleByIdbdState,
        params: PyTree = None,
        *,
        curvature: PyTree | None = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByIdbdState]:
        check_tree_match(updates, params)
        del params, extra_args
        alpha_prev = state.step_sizes
        curv = _curvature(updates, curvature)

        def step(a: jax.Array, h: jax.Array, g: jax.Array, c: jax.Array) -> tuple[Any, ...]:
            g = g.astype(a.dtype)
            alpha = a * jnp.exp(-jnp.asarray(meta_learning_rate, a.dtype) * g * h)
            decay = jnp.maximum(1 - alpha * c.astype(a.dtype), 0.0)
            return alpha, h * decay - alpha * g

        alpha, trace = _unzip(updates, jax.tree.map(step, alpha_prev, state.trace, updates, curv))
        return _descent_scaled(alpha, updates), ScaleByIdbdState(
            count=optax.safe_increment(state.count), trace=trace, step_sizes=alpha,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_idbd)
def idbd(
    learning_rate: float = 1e-3,
    meta_learning_rate: float = 1e-2,
) -> optax.GradientTransformationExtraArgs:
    """IDBD (Sutton, AAAI 1992): :math:`w \\leftarrow w - \\alpha \\odot g` with learned
    :math:`\\alpha`.

    See :func:`scale_by_idbd` for the rule, the ``curvature=`` argument and the departures.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.idbd(learning_rate=0.05, meta_learning_rate=0.01)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     updates, state = tx.update(jax.grad(loss)(x), state, x)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Sutton, AAAI 1992.
    """
    return optax.chain(scale_by_idbd(learning_rate, meta_learning_rate), optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# Autostep
# --------------------------------------------------------------------------------------------


class ScaleByAutostepState(NamedTuple):
    """State of :func:`scale_by_autostep`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates so far
    trace: PyTree  # like params, accumulation dtype: h, as in IDBD
    normalizer: PyTree  # like params, accumulation dtype: v, running max of |g h|
    step_sizes: PyTree  # like params, accumulation dtype: alpha, the learned rates

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean of the learned step sizes
        (0 before the first update), computed from ``step_sizes`` when read."""
        return _leaf_means(self.count, self.step_sizes)


def scale_by_autostep(
    learning_rate: float = 0.1,
    meta_learning_rate: float = 1e-2,
    tau: float = 1e4,
) -> optax.GradientTransformationExtraArgs:
    """Autostep: IDBD with normalised meta-steps and a bound on the effective step
    (Mahmood, Sutton, Degris and Pilarski, 2012).

    In the gradient form of the module docstring (:math:`\\delta x_i \\to -g_i`,
    :math:`x_i^2 \\to c_i`), per entry,

    .. math::

       v_i &\\leftarrow \\max\\big(|g_i h_i|,\\ v_i + \\tfrac{1}{\\tau} \\alpha_i c_i
             (|g_i h_i| - v_i)\\big), \\\\
       \\alpha_i &\\leftarrow \\alpha_i \\exp(-\\mu\\, g_i h_i / v_i)
             \\quad (\\text{unchanged where } v_i = 0), \\\\
       M &= \\max\\big(\\textstyle\\sum_j \\alpha_j c_j,\\ 1\\big), \\quad
       \\alpha_i \\leftarrow \\alpha_i / M, \\\\
       u_i &= \\alpha_i g_i, \\qquad h_i \\leftarrow h_i (1 - \\alpha_i c_i) - \\alpha_i g_i,

    the sum in :math:`M` running over all parameters. Returns :math:`u` (no sign);
    :func:`autostep` descends. ``update`` accepts ``curvature=`` as :func:`scale_by_idbd`.

    Args:
      learning_rate: the initial step size :math:`\\alpha_0` of every entry, range
        ``[0, inf)``.
      meta_learning_rate: the meta step size :math:`\\mu`, range ``[0, inf)``; the paper
        recommends ``1e-2`` for every problem.
      tau: the time scale :math:`\\tau` of the normaliser's decay, range ``[1, inf)``; the
        paper uses ``1e4``.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.autostep(learning_rate=0.1, meta_learning_rate=0.01)
      >>> x = jnp.array([1.0, 2.0]); state = tx.init(jnp.zeros(2))
      >>> _, state = tx.update(-1.0 * x, state, curvature=x ** 2)  # v = 0: alpha unchanged
      >>> [round(float(a), 6) for a in state[0].step_sizes]  # M = 0.1 + 0.4 < 1
      [0.1, 0.1]

    References:
      Mahmood, Sutton, Degris and Pilarski, "Tuning-free step-size adaptation", ICASSP 2012.

    Departures:
      Equal to the paper's algorithm (Table 1) when the gradient is :math:`-\\delta x` and
      ``curvature=x ** 2``. Without ``curvature`` the squared gradient stands in for
      :math:`x_i^2`, in the normaliser's decay, in :math:`M` and in the trace decay; the
      bound :math:`\\sum \\alpha c \\le 1` then limits the step relative to the gradient's scale
      rather than the input's. The normaliser :math:`v` starts at 0 as in the paper.
    """
    check_all(AUTOSTEP_RANGES, learning_rate=learning_rate,
              meta_learning_rate=meta_learning_rate, tau=tau)

    def init_fn(params: PyTree) -> ScaleByAutostepState:
        check_real(params, "Autostep")
        return ScaleByAutostepState(
            count=jnp.zeros((), jnp.int32),
            trace=_zeros(params, accumulate=True),
            normalizer=_zeros(params, accumulate=True),
            step_sizes=_initial_step_sizes(params, learning_rate),
        )

    def update_fn(
        updates: PyTree,
        state: ScaleByAutostepState,
        params: PyTree = None,
        *,
        curvature: PyTree | None = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByAutostepState]:
        check_tree_match(updates, params)
        del params, extra_args
        alpha_prev = state.step_sizes
        curv = jax.tree.map(lambda c, a: c.astype(a.dtype), _curvature(updates, curvature),
                            alpha_prev)

        def meta(a: jax.Array, h: jax.Array, v: jax.Array, g: jax.Array,
                 c: jax.Array) -> tuple[Any, ...]:
            gh = g.astype(a.dtype) * h
            # The normaliser's pass recomputes g h from inputs behind a barrier: one product
            # shared by the two passes would be written out and read back (XLA:CPU).
            g_seen, h_seen = jax.lax.optimization_barrier((g, h))
            abs_gh = jnp.abs(g_seen.astype(a.dtype) * h_seen)
            v = jnp.maximum(abs_gh, v + a * c * (abs_gh - v) / tau)
            ok = v > 0
            ratio = jnp.where(ok, gh / jnp.where(ok, v, 1.0), 0.0)
            return a * jnp.exp(-jnp.asarray(meta_learning_rate, a.dtype) * ratio), v

        alpha, normalizer = _unzip(
            updates, jax.tree.map(meta, alpha_prev, state.trace, state.normalizer, updates, curv)
        )
        # The default curvature g^2 is recomputed inside the reduction rather than shared
        # with the elementwise passes, which would make XLA write it out and read it back.
        curv_seen = curv
        if curvature is None:
            grads_seen = jax.lax.optimization_barrier(updates)
            curv_seen = jax.tree.map(lambda c, a: c.astype(a.dtype), _curvature(grads_seen, None),
                                     alpha)
        # Every leaf reads this scale: tree_vdot ends in _base.computed_once, so XLA fuses its
        # sum once instead of into each leaf's pass (compile time quadratic in leaves before).
        scale = jnp.maximum(tree_vdot(alpha, curv_seen), 1.0)
        alpha = jax.tree.map(lambda a: (a / scale.astype(a.dtype)).astype(a.dtype), alpha)
        trace = jax.tree.map(
            lambda h, a, c, g: h * (1 - a * c) - a * g.astype(a.dtype),
            state.trace, alpha, curv, updates,
        )
        return _descent_scaled(alpha, updates), ScaleByAutostepState(
            count=optax.safe_increment(state.count), trace=trace, normalizer=normalizer,
            step_sizes=alpha,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_autostep)
def autostep(
    learning_rate: float = 0.1,
    meta_learning_rate: float = 1e-2,
    tau: float = 1e4,
) -> optax.GradientTransformationExtraArgs:
    """Autostep (Mahmood et al., ICASSP 2012): :math:`w \\leftarrow w - \\alpha \\odot g` with
    tuning-free learned :math:`\\alpha`.

    See :func:`scale_by_autostep` for the rule, the ``curvature=`` argument and the departures.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.autostep(learning_rate=0.1)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(200):
      ...     updates, state = tx.update(jax.grad(loss)(x), state, x)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Mahmood, Sutton, Degris and Pilarski, ICASSP 2012.
    """
    return optax.chain(scale_by_autostep(learning_rate, meta_learning_rate, tau),
                       optax.scale(-1.0))
