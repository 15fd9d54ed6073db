"""D-Adaptation (Defazio and Mishchenko, 2023): learning-rate-free SGD, AdaGrad, Adam, Adan, Lion.

Every method keeps a lower bound ``d`` on the distance ``D = ||x_0 - x_*||`` from the start to a
solution and uses it as its step size: ``d`` starts at ``d0`` (a deliberate under-estimate) and
only grows, each step to ``d = max(d, min(d_hat, growth_rate * d))`` where ``d_hat`` is a new
lower bound computed from the weighted sum of gradients ``s`` and its correlation with the
gradients. The variants differ in the base method they scale and in the norms they use.

The numbers follow the authors' package ``dadaptation`` 3.2, checked to a relative error of
1e-10 on 200-step float64 trajectories (closed loop while the golden is well-conditioned, and on
the reference's own recorded gradients over every step; ``tests/parameter_free/
test_dadaptation.py``, ``docs/faithfulness.md``). Common to all five, against that package:

* Steps whose weighted gradient sum ``s`` is still exactly zero (zero gradients from the start)
  change no statistic, as in the package, where ``step`` returns early (Adam's bias correction
  and Adan's first-step rule count only the steps taken, ``k``). ``count`` counts every update
  and indexes the learning-rate schedule, as an external PyTorch scheduler would. The package
  divides by zero in this situation for SGD; Optax's ``contrib.dadapt_adamw`` turns ``d`` into
  NaN.
* The estimate ``d`` is frozen while the learning rate is ``0`` (the package's ``if lr > 0``).
  Departure: at a learning rate of exactly ``0`` the parameters do not move. The package still
  moves them then, by the moments it accumulated earlier (Adam, Adan), toward the dual-averaging
  point (SGD and AdaGrad with momentum) and by AdaGrad's still-growing accumulator; a schedule
  that reaches ``0`` is meant to stop training.
* One global estimate over the whole tree: the package's per-parameter-group learning rates are
  not offered (a group with learning rate 0 is ``optax.masked``; ``optax.multi_transform``
  gives separate estimates); Adam's per-group ``layer_scale`` is offered per leaf.
  ``log_every`` and ``fsdp_in_use`` are not needed (read ``d`` from the state; reductions are
  exact under JAX sharding).
* Scalars (``d``, the weighted sums) are kept in float32, or float64 for float64 parameters;
  per-parameter state follows the parameter dtype and is computed in the scalar dtype.
"""

from __future__ import annotations

import math
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
    ScalarOrSchedule,
    check,
    check_all,
    check_real,
    check_tree_match,
    is_checkable,
    resolve,
    scalar_dtype,
    tree_l1_norm,
    tree_max_abs,
    tree_norm,
    tree_sq_norm,
    tree_sum,
    tree_sums,
    tree_vdot,
    tree_vdot_by_leaf,
    written_after,
)
from adaptlr._docstrings import args_from

__all__ = [
    "RANGES",
    "DAdaptAdaGradState",
    "DAdaptAdamState",
    "DAdaptAdanState",
    "DAdaptLionState",
    "DAdaptSGDState",
    "dadapt_adagrad",
    "dadapt_adam",
    "dadapt_adan",
    "dadapt_lion",
    "dadapt_sgd",
    "scale_by_dadapt_adagrad",
    "scale_by_dadapt_adam",
    "scale_by_dadapt_adan",
    "scale_by_dadapt_lion",
    "scale_by_dadapt_sgd",
]

#: Valid range of every scalar hyperparameter of the family (each method uses a subset).
RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "momentum": UNIT_INTERVAL,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "b3": UNIT_INTERVAL,
    # eps keeps s / (sqrt(nu) + eps) finite where nu and s are both still zero.
    "eps": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "d0": POSITIVE,
    # Below 1 would be the same as 1 (d never decreases); inf means unrestricted growth.
    "growth_rate": Interval(1.0, math.inf, upper_closed=True),  # inf: no limit
}


def _ranges(*names: str) -> dict[str, Interval]:
    return {name: RANGES[name] for name in names}


SGD_RANGES = _ranges("learning_rate", "momentum", "weight_decay", "d0", "growth_rate")
ADAGRAD_RANGES = _ranges("learning_rate", "momentum", "weight_decay", "eps", "d0", "growth_rate")
ADAM_RANGES = _ranges("learning_rate", "b1", "b2", "eps", "weight_decay", "d0", "growth_rate")
ADAN_RANGES = _ranges("learning_rate", "b1", "b2", "b3", "eps", "weight_decay", "d0",
                      "growth_rate")
LION_RANGES = _ranges("learning_rate", "b1", "b2", "weight_decay", "d0", "growth_rate")

_NO_PARAMS = "{name} needs the parameters: call update(updates, state, params)"


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _scalar(value: jax.Array | float, dtype: jnp.dtype) -> jax.Array:
    return jnp.asarray(value).astype(dtype)


