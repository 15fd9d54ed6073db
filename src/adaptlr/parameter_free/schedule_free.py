"""Schedule-Free SGD, AdamW and RAdam, and the Schedule-Free wrapper (Defazio et al., 2024).

Schedule-Free keeps three sequences: the base iterate ``z`` (an SGD or Adam step), the
evaluation point ``x`` (a weighted running average of the ``z``), and the point ``y`` between
them where gradients are taken:

.. math::

    y_k = (1-\\beta_1) z_k + \\beta_1 x_k, \\qquad
    z_{k+1} = z_k - \\gamma_k \\hat g_k, \\qquad
    x_{k+1} = (1-c_{k+1}) x_k + c_{k+1} z_{k+1},

with :math:`c_{k+1} = w_{k+1} / \\sum_{i \\le k+1} w_i` and
:math:`w_{k+1} = (k+1)^r\\, (\\max_{i \\le k}\\gamma_i)^{p}` (``r``, ``weight_lr_power`` = p).
The model's parameters hold ``y`` during training; the state holds ``z``, and ``x`` follows from
the two (``x = (y - (1-\\beta_1) z) / \\beta_1``), so the memory is that of the base method plus
one buffer. :func:`schedule_free_eval_params` returns ``x``, the point to evaluate and ship.

Cost: SGD, AdamW and RAdam are elementwise, with no global reduction: the training step reads
``g``, ``y``, ``z`` (and ``v``) and writes ``y``, ``z`` (and ``v``). The reference forms ``y'``
from the old ``z``, :math:`y' = y + c(z-y) + \\gamma(\\beta_1(1-c) - 1) g'`; here the same
quantity is written with :math:`z = z' + \\gamma g'` as
:math:`y' = y + c(z'-y) - \\gamma(1-\\beta_1)(1-c) g'`, equal in exact arithmetic (the goldens
agree to 1e-10). Then only the pass that writes ``z'`` reads the old ``z``, and XLA:CPU
updates the donated ``z`` in place with its default options; with the old ``z`` in ``y'``
as well it copies ``z`` first (Optax's form: 8 bytes per parameter more and a fresh buffer).
For AdamW and RAdam the ``y'`` pass recomputes the normalised gradient ``g'`` from ``g`` and
the new ``v`` instead of reading it back (XLA would write it out for its two consumers). XLA's
count per float32 parameter: SGD 28 bytes (Optax's 36), AdamW and RAdam 48 (Optax's AdamW 52).
A concrete zero weight decay is left out so ``z'`` does not read ``y``.
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
    accumulation_dtype,
    check_all,
    check_real,
    check_transformation,
    check_tree_match,
    map_leaves,
    resolve,
    scalar_dtype,
)
from adaptlr._docstrings import args_from

__all__ = [
    "RANGES",
    "ScheduleFreeState",
    "refined_schedule_free_adamw",
    "scale_by_refined_schedule_free_adamw",
    "scale_by_schedule_free",
    "scale_by_schedule_free_adamw",
    "scale_by_schedule_free_radam",
    "scale_by_schedule_free_sgd",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_radam",
    "schedule_free_sgd",
]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    # x is recovered from y and z by dividing by b1, so b1 = 0 (Polyak averaging) is excluded.
    "b1": Interval(0.0, 1.0, lower_closed=False),
    "b2": UNIT_INTERVAL,
    "eps": POSITIVE,
    "decoupling_c": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "warmup_steps": Interval(0.0, math.inf, integer=True),
    "r": NON_NEGATIVE,
    "weight_lr_power": NON_NEGATIVE,
}


class ScheduleFreeState(NamedTuple):
    """State of every Schedule-Free transformation in this module.

    ``S`` is the scalar dtype: float32, or float64 for float64 parameters.
    """

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: steps taken (k)
    b1: jax.Array  # shape=(), S: the interpolation weight of the last update (for eval)
    z: PyTree  # like params (state dtype): the base iterate z
    base_state: PyTree  # SGD: (); AdamW/RAdam: second moments like params; wrapper: its state
    lr_max: jax.Array  # shape=(), S: largest learning rate so far (averaging weights)
    weight_sum: jax.Array  # shape=(), S: sum of the averaging weights so far
    effective_lr: jax.Array  # shape=(), S: learning rate of the last z step (warmup included)


# --------------------------------------------------------------------------------------------
# The evaluation point
# --------------------------------------------------------------------------------------------


def _find_states(node: Any, out: list[ScheduleFreeState]) -> None:
    if isinstance(node, ScheduleFreeState):
        out.append(node)
    elif isinstance(node, tuple) and hasattr(node, "_fields"):
        for child in node:
            _find_states(child, out)
    elif isinstance(node, (tuple, list)):
        for child in node:
            _find_states(child, out)
    elif isinstance(node, dict):
        for child in node.values():
            _find_states(child, out)


def _is_masked(node: Any) -> bool:
    return isinstance(node, optax.MaskedNode)


def schedule_free_eval_params(opt_state: PyTree, params: PyTree) -> PyTree:
    """The evaluation point ``x`` of a Schedule-Free optimizer whose parameters hold ``y``.

    Finds every :class:`ScheduleFreeState` inside ``opt_state`` (in a chain, ``optax.masked``,
    ``optax.multi_transform``, ``optax.inject_hyperparams``, ``optax.MultiSteps``, ...) and
    replaces the parameters each one covers by ``x = (y - (1 - b1) z) / b1``; parameters that
    no Schedule-Free state covers are returned unchanged. The result has the parameters' dtypes.

    Args:
      opt_state: the state of a Schedule-Free optimizer (alone or inside a chain,
        ``masked`` or ``multi_transform``).
      params: the training parameters ``y`` the optimizer updates.

    Raises:
      ValueError: when ``opt_state`` holds no Schedule-Free state.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.schedule_free_sgd(learning_rate=0.1)
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> updates, state = tx.update(params, state, params)
      >>> x = adaptlr.schedule_free_eval_params(state, params + updates)

    Flax NNX: pass ``nnx.Optimizer.opt_state`` and ``nnx.state(model, nnx.Param)`` directly;
    the result is that ``nnx.State`` with plain arrays in place of the ``nnx.Param``
    variables, ready for ``nnx.update(model, x)`` (see docs/nnx.md). Flax is not imported here.
    """
    # nnx.Optimizer wraps the state's arrays in nnx.OptVariable and nnx.state(...) holds
    # nnx.Param variables: read both as arrays. An NNX object exists only once flax.nnx is
    # imported, so sys.modules finds the Variable class without importing flax.
    import sys

    nnx = sys.modules.get("flax.nnx")
    variable = getattr(nnx, "Variable", None)
    if isinstance(variable, type):
        def is_variable(leaf: Any) -> bool:
            return isinstance(leaf, variable)

        def unwrap(tree: PyTree) -> PyTree:
            return jax.tree.map(lambda v: v.get_value() if is_variable(v) else v, tree,
                                is_leaf=is_variable)

        opt_state, params = unwrap(opt_state), unwrap(params)
    states: list[ScheduleFreeState] = []
    _find_states(opt_state, states)
    if not states:
        raise ValueError(
            "schedule_free_eval_params found no ScheduleFreeState in opt_state: build the "
            "optimizer with adaptlr.schedule_free_* or adaptlr.schedule_free"
        )
    x = params
    for state in states:
        b1 = state.b1

        def evaluate(z: Any, y: Any, b1: jax.Array = b1) -> Any:
            if _is_masked(z):
                return y
            cdt = accumulation_dtype(y.dtype)
            yc, zc, bc = y.astype(cdt), z.astype(cdt), b1.astype(cdt)
            return ((yc - (1 - bc) * zc) / bc).astype(y.dtype)

        x = jax.tree.map(evaluate, state.z, x, is_leaf=_is_masked)
    return x


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _is_zero(value: Any) -> bool:
    """Whether ``value`` is a concrete zero (a traced or scheduled value is not)."""
    return isinstance(value, (int, float)) and value == 0


def _averaging_weight(
    count: jax.Array, lr: jax.Array, state: ScheduleFreeState, r: Any, weight_lr_power: Any
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(c_{k+1}, lr_max, weight_sum)`` after a step with learning rate ``lr``."""
    sdtype = state.lr_max.dtype
    lr_max = jnp.maximum(lr, state.lr_max)
    step = (count + 1).astype(sdtype)
    weight = step ** jnp.asarray(r, sdtype) * lr_max ** jnp.asarray(weight_lr_power, sdtype)
    weight_sum = state.weight_sum + weight
    # The reference's ZeroDivisionError fallback: no weight yet (learning rate 0) means c = 0.
    positive = weight_sum > 0
    c = jnp.where(positive, weight / jnp.where(positive, weight_sum, 1), 0)
    return c.astype(sdtype), lr_max, weight_sum


