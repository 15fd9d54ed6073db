"""Prodigy: Adam with a D-Adaptation step size that grows quickly (Mishchenko & Defazio, 2024)."""

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
    is_checkable,
    resolve,
    scalar_dtype,
    tree_l1_norm,
    tree_vdot,
)
from adaptlr._docstrings import args_from

__all__ = ["D_LIMITER_FACTOR", "RANGES", "ProdigyState", "prodigy", "scale_by_prodigy"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,  # 0: no step (CONTRIBUTING.md)
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "b3": UNIT_INTERVAL,
    "eps": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "d0": POSITIVE,
    "d_coef": POSITIVE,
    "growth_rate": Interval(1.0, math.inf, upper_closed=True),  # inf: no limit
    "slice_p": Interval(1.0, math.inf, integer=True),
    "prodigy_steps": Interval(0.0, math.inf, integer=True),
}

#: Largest factor by which ``d_limiter`` lets the raw estimate exceed the current ``d``.
D_LIMITER_FACTOR = 2.0**0.25


class ProdigyState(NamedTuple):
    """State of :func:`scale_by_prodigy`.

    ``S`` below is the scalar dtype: float32, or float64 for float64 parameters.
    """

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: update calls (schedule step)
    k: jax.Array  # shape=(), int32: steps taken (skipped steps excluded; bias correction)
    exp_avg: PyTree  # like params (state dtype): d-scaled first moment; () when b1 == 0
    exp_avg_sq: PyTree  # like params (state dtype): d**2-scaled second moment
    s: PyTree  # like params, or flat every slice_p-th entry (state dtype): weighted gradient sum
    p0: PyTree  # like s (param dtype): the initial parameters
    d: jax.Array  # shape=(), S: current distance estimate
    d_max: jax.Array  # shape=(), S: largest estimate seen
    d_numerator: jax.Array  # shape=(), S: weighted sum of <g_k, x_0 - x_k>
    effective_lr: jax.Array  # shape=(), S: d * lr * bias correction applied at the last update


def _state_dtype(dtype: Any, state_dtype: Any) -> jnp.dtype:
    if state_dtype is not None:
        return jnp.dtype(state_dtype)
    # d**2 * g**2 is about 1e-12 * g**2 at the start: below float16's range, not bfloat16's.
    return jnp.dtype(jnp.float32) if jnp.dtype(dtype) == jnp.float16 else jnp.dtype(dtype)