def _is_zero(value: object) -> bool:
    """A concrete zero: the term it multiplies can be left out of the graph (no read of p)."""
    return is_checkable(value) and float(value) == 0.0  # type: ignore[arg-type]


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den`` where ``den > 0``, else ``0`` (callers then keep the old estimate)."""
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, jnp.ones_like(den)), 0)


def _grow(d: jax.Array, d_hat: jax.Array, growth_rate: jax.Array, lr: jax.Array,
          taken: jax.Array) -> jax.Array:
    """``max(d, min(d_hat, growth_rate * d))``, only on taken steps with a positive rate."""
    grown = jnp.maximum(d, jnp.minimum(d_hat, d * growth_rate))
    return jnp.where(taken & (lr > 0), grown, d)


def _coupled_decay(grads: PyTree, params: PyTree, weight_decay: object,
                   dtype: jnp.dtype) -> PyTree:
    """``g + weight_decay * p`` in the scalar dtype (L2 penalty added to the gradient)."""
    if _is_zero(weight_decay):
        return jax.tree.map(lambda g: g.astype(dtype), grads)
    wd = _scalar(weight_decay, dtype)  # type: ignore[arg-type]
    return jax.tree.map(lambda g, p: g.astype(dtype) + wd * p.astype(dtype), grads, params)


def _zeros(params: PyTree, dtype: Any, *, like: bool = False) -> PyTree:
    """Fresh zeros (or, with ``like``, a copy) of ``params`` in ``dtype`` (``None``: theirs).

    Every state field owns its buffers, so a training step may donate the state.
    """
    if like:
        return jax.tree.map(lambda p: jnp.array(p, dtype=dtype or p.dtype), params)
    return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=dtype), params)


def _check_state_dtype(state_dtype: Any) -> None:
    if state_dtype is not None and not jnp.issubdtype(state_dtype, jnp.floating):
        raise ValueError(f"state_dtype must be a floating dtype or None, got {state_dtype!r}")


def _cast_like(tree: PyTree, like: PyTree) -> PyTree:
    return jax.tree.map(lambda x, y: x.astype(y.dtype), tree, like)


def _decays(k: jax.Array, grads: PyTree) -> jax.Array:
    """Whether this step is taken, so that decoupled decay applies (as in the reference).

    A step is skipped only while no step has been taken (``k == 0``) and every gradient is
    zero; the extra pass over the gradients runs only in that case.
    """
    return jax.lax.cond(k > 0, lambda: jnp.ones((), bool), lambda: tree_max_abs(grads) > 0)


def _per_leaf(prefix: PyTree, tree: PyTree, dtype: jnp.dtype) -> PyTree:
    """Broadcast a tree of scalars that is a prefix of ``tree`` to one scalar per leaf."""
    return jax.tree.map(lambda r, sub: jax.tree.map(lambda _: _scalar(r, dtype), sub),
                        prefix, tree)


def _sums_over_root(grads: PyTree, s: PyTree, v: PyTree, eps: jax.Array,
                    dtype: jnp.dtype) -> tuple[jax.Array, jax.Array]:
    """``sum g^2 / (sqrt(v) + eps)`` and ``sum s^2 / (sqrt(v) + eps)`` (AdaGrad and Adan).

    Each reduction recomputes the root (and ``g^2``) from its inputs behind its own barrier per
    leaf: a root or ``g^2`` shared with the update pass or with the other reduction would be
    written out in full and read back (XLA:CPU), 8 bytes per parameter each.
    """

    def g_term(g: jax.Array, v: jax.Array) -> jax.Array:
        g, v, e = jax.lax.optimization_barrier((g, v, eps))
        return g * g / (jnp.sqrt(v.astype(dtype)) + e)

    def s_term(x: jax.Array, v: jax.Array) -> jax.Array:
        v, x, e = jax.lax.optimization_barrier((v, x, eps))  # other order: not merged
        return jnp.square(x.astype(dtype)) / (jnp.sqrt(v.astype(dtype)) + e)

    g_sq = tree_sum(jax.tree.map(g_term, grads, v)).astype(dtype)
    return g_sq, tree_sum(jax.tree.map(s_term, s, v))


def _adan_sums(grads: PyTree, s: PyTree, v: PyTree, eps: jax.Array,
               dtype: jnp.dtype) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`_sums_over_root` and ``sum |s|`` in one variadic reduction per leaf
    (:func:`tree_sums`), for Adan: one fusion per leaf instead of three, so faster compilation
    on many leaves, and one read of ``s`` fewer (8 bytes per parameter). Each leaf's sums may
    differ from separate ones in the last bits (summation order; Adan's goldens pass at 1e-10).
    Not used for AdaGrad: its estimate subtracts two nearly equal sums at its first steps, and
    the last-bit change moved one reference case by 1e-3 (relative).
    """

    def terms(g: jax.Array, v: jax.Array, x: jax.Array) -> tuple[jax.Array, ...]:
        g, v, x, e = jax.lax.optimization_barrier((g, v, x, eps))
        root = jnp.sqrt(v.astype(dtype)) + e
        return g * g / root, jnp.square(x.astype(dtype)) / root, jnp.abs(x)

    g_sq, sksq, s_l1 = tree_sums(terms, 3, grads, v, s)
    return g_sq.astype(dtype), sksq, s_l1.astype(dtype)


def _still_at_zero_lr(updates: PyTree, lr: jax.Array) -> PyTree:
    """Zero updates while the learning rate is 0 (a scalar select, fused into the update)."""
    return jax.tree.map(lambda u: jnp.where(lr > 0, u, jnp.zeros_like(u)), updates)


# --------------------------------------------------------------------------------------------
# D-Adapt SGD
# --------------------------------------------------------------------------------------------