def _init_state(
    params: PyTree, b1: Any, state_dtype: Any, base_state: PyTree
) -> ScheduleFreeState:
    sdtype = scalar_dtype(params)
    z = jax.tree.map(
        lambda p: jnp.array(p, dtype=state_dtype or p.dtype, copy=True), params
    )
    return ScheduleFreeState(
        count=jnp.zeros((), jnp.int32),
        b1=jnp.asarray(resolve(b1, jnp.zeros((), jnp.int32)), sdtype),
        z=z,
        base_state=base_state,
        lr_max=jnp.zeros((), sdtype),
        weight_sum=jnp.zeros((), sdtype),
        effective_lr=jnp.zeros((), sdtype),
    )


# --------------------------------------------------------------------------------------------
# Schedule-Free SGD, AdamW, RAdam: one fused elementwise pass
# --------------------------------------------------------------------------------------------


def _fused(
    kind: str,
    learning_rate: ScalarOrSchedule,
    b1: float,
    b2: float,
    eps: float,
    weight_decay: float,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
    silent_sgd_phase: bool,
    state_dtype: Any,
    decoupling_c: Any = 0.0,
) -> optax.GradientTransformation:
    adaptive = kind in ("adamw", "radam")
    # A concrete zero decay is left out, so that z' does not read y (one buffer less).
    decays = not _is_zero(weight_decay)

    def init_fn(params: PyTree) -> ScheduleFreeState:
        if adaptive:  # Schedule-Free SGD treats complex entries as (real, imaginary) pairs
            check_real(params, f"Schedule-Free {'AdamW' if kind == 'adamw' else 'RAdam'}")
        nu = (
            jax.tree.map(lambda p: jnp.zeros(p.shape, state_dtype or p.dtype), params)
            if adaptive
            else ()
        )
        return _init_state(params, b1, state_dtype, nu)

    def update_fn(
        updates: PyTree, state: ScheduleFreeState, params: PyTree = None
    ) -> tuple[PyTree, ScheduleFreeState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError(f"schedule_free_{kind} needs params: update(grads, state, params)")
        sdtype = state.lr_max.dtype
        k = state.count
        step = (k + 1).astype(sdtype)
        beta1 = jnp.asarray(b1, sdtype)
        beta2 = jnp.asarray(b2, sdtype)
        lr = jnp.asarray(resolve(learning_rate, k), sdtype)
        use_adam = jnp.ones((), bool)
        if kind == "radam":
            beta2_t = beta2**step
            bias_correction2 = 1 - beta2_t
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * beta2_t / bias_correction2
            use_adam = rho_t > 4
            ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            sgd_phase = jnp.asarray(0.0 if silent_sgd_phase else 1.0, sdtype)
            rect = jnp.where(use_adam, jnp.sqrt(jnp.where(use_adam, ratio, 1)), sgd_phase)
            lr_t = lr * rect
        else:
            bias_correction2 = 1 - beta2**step
            if not _is_zero(warmup_steps):
                # Traced under inject_hyperparams: then a zero value must also mean no warmup.
                warmup = jnp.asarray(warmup_steps, sdtype)
                safe = jnp.where(warmup > 0, warmup, 1)
                lr_t = lr * jnp.where(warmup > 0, jnp.minimum(step / safe, 1), 1)
            else:
                lr_t = lr
        c, lr_max, weight_sum = _averaging_weight(k, lr_t, state, r, weight_lr_power)
        if not _is_zero(decoupling_c):
            # Refined Schedule-Free (Song et al., 2025): c scaled by (1 - b1) C, capped at 1;
            # C = 0 (traced under inject_hyperparams) keeps the plain weight.
            big_c = jnp.asarray(decoupling_c, sdtype)
            c = jnp.where(big_c > 0, jnp.minimum(1, c * (1 - beta1) * big_c), c)
        # y' = y + c (z - y) + lr (b1 (1 - c) - 1) g', g' the normalised, decayed gradient.
        y_coefficient = lr_t * (beta1 * (1 - c) - 1)

        def leaf(
            g: jax.Array, y: jax.Array, z: jax.Array, v: jax.Array | None
        ) -> tuple[jax.Array, jax.Array, jax.Array | None]:
            cdt = accumulation_dtype(y.dtype)
            gc, yc, zc = g.astype(cdt), y.astype(cdt), z.astype(cdt)

            def direction(gc: jax.Array, yc: jax.Array, v_new: jax.Array | None) -> jax.Array:
                # The normalised, decayed gradient g' of the z step.
                if v_new is not None:
                    denom = jnp.sqrt(v_new / bias_correction2.astype(cdt)) + jnp.asarray(eps, cdt)
                    gc = jnp.where(use_adam, gc / denom, gc)
                if decays:
                    gc = gc + jnp.asarray(weight_decay, cdt) * yc
                return gc

            v_new = v_out = None
            if v is not None:
                v_new = beta2.astype(cdt) * v.astype(cdt) + (1 - beta2).astype(cdt) * gc * gc
                v_out = v_new.astype(v.dtype)
            g_step = direction(gc, yc, v_new)
            z_new = zc - lr_t.astype(cdt) * g_step
            # y' = y + c (z - y) + y_coefficient g' (the reference's form) with z = z' + lr g':
            # y' = y + c (z' - y) + (c lr + y_coefficient) g'. Only z' reads the old z, so XLA
            # updates the donated z in place. With the old z in y' as well, XLA:CPU's default
            # copy insertion copies z first (8 bytes per parameter and a fresh buffer).
            # For AdamW and RAdam, g' is recomputed from hidden copies of its inputs: XLA would
            # otherwise write it out for its two consumers (4 bytes more than recomputing).
            g_dir = (
                g_step if v is None
                else direction(*jax.lax.optimization_barrier((gc, yc, v_new)))
            )
            descent = -(
                c.astype(cdt) * (z_new - yc) + (c * lr_t + y_coefficient).astype(cdt) * g_dir
            )
            return descent.astype(y.dtype), z_new.astype(z.dtype), v_out

        descent, z, nu = map_leaves(leaf, 3, updates, params, state.z,
                                    state.base_state if adaptive else None)
        nu = nu if adaptive else ()
        new_state = ScheduleFreeState(
            count=optax.safe_increment(k),
            b1=beta1,
            z=z,
            base_state=nu,
            lr_max=lr_max,
            weight_sum=weight_sum,
            effective_lr=lr_t,
        )
        return descent, new_state

    return optax.GradientTransformation(init_fn, update_fn)




def scale_by_schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-Free SGD's move of ``y``, negated (``y - y'``); see :func:`schedule_free_sgd`."""
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, weight_decay=weight_decay,
        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
    )
    return _fused(
        "sgd", learning_rate, b1, 0.0, 1.0, weight_decay, warmup_steps, r,
        weight_lr_power, True, state_dtype,
    )


def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-Free SGD.

    With :math:`\gamma_k = \gamma \min(1, (k+1)/T_{warmup})` and
    :math:`\hat g_k = \nabla f(y_k) + \lambda y_k`:

    .. math::

        z_{k+1} = z_k - \gamma_k \hat g_k, \quad
        x_{k+1} = (1-c_{k+1}) x_k + c_{k+1} z_{k+1}, \quad
        y_{k+1} = (1-\beta_1) z_{k+1} + \beta_1 x_{k+1},

    computed without storing ``x``:
    :math:`y_{k+1} = y_k + c_{k+1}(z_k - y_k) + \gamma_k(\beta_1(1-c_{k+1}) - 1)\hat g_k`.
    See the module docstring for :math:`c`. Evaluate at
    ``schedule_free_eval_params(opt_state, params)``.

    Args:
      learning_rate: in ``[0, inf)`` or a schedule (evaluated at the step count ``0, 1, ...``).
      b1: interpolation ``beta_1`` between ``z`` and ``x``, in ``(0, 1]``.
      weight_decay: in ``[0, inf)``, computed at ``y`` and added to the normalised gradient.
      r: in ``[0, inf)``: averaging weights grow like ``(k+1)**r``.
      weight_lr_power: in ``[0, inf)``: averaging weights scale with ``max lr ** power``.
      state_dtype: dtype of ``z`` (and of the second moments); ``None`` follows the parameters.
      warmup_steps: integer in ``[0, inf)``: linear warmup of the learning rate.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.schedule_free_sgd(learning_rate=0.5, warmup_steps=5)
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(10):
      ...     grads = jax.grad(lambda y: jnp.sum(y**2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> x = adaptlr.schedule_free_eval_params(state, params)

    References:
      Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky, "The Road Less Scheduled",
      NeurIPS 2024. Reference code: ``schedulefree.SGDScheduleFree`` (schedulefree 1.4.1).

    Departures:
      ``b1`` is the reference's ``momentum``; the reference requires it in ``(0, 1)``, here
      ``b1 = 1`` (primal averaging, ``y = x``) is allowed too. There are no ``train()``/
      ``eval()`` modes: the parameters always hold ``y`` and
      :func:`schedule_free_eval_params` computes ``x`` out of place. A learning-rate
      schedule, when given, is multiplied by the warmup factor, as a PyTorch scheduler
      changing ``lr`` would be.
    """
    return optax.chain(
        scale_by_schedule_free_sgd(
            learning_rate, b1, weight_decay, warmup_steps, r, weight_lr_power,
            state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


def scale_by_schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-Free AdamW's move of ``y``, negated; see :func:`schedule_free_adamw`."""
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
    )
    return _fused(
        "adamw", learning_rate, b1, b2, eps, weight_decay, warmup_steps, r,
        weight_lr_power, True, state_dtype,
    )


def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-Free AdamW.

    Schedule-Free SGD (:func:`schedule_free_sgd`) on the Adam-normalised gradient, with
    weight decay at ``y`` added after normalisation:

    .. math::

        v_{k+1} = \beta_2 v_k + (1-\beta_2) g_k^2, \qquad
        \hat g_k = \frac{g_k}{\sqrt{v_{k+1}/(1-\beta_2^{k+1})} + \epsilon} + \lambda y_k,

    then the ``z``, ``x``, ``y`` updates of :func:`schedule_free_sgd` with ``\hat g_k`` and the
    warmed-up learning rate. Memory: ``z`` and ``v``, as much as Adam.

    Args:
      learning_rate: in ``[0, inf)`` or a schedule (evaluated at the step count ``0, 1, ...``).
      b1: interpolation ``beta_1`` between ``z`` and ``x``, in ``(0, 1]``.
      weight_decay: in ``[0, inf)``, computed at ``y`` and added to the normalised gradient.
      r: in ``[0, inf)``: averaging weights grow like ``(k+1)**r``.
      weight_lr_power: in ``[0, inf)``: averaging weights scale with ``max lr ** power``.
      state_dtype: dtype of ``z`` (and of the second moments); ``None`` follows the parameters.
      b2: second-moment decay in ``[0, 1)``.
      eps: denominator term in ``(0, inf)``.
      warmup_steps: integer in ``[0, inf)``: linear warmup of the learning rate.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.schedule_free_adamw(learning_rate=0.01, weight_decay=1e-4)
      >>> params = {"w": jnp.ones((2, 3))}
      >>> state = tx.init(params)
      >>> grads = {"w": jnp.full((2, 3), 0.5)}
      >>> updates, state = tx.update(grads, state, params)
      >>> round(float(adaptlr.effective_lr(state)), 6)
      0.01

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024. Reference code:
      ``schedulefree.AdamWScheduleFree`` (schedulefree 1.4.1).

    Departures:
      As for :func:`schedule_free_sgd`; the reference accepts ``b1 = 0`` (then its ``eval()``
      divides by zero), here ``b1`` must be positive.
    """
    return optax.chain(
        scale_by_schedule_free_adamw(
            learning_rate, b1, b2, eps, weight_decay, warmup_steps, r, weight_lr_power,
            state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


def scale_by_refined_schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    decoupling_c: float,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Refined Schedule-Free AdamW's move of ``y``, negated; see
    :func:`refined_schedule_free_adamw`."""
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
        decoupling_c=decoupling_c,
    )
    return _fused(
        "adamw", learning_rate, b1, b2, eps, weight_decay, warmup_steps, r,
        weight_lr_power, True, state_dtype, decoupling_c,
    )


