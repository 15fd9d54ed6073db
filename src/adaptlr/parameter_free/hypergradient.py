"""Hypergradient descent: learn the learning rate by gradient descent on the learning rate.

After the step :math:`\\theta_t = \\theta_{t-1} - \\alpha_{t-1} u_{t-1}` (``u`` the optimizer's
update direction), the loss at the new point depends on the learning rate through

.. math::

   \\frac{\\partial f(\\theta_t)}{\\partial \\alpha_{t-1}} = -\\nabla f(\\theta_t) \\cdot u_{t-1},

which costs one dot product with the gradient the next step computes anyway. Hypergradient
descent (Baydin et al., 2018) takes a gradient step on :math:`\\alpha` with it before each update.
"""

from __future__ import annotations

from collections.abc import Callable
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
    accumulation_dtype,
    check,
    check_all,
    check_choice,
    check_tree_match,
    in_float32_for_float16,
    is_checkable,
    leaf_mean,
    scalar_dtype,
    tree_norm,
    tree_vdot,
    written_after,
)
from adaptlr._docstrings import args_from

__all__ = [
    "ADAM_RANGES",
    "RANGES",
    "RULES",
    "SGD_RANGES",
    "HypergradientState",
    "ScaleByHypergradientState",
    "hypergradient",
    "hypergradient_adam",
    "hypergradient_sgd",
    "scale_by_hypergradient_adam",
    "scale_by_hypergradient_sgd",
]

#: The learning-rate update rules: ``"additive"`` (the paper's main rule) and
#: ``"multiplicative"`` (the paper's normalised "multiplicative rule" variant).
RULES = ("additive", "multiplicative")

_COMMON: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "meta_learning_rate": NON_NEGATIVE,
}
SGD_RANGES: dict[str, Interval] = {**_COMMON, "momentum": UNIT_INTERVAL}
#: The optional bound on the learned rate (``None``: unbounded, the paper's rule).
MAX_LR_RANGE = POSITIVE
ADAM_RANGES: dict[str, Interval] = {
    **_COMMON, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL, "eps": NON_NEGATIVE,
}
RANGES: dict[str, Interval] = {**SGD_RANGES, **ADAM_RANGES}


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, jnp.ones_like(den)), jnp.zeros_like(num))


def _next_learning_rate(
    alpha: PyTree, grads: PyTree, previous: PyTree, beta: Any, rule: str, per_parameter: bool
) -> PyTree:
    """One hypergradient step on ``alpha`` given ``h = d f / d alpha = -grads . previous``.

    ``previous`` is the previous unit-learning-rate descent direction ``u_{t-1}``.
    """
    if per_parameter:
        def leaf(a: jax.Array, g: jax.Array, u: jax.Array) -> jax.Array:
            gu = g.astype(a.dtype) * u.astype(a.dtype)
            if rule == "additive":
                return a + beta * gu
            # The cosine of two scalars is the sign of their product.
            return a * (1 + beta * jnp.sign(gu))

        return jax.tree.map(leaf, alpha, grads, previous)
    dot = tree_vdot(grads, previous).astype(alpha.dtype)
    if rule == "additive":
        return alpha + beta * dot
    norms = (tree_norm(grads) * tree_norm(previous)).astype(alpha.dtype)
    return alpha * (1 + beta * _safe_div(dot, norms))


class ScaleByHypergradientState(NamedTuple):
    """State of :func:`scale_by_hypergradient_sgd` and :func:`scale_by_hypergradient_adam`."""

    learning_rate: PyTree  # shape=() or like params, accumulation dtype: the learned alpha_t
    previous_direction: PyTree  # like params: u_{t-1}, the last unit-learning-rate direction
    inner_state: Any  # state of the direction (optax.trace / optax.scale_by_adam)
    effective_lr: PyTree  # shape=() like learning_rate, or (per_parameter) like params with one
    #                       float32 scalar per leaf, the mean of alpha: the step size applied
    #                       at the last update (0 before it)