class DAdaptSGDState(NamedTuple):
    """State of :func:`scale_by_dadapt_sgd`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates (schedule index)
    d: jax.Array  # shape=(), scalar dtype: distance estimate
    numerator: jax.Array  # shape=(), scalar dtype: sum_k lambda_k <g_k, s_k>
    g0_norm: jax.Array  # shape=(), scalar dtype: ||g_0||, 0 until a non-zero gradient
    effective_lr: jax.Array  # shape=(), scalar dtype: lambda_k = lr d / ||g_0|| last applied
    s: PyTree  # like params: s_k = sum_i lambda_i g_i
    x0: PyTree  # like params: the initial parameters


def scale_by_dadapt_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float | jax.Array = 0.0,
    weight_decay: float | jax.Array = 0.0,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    state_dtype: Any = None,
    max_lr: float | None = None,
) -> optax.GradientTransformation:
    r"""D-Adapted SGD (dual averaging with a distance estimate), without the descent sign.

    With :math:`\gamma` the learning rate and :math:`c = 1 - \text{momentum}`, each step
    (gradients include the L2 term :math:`\text{weight\_decay}\cdot x_k`):

    .. math::

       \lambda_k &= \gamma\, d_k / \|g_0\|, \qquad
       r_{k+1} = r_k + \lambda_k \langle g_k, s_k\rangle, \qquad
       s_{k+1} = s_k + \lambda_k g_k, \\
       \hat d_{k+1} &= 2 r_{k+1} / \|s_{k+1}\|, \qquad
       d_{k+1} = \max(d_k, \min(\hat d_{k+1}, \text{growth\_rate}\cdot d_k)), \\
       x_{k+1} &= (1 - c)\, x_k + c\,(x_0 - s_{k+1}).

    The transformation returns :math:`x_k - x_{k+1}` (chain with ``optax.scale(-1)`` or use
    :func:`dadapt_sgd`); it needs ``params`` in ``update``.

    Args:
      learning_rate: multiplier of the adapted step, ``[0, inf)``, or a schedule. Leave at 1.
      momentum: ``[0, 1)``; the iterate moves a fraction ``1 - momentum`` toward the
        dual-averaging point each step.
      weight_decay: L2 penalty added to the gradient, ``[0, inf)``.
      d0: initial distance estimate, ``(0, inf)``.
      growth_rate: largest factor by which ``d`` may grow in one step, ``[1, inf]``.
      state_dtype: dtype of the per-parameter state (keyword-only); ``None`` follows the
        parameters. ``jnp.float32`` keeps the statistics of bfloat16 models accurate (in
        bfloat16, decays such as ``sqrt(b2)`` round to 1).
      max_lr: optional guard (keyword-only), in ``(0, inf)``: the step size
        :math:`\lambda_k` is capped at ``max_lr`` (the dual-averaging sums then accumulate
        the capped steps). ``None`` (default): no cap, the paper's and the reference's rule.

    Limits:
      The step size :math:`\lambda_k = \gamma d_k / \|g_0\|` is fixed by the *first*
      gradient's norm for the whole run. If the first gradient is much smaller than later ones
      (a warm start at a near-stationary point, a first batch of easy examples, a loss
      that is scaled up later), every later step is too large by the same factor: with a first
      gradient 100 times smaller than the next ones, the parameters reach inf within 8 to 35
      steps on ordinary problems. Start from a representative gradient, or set ``max_lr`` to
      a step size SGD tolerates on the problem.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_sgd()
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.ones(3)}, state, params)
      >>> print(f"{float(adaptlr.effective_lr(state)):.3g}")  # d0 / ||g_0||
      5.77e-07

    References:
      Defazio and Mishchenko, `Learning-Rate-Free Learning by D-Adaptation
      <https://arxiv.org/abs/2301.07733>`_, ICML 2023 (the SGD variant, in the form of the
      authors' ``DAdaptSGD`` 3.2).

    Departures: :math:`\|g_0\|` is the norm of the first raw gradient, before the L2 term is
    added, as in the reference code (whose ``grad.add`` there is not in place; the paper has no
    weight decay). The reference divides by zero when the first gradient is zero; here
    :math:`\|g_0\|` is taken from the first non-zero gradient and earlier steps do nothing.
    Otherwise none beyond the family notes in the module docstring.
    """
    check_all(SGD_RANGES, learning_rate=learning_rate, momentum=momentum,
              weight_decay=weight_decay, d0=d0, growth_rate=growth_rate)
    check("max_lr", max_lr, POSITIVE, allow_none=True)
    _check_state_dtype(state_dtype)

    def init_fn(params: PyTree) -> DAdaptSGDState:
        check_real(params, "D-Adapt SGD")
        dtype = scalar_dtype(params, state_dtype)
        return DAdaptSGDState(
            count=jnp.zeros((), jnp.int32), d=_scalar(d0, dtype),
            numerator=jnp.zeros((), dtype), g0_norm=jnp.zeros((), dtype),
            effective_lr=jnp.zeros((), dtype), s=_zeros(params, state_dtype),
            x0=_zeros(params, state_dtype, like=True),
        )

    def update_fn(updates: PyTree, state: DAdaptSGDState,
                  params: PyTree = None) -> tuple[PyTree, DAdaptSGDState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError(_NO_PARAMS.format(name="scale_by_dadapt_sgd"))
        dtype = state.d.dtype
        lr = _scalar(resolve(learning_rate, state.count), dtype)
        # Only the first non-zero gradient sets ||g_0||; lax.cond skips the pass later on.
        g0 = jax.lax.cond(state.g0_norm > 0, lambda: state.g0_norm,
                          lambda: tree_norm(updates).astype(dtype))
        dlr = _ratio(state.d * lr, g0)
        if max_lr is not None:  # the optional guard (default off)
            dlr = jnp.minimum(dlr, _scalar(max_lr, dtype))
        grads = _coupled_decay(updates, params, weight_decay, dtype)
        inner, terms = tree_vdot_by_leaf(grads, state.s)
        numerator = state.numerator + dlr * inner.astype(dtype)
        # Each leaf of s is overwritten after its inner-product term reads it (written_after:
        # in place on CPU).
        s = jax.tree.map(lambda s, g, t: (written_after(s, t).astype(dtype) + dlr * g).astype(
            s.dtype), state.s, grads, terms)
        s_sq = tree_sq_norm(s).astype(dtype)
        taken = s_sq > 0
        d_hat = _ratio(2 * numerator, jnp.sqrt(s_sq))
        d = _grow(state.d, d_hat, _scalar(growth_rate, dtype), lr, taken)
        c = 1 - _scalar(momentum, dtype)

        def step(p: jax.Array, x0: jax.Array, s: jax.Array, g: jax.Array) -> jax.Array:
            # x_k - x_{k+1} = c (x_k - z_{k+1}), z_{k+1} = x_0 - s_{k+1}.
            p = p.astype(dtype)
            return (c * (p - (x0.astype(dtype) - s.astype(dtype)))).astype(g.dtype)

        out = jax.tree.map(step, params, state.x0, s, updates)
        out = _still_at_zero_lr(out, lr)
        new_state = DAdaptSGDState(
            count=optax.safe_increment(state.count),
            d=d, numerator=jnp.where(taken, numerator, state.numerator),
            g0_norm=g0, effective_lr=dlr, s=s, x0=state.x0,
        )
        return out, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_dadapt_sgd)
def dadapt_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float | jax.Array = 0.0,
    weight_decay: float | jax.Array = 0.0,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    state_dtype: Any = None,
    max_lr: float | None = None,
) -> optax.GradientTransformation:
    """D-Adapted SGD, ready to use: :func:`scale_by_dadapt_sgd` followed by the descent sign.

    Read "Limits" in :func:`scale_by_dadapt_sgd`: the step size is set by the first
    gradient's norm (``max_lr`` is the optional guard).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda p: jnp.sum((p - 3.0) ** 2)
      >>> tx = adaptlr.dadapt_sgd()
      >>> p = jnp.zeros(2); state = tx.init(p)
      >>> for _ in range(50):
      ...     u, state = tx.update(jax.grad(loss)(p), state, p); p = optax.apply_updates(p, u)
      >>> bool(loss(p) < 1e-3)
      True
    """
    return optax.chain(
        scale_by_dadapt_sgd(learning_rate, momentum, weight_decay, d0, growth_rate,
                            state_dtype=state_dtype, max_lr=max_lr),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# D-Adapt AdaGrad
# --------------------------------------------------------------------------------------------


class DAdaptAdaGradState(NamedTuple):
    """State of :func:`scale_by_dadapt_adagrad`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates (schedule index)
    d: jax.Array  # shape=(), scalar dtype: distance estimate
    gsq_weighted: jax.Array  # shape=(), scalar dtype: sum_k lambda_k^2 ||g_k||^2_{A_k^-1}
    sksq_weighted: jax.Array  # shape=(), scalar dtype: ||s_k||^2_{A_k^-1}
    s_l1: jax.Array  # shape=(), scalar dtype: ||s_k||_1
    effective_lr: jax.Array  # shape=(), scalar dtype: lambda_k = lr d_k last applied
    alpha: PyTree  # like params: 1e-6 + sum of squared gradients
    s: PyTree  # like params: s_k = sum_i lambda_i g_i
    x0: PyTree  # like params: the initial parameters


def scale_by_dadapt_adagrad(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float | jax.Array = 0.0,
    weight_decay: float | jax.Array = 0.0,
    eps: float | jax.Array = 1e-6,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""D-Adapted AdaGrad (diagonal dual averaging), without the descent sign.

    With :math:`\gamma` the learning rate, :math:`c = 1 - \text{momentum}`, element-wise
    operations and :math:`\|v\|^2_{A} = \sum_i v_i^2 / (\sqrt{\alpha_i} + \epsilon)`:

    .. math::

       \lambda_k &= \gamma d_k, \quad \alpha_{k+1} = \alpha_k + g_k^2, \quad
       s_{k+1} = s_k + \lambda_k g_k, \quad
       G_{k+1} = G_k + \lambda_k^2 \|g_k\|^2_{A_{k+1}}, \\
       \hat d_{k+1} &= \frac{\|s_{k+1}\|^2_{A_{k+1}} - G_{k+1}}{\|s_{k+1}\|_1}, \quad
       d_{k+1} = \max(d_k, \min(\hat d_{k+1}, \text{growth\_rate}\cdot d_k)), \\
       x_{k+1} &= (1 - c)\, x_k + c\,\Big(x_0 - \frac{s_{k+1}}{\sqrt{\alpha_{k+1}} + \epsilon}\Big),
       \qquad \alpha_0 = 10^{-6}.

    Returns :math:`x_k - x_{k+1}`; needs ``params`` in ``update``.

    Args:
      learning_rate: multiplier of the adapted step, ``[0, inf)``, or a schedule. Leave at 1.
      momentum: ``[0, 1)``.
      weight_decay: L2 penalty added to the gradient, ``[0, inf)``.
      eps: added to the square root of the accumulator, ``(0, inf)``.
      d0: initial distance estimate, ``(0, inf)``.
      growth_rate: largest factor by which ``d`` may grow in one step, ``[1, inf]``.
      state_dtype: dtype of the per-parameter state (keyword-only); ``None`` follows the
        parameters. ``jnp.float32`` keeps the statistics of bfloat16 models accurate (in
        bfloat16, decays such as ``sqrt(b2)`` round to 1).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_adagrad()
      >>> params = jnp.ones(3); state = tx.init(params)
      >>> updates, state = tx.update(jnp.ones(3), state, params)
      >>> print(f"{float(adaptlr.effective_lr(state)):.3g}")  # lr * d0
      1e-06

    References:
      Defazio and Mishchenko, `Learning-Rate-Free Learning by D-Adaptation
      <https://arxiv.org/abs/2301.07733>`_, ICML 2023 (the AdaGrad variant; the
      authors' ``DAdaptAdaGrad``).

    Departures: the reference keeps :math:`\|s\|^2_A` and :math:`\|s\|_1` as running sums of
    their per-step changes; here they are recomputed from :math:`s` and :math:`\alpha` each
    step (the same in exact arithmetic, without the drift). The reference's sparse-gradient
    path (which puts :math:`\epsilon` inside the square root) has no counterpart: JAX gradients
    are dense. The initial accumulator :math:`10^{-6}` is fixed, as in the reference.
    """
    check_all(ADAGRAD_RANGES, learning_rate=learning_rate, momentum=momentum,
              weight_decay=weight_decay, eps=eps, d0=d0, growth_rate=growth_rate)
    _check_state_dtype(state_dtype)

    def init_fn(params: PyTree) -> DAdaptAdaGradState:
        check_real(params, "D-Adapt AdaGrad")
        dtype = scalar_dtype(params, state_dtype)
        return DAdaptAdaGradState(
            count=jnp.zeros((), jnp.int32), d=_scalar(d0, dtype),
            gsq_weighted=jnp.zeros((), dtype), sksq_weighted=jnp.zeros((), dtype),
            s_l1=jnp.zeros((), dtype), effective_lr=jnp.zeros((), dtype),
            alpha=jax.tree.map(lambda p: jnp.full_like(p, 1e-6, dtype=state_dtype), params),
            s=_zeros(params, state_dtype), x0=_zeros(params, state_dtype, like=True),
        )

    def update_fn(updates: PyTree, state: DAdaptAdaGradState,
                  params: PyTree = None) -> tuple[PyTree, DAdaptAdaGradState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError(_NO_PARAMS.format(name="scale_by_dadapt_adagrad"))
        dtype = state.d.dtype
        lr = _scalar(resolve(learning_rate, state.count), dtype)
        dlr = state.d * lr
        eps_ = _scalar(eps, dtype)
        grads = _coupled_decay(updates, params, weight_decay, dtype)
        alpha = jax.tree.map(lambda a, g: a.astype(dtype) + g * g, state.alpha, grads)
        s = jax.tree.map(lambda s, g: s.astype(dtype) + dlr * g, state.s, grads)
        alpha, s = _cast_like(alpha, state.alpha), _cast_like(s, state.s)
        root = jax.tree.map(lambda a: jnp.sqrt(a.astype(dtype)) + eps_, alpha)

        g_sq, sksq = _sums_over_root(grads, s, alpha, eps_, dtype)
        s_l1 = tree_l1_norm(s).astype(dtype)
        taken = s_l1 > 0
        gsq_weighted = state.gsq_weighted + dlr * dlr * g_sq
        d_hat = _ratio(sksq.astype(dtype) - gsq_weighted, s_l1)
        d = _grow(state.d, d_hat, _scalar(growth_rate, dtype), lr, taken)
        c = 1 - _scalar(momentum, dtype)

        def step(p: jax.Array, x0: jax.Array, s: jax.Array, r: jax.Array,
                 g: jax.Array) -> jax.Array:
            p = p.astype(dtype)
            return (c * (p - (x0.astype(dtype) - s.astype(dtype) / r))).astype(g.dtype)

        out = jax.tree.map(step, params, state.x0, s, root, updates)
        out = _still_at_zero_lr(out, lr)
        new_state = DAdaptAdaGradState(
            count=optax.safe_increment(state.count),
            d=d, gsq_weighted=jnp.where(taken, gsq_weighted, state.gsq_weighted),
            sksq_weighted=jnp.where(taken, sksq.astype(dtype), state.sksq_weighted),
            s_l1=jnp.where(taken, s_l1, state.s_l1), effective_lr=dlr,
            alpha=alpha, s=s, x0=state.x0,
        )
        return out, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_dadapt_adagrad)
def dadapt_adagrad(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float | jax.Array = 0.0,
    weight_decay: float | jax.Array = 0.0,
    eps: float | jax.Array = 1e-6,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    """D-Adapted AdaGrad, ready to use: :func:`scale_by_dadapt_adagrad` and the descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_adagrad(growth_rate=1.1)
      >>> state = tx.init(jnp.zeros(2))
    """
    return optax.chain(
        scale_by_dadapt_adagrad(learning_rate, momentum, weight_decay, eps, d0, growth_rate,
                                state_dtype=state_dtype),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# D-Adapt Adam
# --------------------------------------------------------------------------------------------


class DAdaptAdamState(NamedTuple):
    """State of :func:`scale_by_dadapt_adam`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates (schedule index)
    k: jax.Array  # shape=(), int32: steps taken, s non-zero (bias-correction index)
    d: jax.Array  # shape=(), scalar dtype: distance estimate
    numerator: jax.Array  # shape=(), scalar dtype: EMA of lambda_k <g_k, s_k / (sqrt(nu) + eps)>
    effective_lr: jax.Array  # shape=(), scalar dtype: lambda_k = lr d_k (bias correction) applied
    mu: PyTree  # like params: EMA of lambda_k g_k
    nu: PyTree  # like params: EMA of g_k^2
    s: PyTree  # like params: EMA (rate sqrt(b2)) of lambda_k g_k


def scale_by_dadapt_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    weight_decay: float | jax.Array = 0.0,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = False,
    layer_scale: PyTree | None = None,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""D-Adapted Adam, without the descent sign.

    With :math:`\gamma` the learning rate, :math:`\beta = \sqrt{b_2}`, element-wise operations,
    and :math:`\rho_k = \sqrt{1 - b_2^{k+1}} / (1 - b_1^{k+1})` with ``bias_correction``
    (else 1):

    .. math::

       \lambda_k &= \gamma\, d_k\, \rho_k, \qquad
       r_{k+1} = \beta r_k + (1 - \beta)\, \lambda_k
                 \Big\langle g_k, \frac{s_k}{\sqrt{\nu_k} + \epsilon}\Big\rangle, \\
       \mu_{k+1} &= b_1 \mu_k + (1 - b_1) \lambda_k g_k, \quad
       \nu_{k+1} = b_2 \nu_k + (1 - b_2) g_k^2, \quad
       s_{k+1} = \beta s_k + (1 - \beta) \lambda_k g_k, \\
       \hat d_{k+1} &= \frac{r_{k+1}}{(1 - \beta) \|s_{k+1}\|_1}, \qquad
       d_{k+1} = \max(d_k, \min(\hat d_{k+1}, \text{growth\_rate}\cdot d_k)), \\
       u_k &= \frac{\mu_{k+1}}{\sqrt{\nu_{k+1}} + \epsilon}
              \;\big(+\; \lambda_k\, \text{weight\_decay}\; x_k
              \text{ with decoupled\_weight\_decay}\big).

    Without ``decoupled_weight_decay`` the L2 term :math:`\text{weight\_decay}\cdot x_k` is added
    to :math:`g_k`. The returned :math:`u_k` is subtracted from the parameters by
    :func:`dadapt_adam`. ``params`` are needed only with a non-zero ``weight_decay``.

    Cost: the update does not depend on :math:`d_{k+1}`, so everything a step needs comes from
    one read of :math:`g, \mu, \nu, s`: the two reductions
    :math:`\langle g, s/(\sqrt\nu+\epsilon)\rangle` and :math:`\|s_{k+1}\|_1` and the moment
    updates can share one pass where XLA fuses several outputs into one loop (GPU); XLA's CPU
    backend runs them as separate loops. State is 12 bytes per float32 parameter.

    Args:
      learning_rate: multiplier of the adapted step, ``[0, inf)``, or a schedule. Leave at 1.
      b1: first-moment decay, ``[0, 1)``.
      b2: second-moment decay, ``[0, 1)``; ``s`` and ``r`` decay at ``sqrt(b2)``.
      eps: added to the root of the second moment, ``(0, inf)``.
      weight_decay: ``[0, inf)``, an L2 penalty or decoupled (AdamW) decay.
      d0: initial distance estimate, ``(0, inf)``.
      growth_rate: largest factor by which ``d`` may grow in one step, ``[1, inf]``; values
        like 1.02 act as a warm-up.
      state_dtype: dtype of the per-parameter state (keyword-only); ``None`` follows the
        parameters. ``jnp.float32`` keeps the statistics of bfloat16 models accurate (in
        bfloat16, decays such as ``sqrt(b2)`` round to 1).
      decoupled_weight_decay: AdamW-style decay scaled by :math:`\lambda_k` (keyword-only).
      bias_correction: Adam's bias correction folded into :math:`\lambda_k` (keyword-only).
      layer_scale: optional tree of non-negative floats, a prefix of the parameters'
        (keyword-only): leaf :math:`\ell` gets :math:`r_\ell \lambda_k` in :math:`\mu`, and its
        terms of :math:`\langle g, s/(\sqrt\nu+\epsilon)\rangle` and :math:`\|s\|_1` are
        weighted by :math:`r_\ell` (the reference's per-group ``layer_scale``), so layers
        take relatively larger or smaller steps under one estimate.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_adam()
      >>> params = jnp.ones(3); state = tx.init(params)
      >>> updates, state = tx.update(jnp.ones(3), state, params)
      >>> print(f"{float(adaptlr.effective_lr(state)):.3g}")  # lr * d0
      1e-06

    References:
      Defazio and Mishchenko, `Learning-Rate-Free Learning by D-Adaptation
      <https://arxiv.org/abs/2301.07733>`_, ICML 2023 (the Adam variant, in the form of
      the authors' ``DAdaptAdam`` 3.2, which revised the preprint's estimate).

    Departures: none from the reference beyond the family notes in the module docstring
    (``layer_scale`` is per parameter leaf rather than per parameter group). Against Optax's
    ``contrib.dadapt_adamw``: bias correction is off by default (as in the reference; Optax
    always applies it), ``growth_rate`` and ``layer_scale`` are offered, L2 and decoupled decay
    are both offered, and zero gradients leave ``d`` finite.
    """
    check_all(ADAM_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              weight_decay=weight_decay, d0=d0, growth_rate=growth_rate)
    _check_state_dtype(state_dtype)
    for r in jax.tree.leaves(layer_scale):
        check("layer_scale", r, NON_NEGATIVE)
    needs_params = not _is_zero(weight_decay)

    def init_fn(params: PyTree) -> DAdaptAdamState:
        check_real(params, "D-Adapt Adam")
        dtype = scalar_dtype(params, state_dtype)
        return DAdaptAdamState(
            count=jnp.zeros((), jnp.int32), k=jnp.zeros((), jnp.int32), d=_scalar(d0, dtype),
            numerator=jnp.zeros((), dtype), effective_lr=jnp.zeros((), dtype),
            mu=_zeros(params, state_dtype), nu=_zeros(params, state_dtype),
            s=_zeros(params, state_dtype),
        )

    def update_fn(updates: PyTree, state: DAdaptAdamState,
                  params: PyTree = None) -> tuple[PyTree, DAdaptAdamState]:
        check_tree_match(updates, params)
        if needs_params and params is None:
            raise ValueError(_NO_PARAMS.format(name="scale_by_dadapt_adam with weight_decay"))
        dtype = state.d.dtype
        lr = _scalar(resolve(learning_rate, state.count), dtype)
        b1_, b2_, eps_ = _scalar(b1, dtype), _scalar(b2, dtype), _scalar(eps, dtype)
        beta = jnp.sqrt(b2_)
        dlr = state.d * lr
        if bias_correction:
            k = (state.k + 1).astype(dtype)
            dlr = dlr * jnp.sqrt(1 - b2_**k) / (1 - b1_**k)
        if decoupled_weight_decay:
            grads = jax.tree.map(lambda g: g.astype(dtype), updates)
        else:
            grads = _coupled_decay(updates, params, weight_decay, dtype)
        # eps reaches the reduction through a barrier, one per leaf: a constant it shared with
        # the update's elementwise passes, or with another leaf of the same shape, would be
        # written out in full for it (XLA:CPU), 8 bytes a parameter.
        def seen_ratio(s: jax.Array, v: jax.Array) -> jax.Array:
            s, v, e = jax.lax.optimization_barrier((s, v, eps_))
            return s.astype(dtype) / (jnp.sqrt(v.astype(dtype)) + e)

        ratio = jax.tree.map(seen_ratio, state.s, state.nu)
        if layer_scale is None:
            inner, terms = tree_vdot_by_leaf(grads, ratio)
            inner = inner.astype(dtype)
        else:
            # One scale per leaf: per-leaf reductions, weighted (as the reference per group).
            scales = _per_leaf(layer_scale, grads, dtype)
            terms = jax.tree.map(lambda r, g, x: r * tree_vdot(g, x).astype(dtype),
                                 scales, grads, ratio)
            inner = tree_sum(terms)
        # Each leaf of nu and s is overwritten after its inner-product term reads it
        # (written_after: in place on CPU, where XLA would otherwise copy both first).
        nu = jax.tree.map(lambda v, g, t: b2_ * written_after(v, t).astype(dtype)
                          + (1 - b2_) * g * g, state.nu, grads, terms)
        s = jax.tree.map(lambda s, g, t: beta * written_after(s, t).astype(dtype)
                         + dlr * (1 - beta) * g, state.s, grads, terms)
        if layer_scale is None:
            mu = jax.tree.map(lambda m, g: b1_ * m.astype(dtype) + dlr * (1 - b1_) * g,
                              state.mu, grads)
            s_l1 = tree_l1_norm(s).astype(dtype)
        else:
            mu = jax.tree.map(lambda r, m, g: b1_ * m.astype(dtype) + r * dlr * (1 - b1_) * g,
                              scales, state.mu, grads)
            s_l1 = tree_sum(jax.tree.map(lambda r, x: r * tree_l1_norm(x).astype(dtype),
                                         scales, _cast_like(s, state.s)))
        mu, nu, s = _cast_like(mu, state.mu), _cast_like(nu, state.nu), _cast_like(s, state.s)
        taken = s_l1 > 0
        numerator = beta * state.numerator + (1 - beta) * dlr * inner
        d_hat = _ratio(numerator, (1 - beta) * s_l1)
        d = _grow(state.d, d_hat, _scalar(growth_rate, dtype), lr, taken)

        def direction(m: jax.Array, v: jax.Array) -> jax.Array:
            return m.astype(dtype) / (jnp.sqrt(v.astype(dtype)) + eps_)

        if decoupled_weight_decay and needs_params:
            wd = _scalar(weight_decay, dtype)  # type: ignore[arg-type]
            wd = jnp.where(_decays(state.k, grads), wd, 0)

            def step(m: jax.Array, v: jax.Array, p: jax.Array, g: jax.Array) -> jax.Array:
                return (direction(m, v) + p.astype(dtype) * (wd * dlr)).astype(g.dtype)

            out = jax.tree.map(step, mu, nu, params, updates)
        else:
            out = jax.tree.map(lambda m, v, g: direction(m, v).astype(g.dtype), mu, nu, updates)
        out = _still_at_zero_lr(out, lr)
        new_state = DAdaptAdamState(
            count=optax.safe_increment(state.count),
            k=jnp.where(taken, optax.safe_increment(state.k), state.k), d=d,
            numerator=jnp.where(taken, numerator, state.numerator), effective_lr=dlr,
            mu=mu, nu=nu, s=s,
        )
        return out, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_dadapt_adam)
def dadapt_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    weight_decay: float | jax.Array = 0.0,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    decoupled_weight_decay: bool = False,
    bias_correction: bool = False,
    layer_scale: PyTree | None = None,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    """D-Adapted Adam, ready to use: :func:`scale_by_dadapt_adam` followed by the descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_adam(weight_decay=1e-2, decoupled_weight_decay=True)
      >>> state = tx.init({"w": jnp.zeros((2, 2))})
    """
    return optax.chain(
        scale_by_dadapt_adam(learning_rate, b1, b2, eps, weight_decay, d0, growth_rate,
                             decoupled_weight_decay=decoupled_weight_decay,
                             bias_correction=bias_correction, layer_scale=layer_scale,
                             state_dtype=state_dtype),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# D-Adapt Adan
# --------------------------------------------------------------------------------------------


class DAdaptAdanState(NamedTuple):
    """State of :func:`scale_by_dadapt_adan`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates (schedule index)
    k: jax.Array  # shape=(), int32: steps taken, s non-zero (g_{-1} = g_0 while 0)
    d: jax.Array  # shape=(), scalar dtype: distance estimate
    gsq_weighted: jax.Array  # shape=(), scalar dtype: EMA of lambda_k^2 ||g_k||^2_{nu}
    effective_lr: jax.Array  # shape=(), scalar dtype: lambda_k = lr d_k last applied
    mu: PyTree  # like params: EMA of lambda_k g_k
    delta: PyTree  # like params: EMA of lambda_k (g_k - g_{k-1})
    nu: PyTree  # like params: EMA of (g_k + b2 (g_k - g_{k-1}))^2
    s: PyTree  # like params: EMA (rate b3) of lambda_k g_k
    prev_grad: PyTree  # like params: g_{k-1}


def scale_by_dadapt_adan(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float | jax.Array = 0.98,
    b2: float | jax.Array = 0.92,
    b3: float | jax.Array = 0.99,
    eps: float | jax.Array = 1e-8,
    weight_decay: float | jax.Array = 0.02,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    proximal: bool = True,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""D-Adapted Adan (Adan's Nesterov-type moments with a distance estimate), without the sign.

    With :math:`\gamma` the learning rate, :math:`\Delta_k = g_k - g_{k-1}` (zero at the first
    step), element-wise operations and :math:`\|v\|^2_\nu = \sum_i v_i^2/(\sqrt{\nu_i}+\epsilon)`:

    .. math::

       \lambda_k &= \gamma d_k, \quad
       \mu_{k+1} = b_1 \mu_k + (1-b_1)\lambda_k g_k, \quad
       \delta_{k+1} = b_2 \delta_k + (1-b_2)\lambda_k \Delta_k, \\
       \nu_{k+1} &= b_3 \nu_k + (1-b_3)(g_k + b_2 \Delta_k)^2, \quad
       s_{k+1} = b_3 s_k + (1-b_3)\lambda_k g_k, \quad
       G_{k+1} = b_3 G_k + (1-b_3)\lambda_k^2 \|g_k\|^2_{\nu_{k+1}}, \\
       \hat d_{k+1} &= \frac{\|s_{k+1}\|^2_{\nu_{k+1}}/(1-b_3) - G_{k+1}}{\|s_{k+1}\|_1}, \quad
       d_{k+1} = \max(d_k, \min(\hat d_{k+1}, \text{growth\_rate}\cdot d_k)), \\
       x_{k+1} &= \frac{x_k - n_k}{1 + \lambda_k\,\text{weight\_decay}}
       \;\text{(proximal)}\quad\text{or}\quad
       (1 - \lambda_k\,\text{weight\_decay})\,x_k - n_k, \qquad
       n_k = \frac{\mu_{k+1} + b_2 \delta_{k+1}}{\sqrt{\nu_{k+1}} + \epsilon}.

    Returns :math:`x_k - x_{k+1}`; ``params`` are needed only with a non-zero ``weight_decay``.

    Args:
      learning_rate: multiplier of the adapted step, ``[0, inf)``, or a schedule. Leave at 1.
      b1: gradient EMA decay, ``[0, 1)``.
      b2: gradient-difference EMA decay and Nesterov weight, ``[0, 1)``.
      b3: second-moment decay (also of ``s`` and ``G``), ``[0, 1)``.
      eps: added to the root of the second moment, ``(0, inf)``.
      weight_decay: decoupled decay, ``[0, inf)`` (0.02 by default, as in the reference).
      d0: initial distance estimate, ``(0, inf)``.
      growth_rate: largest factor by which ``d`` may grow in one step, ``[1, inf]``.
      state_dtype: dtype of the per-parameter state (keyword-only); ``None`` follows the
        parameters. ``jnp.float32`` keeps the statistics of bfloat16 models accurate (in
        bfloat16, decays such as ``sqrt(b2)`` round to 1).
      proximal: apply the decay as a proximal step (the reference's default,
        ``no_prox=False``); ``False`` multiplies by :math:`1 - \lambda_k\,\text{weight\_decay}`
        (keyword-only).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_adan()
      >>> params = jnp.ones(3); state = tx.init(params)
      >>> updates, state = tx.update(jnp.ones(3), state, params)
      >>> print(f"{float(adaptlr.effective_lr(state)):.3g}")  # lr * d0
      1e-06

    References:
      Defazio and Mishchenko, `Learning-Rate-Free Learning by D-Adaptation
      <https://arxiv.org/abs/2301.07733>`_, ICML 2023, and the authors' ``DAdaptAdan``
      (not in the paper); Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm
      <https://arxiv.org/abs/2208.06677>`_, 2022.

    Departures: none from the reference beyond the family notes in the module docstring
    (the reference's experimental ``restart_opt`` is not offered: build a fresh state instead).
    """
    check_all(ADAN_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, b3=b3, eps=eps,
              weight_decay=weight_decay, d0=d0, growth_rate=growth_rate)
    _check_state_dtype(state_dtype)
    needs_params = not _is_zero(weight_decay)

    def init_fn(params: PyTree) -> DAdaptAdanState:
        check_real(params, "D-Adapt Adan")
        dtype = scalar_dtype(params, state_dtype)
        return DAdaptAdanState(
            count=jnp.zeros((), jnp.int32), k=jnp.zeros((), jnp.int32), d=_scalar(d0, dtype),
            gsq_weighted=jnp.zeros((), dtype), effective_lr=jnp.zeros((), dtype),
            mu=_zeros(params, state_dtype), delta=_zeros(params, state_dtype),
            nu=_zeros(params, state_dtype), s=_zeros(params, state_dtype),
            prev_grad=_zeros(params, state_dtype),
        )

    def update_fn(updates: PyTree, state: DAdaptAdanState,
                  params: PyTree = None) -> tuple[PyTree, DAdaptAdanState]:
        check_tree_match(updates, params)
        if needs_params and params is None:
            raise ValueError(_NO_PARAMS.format(name="scale_by_dadapt_adan with weight_decay"))
        dtype = state.d.dtype
        lr = _scalar(resolve(learning_rate, state.count), dtype)
        b1_, b2_, b3_ = _scalar(b1, dtype), _scalar(b2, dtype), _scalar(b3, dtype)
        eps_ = _scalar(eps, dtype)
        dlr = state.d * lr
        first = state.k == 0
        grads = jax.tree.map(lambda g: g.astype(dtype), updates)
        diff = jax.tree.map(
            lambda g, h: jnp.where(first, jnp.zeros_like(g), g - h.astype(dtype)),
            grads, state.prev_grad)
        mu = jax.tree.map(lambda m, g: b1_ * m.astype(dtype) + dlr * (1 - b1_) * g, state.mu, grads)
        delta = jax.tree.map(lambda n, x: b2_ * n.astype(dtype) + dlr * (1 - b2_) * x,
                             state.delta, diff)
        nu = jax.tree.map(
            lambda v, g, x: b3_ * v.astype(dtype) + (1 - b3_) * jnp.square(g + b2_ * x),
            state.nu, grads, diff)
        s = jax.tree.map(lambda s, g: b3_ * s.astype(dtype) + dlr * (1 - b3_) * g, state.s, grads)
        mu, delta = _cast_like(mu, state.mu), _cast_like(delta, state.delta)
        nu, s = _cast_like(nu, state.nu), _cast_like(s, state.s)
        root = jax.tree.map(lambda v: jnp.sqrt(v.astype(dtype)) + eps_, nu)
        g_sq, sksq, s_l1 = _adan_sums(grads, s, nu, eps_, dtype)
        taken = s_l1 > 0
        gsq_weighted = b3_ * state.gsq_weighted + (1 - b3_) * dlr * dlr * g_sq
        d_hat = _ratio(sksq.astype(dtype) / (1 - b3_) - gsq_weighted, s_l1)
        d = _grow(state.d, d_hat, _scalar(growth_rate, dtype), lr, taken)

        def direction(m: jax.Array, n: jax.Array, r: jax.Array) -> jax.Array:
            return (m.astype(dtype) + b2_ * n.astype(dtype)) / r

        if needs_params:
            wd = _scalar(weight_decay, dtype)  # type: ignore[arg-type]
            decay = dlr * jnp.where(_decays(state.k, grads), wd, 0)

            def step(m: jax.Array, n: jax.Array, r: jax.Array, p: jax.Array,
                     g: jax.Array) -> jax.Array:
                # Proximal: x_{k+1} = (x_k - n_k) / (1 + decay), so x_k - x_{k+1} is below.
                u = direction(m, n, r) + decay * p.astype(dtype)
                return (u / (1 + decay) if proximal else u).astype(g.dtype)

            out = jax.tree.map(step, mu, delta, root, params, updates)
        else:
            out = jax.tree.map(lambda m, n, r, g: direction(m, n, r).astype(g.dtype),
                               mu, delta, root, updates)
        out = _still_at_zero_lr(out, lr)
        new_state = DAdaptAdanState(
            count=optax.safe_increment(state.count),
            k=jnp.where(taken, optax.safe_increment(state.k), state.k), d=d,
            gsq_weighted=jnp.where(taken, gsq_weighted, state.gsq_weighted),
            effective_lr=dlr, mu=mu, delta=delta, nu=nu, s=s,
            # Written after delta and nu read the old one (written_after: in place on CPU).
            prev_grad=jax.tree.map(written_after, _cast_like(grads, state.prev_grad),
                                   delta, nu),
        )
        return out, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_dadapt_adan)
def dadapt_adan(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float | jax.Array = 0.98,
    b2: float | jax.Array = 0.92,
    b3: float | jax.Array = 0.99,
    eps: float | jax.Array = 1e-8,
    weight_decay: float | jax.Array = 0.02,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    proximal: bool = True,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    """D-Adapted Adan, ready to use: :func:`scale_by_dadapt_adan` followed by the descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_adan(weight_decay=0.0)
      >>> state = tx.init(jnp.zeros(2))
    """
    return optax.chain(
        scale_by_dadapt_adan(learning_rate, b1, b2, b3, eps, weight_decay, d0, growth_rate,
                             proximal=proximal, state_dtype=state_dtype),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# D-Adapt Lion
# --------------------------------------------------------------------------------------------


class DAdaptLionState(NamedTuple):
    """State of :func:`scale_by_dadapt_lion`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates (schedule index)
    d: jax.Array  # shape=(), scalar dtype: distance estimate
    numerator: jax.Array  # shape=(), scalar dtype: EMA of lambda_k <sign_k, s_k>
    effective_lr: jax.Array  # shape=(), scalar dtype: lambda_k = lr d_k last applied
    mu: PyTree  # like params: EMA of lambda_k g_k
    s: PyTree  # like params: EMA (rate sqrt(b2)) of lambda_k sign_k


def scale_by_dadapt_lion(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.99,
    weight_decay: float | jax.Array = 0.0,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""D-Adapted Lion (sign updates with a distance estimate), without the descent sign.

    With :math:`\gamma` the learning rate and :math:`\beta = \sqrt{b_2}`:

    .. math::

       \lambda_k &= \gamma d_k, \qquad
       c_k = \operatorname{sign}(b_1 \mu_k + (1 - b_1) g_k), \qquad
       \mu_{k+1} = b_2 \mu_k + (1 - b_2)\lambda_k g_k, \\
       r_{k+1} &= \beta r_k + (1-\beta)\lambda_k \langle c_k, s_k\rangle, \qquad
       s_{k+1} = \beta s_k + (1-\beta)\lambda_k c_k, \\
       \hat d_{k+1} &= \frac{r_{k+1}}{(1-\beta)\|s_{k+1}\|_1}, \qquad
       d_{k+1} = \max(d_k, \min(\hat d_{k+1}, \text{growth\_rate}\cdot d_k)), \\
       u_k &= \lambda_k c_k + \lambda_k\,\text{weight\_decay}\; x_k.

    The returned :math:`u_k` is subtracted by :func:`dadapt_lion`; ``params`` are needed only
    with a non-zero ``weight_decay``. The momentum :math:`\mu` carries the factor
    :math:`\lambda` while the fresh gradient in :math:`c_k` does not, exactly as in the
    reference code: early on, while :math:`\lambda` is tiny, the sign follows the gradient.

    Args:
      learning_rate: multiplier of the adapted step, ``[0, inf)``, or a schedule. Leave at 1.
      b1: interpolation weight of the momentum inside the sign, ``[0, 1)``.
      b2: momentum decay, ``[0, 1)``; ``s`` and ``r`` decay at ``sqrt(b2)``.
      weight_decay: decoupled decay scaled by :math:`\lambda_k`, ``[0, inf)``.
      d0: initial distance estimate, ``(0, inf)``.
      growth_rate: largest factor by which ``d`` may grow in one step, ``[1, inf]``.
      state_dtype: dtype of the per-parameter state (keyword-only); ``None`` follows the
        parameters. ``jnp.float32`` keeps the statistics of bfloat16 models accurate (in
        bfloat16, decays such as ``sqrt(b2)`` round to 1).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_lion()
      >>> params = jnp.ones(3); state = tx.init(params)
      >>> updates, state = tx.update(jnp.ones(3), state, params)
      >>> print(f"{float(updates[0]):.3g}")  # -lambda_0 * sign(g)
      -1e-06

    References:
      The authors' ``DAdaptLion`` in ``dadaptation`` (not in the paper); Defazio and
      Mishchenko, ICML 2023; Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, NeurIPS 2023.

    Departures: ``growth_rate`` is an addition (the reference has none; the default ``inf``
    is the reference's behaviour), offered so that every D-Adaptation method takes the same
    arguments.
    """
    check_all(LION_RANGES, learning_rate=learning_rate, b1=b1, b2=b2,
              weight_decay=weight_decay, d0=d0, growth_rate=growth_rate)
    _check_state_dtype(state_dtype)
    needs_params = not _is_zero(weight_decay)

    def init_fn(params: PyTree) -> DAdaptLionState:
        check_real(params, "D-Adapt Lion")
        dtype = scalar_dtype(params, state_dtype)
        return DAdaptLionState(
            count=jnp.zeros((), jnp.int32), d=_scalar(d0, dtype),
            numerator=jnp.zeros((), dtype), effective_lr=jnp.zeros((), dtype),
            mu=_zeros(params, state_dtype), s=_zeros(params, state_dtype),
        )

    def update_fn(updates: PyTree, state: DAdaptLionState,
                  params: PyTree = None) -> tuple[PyTree, DAdaptLionState]:
        check_tree_match(updates, params)
        if needs_params and params is None:
            raise ValueError(_NO_PARAMS.format(name="scale_by_dadapt_lion with weight_decay"))
        dtype = state.d.dtype
        lr = _scalar(resolve(learning_rate, state.count), dtype)
        b1_, b2_ = _scalar(b1, dtype), _scalar(b2, dtype)
        beta = jnp.sqrt(b2_)
        dlr = state.d * lr
        grads = jax.tree.map(lambda g: g.astype(dtype), updates)
        signs = jax.tree.map(lambda m, g: jnp.sign(b1_ * m.astype(dtype) + (1 - b1_) * g),
                             state.mu, grads)
        # (Recomputing the signs inside the inner product's reduction instead of writing them
        # out saves 16 bytes per parameter but ran 1.1-1.9x slower: XLA:CPU's reduction
        # fusion evaluates sign slowly.)
        inner, terms = tree_vdot_by_leaf(signs, state.s)
        inner = inner.astype(dtype)
        mu = jax.tree.map(lambda m, g: b2_ * m.astype(dtype) + (1 - b2_) * dlr * g, state.mu, grads)
        # s is overwritten after its leaf's inner-product term reads it (written_after). The
        # momentum is still copied first: the update pass (in apply_updates) reads its old value.
        s = jax.tree.map(lambda s, c, t: beta * written_after(s, t).astype(dtype)
                         + (1 - beta) * dlr * c, state.s, signs, terms)
        mu, s = _cast_like(mu, state.mu), _cast_like(s, state.s)
        s_l1 = tree_l1_norm(s).astype(dtype)
        taken = s_l1 > 0
        numerator = beta * state.numerator + (1 - beta) * dlr * inner
        d_hat = _ratio(numerator, (1 - beta) * s_l1)
        d = _grow(state.d, d_hat, _scalar(growth_rate, dtype), lr, taken)
        if needs_params:
            wd = _scalar(weight_decay, dtype)  # type: ignore[arg-type]

            def step(c: jax.Array, p: jax.Array, g: jax.Array) -> jax.Array:
                return (dlr * wd * p.astype(dtype) + dlr * c).astype(g.dtype)

            out = jax.tree.map(step, signs, params, updates)
        else:
            out = jax.tree.map(lambda c, g: (dlr * c).astype(g.dtype), signs, updates)
        new_state = DAdaptLionState(
            count=optax.safe_increment(state.count),
            d=d, numerator=jnp.where(taken, numerator, state.numerator), effective_lr=dlr,
            mu=mu, s=s,
        )
        return out, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_dadapt_lion)
def dadapt_lion(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.99,
    weight_decay: float | jax.Array = 0.0,
    d0: float | jax.Array = 1e-6,
    growth_rate: float | jax.Array = math.inf,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    """D-Adapted Lion, ready to use: :func:`scale_by_dadapt_lion` followed by the descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.dadapt_lion(weight_decay=1e-2)
      >>> state = tx.init(jnp.zeros(2))
    """
    return optax.chain(
        scale_by_dadapt_lion(learning_rate, b1, b2, weight_decay, d0, growth_rate,
                             state_dtype=state_dtype),
        optax.scale(-1.0),
    )