def refined_schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    decoupling_c: float,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Refined Schedule-Free AdamW: the averaging weight decoupled from the momentum ``b1``.

    :func:`schedule_free_adamw` with the averaging weight :math:`c_{k+1}` (module
    docstring) replaced by

    .. math::

        c'_{k+1} = \min\bigl(1,\; c_{k+1} (1-\beta_1)\, C\bigr),

    so that ``b1`` sets the momentum of ``y`` and :math:`C` (``decoupling_c``) the width of
    the average on its own. With :math:`c_{k+1} = 1/(k+1)` (constant learning rate, ``r = 0``)
    the average covers the last :math:`\approx k/((1-\beta_1) C)` iterates' worth of
    weight; :math:`C = 1/(1-\beta_1)` is plain Schedule-Free AdamW, and ``decoupling_c = 0``
    too (pytorch_optimizer's "off"). Evaluate at ``schedule_free_eval_params``.

    Args:
      decoupling_c: :math:`C` in ``[0, inf)``; no default (see Departures). The paper
        treats it as a hyperparameter to tune together with ``b1``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.refined_schedule_free_adamw(1e-2, b1=0.95, decoupling_c=50.0)
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(5):
      ...     grads = jax.grad(lambda y: jnp.sum(y**2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> x = adaptlr.schedule_free_eval_params(state, params)

    References:
      Song, Baek, Ahn and Yun, "Through the River: Understanding the Benefit of
      Schedule-Free Methods for Language Model Training", arXiv:2507.09846, 2025.
      Reference code: ``pytorch_optimizer.ScheduleFreeAdamW(decoupling_c=C)``
      (pytorch_optimizer 4.1.0; the authors publish no package).

    Departures:
      The paper writes :math:`c_{k+1} = \min(1, (1-\beta_1) C \gamma_k^2 /
      \sum_{i\le k}\gamma_i^2)`; pytorch_optimizer (followed here) scales Schedule-Free's
      own weight, :math:`(k+1)^r \gamma_{\max}^p / \sum`, the same for ``r = 0``,
      ``weight_lr_power = 2`` and a non-decreasing learning rate (warmup then constant).
      pytorch_optimizer adds 1e-15 to :math:`\hat v` under the square root; Schedule-Free
      (schedulefree 1.4.1) and this function do not (the goldens are generated with that
      constant set to 0, see the generator). Neither the paper nor pytorch_optimizer
      documents a default :math:`C` (pytorch_optimizer's 0 switches the refinement off), so
      ``decoupling_c`` must be given; the registry builds it with 20 (see its
      ``defaults_note``). As for :func:`schedule_free_adamw` otherwise.
    """
    return optax.chain(
        scale_by_refined_schedule_free_adamw(
            learning_rate, b1, b2, eps, weight_decay, warmup_steps, r, weight_lr_power,
            decoupling_c=decoupling_c, state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


def scale_by_schedule_free_radam(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    silent_sgd_phase: bool = True,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-Free RAdam's move of ``y``, negated; see :func:`schedule_free_radam`."""
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
        r=r, weight_lr_power=weight_lr_power,
    )
    return _fused(
        "radam", learning_rate, b1, b2, eps, weight_decay, 0, r, weight_lr_power,
        silent_sgd_phase, state_dtype,
    )


def schedule_free_radam(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    silent_sgd_phase: bool = True,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Schedule-Free RAdam: Schedule-Free AdamW whose warmup is RAdam's rectification.

    With :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_k = \rho_\infty - 2(k+1)\beta_2^{k+1}/(1-\beta_2^{k+1})`, the learning rate
    of step ``k`` is :math:`\gamma \sqrt{\frac{(\rho_k-4)(\rho_k-2)\rho_\infty}
    {(\rho_\infty-4)(\rho_\infty-2)\rho_k}}` and the gradient is Adam-normalised when
    :math:`\rho_k > 4`; before that the step is plain SGD with learning rate :math:`\gamma`,
    or no step at all with ``silent_sgd_phase`` (the default; only ``v`` is accumulated and,
    the learning rate being 0, the averaging weights stay 0). Then as
    :func:`schedule_free_adamw` (no ``warmup_steps``: the rectification is the warmup).

    Args:
      learning_rate: in ``[0, inf)`` or a schedule (evaluated at the step count ``0, 1, ...``).
      b1: interpolation ``beta_1`` between ``z`` and ``x``, in ``(0, 1]``.
      weight_decay: in ``[0, inf)``, computed at ``y`` and added to the normalised gradient.
      r: in ``[0, inf)``: averaging weights grow like ``(k+1)**r``.
      weight_lr_power: in ``[0, inf)``: averaging weights scale with ``max lr ** power``.
      state_dtype: dtype of ``z`` (and of the second moments); ``None`` follows the parameters.
      b2: second-moment decay in ``[0, 1)``.
      eps: denominator term in ``(0, inf)``.
      silent_sgd_phase: skip the steps before the rectification is defined.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.schedule_free_radam(learning_rate=0.01)
      >>> state = tx.init(jnp.ones(3))
      >>> updates, state = tx.update(jnp.ones(3), state, jnp.ones(3))
      >>> float(updates[0])  # rho_1 = 1 <= 4: the silent phase
      0.0

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024; Liu et al., "On the Variance
      of the Adaptive Learning Rate and Beyond", ICLR 2020. Reference code:
      ``schedulefree.RAdamScheduleFree`` (schedulefree 1.4.1).

    Departures:
      As for :func:`schedule_free_adamw`.
    """
    return optax.chain(
        scale_by_schedule_free_radam(
            learning_rate, b1, b2, eps, weight_decay, r, weight_lr_power,
            silent_sgd_phase=silent_sgd_phase, state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# The wrapper: any base optimizer becomes schedule-free
# --------------------------------------------------------------------------------------------


def scale_by_schedule_free(
    base_optimizer: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformationExtraArgs:
    r"""The Schedule-Free wrapper's move of ``y``, negated (``y - y'``).

    ``base_optimizer`` is a complete optimizer (learning rate and sign included, e.g.
    ``optax.adam(1e-3, b1=0.0)``); its update is applied to ``z`` and it is given ``z`` as its
    parameters. With :math:`\Delta_k` the base update for the gradient at ``y_k`` and
    :math:`\gamma_k` = ``learning_rate`` (step ``k``):

    .. math::

        z'_k = z_k - \gamma_k \lambda y_k, \quad
        x_k = \frac{y_k - (1-\beta_1) z_k}{\beta_1}, \quad
        z_{k+1} = z'_k + \Delta_k, \\
        x_{k+1} = (1-c_{k+1}) x_k + c_{k+1} z_{k+1}, \quad
        y_{k+1} = (1-\beta_1) z_{k+1} + \beta_1 x_{k+1},

    with :math:`c` from :math:`\gamma_k` as in the module docstring. ``learning_rate`` should be
    the base optimizer's (it sets the averaging weights and the weight decay at ``y``).

    Args:
      base_optimizer: any Optax transformation (``GradientTransformationExtraArgs`` extra
        arguments are passed on).
      learning_rate: the base optimizer's learning rate, in ``[0, inf)``, or its schedule.
      b1: interpolation ``beta_1`` (the reference's ``momentum``), in ``(0, 1]``.
      weight_decay: in ``[0, inf)``, the reference's ``weight_decay_at_y``.
      r: in ``[0, inf)``: averaging weights grow like ``(k+1)**r``.
      weight_lr_power: in ``[0, inf)``: averaging weights scale with ``max lr ** power``.
      state_dtype: dtype of ``z``; ``None`` follows the parameters.

    The state's ``base_state`` is the base optimizer's state.
    """
    check_transformation("base_optimizer", base_optimizer)
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, weight_decay=weight_decay, r=r,
        weight_lr_power=weight_lr_power,
    )
    base = optax.with_extra_args_support(base_optimizer)

    def init_fn(params: PyTree) -> ScheduleFreeState:
        z = jax.tree.map(lambda p: jnp.array(p, dtype=state_dtype or p.dtype, copy=True), params)
        return _init_state(params, b1, state_dtype, base.init(z))

    def update_fn(
        updates: PyTree, state: ScheduleFreeState, params: PyTree = None, **extra_args: Any
    ) -> tuple[PyTree, ScheduleFreeState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("schedule_free needs params: update(grads, state, params)")
        sdtype = state.lr_max.dtype
        k = state.count
        beta1 = jnp.asarray(b1, sdtype)
        lr = jnp.asarray(resolve(learning_rate, k), sdtype)
        decay = lr * jnp.asarray(weight_decay, sdtype)

        def decayed_z(z: jax.Array, y: jax.Array) -> jax.Array:
            cdt = accumulation_dtype(z.dtype)
            return (z.astype(cdt) - decay.astype(cdt) * y.astype(cdt)).astype(z.dtype)

        z_decayed = state.z if _is_zero(weight_decay) else jax.tree.map(decayed_z, state.z, params)
        base_updates, base_state = base.update(updates, state.base_state, z_decayed, **extra_args)
        c, lr_max, weight_sum = _averaging_weight(k, lr, state, r, weight_lr_power)

        def leaf(
            y: jax.Array, z: jax.Array, zd: jax.Array, u: jax.Array
        ) -> tuple[jax.Array, jax.Array]:
            cdt = accumulation_dtype(y.dtype)
            yc, zc, bc, cc = y.astype(cdt), z.astype(cdt), beta1.astype(cdt), c.astype(cdt)
            x = (yc - (1 - bc) * zc) / bc
            z_new = zd.astype(cdt) + u.astype(cdt)
            x_new = x + cc * (z_new - x)
            y_new = x_new + (1 - bc) * (z_new - x_new)
            return (yc - y_new).astype(y.dtype), z_new.astype(z.dtype)

        descent, z = map_leaves(leaf, 2, params, state.z, z_decayed, base_updates)
        new_state = ScheduleFreeState(
            count=optax.safe_increment(k),
            b1=beta1,
            z=z,
            base_state=base_state,
            lr_max=lr_max,
            weight_sum=weight_sum,
            effective_lr=lr,
        )
        return descent, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_schedule_free)
def schedule_free(
    base_optimizer: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    state_dtype: Any = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Make any optimizer schedule-free: :func:`scale_by_schedule_free` with the descent sign.

    The base optimizer's own momentum can be switched off (the interpolation ``b1`` replaces
    it), e.g. ``schedule_free(optax.adam(lr, b1=0.0), lr)``. Train at the parameters (``y``),
    evaluate at ``schedule_free_eval_params(opt_state, params)`` (``x``). Arguments as in
    :func:`scale_by_schedule_free`.

    Schedule-Free + Prodigy. With weight decay 0,
    ``schedule_free(prodigy(lr, b1=0.0, b2=0.9955, reference_b1_zero=True), lr, b1=0.9,
    r=0.75, weight_lr_power=0.0)`` is the authors' AlgoPerf ``schedule_free_prodigy``
    submission (class ``ProdigyScheduleFree``, its defaults; ``lr`` its warm-up schedule) in
    exact arithmetic: the base sees ``z`` as its parameters, so its ``d`` statistics use
    ``<g(y), x_0 - z>`` as the submission's do, its ``b1 = 0`` step with the updated ``d`` is
    the submission's ``z`` step, ``d`` is the running maximum of the estimate in both, and the
    averaging weights are ``(k+1)**r``. Checked on golden trajectories of a float64 NumPy
    transcription of the submission (``tests/parameter_free/test_schedule_free_prodigy.py``).
    It is *not* the submission with weight decay (the submission decays ``z`` by
    ``weight_decay * d * lr * x``, at the average and scaled by ``d``, which neither this
    wrapper's decay at ``y`` nor Prodigy's at ``z`` is), nor in precision (the submission
    stores ``v``, ``s`` and ``x_0`` in bfloat16 and sums the ``d`` statistics in float32), nor
    on a step with no gradient signal yet (the submission skips it, averaging included; here
    only the base step is skipped). It is *not* ``prodigyplus.ProdigyPlusScheduleFree``
    (prodigy-plus-schedule-free 2.0.1) either, whose defaults differ in the method, not only
    in precision: StableAdamW update clipping, a factored second moment for tensors of rank 2
    or more with a dimension of 32 or more, ``d`` statistics weighted by ``d**2 / sqrt(d0)``
    without the learning rate and accumulated in float32 (with ``x_0`` and ``s`` in
    bfloat16 for float32 models), ``d_limiter`` on, averaging weights ``(d lr)**2`` from the
    step's ``d``, and weight decay at ``y`` scaled by ``d lr`` (see ``docs/faithfulness.md``).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.schedule_free(optax.sgd(0.1), learning_rate=0.1, weight_decay=1e-3)
      >>> params = jnp.array([1.0, -1.0])
      >>> state = tx.init(params)
      >>> for _ in range(5):
      ...     grads = jax.grad(lambda y: jnp.sum(y**2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> x = adaptlr.schedule_free_eval_params(state, params)

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024. Reference code:
      ``schedulefree.ScheduleFreeWrapper`` (schedulefree 1.4.1).

    Departures:
      The reference wrapper reads the current learning rate from the base optimizer's
      parameter group and multiplies it by the group's ``d`` when there is one (D-Adaptation,
      Prodigy); Optax transformations expose neither, so ``learning_rate`` is given
      explicitly and no ``d`` is read. The reference keeps ``x`` in ``z``'s buffer during the
      base step by a byte-level swap; here ``x`` is recomputed from ``y`` and ``z``
      (``x = (y - (1-b1) z)/b1``), which is the same value up to rounding. The reference
      wrapper stores ``z`` in the base's per-parameter state before the base's first step,
      which breaks torch's ``Adam`` (its lazy initialisation then finds a non-empty state);
      the Optax base keeps its own state here, so any base works.
    """
    return optax.chain(
        scale_by_schedule_free(
            base_optimizer, learning_rate, b1, weight_decay, r, weight_lr_power,
            state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


# The ready-made cores take the arguments of their optimizers and of the general core, which
# are defined after them: complete their docstrings once all are defined.
args_from(schedule_free_sgd, scale_by_schedule_free)(scale_by_schedule_free_sgd)
args_from(schedule_free_adamw, scale_by_schedule_free)(scale_by_schedule_free_adamw)
args_from(schedule_free_radam, scale_by_schedule_free)(scale_by_schedule_free_radam)
args_from(schedule_free_adamw)(refined_schedule_free_adamw)
args_from(refined_schedule_free_adamw, scale_by_schedule_free)(
    scale_by_refined_schedule_free_adamw)