def _scale_by_hypergradient(
    direction: optax.GradientTransformation,
    learning_rate: Any,
    meta_learning_rate: Any,
    rule: str,
    per_parameter: bool,
    max_lr: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    def alpha_like(params: PyTree, value: Any) -> PyTree:
        if per_parameter:
            return jax.tree.map(
                lambda p: jnp.full(p.shape, value, accumulation_dtype(p.dtype)), params
            )
        return jnp.asarray(value, scalar_dtype(params))

    def init_fn(params: PyTree) -> ScaleByHypergradientState:
        return ScaleByHypergradientState(
            learning_rate=alpha_like(params, learning_rate),
            previous_direction=optax.tree.zeros_like(params),
            inner_state=direction.init(params),
            effective_lr=(jax.tree.map(lambda p: jnp.zeros((), jnp.float32), params)
                          if per_parameter else alpha_like(params, 0.0)),
        )

    def update_fn(
        updates: PyTree,
        state: ScaleByHypergradientState,
        params: PyTree = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByHypergradientState]:
        check_tree_match(updates, params)
        del extra_args
        alpha = _next_learning_rate(
            state.learning_rate, updates, state.previous_direction, meta_learning_rate, rule,
            per_parameter,
        )
        if max_lr is not None:  # the optional guard: |alpha| <= max_lr
            alpha = jax.tree.map(lambda a: jnp.clip(a, -max_lr, max_lr), alpha)
        alpha = optax.tree.cast_like(alpha, state.learning_rate)
        u, inner_state = direction.update(updates, state.inner_state, params)
        u = optax.tree.cast_like(u, state.previous_direction)
        # The new direction is written after alpha's update reads the old one (written_after).
        previous = (jax.tree.map(written_after, u, alpha) if per_parameter
                    else written_after(u, alpha))
        if per_parameter:
            out = jax.tree.map(lambda a, d: (a * d).astype(d.dtype), alpha, u)
        else:
            out = jax.tree.map(lambda d: (alpha * d).astype(d.dtype), u)
        return out, ScaleByHypergradientState(
            learning_rate=alpha, previous_direction=previous, inner_state=inner_state,
            effective_lr=jax.tree.map(leaf_mean, alpha) if per_parameter else alpha,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def scale_by_hypergradient_sgd(
    learning_rate: float = 1e-3,
    meta_learning_rate: float = 1e-7,
    momentum: float = 0.0,
    *,
    nesterov: bool = False,
    rule: str = "additive",
    per_parameter: bool = False,
    max_lr: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    """SGD-HD: (momentum) SGD whose learning rate is learned by hypergradient descent.

    With :math:`u_t` the SGD direction (the gradient; with ``momentum`` PyTorch's
    :math:`v_t = \\mu v_{t-1} + g_t`, and :math:`u_t = v_t` or, Nesterov,
    :math:`g_t + \\mu v_t`), each update first moves the learning rate,

    .. math::

       \\text{additive:}\\quad \\alpha_t = \\alpha_{t-1} + \\beta\\, g_t \\cdot u_{t-1}, \\qquad
       \\text{multiplicative:}\\quad \\alpha_t = \\alpha_{t-1}\\Big(1 + \\beta
       \\frac{g_t \\cdot u_{t-1}}{\\lVert g_t\\rVert \\lVert u_{t-1}\\rVert}\\Big),

    then returns :math:`\\alpha_t u_t` (no sign; :func:`hypergradient_sgd` descends).
    ``per_parameter=True`` learns one :math:`\\alpha` per entry with the same rules applied
    entrywise (the multiplicative cosine of two numbers is the sign of their product).
    :math:`u_0 = 0`, so the first step uses :math:`\\alpha_0`.

    Args:
      learning_rate: the initial learning rate :math:`\\alpha_0`, range ``[0, inf)``. It is
        the starting point of the learned value held in the state, not a live multiplier.
      meta_learning_rate: the hypergradient learning rate :math:`\\beta`, range ``[0, inf)``
        (``0`` gives plain SGD). The rate moves by :math:`\\beta\\, g_t \\cdot u_{t-1}` per
        step, so :math:`\\beta` scales like :math:`1/\\lVert g\\rVert^2`: the paper's ``1e-3``
        suits its unit-scale losses; the default ``1e-7`` (the paper's Adam-HD value) stays
        stable where gradient norms reach the hundreds (Rosenbrock from its classical start).
      momentum: :math:`\\mu`, range ``[0, 1)``.
      nesterov: Nesterov momentum.
      rule: ``"additive"`` or ``"multiplicative"``.
      per_parameter: learn a learning rate per parameter entry instead of one global value.
      max_lr: optional guard, in ``(0, inf)``: the learned rate is clipped to
        ``[-max_lr, max_lr]`` after each hypergradient step. ``None`` (default): unbounded,
        as in the paper.

    Limits:
      The learned rate is unbounded. It grows by :math:`\\beta\\, g_t\\cdot u_{t-1}` per step,
      which is of the order of :math:`\\beta \\lVert g\\rVert^2`: with large gradients it can
      grow past the stability limit :math:`2/L` within a few steps and the run diverges
      (at the defaults, on :math:`\\tfrac12\\lVert x\\rVert^2` from :math:`x_0 = 10^4` per
      entry, the parameters reach inf at the fifth step). Scale :math:`\\beta` to your
      gradient norms, or set ``max_lr`` (e.g. to the largest learning rate plain SGD
      tolerates on the problem).

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.hypergradient_sgd(learning_rate=0.1, meta_learning_rate=0.01)
      >>> x = jnp.array([1.0, 2.0]); state = tx.init(x)
      >>> for _ in range(2):
      ...     updates, state = tx.update(x, state, x)  # gradient of 0.5 |x|^2
      ...     x = x + updates
      >>> round(float(adaptlr.effective_lr(state)), 6)  # 0.1 + 0.01 * (0.9 * 5)
      0.145

    References:
      Baydin, Cornish, Martinez Rubio, Schmidt and Wood, "Online Learning Rate Adaptation with
      Hypergradient Descent", ICLR 2018. Reference code: ``gbaydin/hypergradient-descent``.

    Departures:
      None in the update. The reference (``hypergrad.SGDHD``) accepts weight decay and
      dampening; chain ``optax.add_decayed_weights`` before for the former (dampening is
      omitted). The learned rate is not clipped at zero, as in the paper and the reference.
    """
    check_all(SGD_RANGES, learning_rate=learning_rate, meta_learning_rate=meta_learning_rate,
              momentum=momentum)
    check("max_lr", max_lr, MAX_LR_RANGE, allow_none=True)
    check_choice("rule", rule, RULES)
    if is_checkable(momentum) and float(momentum) == 0.0 and not nesterov:
        direction = optax.identity()
    else:
        direction = optax.trace(decay=momentum, nesterov=nesterov)
    return _scale_by_hypergradient(direction, learning_rate, meta_learning_rate, rule,
                                   per_parameter, max_lr)


@args_from(scale_by_hypergradient_sgd)
def hypergradient_sgd(
    learning_rate: float = 1e-3,
    meta_learning_rate: float = 1e-7,
    momentum: float = 0.0,
    *,
    nesterov: bool = False,
    rule: str = "additive",
    per_parameter: bool = False,
    max_lr: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    """SGD-HD (Baydin et al., ICLR 2018): :math:`\\theta_t = \\theta_{t-1} - \\alpha_t u_t`.

    See :func:`scale_by_hypergradient_sgd` for the rule and the arguments.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.hypergradient_sgd(learning_rate=0.01, meta_learning_rate=0.01)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(loss)(x), state, x)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Baydin et al., ICLR 2018.
    """
    return optax.chain(
        scale_by_hypergradient_sgd(learning_rate, meta_learning_rate, momentum,
                                   nesterov=nesterov, rule=rule, per_parameter=per_parameter,
                                   max_lr=max_lr),
        optax.scale(-1.0),
    )


def scale_by_hypergradient_adam(
    learning_rate: float = 1e-3,
    meta_learning_rate: float = 1e-7,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    rule: str = "additive",
    per_parameter: bool = False,
    max_lr: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Adam-HD: Adam whose learning rate is learned by hypergradient descent.

    :math:`u_t = \\hat m_t / (\\sqrt{\\hat v_t} + \\epsilon)` is Adam's direction
    (``optax.scale_by_adam``); the learning rate moves before each update as in
    :func:`scale_by_hypergradient_sgd`,

    .. math::

       \\alpha_t = \\alpha_{t-1} + \\beta\\, g_t \\cdot u_{t-1} \\quad\\text{(additive)},

    and the output is :math:`\\alpha_t u_t` (no sign; :func:`hypergradient_adam` descends).

    Args:
      learning_rate: the initial learning rate :math:`\\alpha_0`, range ``[0, inf)``.
      meta_learning_rate: :math:`\\beta`, range ``[0, inf)``; the paper uses ``1e-7``.
      b1, b2: Adam's decay rates, range ``[0, 1)``.
      eps: Adam's :math:`\\epsilon`, range ``[0, inf)``.
      rule: ``"additive"`` or ``"multiplicative"``.
      per_parameter: learn a learning rate per parameter entry.
      max_lr: optional bound on the learned rate, in ``(0, inf)`` (``None``: unbounded); see
        :func:`scale_by_hypergradient_sgd`'s "Limits".

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.hypergradient_adam(learning_rate=1e-2, meta_learning_rate=1e-3)
      >>> x = jnp.array([1.0, 2.0]); state = tx.init(x)
      >>> updates, state = tx.update(x, state, x)
      >>> updates, state = tx.update(x, state, x)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # 0.01 + 1e-3 * (1 + 2)
      0.013

    References:
      Baydin, Cornish, Martinez Rubio, Schmidt and Wood, ICLR 2018. Reference code:
      ``gbaydin/hypergradient-descent`` (``hypergrad.AdamHD``).

    Departures:
      Adam's direction is Optax's, :math:`\\hat m / (\\sqrt{\\hat v} + \\epsilon)`; the reference
      code uses PyTorch's older :math:`\\hat m / (\\sqrt{v}/\\sqrt{1-b_2^t} + \\epsilon)`
      (``eps`` added before the bias correction), which differs only in how ``eps`` scales.
      The reference updates the learning rate parameter tensor by parameter tensor inside one
      step, so later tensors see a learning rate already moved by earlier tensors' partial
      hypergradients; we take the paper's single dot product over all parameters.
      Weight decay of the reference: chain ``optax.add_decayed_weights`` before.
      For float16 parameters Adam's moments are kept and its direction computed in float32
      (``eps = 1e-8`` underflows in float16; the state turned NaN at the first step).
    """
    check_all(ADAM_RANGES, learning_rate=learning_rate, meta_learning_rate=meta_learning_rate,
              b1=b1, b2=b2, eps=eps)
    check("max_lr", max_lr, MAX_LR_RANGE, allow_none=True)
    check_choice("rule", rule, RULES)
    # float16: Adam's eps and small squared gradients underflow; its moments are kept in
    # float32 (in_float32_for_float16), as the other methods keep statistics.
    return _scale_by_hypergradient(
        in_float32_for_float16(optax.scale_by_adam(b1=b1, b2=b2, eps=eps)), learning_rate,
        meta_learning_rate, rule, per_parameter, max_lr)


@args_from(scale_by_hypergradient_adam)
def hypergradient_adam(
    learning_rate: float = 1e-3,
    meta_learning_rate: float = 1e-7,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    rule: str = "additive",
    per_parameter: bool = False,
    max_lr: float | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Adam-HD (Baydin et al., ICLR 2018): Adam with a learning rate learned by hypergradients.

    See :func:`scale_by_hypergradient_adam` for the rule, the arguments and the departures.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr, optax
      >>> loss = lambda x: 0.5 * jnp.sum(x ** 2)
      >>> tx = adaptlr.hypergradient_adam(learning_rate=0.05, meta_learning_rate=1e-4)
      >>> x = jnp.array([1.0, -1.0]); state = tx.init(x)
      >>> for _ in range(100):
      ...     updates, state = tx.update(jax.grad(loss)(x), state, x)
      ...     x = optax.apply_updates(x, updates)
      >>> bool(loss(x) < 0.05)
      True

    References:
      Baydin et al., ICLR 2018.
    """
    return optax.chain(
        scale_by_hypergradient_adam(learning_rate, meta_learning_rate, b1, b2, eps, rule=rule,
                                    per_parameter=per_parameter, max_lr=max_lr),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# Any optimizer
# --------------------------------------------------------------------------------------------


class HypergradientState(NamedTuple):
    """State of :func:`hypergradient`."""

    learning_rate: jax.Array  # shape=(), accumulation dtype: the learned alpha_t
    previous_tangent: PyTree  # like params: d(update_{t-1}) / d(alpha_{t-1})
    inner_state: Any  # the wrapped optimizer's state
    effective_lr: jax.Array  # shape=(), accumulation dtype: alpha at the last update (0 before)


def hypergradient(
    optimizer_factory: Callable[..., optax.GradientTransformation],
    learning_rate: float,
    meta_learning_rate: float,
    *,
    rule: str = "additive",
    **optimizer_kwargs: Any,
) -> optax.GradientTransformationExtraArgs:
    """Learn the learning rate of any Optax optimizer by hypergradient descent.

    ``optimizer_factory(learning_rate=alpha, **optimizer_kwargs)`` is rebuilt at every update
    with the current learned :math:`\\alpha` as a traced value, exactly as
    ``optax.inject_hyperparams`` does, so any factory that ``inject_hyperparams`` accepts
    works (``optax.sgd``, ``optax.adam``, ``optax.lion``, adaptlr's methods, ...). The
    derivative of the update with respect to :math:`\\alpha` is computed exactly by
    forward-mode differentiation (``jax.jvp``), and at the next step

    .. math::

       \\alpha_t = \\alpha_{t-1} - \\beta\\, g_t \\cdot
       \\frac{\\partial\\, \\Delta\\theta_{t-1}}{\\partial \\alpha_{t-1}}
       \\qquad\\Big(= \\alpha_{t-1} - \\beta \\frac{\\partial f(\\theta_t)}{\\partial
       \\alpha_{t-1}}\\Big),

    with the multiplicative rule normalising the dot product by the two norms as in
    :func:`scale_by_hypergradient_sgd`. For ``optax.sgd`` this is SGD-HD exactly; for an
    optimizer whose update is :math:`-\\alpha u` it is the paper's rule with that :math:`u`.

    Args:
      optimizer_factory: an Optax optimizer factory with a ``learning_rate`` argument.
      learning_rate: the initial learning rate :math:`\\alpha_0`, range ``[0, inf)``.
      meta_learning_rate: :math:`\\beta`, range ``[0, inf)``.
      rule: ``"additive"`` or ``"multiplicative"``.
      **optimizer_kwargs: the wrapped optimizer's other arguments.

    Returns:
      A descent-ready optimizer (the wrapped optimizer's updates, sign included). Extra
      ``update`` arguments (``value=``) are forwarded to the wrapped optimizer.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.hypergradient(optax.adam, learning_rate=1e-2, meta_learning_rate=1e-3,
      ...                            b1=0.9)
      >>> x = jnp.array([1.0, 2.0]); state = tx.init(x)
      >>> updates, state = tx.update(x, state, x)
      >>> round(float(adaptlr.effective_lr(state)), 6)
      0.01

    References:
      Baydin et al., ICLR 2018 (Section 2 derives the rule for any update rule).

    Departures:
      The paper differentiates through the update rule by hand for each optimizer; here the
      derivative is taken by ``jax.jvp``, which also counts every other dependence of the
      update on :math:`\\alpha` (none for Optax's aliases, where the learning rate is the last
      multiplier, but e.g. ``optax.adamw``'s decoupled decay, which is also scaled by it).
      The forward-mode pass costs about one more evaluation of the update.
    """
    check_all(_COMMON, learning_rate=learning_rate, meta_learning_rate=meta_learning_rate)
    check_choice("rule", rule, RULES)
    if isinstance(optimizer_factory, optax.GradientTransformation) or not callable(
            optimizer_factory):
        raise TypeError(
            f"optimizer_factory must be an optimizer factory such as optax.adam (called here "
            f"with learning_rate=...), got {type(optimizer_factory).__name__}: pass the "
            f"factory, not a built transformation such as optax.adam(1e-3)")

    def build(alpha: Any) -> optax.GradientTransformationExtraArgs:
        return optax.with_extra_args_support(
            optimizer_factory(learning_rate=alpha, **optimizer_kwargs)
        )

    def init_fn(params: PyTree) -> HypergradientState:
        dtype = scalar_dtype(params)
        return HypergradientState(
            learning_rate=jnp.asarray(learning_rate, dtype),
            previous_tangent=optax.tree.zeros_like(params),
            inner_state=build(jnp.asarray(learning_rate, dtype)).init(params),
            effective_lr=jnp.zeros((), dtype),
        )

    def update_fn(
        updates: PyTree,
        state: HypergradientState,
        params: PyTree = None,
        **extra_args: Any,
    ) -> tuple[PyTree, HypergradientState]:
        check_tree_match(updates, params)
        # The tangent is the derivative of a descent update (-alpha u), so u = -tangent.
        minus_u = state.previous_tangent
        alpha = _next_learning_rate(
            state.learning_rate, updates, jax.tree.map(jnp.negative, minus_u),
            meta_learning_rate, rule, per_parameter=False,
        ).astype(state.learning_rate.dtype)

        def step(a: jax.Array) -> tuple[PyTree, Any]:
            return build(a).update(updates, state.inner_state, params, **extra_args)

        (new_updates, inner_state), (tangent, _) = jax.jvp(
            step, (alpha,), (jnp.ones_like(alpha),)
        )
        tangent = optax.tree.cast_like(tangent, state.previous_tangent)
        return new_updates, HypergradientState(
            learning_rate=alpha, previous_tangent=tangent, inner_state=inner_state,
            effective_lr=alpha,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
