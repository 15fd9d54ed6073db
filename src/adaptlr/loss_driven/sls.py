"""Stochastic line searches: SLS (Vaswani et al., 2019) and AdaSLS (Jiang and Stich, 2023).

Both pick the step size of SGD by backtracking on the *mini-batch* loss: starting from a trial
step :math:`\\eta`, they shrink it by a factor :math:`\\beta` until the Armijo condition

.. math::

   f_{i_k}(x_k - \\eta\\, g_k) \\le f_{i_k}(x_k) - c\\,\\eta\\,\\lVert g_k\\rVert^2

holds for the same mini-batch :math:`i_k` that gave :math:`g_k`. SLS takes that step (and
starts the next search from it, grown by :math:`\\gamma^{1/n}`); AdaSLS divides it by the root
of the accumulated :math:`\\sum_s \\eta_s \\lVert g_s\\rVert^2` and keeps the result
non-increasing, which makes it converge without interpolation.

Each trial is one forward pass of the loss, so ``update`` needs the loss as a function of the
parameters: ``update(grads, state, params, value=loss, value_fn=loss_fn)``, Optax's convention
for :func:`optax.scale_by_backtracking_linesearch`. Extra keyword arguments of ``update`` that
``value_fn`` accepts (a batch, ``x=...``, ``y=...``) are passed on to it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    POSITIVE,
    Interval,
    PyTree,
    ScalarOrSchedule,
    check_all,
    check_real,
    check_tree_match,
    resolve,
    scalar_dtype,
    tree_sq_norm,
    tree_vdot,
)
from adaptlr._docstrings import args_from

__all__ = [
    "ADASLS_RANGES",
    "RANGES",
    "SLS_RANGES",
    "ScaleByAdaSlsState",
    "ScaleBySlsState",
    "adasls",
    "scale_by_adasls",
    "scale_by_sls",
    "sls",
    "value_fn_on_subtree",
]

_OPEN_UNIT = Interval(0.0, 1.0, lower_closed=False, upper_closed=False)
_STEPS = Interval(1, math.inf, integer=True)

SLS_RANGES: dict[str, Interval] = {
    # The cap of the step size: inf (the authors' package) means none.
    "learning_rate": Interval(0.0, math.inf, upper_closed=True),
    "init_step_size": POSITIVE,
    "c": _OPEN_UNIT,
    "beta_b": _OPEN_UNIT,
    "gamma": Interval(1.0, math.inf),
    "reset_option": Interval(0, 2, integer=True),
    "n_batches_per_epoch": _STEPS,
    "max_backtracking_steps": _STEPS,
}
ADASLS_RANGES: dict[str, Interval] = {
    "learning_rate": Interval(0.0, math.inf),
    "c": POSITIVE,
    "rho": _OPEN_UNIT,
    "beta": _OPEN_UNIT,
    "max_backtracking_steps": _STEPS,
}
#: Every documented range in this module.
RANGES: dict[str, Interval] = {**SLS_RANGES, **ADASLS_RANGES}

#: The authors' ``sls`` package: no search below this gradient norm, and the step taken when
#: the search fails.
_MIN_GRAD_NORM = 1e-8
_FALLBACK_STEP = 1e-6


def value_fn_on_subtree(loss_fn: Callable[..., Any], params: PyTree) -> Callable[..., Any]:
    """A ``value_fn`` for a line search that sees only part of the parameters.

    Inside ``optax.masked``, ``optax.multi_transform`` / ``optax.partition`` or
    :func:`adaptlr.param_groups`, a line search receives the parameters with the leaves of
    the other groups replaced by ``optax.MaskedNode``. The returned function fills those
    leaves from ``params`` (the full parameters of the current step) and calls ``loss_fn``,
    so the search moves its own leaves with the others held where they are.

    Args:
      loss_fn: the loss of the full parameters, ``loss_fn(params, *args, **kwargs)``.
      params: the full parameters at the current step.

    Returns:
      ``value_fn(sub_params, *args, **kwargs)``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)
      >>> params = {"w": jnp.ones(2), "b": jnp.ones(2)}
      >>> sub = {"w": jnp.zeros(2), "b": optax.MaskedNode()}
      >>> float(adaptlr.value_fn_on_subtree(loss, params)(sub))
      2.0
    """

    def masked(x: Any) -> bool:
        return isinstance(x, optax.MaskedNode)

    def value_fn(sub: PyTree, *args: Any, **kwargs: Any) -> Any:
        full = jax.tree.map(lambda s, p: p if masked(s) else s, sub, params, is_leaf=masked)
        return loss_fn(full, *args, **kwargs)

    return value_fn


def _value_fn_kwargs(value_fn: Callable[..., Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The extra arguments of ``update`` that ``value_fn`` takes (all of them for ``**kw``)."""
    try:
        parameters = inspect.signature(value_fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(extra)
    names = {p.name for p in parameters
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return {k: v for k, v in extra.items() if k in names}


class _Problem(NamedTuple):
    value: jax.Array  # f(x_k), scalar dtype
    direction: PyTree  # u_k: the trial points are x_k - eta u_k
    slope: jax.Array  # <u_k, g_k> (= |g_k|^2 when u_k is the gradient)
    grad_sq_norm: jax.Array  # |g_k|^2
    evaluate: Callable[[jax.Array], jax.Array]  # eta -> f(x_k - eta u_k)


def _problem(method: str, updates: PyTree, params: PyTree, value: Any, grad: PyTree,
             value_fn: Any, extra: dict[str, Any], dtype: Any) -> _Problem:
    check_tree_match(updates, params)
    if params is None:
        raise ValueError(f"{method} evaluates the loss at trial points: call update(grads, "
                         "state, params, value=loss, value_fn=loss_fn)")
    if value_fn is None or not callable(value_fn):
        raise ValueError(
            f"{method} backtracks on the loss: call update(grads, state, params, value=loss, "
            "value_fn=loss_fn), loss_fn(params, **batch) the mini-batch loss of the same batch "
            "as grads (optax.chain and Flax's nnx.Optimizer pass these keywords on)")
    fn_kwargs = _value_fn_kwargs(value_fn, extra)

    def loss_at(p: PyTree) -> jax.Array:
        out = jnp.asarray(value_fn(p, **fn_kwargs))
        if out.ndim != 0:
            raise ValueError(f"{method}: value_fn must return the scalar loss, got shape "
                             f"{out.shape}")
        return out.astype(dtype)

    if value is None:
        loss = loss_at(params)
    else:
        loss = jnp.asarray(value)
        if loss.ndim != 0:
            raise ValueError(f"{method}: value must be the scalar loss, got shape {loss.shape}")
        loss = loss.astype(dtype)
    if grad is None:
        grad = updates
    else:
        check_tree_match(grad, params, name="grad")
    sq = tree_sq_norm(grad).astype(dtype)
    slope = sq if grad is updates else tree_vdot(updates, grad).astype(dtype)

    def evaluate(eta: jax.Array) -> jax.Array:
        # The point optax.apply_updates will produce: x + (-(eta u)) in the parameter dtype.
        trial = jax.tree.map(
            lambda p, u: (p - (eta * u).astype(u.dtype)).astype(p.dtype), params, updates)
        return loss_at(trial)

    return _Problem(loss, updates, slope, sq, evaluate)


def _backtrack(problem: _Problem, start: jax.Array, active: jax.Array, c: Any, beta: Any,
               max_steps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Shrink ``start`` by ``beta`` until Armijo holds, at most ``max_steps`` evaluations.

    Returns ``(eta, found, evaluations)``: on success ``eta`` is the accepted step, otherwise
    ``start * beta ** evaluations`` (the step after the last rejection). NaN losses reject.
    """
    dtype = start.dtype
    c = jnp.asarray(c, dtype)
    beta = jnp.asarray(beta, dtype)

    def cond(carry: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        i, _, found = carry
        return active & ~found & (i < max_steps)

    def body(carry: tuple[jax.Array, jax.Array, jax.Array],
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
        i, eta, _ = carry
        ok = problem.evaluate(eta) <= problem.value - eta * c * problem.slope
        return i + 1, jnp.where(ok, eta, eta * beta), ok

    init = (jnp.zeros((), jnp.int32), start, jnp.zeros((), bool))
    evaluations, eta, found = jax.lax.while_loop(cond, body, init)
    return eta, found, evaluations


def _scale(step: jax.Array, updates: PyTree) -> PyTree:
    return jax.tree.map(lambda u: (step * u).astype(u.dtype), updates)


# --------------------------------------------------------------------------------------------
# SLS
# --------------------------------------------------------------------------------------------


class ScaleBySlsState(NamedTuple):
    """State of :func:`scale_by_sls`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    step_size: jax.Array  # shape=(), scalar dtype: step the next search resets from
    evaluations: jax.Array  # shape=(), int32: loss evaluations of the last search
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): step applied last


def scale_by_sls(
    learning_rate: ScalarOrSchedule = math.inf,
    init_step_size: float = 1.0,
    c: float = 0.1,
    beta_b: float = 0.9,
    gamma: float = 2.0,
    reset_option: int = 1,
    n_batches_per_epoch: int = 500,
    max_backtracking_steps: int = 100,
) -> optax.GradientTransformationExtraArgs:
    """SGD's step size by a stochastic Armijo line search with a reset rule (no sign).

    At step :math:`k`, with mini-batch loss :math:`f_{i_k}` and gradient :math:`g_k`: the
    trial step is the previous step :math:`\\eta_{k-1}` (:math:`\\eta_{-1}` =
    ``init_step_size``) reset by ``reset_option``

    * ``0``: :math:`\\eta \\leftarrow \\eta_{k-1}`;
    * ``1``: :math:`\\eta \\leftarrow \\eta_{k-1}\\,\\gamma^{1/n}` (:math:`n` =
      ``n_batches_per_epoch``, so the step may grow by :math:`\\gamma` per epoch);
    * ``2``: :math:`\\eta \\leftarrow` ``init_step_size``,

    capped at ``learning_rate``, then shrunk :math:`\\eta \\leftarrow \\beta_b\\,\\eta` until

    .. math::

       f_{i_k}(x_k - \\eta\\, g_k) \\le f_{i_k}(x_k) - c\\,\\eta\\,\\lVert g_k\\rVert^2,

    and :math:`\\eta_k = \\eta`, :math:`u_k = \\eta_k g_k`. Where :math:`\\lVert g_k\\rVert <
    10^{-8}` there is no search and no move (the reset step is kept); where all
    ``max_backtracking_steps`` (:math:`K`) trials fail, the step is :math:`10^{-6}` (or
    ``learning_rate`` if smaller) and the next search starts from :math:`\\beta_b^{K}` times
    the trial (the authors' package). A trial whose loss is NaN is rejected.

    Args:
      learning_rate: the largest step size, range ``[0, inf]`` or a schedule; ``inf`` (the
        authors' package) means no cap, ``0`` no step.
      init_step_size: :math:`\\eta_{-1}`, range ``(0, inf)``.
      c: Armijo constant, range ``(0, 1)``.
      beta_b: backtracking factor, range ``(0, 1)``.
      gamma: growth per epoch of the reset step (``reset_option=1``), range ``[1, inf)``.
      reset_option: ``0`` keep, ``1`` grow by :math:`\\gamma^{1/n}`, ``2`` restart from
        ``init_step_size``; an integer in ``[0, 2]``.
      n_batches_per_epoch: :math:`n`, mini-batches per epoch, an integer in ``[1, inf)``.
      max_backtracking_steps: :math:`K`, the most loss evaluations per update (the bound of
        the ``lax.while_loop``), an integer in ``[1, inf)``.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params`` and
      ``value_fn=`` (the mini-batch loss as a function of the parameters, for the batch of
      ``grads``); ``value=`` (the loss at ``params``) saves one evaluation; ``grad=`` (the
      gradient, when ``updates`` is another direction, as in Optax's line search) sets the
      Armijo slope :math:`\\langle u_k, g_k\\rangle`. Other keywords that ``value_fn`` accepts
      are passed on to it.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(x ** 2)
      >>> tx = adaptlr.sls(init_step_size=4.0, reset_option=0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(loss)(x)
      >>> updates, state = tx.update(grad, state, x, value=value, value_fn=loss)
      >>> # Armijo holds for eta <= 2 (1 - c) = 1.8 here: 4 * 0.9^8 is the first trial below
      >>> round(float(adaptlr.effective_lr(state)), 4)
      1.7219

    References:
      Vaswani, Mishkin, Laradji, Schmidt, Gidel and Lacoste-Julien, "Painless Stochastic
      Gradient: Interpolation, Line-Search, and Convergence Rates", NeurIPS 2019 (Algorithm
      1 with the reset rule). Reference code: the authors' ``sls`` package
      (github.com/IssamLaradji/sls, ``sls/sls.py``, Armijo variant).

    Departures:
      Follows the authors' package where it and the paper differ: ``reset_option`` is
      numbered as in the package (the paper's Algorithm 2 numbers "reset to
      :math:`\\eta_{max}`" as 1 and the growth :math:`\\gamma^{b/n}` as 2); the first search
      already starts from the reset step (the paper's first step starts from
      :math:`\\eta_{max}`); no search below a gradient norm of :math:`10^{-8}`, and a step of
      :math:`10^{-6}` when ``max_backtracking_steps`` (the package's fixed 100) trials fail.
      ``learning_rate`` (a cap on every trial, not in the package's Armijo variant) is added
      so that a schedule or ``optax.inject_hyperparams`` can bound the step; at its default
      ``inf`` the method is the package's. The package's Goldstein variant is not provided.
      Complex parameters are refused.
    """
    check_all(SLS_RANGES, learning_rate=learning_rate, init_step_size=init_step_size, c=c,
              beta_b=beta_b, gamma=gamma, reset_option=reset_option,
              n_batches_per_epoch=n_batches_per_epoch,
              max_backtracking_steps=max_backtracking_steps)
    max_steps = int(max_backtracking_steps)
    option = int(reset_option)

    def init_fn(params: PyTree) -> ScaleBySlsState:
        check_real(params, "sls")
        dtype = scalar_dtype(params)
        return ScaleBySlsState(count=jnp.zeros((), jnp.int32),
                               step_size=jnp.asarray(init_step_size, dtype),
                               evaluations=jnp.zeros((), jnp.int32),
                               effective_lr=jnp.zeros((), dtype))

    def update_fn(
        updates: PyTree,
        state: ScaleBySlsState,
        params: PyTree = None,
        *,
        value: Any = None,
        grad: PyTree = None,
        value_fn: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleBySlsState]:
        dtype = state.effective_lr.dtype
        problem = _problem("sls", updates, params, value, grad, value_fn, extra_args, dtype)
        if option == 0:
            reset = state.step_size
        elif option == 1:
            reset = state.step_size * jnp.asarray(gamma ** (1.0 / n_batches_per_epoch), dtype)
        else:
            reset = jnp.asarray(init_step_size, dtype)
        cap = jnp.asarray(resolve(learning_rate, state.count), dtype)
        start = jnp.minimum(reset, cap)
        active = (jnp.sqrt(problem.grad_sq_norm) >= _MIN_GRAD_NORM) & (start > 0)
        eta, found, evaluations = _backtrack(problem, start, active, c, beta_b, max_steps)
        applied = jnp.where(found, eta, jnp.minimum(jnp.asarray(_FALLBACK_STEP, dtype), cap))
        applied = jnp.where(active, applied, 0.0)
        step_size = jnp.where(active, eta, reset)
        return _scale(applied, updates), ScaleBySlsState(
            count=optax.safe_increment(state.count), step_size=step_size,
            evaluations=evaluations, effective_lr=applied)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_sls)
def sls(
    learning_rate: ScalarOrSchedule = math.inf,
    init_step_size: float = 1.0,
    c: float = 0.1,
    beta_b: float = 0.9,
    gamma: float = 2.0,
    reset_option: int = 1,
    n_batches_per_epoch: int = 500,
    max_backtracking_steps: int = 100,
) -> optax.GradientTransformationExtraArgs:
    """SGD with the stochastic Armijo line search SLS (Vaswani et al., 2019).

    ``update(grads, state, params, value=loss, value_fn=loss_fn)``. See :func:`scale_by_sls`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.sls()
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> @jax.jit
      ... def step(x, state):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value, value_fn=loss)
      ...     return optax.apply_updates(x, updates), state
      >>> for _ in range(50):
      ...     x, state = step(x, state)
      >>> bool(loss(x) < 1e-6)
      True

    References:
      Vaswani et al., NeurIPS 2019.
    """
    return optax.chain(
        scale_by_sls(learning_rate, init_step_size, c, beta_b, gamma, reset_option,
                     n_batches_per_epoch, max_backtracking_steps),
        optax.scale(-1.0))


# --------------------------------------------------------------------------------------------
# AdaSLS
# --------------------------------------------------------------------------------------------


class ScaleByAdaSlsState(NamedTuple):
    """State of :func:`scale_by_adasls`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates so far
    weighted_sum: jax.Array  # shape=(), scalar dtype: sum of gamma_s |g_s|^2 so far
    bounded: jax.Array  # shape=(), bool: whether a previous step bounds the next one
    line_search_step: jax.Array  # shape=(), scalar dtype: gamma_t of the last search
    evaluations: jax.Array  # shape=(), int32: loss evaluations of the last search
    effective_lr: jax.Array  # shape=(), float32 (float64 for f64 params): eta_{t-1}


def scale_by_adasls(
    learning_rate: ScalarOrSchedule = 10.0,
    c: float = 1.0,
    rho: float = 0.5,
    beta: float = 0.8,
    max_backtracking_steps: int = 100,
) -> optax.GradientTransformationExtraArgs:
    """AdaSLS: an Armijo line-search step over the root of the summed searched steps (no sign).

    Each step, :math:`\\gamma_t` is found by backtracking from :math:`\\gamma_{max}`
    (``learning_rate``) by :math:`\\beta` until :math:`f_{i_t}(x_t - \\gamma g_t) \\le
    f_{i_t}(x_t) - \\rho\\,\\gamma\\lVert g_t\\rVert^2`; then

    .. math::

       \\eta_t = \\min\\Big\\{\\frac{\\gamma_t}{c_l\\sqrt{\\sum_{s=0}^{t}\\gamma_s
       \\lVert g_s\\rVert^2}},\\ \\eta_{t-1}\\Big\\},\\qquad \\eta_{-1} = +\\infty,
       \\qquad u_t = \\eta_t g_t.

    Args:
      learning_rate: :math:`\\gamma_{max}`, where every search starts, range ``[0, inf)`` or
        a schedule; ``0`` gives no step.
      c: :math:`c_l`, range ``(0, inf)`` (the paper's theory under interpolation:
        :math:`c_l = 1/(\\rho\\sqrt{\\gamma_0\\lVert g_0\\rVert^2})`; its experiments tune it).
      rho: :math:`\\rho`, the Armijo constant, range ``(0, 1)``.
      beta: :math:`\\beta`, the backtracking factor, range ``(0, 1)`` (the theory takes
        :math:`[1/2, 1)`).
      max_backtracking_steps: :math:`K`, the most loss evaluations per update, an integer
        in ``[1, inf)``.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` takes ``params``, ``value=``,
      ``value_fn=`` (and ``grad=``) as :func:`scale_by_sls` does.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(x ** 2)
      >>> tx = adaptlr.adasls(learning_rate=1.0, c=1.0)
      >>> x = jnp.array([1.0, -2.0]); state = tx.init(x)
      >>> value, grad = jax.value_and_grad(loss)(x)
      >>> updates, state = tx.update(grad, state, x, value=value, value_fn=loss)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # 1 / sqrt(1 * 5): gamma_0 = 1
      0.447214

    References:
      Jiang and Stich, "Adaptive SGD with Polyak stepsize and Line-search: Robust Convergence
      and Variance Reduction", NeurIPS 2023 (AdaSLS, with its Armijo backtracking).

    Departures:
      No packaged reference. The step rule is taken from a restatement of the paper's
      Algorithms 1-2 (Wu 2025, arXiv:2511.20207), as the paper's own text was not available
      when this was written, and checked against a NumPy transcription of it. The defaults
      (``rho`` 0.5, ``beta`` 0.8, :math:`\\gamma_{max}` 10, :math:`c_l` 1) are choices inside
      the paper's ranges, not the values of its experiments. The paper's search always
      terminates (smooth losses); here at most :math:`K` trials are made, and if all fail
      :math:`\\gamma_t = \\gamma_{max}\\beta^{K}`. A zero gradient makes no trial
      (:math:`\\gamma_t = \\gamma_{max}`, which the condition accepts in exact arithmetic).
      While the sum is 0 (every gradient so far zero) there is no bound yet and no move (the
      paper's :math:`\\gamma_t / 0`). The accumulation follows :func:`adaptlr.adasps`: the
      sum includes the current term, the previous step is the stored
      :math:`\\eta_{t-1}`. Complex parameters are refused.
    """
    check_all(ADASLS_RANGES, learning_rate=learning_rate, c=c, rho=rho, beta=beta,
              max_backtracking_steps=max_backtracking_steps)
    max_steps = int(max_backtracking_steps)

    def init_fn(params: PyTree) -> ScaleByAdaSlsState:
        check_real(params, "adasls")
        dtype = scalar_dtype(params)
        return ScaleByAdaSlsState(count=jnp.zeros((), jnp.int32),
                                  weighted_sum=jnp.zeros((), dtype),
                                  bounded=jnp.zeros((), bool),
                                  line_search_step=jnp.zeros((), dtype),
                                  evaluations=jnp.zeros((), jnp.int32),
                                  effective_lr=jnp.zeros((), dtype))

    def update_fn(
        updates: PyTree,
        state: ScaleByAdaSlsState,
        params: PyTree = None,
        *,
        value: Any = None,
        grad: PyTree = None,
        value_fn: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ScaleByAdaSlsState]:
        dtype = state.effective_lr.dtype
        problem = _problem("adasls", updates, params, value, grad, value_fn, extra_args, dtype)
        gamma_max = jnp.asarray(resolve(learning_rate, state.count), dtype)
        active = (problem.grad_sq_norm > 0) & (gamma_max > 0)
        gamma_t, _, evaluations = _backtrack(problem, gamma_max, active, rho, beta, max_steps)
        weighted_sum = state.weighted_sum + gamma_t * problem.grad_sq_norm
        ok = weighted_sum > 0
        ratio = jnp.where(
            ok, gamma_t / (jnp.asarray(c, dtype) * jnp.sqrt(jnp.where(ok, weighted_sum, 1.0))),
            jnp.inf)
        previous = jnp.where(state.bounded, state.effective_lr, jnp.inf)
        step = jnp.minimum(ratio, previous)
        bounded = jnp.isfinite(step)
        step = jnp.where(bounded, step, 0.0)
        return _scale(step, updates), ScaleByAdaSlsState(
            count=optax.safe_increment(state.count), weighted_sum=weighted_sum,
            bounded=bounded, line_search_step=gamma_t, evaluations=evaluations,
            effective_lr=step)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_adasls)
def adasls(
    learning_rate: ScalarOrSchedule = 10.0,
    c: float = 1.0,
    rho: float = 0.5,
    beta: float = 0.8,
    max_backtracking_steps: int = 100,
) -> optax.GradientTransformationExtraArgs:
    """SGD with AdaSLS (Jiang and Stich, NeurIPS 2023).

    ``update(grads, state, params, value=loss, value_fn=loss_fn)``. See
    :func:`scale_by_adasls`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x ** 2)
      >>> tx = adaptlr.adasls(c=0.5)
      >>> x = jnp.array([1.0, 1.0]); state = tx.init(x)
      >>> @jax.jit
      ... def step(x, state):
      ...     value, grad = jax.value_and_grad(loss)(x)
      ...     updates, state = tx.update(grad, state, x, value=value, value_fn=loss)
      ...     return optax.apply_updates(x, updates), state
      >>> for _ in range(200):
      ...     x, state = step(x, state)
      >>> bool(loss(x) < 1e-3)
      True

    References:
      Jiang and Stich, NeurIPS 2023.
    """
    return optax.chain(scale_by_adasls(learning_rate, c, rho, beta, max_backtracking_steps),
                       optax.scale(-1.0))
