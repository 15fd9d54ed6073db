"""ProdigyPlusScheduleFree: Prodigy's ``d`` driving Schedule-Free Adam.

A port of the ``ProdigyPlusScheduleFree`` optimiser of the ``prodigy-plus-schedule-free``
package 2.0.1 (its default ``use_schedulefree=True`` mode), whose arithmetic differs from the
composition ``schedule_free(prodigy(...))`` in several places; see
:func:`prodigy_plus_schedule_free` and docs/prodigy.md.
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
    check,
    check_all,
    check_real,
    check_tree_match,
    computed_once,
    is_checkable,
    map_leaves,
    resolve,
    scalar_dtype,
    written_after,
)
from adaptlr._docstrings import args_from
from adaptlr.parameter_free.prodigy import D_LIMITER_FACTOR, _state_dtype
from adaptlr.parameter_free.schedule_free import ScheduleFreeState

__all__ = [
    "ATAN2_SCALE",
    "FACTOR_MIN_DIM",
    "RANGES",
    "SLICE",
    "ProdigyPlusState",
    "prodigy_plus_schedule_free",
    "scale_by_prodigy_plus_schedule_free",
]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,  # 0: no step (CONTRIBUTING.md); the package requires > 0
    # x is recovered from y and z by dividing by b1 (the package's eval() divides by it too).
    "b1": Interval(0.0, 1.0, lower_closed=False),
    "b2": UNIT_INTERVAL,
    "b3": UNIT_INTERVAL,
    "eps": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "d0": POSITIVE,
    "d_coef": POSITIVE,
    "prodigy_steps": Interval(0.0, math.inf, integer=True),
    "schedulefree_c": NON_NEGATIVE,
}

#: The package's ``d`` statistics use every ``SLICE``-th entry of each flattened parameter.
SLICE = 11
#: A parameter with at least two axes is factored when one axis has this many entries or more.
FACTOR_MIN_DIM = 32
#: Adam-atan2's scale ``a`` (the package's literal, close to ``4 / pi``).
ATAN2_SCALE = 1.2732395
#: Added to the mean of the row statistics before dividing by it (the package's constant).
_FACTOR_TINY = 1e-30


class ProdigyPlusState(NamedTuple):
    """The ``base_state`` of the :class:`ScheduleFreeState` of
    :func:`scale_by_prodigy_plus_schedule_free`.

    ``S`` is the scalar dtype: float32, or float64 for float64 parameters.
    """

    k: jax.Array  # shape=(), int32: steps taken (zero-learning-rate steps excluded)
    exp_avg_sq: PyTree  # like params (state dtype): d**2-scaled second moment; (1,) if factored
    exp_avg_sq_row: PyTree  # per leaf, the largest axis reduced (S dtype); (1,) unless factored
    exp_avg_sq_col: PyTree  # per leaf, the second-largest axis reduced (S dtype); (1,) unless so
    s: PyTree  # flat every 11th entry (state dtype): weighted sum of sliced gradients
    p0: PyTree  # like s (param dtype): every 11th entry of the initial parameters
    d: jax.Array  # shape=(), S: current distance estimate
    d_numerator: jax.Array  # shape=(), S: the beta3-weighted sum of <g_k, x0 - z_k>


def _factored_axes(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """``(dc, dr)``: the second-largest and the largest axis (the package's ``factored_dims``;
    ties go to the later axis), or ``None`` when the leaf is not factored."""
    if len(shape) < 2 or all(n < FACTOR_MIN_DIM for n in shape) or math.prod(shape) == 0:
        return None
    order = sorted((n, i) for i, n in enumerate(shape))
    return order[-2][1], order[-1][1]


def _flat_slice(x: jax.Array) -> jax.Array:
    return x.reshape(-1)[::SLICE]


def scale_by_prodigy_plus_schedule_free(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.99,
    b3: float | None = None,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    *,
    weight_decay_by_lr: bool = True,
    d_limiter: bool = True,
    prodigy_steps: int = 0,
    schedulefree_c: float = 0.0,
    factored: bool = True,
    use_bias_correction: bool = False,
    use_stableadamw: bool | None = None,
    use_atan2: bool = False,
    statistics_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""ProdigyPlusScheduleFree's move of ``y``, negated; see :func:`prodigy_plus_schedule_free`.

    Args:
      learning_rate: multiplier of the estimated step ``d``, in ``[0, inf)`` (0: no step), or
        a schedule (evaluated at the update count ``0, 1, ...``).
      b1: Schedule-Free interpolation ``beta_1`` in ``(0, 1)``.
      b2: second-moment decay in ``[0, 1)``.
      b3: decay of the ``d`` statistics in ``[0, 1)``; ``None`` means ``sqrt(b2)``.
      eps: denominator term in ``(0, inf)``, multiplied by ``d`` (unused with ``use_atan2``).
      weight_decay: decoupled weight decay at ``y``, in ``[0, inf)``.
      d0: initial estimate in ``(0, inf)``.
      d_coef: multiplier of the estimate in ``(0, inf)``.
      weight_decay_by_lr: multiply the decay by ``d * learning_rate`` (the package's default);
        ``False`` decays by ``weight_decay`` itself.
      d_limiter: cap the raw estimate at ``2**0.25`` times the current ``d`` before ``d_coef``
        multiplies it (on by default, as in the package).
      prodigy_steps: integer in ``[0, inf)``; ``N > 0`` freezes ``d`` after ``N - 1`` update
        calls, so steps ``N, N+1, ...`` use the ``d`` of step ``N``; ``0`` never freezes.
      schedulefree_c: averaging strength ``C`` in ``[0, inf)`` of Refined Schedule-Free
        (``c_k <- min(1, c_k (1 - b1) C)``); ``0`` keeps the original averaging weights.
      factored: Adafactor-style factored second moment for leaves with two or more axes, one
        of them at least 32 long (the package's rule).
      use_bias_correction: RAdam-style bias correction and rectification (the package's
        ``use_bias_correction``): no step while the rectification is undefined.
      use_stableadamw: divide each leaf's update by ``sqrt(max(1, RMS(update)))`` (the
        package's StableAdamW). ``None`` (default): on, unless ``use_atan2``. ``True`` together
        with ``use_atan2`` raises ``ValueError`` (the package silently turns it off).
      use_atan2: Adam-atan2 update ``a * atan2(d g, sqrt(v))`` instead of division with
        ``eps`` (the package's ``eps=None``).
      statistics_dtype: dtype of ``p0`` and ``s``; ``None`` follows the parameters (float32
        for float16). ``jnp.bfloat16`` reproduces the package for float32 parameters, which
        keeps them in bfloat16 (``s`` rounded after each operation, as there).

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params`` and returns
      ``y - y'``; its state is a :class:`ScheduleFreeState` whose ``base_state`` is a
      :class:`ProdigyPlusState` (``lr_max`` holds the largest ``d * learning_rate`` so far).
    """
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
        d0=d0, d_coef=d_coef, prodigy_steps=prodigy_steps, schedulefree_c=schedulefree_c,
    )
    check("b3", b3, RANGES["b3"], allow_none=True)
    for name, flag in (("weight_decay_by_lr", weight_decay_by_lr), ("d_limiter", d_limiter),
                       ("factored", factored), ("use_bias_correction", use_bias_correction),
                       ("use_atan2", use_atan2)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    if use_stableadamw is not None and not isinstance(use_stableadamw, bool):
        raise TypeError(f"use_stableadamw must be a bool or None, got {use_stableadamw!r}")
    if use_atan2 and use_stableadamw:
        raise ValueError(
            "use_stableadamw=True cannot be combined with use_atan2=True (the package turns "
            "StableAdamW off under Adam-atan2): leave use_stableadamw at None"
        )
    stable = (not use_atan2) if use_stableadamw is None else use_stableadamw
    if statistics_dtype is not None:
        statistics_dtype = jnp.dtype(statistics_dtype)
        if not jnp.issubdtype(statistics_dtype, jnp.floating):
            raise ValueError(f"statistics_dtype must be a real floating dtype, got "
                             f"{statistics_dtype}")
    decays = not (isinstance(weight_decay, (int, float)) and weight_decay == 0)

    def init_fn(params: PyTree) -> ScheduleFreeState:
        check_real(params, "ProdigyPlusScheduleFree")
        sdtype = scalar_dtype(params)
        one = jnp.zeros((1,), sdtype)

        def second_moment(p: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
            axes = _factored_axes(p.shape) if factored else None
            if axes is None:
                full = jnp.zeros(p.shape, _state_dtype(p.dtype, None))
                return full, jnp.zeros_like(one), jnp.zeros_like(one)
            dc, dr = axes
            cdt = accumulation_dtype(p.dtype)
            row = [1 if i == dr else n for i, n in enumerate(p.shape)]
            col = [1 if i == dc else n for i, n in enumerate(p.shape)]
            return jnp.zeros((1,), _state_dtype(p.dtype, None)), jnp.zeros(row, cdt), \
                jnp.zeros(col, cdt)

        v, v_row, v_col = map_leaves(second_moment, 3, params)
        base = ProdigyPlusState(
            k=jnp.zeros((), jnp.int32),
            exp_avg_sq=v,
            exp_avg_sq_row=v_row,
            exp_avg_sq_col=v_col,
            s=jax.tree.map(
                lambda p: jnp.zeros(_flat_slice(p).shape,
                                    statistics_dtype or _state_dtype(p.dtype, None)),
                params,
            ),
            p0=jax.tree.map(
                lambda p: jnp.array(_flat_slice(p), dtype=statistics_dtype or p.dtype,
                                    copy=True),
                params,
            ),
            d=jnp.asarray(d0, sdtype),
            d_numerator=jnp.zeros((), sdtype),
        )
        return ScheduleFreeState(
            count=jnp.zeros((), jnp.int32),
            b1=jnp.asarray(b1, sdtype),
            z=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
            base_state=base,
            lr_max=jnp.zeros((), sdtype),
            weight_sum=jnp.zeros((), sdtype),
            effective_lr=jnp.zeros((), sdtype),
        )

    def update_fn(
        updates: PyTree, state: ScheduleFreeState, params: PyTree = None
    ) -> tuple[PyTree, ScheduleFreeState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError(
                "scale_by_prodigy_plus_schedule_free needs params: update(grads, state, params)"
            )
        base: ProdigyPlusState = state.base_state
        sdtype = state.lr_max.dtype
        beta1 = jnp.asarray(b1, sdtype)
        beta2 = jnp.asarray(b2, sdtype)
        beta3 = jnp.sqrt(beta2) if b3 is None else jnp.asarray(b3, sdtype)
        d = base.d
        d0_ = jnp.asarray(d0, sdtype)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        active = lr > 0
        dlr = d * lr
        raw_phase = jnp.zeros((), bool)  # bias correction's first steps: the raw gradient
        if use_bias_correction:
            step = (base.k + 1).astype(sdtype)
            beta2_t = beta2**step
            bias_correction2 = 1 - beta2_t
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * beta2_t / bias_correction2
            warm = rho_t > 4
            ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            dlr = dlr * jnp.where(warm, jnp.sqrt(jnp.where(warm, ratio, 1)), 0)
            beta2 = 1 - (1 - beta2) / bias_correction2
            raw_phase = ~warm
        # prodigy_steps = N > 0: the d statistics change on the first N - 1 update calls only.
        if is_checkable(prodigy_steps) and prodigy_steps == 0:
            adapting = active
        else:
            n_steps = jnp.asarray(prodigy_steps)
            adapting = active & ((n_steps <= 0) | (state.count + 1 < n_steps))

        # Schedule-Free averaging weight c = w / sum w with w = (d lr)**2.
        weight = dlr * dlr
        weight_sum = state.weight_sum + weight
        positive = weight_sum > 0
        c = jnp.where(positive, weight / jnp.where(positive, weight_sum, 1), 0)
        if not (is_checkable(schedulefree_c) and schedulefree_c == 0):
            strength = jnp.asarray(schedulefree_c, sdtype)
            c = jnp.where(strength > 0, jnp.minimum(1, c * (1 - beta1) * strength), c)
        # The package's xy_step = 1 - b1 (1 - c) enters as xy_step - c = (1 - b1)(1 - c) below.
        d_update = d * d / jnp.sqrt(d0_)  # scales the d statistics; cancels in their ratio

        # The d statistics, from every 11th entry of g and of the old z.
        def statistics(g: jax.Array, z: jax.Array, s: jax.Array, p0: jax.Array) -> tuple:
            cdt = accumulation_dtype(g.dtype)
            gs = _flat_slice(g).astype(cdt)
            dot = jnp.sum(gs * (p0.astype(cdt) - _flat_slice(z).astype(cdt))).astype(sdtype)
            decayed = beta3.astype(cdt) * s.astype(cdt)
            if s.dtype != cdt:  # stored in lower precision: rounded after each operation
                decayed = decayed.astype(s.dtype).astype(cdt)
            s_new = jnp.where(adapting, decayed + d_update.astype(cdt) * gs, s.astype(cdt))
            s_out = s_new.astype(s.dtype)
            l1 = jnp.sum(jnp.abs(s_out).astype(cdt))
            if s.dtype != cdt:  # the package's sum of a bfloat16 s is bfloat16
                l1 = l1.astype(s.dtype)
            return s_out, dot, l1.astype(sdtype)

        s, dots, l1s = map_leaves(statistics, 3, updates, state.z, base.s, base.p0)
        numerator = computed_once(sum(jax.tree.leaves(dots), jnp.zeros((), sdtype)))
        d_denom = computed_once(sum(jax.tree.leaves(l1s), jnp.zeros((), sdtype)))

        def moments(
            g: jax.Array, v: jax.Array, row: jax.Array, col: jax.Array
        ) -> tuple[tuple[jax.Array, ...], jax.Array, jax.Array, jax.Array]:
            """The denominator's inputs (new statistics) and the second-moment leaves to store."""
            cdt = accumulation_dtype(g.dtype)
            gc = g.astype(cdt)
            new = (1 - beta2).astype(cdt) * (d * d).astype(cdt)
            b2c = beta2.astype(cdt)
            axes = _factored_axes(g.shape) if factored else None
            if axes is None:
                v_new = b2c * v.astype(cdt) + new * gc * gc
                v_out = jnp.where(active, v_new, v.astype(cdt)).astype(v.dtype)
                return (v_new,), v_out, row, col
            dc, dr = axes
            # Each mean reads g through its own barrier (different operand orders, so XLA does
            # not merge them): a shared g^2 would be written out and read back.
            g_r, new_r = jax.lax.optimization_barrier((gc, new))
            new_c, g_c = jax.lax.optimization_barrier((new, gc))
            row_new = b2c * row + new_r * jnp.mean(g_r * g_r, axis=dr, keepdims=True)
            col_new = b2c * col + new_c * jnp.mean(g_c * g_c, axis=dc, keepdims=True)
            # The package reduces the row statistics over axis dc - 1 when dc > dr, an axis of
            # the kept-dims array that is not the intended one (see Departures: kept).
            reduce_axis = dc - 1 if dc > dr else dc
            mean = jnp.mean(row_new, axis=reduce_axis, keepdims=True) + _FACTOR_TINY
            return (
                (row_new / mean, col_new), v,
                jnp.where(active, row_new, row).astype(row.dtype),
                jnp.where(active, col_new, col).astype(col.dtype),
            )

        d_eps = d * jnp.asarray(eps, sdtype)

        def direction(
            g: jax.Array, stats: tuple[jax.Array, ...], d_: jax.Array, d_eps_: jax.Array,
            raw: jax.Array,
        ) -> jax.Array:
            """The normalised step u from g and the new second-moment statistics."""
            denom = jnp.sqrt(stats[0] if len(stats) == 1 else stats[0] * stats[1])
            cdt = denom.dtype
            gc = g.astype(cdt)
            dg = d_.astype(cdt) * gc
            if use_atan2:
                u = jnp.asarray(ATAN2_SCALE, cdt) * jnp.arctan2(dg, denom)
            else:
                u = dg / (denom + d_eps_.astype(cdt))
            return jnp.where(raw, gc, u)

        def leaf(
            g: jax.Array, y: jax.Array, z: jax.Array, v: jax.Array, row: jax.Array,
            col: jax.Array, dot: jax.Array,
        ) -> tuple[jax.Array, ...]:
            cdt = accumulation_dtype(y.dtype)
            stats, v_out, row_out, col_out = moments(g, v, row, col)
            scalars = (d, d_eps, raw_phase)
            if stable and g.size:
                # The RMS reduction reads its inputs, scalars included, through a barrier of
                # its own, and u is recomputed after it from other hidden copies: otherwise XLA
                # writes u, the denominator or broadcast scalars out in full for the reduction.
                u1 = direction(*jax.lax.optimization_barrier((g, stats, *scalars)))
                rms = jnp.sqrt(jnp.sum(u1 * u1)) / jnp.sqrt(jnp.asarray(u1.size, cdt))
                g2, stats2 = jax.lax.optimization_barrier((g, stats))
                u = direction(g2, stats2, *scalars) * jax.lax.rsqrt(jnp.maximum(rms, 1))
            else:
                u = direction(g, stats, *scalars)
            yc = y.astype(cdt)
            # z's decrement w; y' = y + c (z - y) - xy_step w, written with z = z' + w.
            w = dlr.astype(cdt) * u
            if decays:
                lam = jnp.asarray(weight_decay, sdtype)
                w = w + (lam * dlr if weight_decay_by_lr else lam).astype(cdt) * yc
            w = jnp.where(active, w, jnp.zeros_like(w))
            zc = written_after(z, dot).astype(cdt)
            z_new = zc - w
            descent = -(c.astype(cdt) * (z_new - yc)
                        - ((1 - beta1) * (1 - c)).astype(cdt) * w)
            return descent.astype(y.dtype), z_new.astype(z.dtype), v_out, row_out, col_out

        descent, z, v, v_row, v_col = map_leaves(
            leaf, 5, updates, params, state.z, base.exp_avg_sq, base.exp_avg_sq_row,
            base.exp_avg_sq_col, dots,
        )

        # The new d (used from the next step on).
        take_numerator = (d > d0_) | (numerator > 0)
        d_numerator = beta3 * base.d_numerator + jnp.where(take_numerator, d_update * numerator, 0)
        has_denom = d_denom > 0
        d_hat = d_numerator / jnp.where(has_denom, d_denom, 1)
        if d_limiter:
            d_hat = jnp.minimum(d_hat, jnp.asarray(D_LIMITER_FACTOR, sdtype) * d)
        new_d = jnp.where(has_denom, jnp.maximum(d, d_hat * jnp.asarray(d_coef, sdtype)), d)
        new_d = jnp.where(adapting, new_d, d)
        d_numerator = jnp.where(adapting, d_numerator, base.d_numerator)

        new_base = ProdigyPlusState(
            k=jnp.where(active, base.k + 1, base.k).astype(jnp.int32),
            exp_avg_sq=v,
            exp_avg_sq_row=v_row,
            exp_avg_sq_col=v_col,
            s=s,
            p0=base.p0,
            d=new_d,
            d_numerator=d_numerator,
        )
        new_state = ScheduleFreeState(
            count=optax.safe_increment(state.count),
            b1=beta1,
            z=z,
            base_state=new_base,
            lr_max=jnp.maximum(state.lr_max, jnp.where(active, dlr, 0)),
            weight_sum=jnp.where(active, weight_sum, state.weight_sum),
            effective_lr=jnp.where(active, dlr, jnp.zeros_like(dlr)),
        )
        return descent, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_prodigy_plus_schedule_free)
def prodigy_plus_schedule_free(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.99,
    b3: float | None = None,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    *,
    weight_decay_by_lr: bool = True,
    d_limiter: bool = True,
    prodigy_steps: int = 0,
    schedulefree_c: float = 0.0,
    factored: bool = True,
    use_bias_correction: bool = False,
    use_stableadamw: bool | None = None,
    use_atan2: bool = False,
    statistics_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""ProdigyPlusScheduleFree: Schedule-Free Adam whose step size is Prodigy's estimate ``d``.

    A port of ``ProdigyPlusScheduleFree`` from the ``prodigy-plus-schedule-free`` package
    2.0.1 (LoganBooker), in its default Schedule-Free mode. The parameters hold the training
    point ``y``; the state holds ``z`` and :func:`adaptlr.schedule_free_eval_params` returns
    the evaluation point ``x`` (the package's ``optimizer.eval()``). With gradient
    :math:`g_k` at :math:`y_k`, learning rate :math:`\gamma`, :math:`\eta_k = d_k \gamma`
    (times the rectification :math:`r_k` with ``use_bias_correction``):

    .. math::

        v_{k+1} &= \beta_2 v_k + (1-\beta_2)\, d_k^2 g_k^2
            \quad(\text{factored: row and column means of } d_k^2 g_k^2) \\
        u_k &= \frac{d_k g_k}{\sqrt{v_{k+1}} + d_k \epsilon}
            \quad(\text{atan2: } a \operatorname{atan2}(d_k g_k, \sqrt{v_{k+1}}),\ a = 1.2732395) \\
        u_k &\leftarrow u_k / \sqrt{\max(1, \mathrm{RMS}(u_k))}
            \quad(\text{StableAdamW, per leaf}) \\
        w_k &= \eta_k (u_k + \lambda y_k)
            \quad(\text{or } \eta_k u_k + \lambda y_k
            \text{ without } \texttt{weight\_decay\_by\_lr}) \\
        c_{k+1} &= \eta_k^2 / \textstyle\sum_{i \le k} \eta_i^2
            \quad(\text{Refined SF: } \min(1, c_{k+1} (1-\beta_1) C)) \\
        z_{k+1} &= z_k - w_k, \qquad
        y_{k+1} = y_k + c_{k+1} (z_k - y_k) - (1 - \beta_1 (1 - c_{k+1}))\, w_k, \\
        x &= (y - (1-\beta_1) z) / \beta_1 \quad(\text{evaluation point}),

    and, from every 11th entry (:math:`\tilde\cdot`) of each flattened leaf, with
    :math:`\delta_k = d_k^2/\sqrt{d_0}`,

    .. math::

        s_{k+1} &= \beta_3 s_k + \delta_k \tilde g_k, \qquad
        r_{k+1} = \beta_3 r_k + \delta_k \langle \tilde g_k, \tilde x_0 - \tilde z_k \rangle
            \ (\text{the new term only if } d_k > d_0 \text{ or it is positive}) \\
        d_{k+1} &= \max\big(d_k,\ c_d \min(r_{k+1}/\|s_{k+1}\|_1,\ 2^{1/4} d_k)\big)
            \quad(\text{no } \min \text{ without } \texttt{d\_limiter};
            d_{k+1} = d_k \text{ if } \|s_{k+1}\|_1 = 0).

    With ``use_bias_correction`` (the package's RAdam variant), :math:`\beta_2` at step
    :math:`k` is :math:`1 - (1-\beta_2)/(1-\beta_2^k)` and :math:`\eta_k` is multiplied by
    RAdam's rectification :math:`r_k`; while :math:`\rho_k \le 4` the rectification is 0 and
    :math:`u_k` is the raw gradient (no step unless ``weight_decay_by_lr=False``).
    ``prodigy_steps = N > 0`` stops the ``d`` statistics and ``d`` after ``N - 1`` steps.

    One ``d`` for the whole tree: this is the package with a single parameter group (where it
    turns ``split_groups`` off itself) or with ``split_groups=False``. The package's default
    ``split_groups=True`` with several groups (a ``d`` per group) is
    ``optax.multi_transform`` over independent instances, one per group
    (``split_groups_mean`` is not supported).

    Not supported (not arguments, so passing one is a ``TypeError``; in every case the
    package's default is the behaviour implemented here): ``use_schedulefree=False`` (the
    package's plain-Prodigy mode), ``use_speed`` (SPEED), ``use_orthograd``, ``use_cautious``,
    ``use_grams``, ``use_adopt``, ``use_focus``, ``split_groups_mean``,
    ``factored_fp32=False``, and the PyTorch-only ``fused_back_pass`` and
    ``stochastic_rounding`` (see Departures). ``split_groups``: see above. The package's
    ``eps=None`` is ``use_atan2=True`` here.

    ``schedule_free(prodigy(...))`` is not this optimizer under any settings (see
    docs/prodigy.md). Decisive: (1) the wrapper's averaging weights are
    ``(k+1)**r * lr_max**p`` and cannot see ``d``; here they are ``(d_k lr)**2`` and grow with
    ``d``. Also: (2) ``prodigy(b1=0)`` divides by ``sqrt(v) + d_{k+1} eps`` (the updated
    ``d``), here ``d_k eps``; (3) while ``d = d0`` the package drops a non-positive numerator
    term, Prodigy keeps it, and Prodigy skips a step whose ``|s|_1`` is zero, the package
    does not; (4) the ``d`` statistics' weights (``(d_k/d0) d_k lr`` against
    ``d_k**2/sqrt(d0)``) differ by the factor ``lr/sqrt(d0)``, which cancels only for a
    constant learning rate; (5) StableAdamW, factoring, Adam-atan2 and the RAdam-style bias
    correction have no counterpart in ``prodigy``; (6) weight decay: the wrapper decays
    ``z`` by ``lr * weight_decay * y`` before the base step, the package adds
    ``weight_decay * y`` to the normalised update (times ``d lr``). Both read the ``d``
    statistics at ``z`` (the wrapper passes ``z`` to its base) and both can slice every
    11th entry (``slice_p=11``).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.prodigy_plus_schedule_free()
      >>> params = {"w": jnp.ones((4, 40)), "b": jnp.zeros(4)}
      >>> state = tx.init(params)
      >>> loss = lambda p: jnp.sum((p["w"] - 2.0) ** 2) + jnp.sum((p["b"] + 1.0) ** 2)
      >>> for _ in range(3):
      ...     updates, state = tx.update(jax.grad(loss)(params), state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> x = adaptlr.schedule_free_eval_params(state, params)  # evaluate and ship x
      >>> float(state[0].base_state.d) > 1e-6  # d has started to grow
      True

    References:
      Mishchenko and Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      ICML 2024; Defazio et al., "The Road Less Scheduled", NeurIPS 2024. Reference code:
      ``prodigy-plus-schedule-free`` 2.0.1 (``ProdigyPlusScheduleFree``); goldens in
      ``tests/parameter_free/test_prodigy_plus_schedule_free.py`` agree to 1e-10 in float64.

    Departures:
      Dtypes: the package computes every step in float32 (``p.float()``), keeps the running
      sums of the ``d`` statistics in float32 and, for float32 parameters, ``p0`` and ``s``
      in bfloat16; bfloat16 parameters and ``z`` are written back with stochastic rounding.
      Here the step is computed in the accumulation dtype (float32, float64 for float64
      parameters), ``p0`` and ``s`` follow the parameters (float32 for float16, as the
      second moment), the factored statistics are in the accumulation dtype (the package's
      ``factored_fp32=True``), and results are rounded to nearest (no stochastic rounding).
      The goldens run the package with its float32 and bfloat16 computations patched to
      float64 (the generator script documents how). The bfloat16 ``p0`` matters for float32
      parameters: its rounding error (up to 2**-9 of each entry) enters the numerator
      ``<g, p0 - z>`` from the first step. On the goldens' problem (float32, same
      gradients) the package's ``d`` is a factor ``2**0.25`` above the exact one with its
      defaults (one limited growth more) and 7.86 instead of 1.25 with ``d_limiter=False,
      d_coef=2, d0=1e-4``. ``statistics_dtype=jnp.bfloat16`` reproduces that: then ``d``
      agrees with the unpatched package to 1.4e-6 and 6.3e-5 and the parameters to 1e-5
      (``pps_float32_*`` goldens). The default keeps ``p0`` and ``s`` in the parameters'
      dtype (exact ``p0``; 4/11 bytes per float32 parameter more than the package).
      ``learning_rate = 0`` (the package requires it positive) changes nothing but the update
      count: no moment, ``d`` statistic or weight decay update. The package frees ``s`` and
      ``p0`` after ``prodigy_steps``; here they stay (state shapes are fixed under ``jit``).
      Kept as in the package: StableAdamW divides by the *square root* of the clipped RMS; the
      factored denominator of a leaf whose largest axis comes before its second-largest (a tall
      matrix) reduces the row statistics over axis ``dc - 1``, which for a matrix is the kept
      axis of size 1, so its denominator is the square root of the column statistics alone;
      ``eps`` multiplies the current ``d``.
    """
    return optax.chain(
        scale_by_prodigy_plus_schedule_free(
            learning_rate, b1, b2, b3, eps, weight_decay, d0, d_coef,
            weight_decay_by_lr=weight_decay_by_lr, d_limiter=d_limiter,
            prodigy_steps=prodigy_steps, schedulefree_c=schedulefree_c, factored=factored,
            use_bias_correction=use_bias_correction, use_stableadamw=use_stableadamw,
            use_atan2=use_atan2, statistics_dtype=statistics_dtype,
        ),
        optax.scale(-1.0),
    )
