"""Reduce the learning rate on a plateau of a monitored value (loss or validation metric).

The rule of Keras' and PyTorch's ``ReduceLROnPlateau``: keep the best monitored value seen so
far; an evaluation that does not beat it by the threshold is "bad"; after more than
``patience`` consecutive bad evaluations multiply the scale by ``factor`` (not below
``min_scale``) and ignore the next ``cooldown`` evaluations.

Two ways to use it:

* **Chained, fed the loss** (:func:`scale_by_reduce_on_plateau`): an
  ``optax.GradientTransformationExtraArgs`` whose ``update`` takes ``value=loss`` (averaged
  over ``accumulation_size`` updates before each evaluation), so it follows any optimizer in
  ``optax.chain`` and multiplies its updates by the current scale.
* **As a controller fed a validation metric** (:func:`plateau_controller`): the transformation
  part only applies the scale; the training loop calls ``controller.step(opt_state, metric)``
  every ``k`` steps, a pure function that works inside ``jax.jit`` and ``lax.scan``.

The scale multiplies the step-size record of the optimizer it is chained with:
:func:`adaptlr.effective_lr` of ``optax.chain(adaptlr.prodigy(), scale_by_reduce_on_plateau())``
reports Prodigy's step size times the scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    Interval,
    PyTree,
    ScalarOrSchedule,
    check_all,
    check_choice,
    check_tree_match,
    is_checkable,
    scalar_dtype,
    scale_by_learning_rate,
)
from adaptlr._docstrings import args_from

__all__ = [
    "RANGES",
    "PlateauController",
    "ReduceOnPlateauState",
    "plateau_controller",
    "reduce_on_plateau",
    "scale_by_reduce_on_plateau",
]

RANGES: dict[str, Interval] = {
    "factor": Interval(0.0, 1.0, lower_closed=False, upper_closed=False),
    "patience": Interval(0.0, float(2**31 - 1), integer=True),
    "threshold": NON_NEGATIVE,
    "cooldown": Interval(0.0, float(2**31 - 1), integer=True),
    "min_scale": Interval(0.0, 1.0),
    "min_lr": NON_NEGATIVE,
    "eps": NON_NEGATIVE,
    "accumulation_size": Interval(1.0, float(2**31 - 1), integer=True),
    "learning_rate": NON_NEGATIVE,
}

_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_FEEDS = ("value", "controller")


class ReduceOnPlateauState(NamedTuple):
    """State of :func:`scale_by_reduce_on_plateau` (every field a scalar).

    ``scale`` multiplies the step-size record of the optimizer this state is chained with
    (``adaptlr.effective_lr`` reads it through the :attr:`effective_lr` property).
    """

    scale: jax.Array  # shape=(), float32 (float64 for f64 params): current multiplier
    best: jax.Array  # shape=(), like scale: best monitored value so far (+-inf at start)
    num_bad: jax.Array  # shape=(), int32: consecutive evaluations without improvement
    cooldown_count: jax.Array  # shape=(), int32: evaluations left to ignore after a cut
    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: values since last evaluation
    accumulated: jax.Array  # shape=(), like scale: sum of those values

    @property
    def effective_lr(self) -> jax.Array:
        """The scale: the step size when nothing else in the chain records one."""
        return self.scale


#: Tells :mod:`adaptlr.introspect` to multiply the records of the chain this state sits in by
#: ``scale`` rather than report the scale on its own (a class attribute, not a state field).
ReduceOnPlateauState.multiplies_chain_records = True  # type: ignore[attr-defined]


class _Config(NamedTuple):
    factor: Any
    patience: Any
    threshold: Any
    mode: str
    threshold_mode: str
    cooldown: Any
    min_scale: Any
    eps: Any
    accumulation_size: Any


def _init_state(dtype: Any, mode: str) -> ReduceOnPlateauState:
    worst = jnp.inf if mode == "min" else -jnp.inf
    def zero() -> jax.Array:  # a buffer per field: the state may be donated
        return jnp.zeros((), jnp.int32)

    return ReduceOnPlateauState(
        scale=jnp.ones((), dtype), best=jnp.asarray(worst, dtype), num_bad=zero(),
        cooldown_count=zero(), count=zero(), accumulated=jnp.zeros((), dtype),
    )


def _is_better(current: jax.Array, best: jax.Array, config: _Config) -> jax.Array:
    dtype = best.dtype
    threshold = jnp.asarray(config.threshold, dtype)
    # |best| keeps a relative threshold meaning "better" for negative values too (PyTorch's
    # best * (1 - threshold) would accept a slightly worse negative loss); the where keeps
    # inf - inf from turning the initial +-inf bound into NaN.
    margin = threshold * jnp.abs(best) if config.threshold_mode == "rel" else threshold
    margin = jnp.where(jnp.isfinite(best), margin, 0.0)
    if config.mode == "min":
        return current < best - margin
    return current > best + margin


def _evaluate(state: ReduceOnPlateauState, current: jax.Array,
              config: _Config) -> ReduceOnPlateauState:
    """One evaluation of the monitored value (PyTorch's ``ReduceLROnPlateau.step``)."""
    dtype = state.scale.dtype
    better = _is_better(current, state.best, config)  # False for NaN: a bad evaluation
    best = jnp.where(better, current, state.best)
    num_bad = jnp.where(better, 0, optax.safe_increment(state.num_bad))
    in_cooldown = state.cooldown_count > 0
    cooldown_count = jnp.where(in_cooldown, state.cooldown_count - 1, state.cooldown_count)
    num_bad = jnp.where(in_cooldown, 0, num_bad)
    reduce = num_bad > jnp.asarray(config.patience, jnp.int32)
    cut = jnp.maximum(state.scale * jnp.asarray(config.factor, dtype),
                      jnp.asarray(config.min_scale, dtype))
    changes = state.scale - cut > jnp.asarray(config.eps, dtype)
    scale = jnp.where(reduce & changes, cut, state.scale)
    cooldown_count = jnp.where(reduce, jnp.asarray(config.cooldown, jnp.int32), cooldown_count)
    num_bad = jnp.where(reduce, 0, num_bad)
    return state._replace(scale=scale.astype(dtype), best=best.astype(dtype),
                          num_bad=num_bad.astype(jnp.int32),
                          cooldown_count=cooldown_count.astype(jnp.int32))


def _feed(state: ReduceOnPlateauState, value: jax.Array, config: _Config) -> ReduceOnPlateauState:
    """Accumulate ``value``; every ``accumulation_size`` values, evaluate their mean."""
    dtype = state.scale.dtype
    count = state.count + 1
    total = state.accumulated + value.astype(dtype)
    size = jnp.asarray(config.accumulation_size, jnp.int32)
    full = count >= size
    evaluated = _evaluate(state, total / size.astype(dtype), config)
    keep = state._replace(count=count, accumulated=total)
    reset = evaluated._replace(count=jnp.zeros((), jnp.int32), accumulated=jnp.zeros((), dtype))
    return jax.tree.map(lambda a, b: jnp.where(full, a, b), reset, keep)


def _metric(value: Any, method: str, dtype: Any) -> jax.Array:
    if value is None:
        raise ValueError(
            f"{method} monitors the loss: call update(grads, state, params, value=loss) (with "
            "optax.chain and Flax's nnx.Optimizer, pass value=loss to update); to feed a "
            "validation metric instead, use adaptlr.plateau_controller"
        )
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{method}: value must be a scalar, got shape {value.shape}")
    return value.astype(dtype)


def _config(factor: Any, patience: Any, threshold: Any, mode: str, threshold_mode: str,
            cooldown: Any, min_scale: Any, eps: Any, accumulation_size: Any) -> _Config:
    check_choice("mode", mode, _MODES)
    check_choice("threshold_mode", threshold_mode, _THRESHOLD_MODES)
    check_all(RANGES, factor=factor, patience=patience, threshold=threshold, cooldown=cooldown,
              min_scale=min_scale, eps=eps, accumulation_size=accumulation_size)
    return _Config(factor, patience, threshold, mode, threshold_mode, cooldown, min_scale, eps,
                   accumulation_size)


def scale_by_reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    *,
    mode: str = "min",
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_scale: float = 0.0,
    eps: float = 1e-8,
    accumulation_size: int = 1,
    feed: str = "value",
) -> optax.GradientTransformationExtraArgs:
    """Multiply updates by a scale that is cut by ``factor`` when the monitored value plateaus.

    With :math:`v_k` the mean of the ``accumulation_size`` values fed since the last evaluation
    and :math:`b` the best so far, evaluation :math:`k` is an improvement when

    .. math::

       v_k < b - \\tau |b| \\ (\\text{rel}), \\qquad v_k < b - \\tau \\ (\\text{abs})

    in ``mode="min"`` (``>`` and ``+`` in ``mode="max"``). After an improvement the count of
    bad evaluations resets; during ``cooldown`` evaluations after a cut it stays 0. When it
    exceeds ``patience``, :math:`s \\leftarrow \\max(\\rho s, s_{\\min})` (skipped when that
    changes :math:`s` by ``eps`` or less). The output is :math:`s\\, u_t`; with ``feed="value"``
    the scale used is the one after processing this update's value (as Optax's
    ``contrib.reduce_on_plateau``).

    Args:
      factor: :math:`\\rho`, range ``(0, 1)``.
      patience: bad evaluations tolerated before a cut, integer in ``[0, 2^31)``.
      threshold: :math:`\\tau`, range ``[0, inf)``.
      mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
      threshold_mode: ``"rel"`` (:math:`\\tau |b|`) or ``"abs"`` (:math:`\\tau`).
      cooldown: evaluations ignored after a cut, integer in ``[0, 2^31)``.
      min_scale: :math:`s_{\\min}`, range ``[0, 1]``.
      eps: smallest change of the scale that is applied, range ``[0, inf)`` (PyTorch's
        ``eps``, here in units of the scale).
      accumulation_size: values averaged per evaluation, integer in ``[1, 2^31)``; 1 when the
        value is already a validation metric, the number of steps per epoch for minibatch
        losses.
      feed: ``"value"``: ``update`` requires ``value=`` and feeds it; ``"controller"``: ``update``
        only applies the scale and a loop feeds metrics through :func:`plateau_controller`.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; its state is a
      :class:`ReduceOnPlateauState`.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.chain(adaptlr.scale_by_learning_rate(0.1),
      ...                  adaptlr.scale_by_reduce_on_plateau(patience=1))
      >>> params = jnp.zeros(2); state = tx.init(params)
      >>> for loss in [3.0, 2.0, 2.0, 2.0]:
      ...     updates, state = tx.update(jnp.ones(2), state, params, value=loss)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # SGD's 0.1 times the cut scale 0.1
      0.01

    References:
      PyTorch ``torch.optim.lr_scheduler.ReduceLROnPlateau``; Keras ``ReduceLROnPlateau``;
      Optax ``contrib.reduce_on_plateau``.

    Departures:
      From PyTorch: the relative threshold uses :math:`|b|`, so that on a negative loss an
      improvement still means a lower value (PyTorch's :math:`b (1 - \\tau)` is *above* a
      negative :math:`b` and counts a slightly worse value as better); identical for
      :math:`b \\ge 0`. ``min_scale`` and ``eps`` are in units of the scale (PyTorch's
      ``min_lr`` and ``eps`` are in units of the learning rate; :func:`reduce_on_plateau`
      takes them so). A NaN value is a bad evaluation, as in PyTorch (the comparison is
      false); it never reaches the scale. From Optax's ``contrib.reduce_on_plateau``: a cut
      happens after *more than* ``patience`` bad evaluations (Optax: exactly ``patience``, so
      Optax's ``patience=p + 1`` is ours ``p``), ``mode="max"`` exists, and the threshold is
      either relative or absolute (Optax combines ``rtol`` and ``atol``). See
      ``docs/loss_driven.md``.
    """
    check_choice("feed", feed, _FEEDS)
    config = _config(factor, patience, threshold, mode, threshold_mode, cooldown, min_scale,
                     eps, accumulation_size)

    def init_fn(params: PyTree) -> ReduceOnPlateauState:
        return _init_state(scalar_dtype(params), mode)

    def update_fn(
        updates: PyTree,
        state: ReduceOnPlateauState,
        params: PyTree = None,
        *,
        value: Any = None,
        **extra_args: Any,
    ) -> tuple[PyTree, ReduceOnPlateauState]:
        del extra_args
        check_tree_match(updates, params)
        if feed == "value":
            state = _feed(state, _metric(value, "scale_by_reduce_on_plateau",
                                         state.scale.dtype), config)
        scale = state.scale
        return jax.tree.map(lambda u: (scale * u).astype(u.dtype), updates), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class PlateauController(NamedTuple):
    """A plateau rule fed from the training loop; see :func:`plateau_controller`.

    Attributes:
      transformation: chain it after the optimizer; its ``update`` applies the current scale.
      step: ``step(tree, metric) -> tree``: feeds ``metric`` (a scalar) to every
        :class:`ReduceOnPlateauState` in ``tree`` (an optimizer state, or one such state).
      init: ``init(dtype=jnp.float32) -> ReduceOnPlateauState``, for a controller kept
        outside the optimizer (the ``optax.inject_hyperparams`` pattern).
    """

    transformation: optax.GradientTransformationExtraArgs
    step: Callable[[PyTree, Any], PyTree]
    init: Callable[..., ReduceOnPlateauState]