def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float | None = None,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
    *,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    slice_p: int | None = None,
    state_dtype: Any = None,
    reference_b1_zero: bool = False,
    prodigy_steps: int = 0,
    d_limiter: bool = False,
) -> optax.GradientTransformation:
    r"""Prodigy's step (Adam scaled by a learned distance ``d``), without the descent sign.

    With gradient :math:`g_k` at :math:`x_k` (plus :math:`\lambda x_k` for coupled weight
    decay), learning rate :math:`\gamma_k` and :math:`\rho_k` the bias correction
    :math:`\sqrt{1-\beta_2^{k+1}}/(1-\beta_1^{k+1})` (or 1):

    .. math::

        \eta_k &= d_k \gamma_k \rho_k \\
        m_{k+1} &= \beta_1 m_k + (1-\beta_1)\, d_k g_k, \qquad
        v_{k+1} = \beta_2 v_k + (1-\beta_2)\, d_k^2 g_k^2 \\
        r_{k+1} &= \beta_3 r_k + \tfrac{d_k}{d_0}\, \eta_k \langle g_k, x_0 - x_k\rangle \\
        s_{k+1} &= \beta_3 s_k + \tfrac{d_k}{d_0}\, \eta_k\, g_k
            \quad(\text{or } \tfrac{d_k}{d_0} d_k g_k \text{ with safeguard\_warmup}) \\
        \hat d_{k+1} &= c\, r_{k+1} / \|s_{k+1}\|_1, \quad
        d^{\max}_{k+1} = \max(d^{\max}_k, \hat d_{k+1}) \\
        d_{k+1} &= \min\big(d^{\max}_{k+1},\ \omega\, d'_k\big),\quad
            d'_k = \max(d_k, \hat d_{k+1}) \text{ if } d_k = d_0 \text{ else } d_k \\
        u_k &= \eta_k\, m_{k+1} / (\sqrt{v_{k+1}} + d_{k+1}\epsilon)
            \;+\; \lambda \eta_k x_k \ (\text{decoupled weight decay})

    and the parameters move by :math:`-u_k` (this core returns :math:`u_k`). The factor
    :math:`d_k/d_0` in :math:`r` and :math:`s` cancels in :math:`\hat d`; it only keeps the sums
    away from underflow. With ``slice_p = p`` the inner product and :math:`s` use every
    ``p``-th entry of each flattened parameter. A step whose :math:`\|s_{k+1}\|_1` is zero (no
    gradient signal yet), or whose learning rate is zero, changes nothing (the moments are
    still updated in the first case, as in the reference), so zero gradients give no NaN.

    Cost: the step needs ``d_{k+1}`` (through ``d_{k+1} eps`` and the skip test), which needs
    two global sums over the new ``s``, so an update is two passes over the parameters: the
    first reads ``g, x, x_0, s`` and writes ``s`` with both sums fused into it, the second reads
    ``g, x, m, v`` and writes ``m, v`` and the step. Where XLA fuses sibling outputs (GPU)
    that is 48 bytes per float32 parameter with the parameter update fused in (Adam: 28);
    the 40 of a single pass would need the paper's ``d_k eps`` and give up the reference's
    skip of zero-signal steps. On XLA's CPU backend the compiled step moves 68 bytes per
    parameter, the same as ``optax.contrib.prodigy`` (a test keeps it from exceeding it).

    Controls from ``prodigy-plus-schedule-free`` 2.0.1 (not in ``prodigyopt``): with
    ``d_limiter`` the raw estimate is capped before ``d_coef`` multiplies it,
    :math:`\hat d_{k+1} = c \min(r_{k+1}/\|s_{k+1}\|_1,\ 2^{1/4} d_k)`, so ``d`` grows by
    at most :math:`2^{1/4}` a step for ``c <= 1`` (``4 log2(d / d0)`` steps to reach ``d``);
    with ``prodigy_steps = N > 0`` the statistics :math:`r, s` and ``d`` change on the first
    ``N - 1`` update calls only, so steps ``N, N+1, ...`` all use the ``d`` of step ``N``.

    Low-precision parameters: the first steps are about ``d0 * learning_rate`` (1e-6), below
    the spacing of bfloat16 or float16 numbers of order 0.1 or more, so such parameters do not
    leave ``x_0`` and ``d`` stays at ``d0`` (no NaN, no progress) until zero-initialised
    parameters, which can move by 1e-6, have moved enough; the estimate then comes from those
    alone. Keep float32 master weights, as with the reference, or raise ``d0``
    (``docs/prodigy.md`` shows both on a real task).

    Args:
      learning_rate: multiplier of the estimated step, in ``[0, inf)`` (0: no step), or a schedule
        (evaluated at the update count ``0, 1, ...``; a zero value skips the step).
      b1: first-moment decay in ``[0, 1)``; ``0`` stores no first moment.
      b2: second-moment decay in ``[0, 1)``.
      b3: decay of the ``d`` statistics in ``[0, 1)``; ``None`` means ``sqrt(b2)``.
      eps: denominator term in ``(0, inf)`` (multiplied by ``d``).
      weight_decay: in ``[0, inf)``, decoupled (AdamW) or coupled (added to the gradient).
      d0: initial estimate in ``(0, inf)``.
      d_coef: multiplier of the estimate in ``(0, inf)``.
      growth_rate: largest factor ``d`` may grow by per step, in ``[1, inf]``.
      decouple: decoupled weight decay (``True``) or L2 added to the gradient.
      use_bias_correction: Adam's bias correction folded into the step size.
      safeguard_warmup: leave the learning rate out of ``s`` (helps under warmup schedules).
      slice_p: integer in ``[1, inf)``; estimate ``d`` from every ``slice_p``-th entry
        (``None``: every entry, the reference's 1). It sets state shapes, so under
        ``optax.inject_hyperparams`` list it in ``static_args`` when you pass it.
      state_dtype: dtype of the moments and ``s``; ``None`` follows the parameters, except
        float16, which is stored in float32 (``d**2 g**2`` underflows float16).
      reference_b1_zero: with ``b1 = 0``, scale the gradient by the updated ``d_{k+1}`` as
        ``prodigyopt`` does in that branch (see Departures); off by default.
      prodigy_steps: integer in ``[0, inf)``; ``N > 0`` freezes ``d`` after ``N - 1`` update
        calls (skipped ones included), so that steps ``N, N+1, ...`` use the ``d`` of step
        ``N`` (``prodigy-plus-schedule-free``'s convention); ``0`` (default) never freezes.
      d_limiter: cap the raw estimate at ``2**0.25`` times the current ``d`` before ``d_coef``
        multiplies it (``prodigy-plus-schedule-free``'s ``d_limiter``, there on by default);
        off by default, as ``prodigyopt`` has no such cap.

    Returns:
      An ``optax.GradientTransformation``; its ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.prodigy()
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.ones(3)}, state, params)
      >>> round(float(adaptlr.effective_lr(state)), 12)  # d0 * learning_rate, first step
      1e-06

    References:
      Mishchenko and Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      ICML 2024. Reference code: the ``prodigyopt`` package (``Prodigy``).

    Departures:
      The reference reads its gradients per parameter group; here there is one group (use
      ``adaptlr.param_groups`` or ``optax.multi_transform`` with several instances for groups,
      whose ``d`` estimates are then separate, unlike the reference's shared one; as
      ``prodigy-plus-schedule-free`` with ``split_groups=True``). ``prodigy_steps`` and
      ``d_limiter`` are ``prodigy-plus-schedule-free``'s definitions applied to
      ``prodigyopt``'s algorithm; unlike that package, the ``d`` statistics stay in the state
      after ``prodigy_steps`` (state shapes are fixed under ``jit``). The reference's
      ``fsdp_in_use`` all-reduce is unnecessary: the reductions are plain tree sums that
      JAX's sharding computes globally. The reference skips a zero-``d_denom`` step by
      returning early in Python; here the same skip zeroes the step's coefficient ``d lr`` (a
      scalar select; a select per entry when ``eps`` is traced, e.g. injected, and so not
      known to be positive). Non-finite gradients therefore give non-finite updates, as in the
      reference. For an all-zero tensor the reference stores a scalar zero ``p0`` to save
      memory; here ``p0`` is always stored (identical arithmetic). float16 state is promoted
      to float32 (see ``state_dtype``).
      With ``b1 = 0`` the reference's separate branch steps by ``eta_k d_{k+1} g_k`` (the
      *updated* ``d``) where its momentum branch, the limit ``b1 -> 0`` and the paper use
      ``m_{k+1} = d_k g_k``; adaptlr uses ``d_k`` and ``reference_b1_zero=True`` reproduces the
      reference. As in the reference (and unlike the paper's ``d_k eps``) the denominator uses
      ``d_{k+1} eps``. Otherwise the arithmetic follows ``prodigyopt`` 1.1.2 operation by
      operation, including the quirk that the first estimate above ``d0`` is not limited by
      ``growth_rate``. Optax's ``optax.contrib.prodigy`` differs from both: it always applies
      bias correction and returns NaN on zero-gradient or zero-learning-rate steps.
    """
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
        d0=d0, d_coef=d_coef, growth_rate=growth_rate,
    )
    check("b3", b3, RANGES["b3"], allow_none=True)
    if slice_p is None:
        slice_p = 1
    elif isinstance(slice_p, jax.core.Tracer):
        raise TypeError(
            "slice_p sets the shapes of Prodigy's state and cannot be traced: pass "
            "static_args=('slice_p',) to optax.inject_hyperparams"
        )
    check_all(RANGES, slice_p=slice_p, prodigy_steps=prodigy_steps)
    slice_p = int(slice_p)
    # The first moment is stored unless b1 is a concrete zero (a traced b1 may change).
    has_momentum = not (isinstance(b1, (int, float)) and b1 == 0)
    # Likewise a concrete zero weight decay is left out of the arithmetic (one read less).
    decays = not (isinstance(weight_decay, (int, float)) and weight_decay == 0)

    def flat_slice(x: jax.Array) -> jax.Array:
        return x if slice_p == 1 else x.reshape(-1)[::slice_p]

    def init_fn(params: PyTree) -> ProdigyState:
        check_real(params, "Prodigy")
        sdtype = scalar_dtype(params)

        def zeros(x: jax.Array) -> jax.Array:
            return jnp.zeros(x.shape, _state_dtype(x.dtype, state_dtype))

        return ProdigyState(
            count=jnp.zeros((), jnp.int32),
            k=jnp.zeros((), jnp.int32),
            exp_avg=jax.tree.map(zeros, params) if has_momentum else (),
            exp_avg_sq=jax.tree.map(zeros, params),
            s=jax.tree.map(lambda x: zeros(flat_slice(x)), params),
            p0=jax.tree.map(lambda x: jnp.array(flat_slice(x), copy=True), params),
            d=jnp.asarray(d0, sdtype),
            d_max=jnp.asarray(d0, sdtype),
            d_numerator=jnp.zeros((), sdtype),
            effective_lr=jnp.zeros((), sdtype),
        )

    def update_fn(
        updates: PyTree, state: ProdigyState, params: PyTree = None
    ) -> tuple[PyTree, ProdigyState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("scale_by_prodigy needs params: call update(grads, state, params)")
        sdtype = state.d.dtype
        beta1 = jnp.asarray(b1, sdtype)
        beta2 = jnp.asarray(b2, sdtype)
        beta3 = jnp.sqrt(beta2) if b3 is None else jnp.asarray(b3, sdtype)
        lam = jnp.asarray(weight_decay, sdtype)
        d, d_max = state.d, state.d_max
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        if use_bias_correction:
            step = (state.k + 1).astype(sdtype)
            bias_correction = jnp.sqrt(1 - beta2**step) / (1 - beta1**step)
        else:
            bias_correction = jnp.ones((), sdtype)
        dlr = d * lr * bias_correction
        active = lr > 0
        # prodigy_steps = N > 0: the d statistics change on the first N - 1 update calls only.
        if is_checkable(prodigy_steps) and prodigy_steps == 0:
            adapting = jnp.bool_(True)
        else:  # a traced prodigy_steps (inject_hyperparams) may be zero too
            n_steps = jnp.asarray(prodigy_steps)
            adapting = (n_steps <= 0) | (state.count + 1 < n_steps)
        # A skipped step returns zeros. With a concrete eps > 0 every denominator
        # sqrt(v) + d eps is positive, so a zero coefficient does it; a select per entry costs
        # XLA several times the compile time on trees of many leaves and some 5% of the step.
        skip_by_coefficient = is_checkable(eps) and float(eps) > 0

        def grad_of(g: jax.Array, p: jax.Array) -> jax.Array:
            g = g.astype(accumulation_dtype(g.dtype))
            if decouple or not decays:
                return g
            return g + lam.astype(g.dtype) * p.astype(g.dtype)

        # First pass: the d statistics (s and two reductions) from g, x, x0 and s.
        s_coef = (d / jnp.asarray(d0, sdtype)) * (d if safeguard_warmup else dlr)

        def new_s(g: jax.Array, p: jax.Array, s: jax.Array) -> jax.Array:
            gs = flat_slice(grad_of(g, p))
            out = beta3.astype(gs.dtype) * s.astype(gs.dtype) + s_coef.astype(gs.dtype) * gs
            return jnp.where(active & adapting, out, s.astype(gs.dtype)).astype(s.dtype)

        s = jax.tree.map(new_s, updates, params, state.s)
        sliced_grads = jax.tree.map(lambda g, p: flat_slice(grad_of(g, p)), updates, params)
        displacement = jax.tree.map(
            lambda p0, p: p0.astype(accumulation_dtype(p0.dtype))
            - flat_slice(p).astype(accumulation_dtype(p.dtype)),
            state.p0, params,
        )
        delta_numerator = (d / jnp.asarray(d0, sdtype)) * dlr * tree_vdot(
            sliced_grads, displacement
        ).astype(sdtype)
        d_denom = tree_l1_norm(s).astype(sdtype)

        take = active & (d_denom > 0)
        d_numerator = beta3 * state.d_numerator + delta_numerator
        safe_denom = jnp.where(take, d_denom, jnp.ones_like(d_denom))
        raw_d_hat = d_numerator / safe_denom
        if d_limiter:
            raw_d_hat = jnp.minimum(raw_d_hat, jnp.asarray(D_LIMITER_FACTOR, sdtype) * d)
        d_hat = jnp.asarray(d_coef, sdtype) * raw_d_hat
        d_first = jnp.where(d == jnp.asarray(d0, sdtype), jnp.maximum(d, d_hat), d)
        new_d_max = jnp.maximum(d_max, d_hat)
        new_d = jnp.minimum(new_d_max, d_first * jnp.asarray(growth_rate, sdtype))
        estimate = take & adapting
        new_d = jnp.where(estimate, new_d, d)
        new_d_max = jnp.where(estimate, new_d_max, d_max)
        d_numerator = jnp.where(estimate, d_numerator, state.d_numerator)

        step_dlr = jnp.where(take, dlr, jnp.zeros_like(dlr)) if skip_by_coefficient else dlr

        # Second pass: the moments (which use the old d) and the step (which uses the new one).
        def moments_and_step(
            g: jax.Array, p: jax.Array, m: jax.Array | None, v: jax.Array
        ) -> tuple[jax.Array, jax.Array | None, jax.Array]:
            g = grad_of(g, p)
            cdt = g.dtype
            d_c, dlr_c = d.astype(cdt), step_dlr.astype(cdt)
            v_new = beta2.astype(cdt) * v.astype(cdt) + (1 - beta2).astype(cdt) * d_c * d_c * g * g
            if m is None:
                # The reference's b1 = 0 branch scales by the *updated* d (see Departures).
                numer = (new_d.astype(cdt) if reference_b1_zero else d_c) * g
                m_out = None
            else:
                numer = beta1.astype(cdt) * m.astype(cdt) + (1 - beta1).astype(cdt) * d_c * g
                m_out = jnp.where(active, numer, m.astype(cdt)).astype(m.dtype)
            step = dlr_c * numer / (jnp.sqrt(v_new) + new_d.astype(cdt) * jnp.asarray(eps, cdt))
            if decouple and decays:
                step = step + lam.astype(cdt) * dlr_c * p.astype(cdt)
            if not skip_by_coefficient:
                step = jnp.where(take, step, jnp.zeros_like(step))
            step = step.astype(p.dtype)
            v_out = jnp.where(active, v_new, v.astype(cdt)).astype(v.dtype)
            return step, m_out, v_out

        leaves, treedef = jax.tree.flatten(updates)
        p_leaves = jax.tree.leaves(params)
        v_leaves = jax.tree.leaves(state.exp_avg_sq)
        m_leaves = jax.tree.leaves(state.exp_avg) if has_momentum else [None] * len(leaves)
        triples = [
            moments_and_step(g, p, m, v)
            for g, p, m, v in zip(leaves, p_leaves, m_leaves, v_leaves, strict=True)
        ]
        steps = jax.tree.unflatten(treedef, [t[0] for t in triples])
        exp_avg = jax.tree.unflatten(treedef, [t[1] for t in triples]) if has_momentum else ()
        exp_avg_sq = jax.tree.unflatten(treedef, [t[2] for t in triples])
        new_state = ProdigyState(
            count=optax.safe_increment(state.count),
            k=jnp.where(take, state.k + 1, state.k).astype(jnp.int32),
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            s=s,
            p0=state.p0,
            d=new_d,
            d_max=new_d_max,
            d_numerator=d_numerator,
            effective_lr=jnp.where(take, dlr, jnp.zeros_like(dlr)),
        )
        return steps, new_state

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_prodigy)
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float | None = None,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
    *,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    slice_p: int | None = None,
    state_dtype: Any = None,
    reference_b1_zero: bool = False,
    prodigy_steps: int = 0,
    d_limiter: bool = False,
) -> optax.GradientTransformation:
    """Prodigy, ready to use: :func:`scale_by_prodigy` followed by the descent sign.

    The defaults are the reference package's. Leave ``learning_rate`` at 1 (it multiplies the
    estimated step) unless training is unstable, or use it as a schedule with peak 1.
    ``docs/prodigy.md`` shows the controls and what to do when ``d`` misbehaves.

    Args:
      learning_rate: multiplier of the estimated step in ``(0, inf)``, or a schedule.
      b1: first-moment decay in ``[0, 1)``; ``0`` stores no first moment.
      b2: second-moment decay in ``[0, 1)``.
      b3: decay of the ``d`` statistics in ``[0, 1)``; ``None`` means ``sqrt(b2)``.
      eps: denominator term in ``(0, inf)`` (multiplied by ``d``).
      weight_decay: in ``[0, inf)``, decoupled (AdamW) or coupled (see ``decouple``).
      d0: initial estimate in ``(0, inf)``.
      d_coef: multiplier of the estimate in ``(0, inf)``.
      growth_rate: largest factor ``d`` may grow by per step, in ``[1, inf]``.
      decouple: decoupled weight decay (``True``) or L2 added to the gradient.
      use_bias_correction: Adam's bias correction folded into the step size.
      safeguard_warmup: leave the learning rate out of the estimate's denominator.
      slice_p: integer in ``[1, inf)`` or ``None``: estimate ``d`` from every
        ``slice_p``-th entry.
      state_dtype: dtype of the moments and ``s``; ``None`` follows the parameters.
      reference_b1_zero: with ``b1 = 0``, ``prodigyopt``'s step with the updated ``d``.
      prodigy_steps: integer in ``[0, inf)``; ``N > 0`` freezes ``d`` from step ``N`` on.
      d_limiter: cap each new estimate at ``2**0.25`` times the current ``d``.

    Returns:
      An ``optax.GradientTransformation`` (its ``update`` needs ``params``).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.prodigy(weight_decay=0.01, use_bias_correction=True)
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(3):
      ...     grads = jax.grad(lambda x: jnp.sum(x**2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)

    References:
      Mishchenko and Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      ICML 2024.
    """
    return optax.chain(
        scale_by_prodigy(
            learning_rate, b1, b2, b3, eps, weight_decay, d0, d_coef, growth_rate,
            decouple=decouple, use_bias_correction=use_bias_correction,
            safeguard_warmup=safeguard_warmup, slice_p=slice_p, state_dtype=state_dtype,
            reference_b1_zero=reference_b1_zero, prodigy_steps=prodigy_steps,
            d_limiter=d_limiter,
        ),
        optax.scale(-1.0),
    )