@args_from(scale_by_reduce_on_plateau)
def plateau_controller(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    *,
    mode: str = "min",
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_scale: float = 0.0,
    eps: float = 1e-8,
    accumulation_size: int = 1,
) -> PlateauController:
    """Reduce-on-plateau fed a validation metric every ``k`` steps by the training loop.

    The arguments and the rule are those of :func:`scale_by_reduce_on_plateau`; an evaluation
    happens at every ``accumulation_size``-th call of ``step``. ``step`` is pure and
    traceable, so the whole loop can live in ``jax.jit`` / ``lax.scan`` (feed the metric
    under ``lax.cond`` or with a ``jnp.where`` on the state, as below).

    Example (scale inside the optimizer):
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> ctrl = adaptlr.plateau_controller(patience=0)
      >>> tx = optax.chain(optax.sgd(0.1), ctrl.transformation)
      >>> state = tx.init(jnp.zeros(2))
      >>> @jax.jit
      ... def evaluate(state, val_loss):
      ...     return ctrl.step(state, val_loss)
      >>> for val_loss in [1.0, 1.0]:
      ...     state = evaluate(state, val_loss)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # scale cut once (no update yet)
      0.1

    Example (``optax.inject_hyperparams``: the controller's scale sets the learning rate):
      >>> ctrl = adaptlr.plateau_controller(patience=0)
      >>> tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
      >>> opt_state, plateau = tx.init(jnp.zeros(2)), ctrl.init()
      >>> for val_loss in [1.0, 1.0]:
      ...     plateau = ctrl.step(plateau, val_loss)
      ...     opt_state.hyperparams["learning_rate"] = 1e-3 * plateau.scale
      >>> round(float(opt_state.hyperparams["learning_rate"]), 8)
      0.0001

    Every :class:`ReduceOnPlateauState` in the tree passed to ``step`` is fed: use one
    controller per optimizer state.
    """
    config = _config(factor, patience, threshold, mode, threshold_mode, cooldown, min_scale,
                     eps, accumulation_size)
    transformation = scale_by_reduce_on_plateau(
        factor, patience, threshold, mode=mode, threshold_mode=threshold_mode,
        cooldown=cooldown, min_scale=min_scale, eps=eps, accumulation_size=accumulation_size,
        feed="controller")

    def step(tree: PyTree, metric: Any) -> PyTree:
        def feed_one(node: Any) -> Any:
            if isinstance(node, ReduceOnPlateauState):
                return _feed(node, _metric(metric, "plateau_controller", node.scale.dtype),
                             config)
            return node

        return jax.tree.map(feed_one, tree,
                            is_leaf=lambda x: isinstance(x, ReduceOnPlateauState))

    def init(dtype: Any = jnp.float32) -> ReduceOnPlateauState:
        return _init_state(jnp.dtype(dtype), mode)

    return PlateauController(transformation, step, init)


def reduce_on_plateau(
    learning_rate: ScalarOrSchedule = 0.1,
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    *,
    mode: str = "min",
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    eps: float = 1e-8,
    accumulation_size: int = 1,
) -> optax.GradientTransformationExtraArgs:
    """SGD whose learning rate is cut on a plateau of the loss fed as ``value=``.

    ``optax.chain(scale_by_reduce_on_plateau(...), adaptlr.scale_by_learning_rate(lr))``
    with PyTorch's units: ``min_lr`` and ``eps`` are learning rates (divided by
    ``learning_rate`` to give the scale's ``min_scale`` and ``eps``). To put the rule after
    another optimizer, chain :func:`scale_by_reduce_on_plateau` after it.

    Args:
      learning_rate: initial learning rate, range ``[0, inf)``, or a schedule (then
        ``min_lr`` must be 0 and ``eps`` is in units of the scale).
      min_lr: smallest learning rate, range ``[0, learning_rate]``.
      eps: smallest change of the learning rate that is applied, range ``[0, inf)``.
      factor, patience, threshold, mode, threshold_mode, cooldown, accumulation_size: see
        :func:`scale_by_reduce_on_plateau`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.reduce_on_plateau(learning_rate=0.5, patience=2, min_lr=0.01)
      >>> x = jnp.array([1.0]); state = tx.init(x)
      >>> for _ in range(30):  # f = |x| oscillates around 0 at a fixed step: plateaus
      ...     value, grad = jax.value_and_grad(lambda x: jnp.sum(jnp.abs(x - 0.3)))(x)
      ...     updates, state = tx.update(grad, state, x, value=value)
      ...     x = optax.apply_updates(x, updates)
      >>> round(float(adaptlr.effective_lr(state)), 6)
      0.01

    References:
      PyTorch ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
    """
    check_all(RANGES, min_lr=min_lr, eps=eps)
    if callable(learning_rate):
        if is_checkable(min_lr) and float(min_lr) != 0.0:
            raise ValueError("min_lr must be 0 when learning_rate is a schedule, got "
                             f"{min_lr!r} (cut a constant learning rate, or clip the schedule)")
        min_scale: Any = 0.0
        eps_scale: Any = eps
    else:
        check_all(RANGES, learning_rate=learning_rate)
        if is_checkable(learning_rate) and is_checkable(min_lr) and min_lr > learning_rate:
            raise ValueError(f"min_lr must be in [0, learning_rate={learning_rate}], got "
                             f"{min_lr!r}")
        # learning_rate = 0 (no step; the one rule of CONTRIBUTING.md) forces min_lr = 0: the
        # scale's floor is then 0 and eps stays in units of the scale.
        zero_lr = is_checkable(learning_rate) and float(learning_rate) == 0.0
        min_scale = 0.0 if zero_lr else min_lr / learning_rate
        eps_scale = eps if zero_lr else eps / learning_rate
    core = scale_by_reduce_on_plateau(
        factor, patience, threshold, mode=mode, threshold_mode=threshold_mode,
        cooldown=cooldown, min_scale=min_scale, eps=eps_scale,
        accumulation_size=accumulation_size)
    return optax.chain(core, scale_by_learning_rate(learning_rate))
