"""ScheduleFree+: Schedule-Free AdamC with a Polyak step size (Defazio, 2026).

Follows the authors' reference ``AdamCScheduleFreePlusPaper``
(``schedulefree/adamc_schedulefree_plus_paper.py`` in facebookresearch/schedule_free, commit
``43e5c2d978920e1a3707a7609662c72b56401e62``, "Added ScheduleFree+", on the main branch; the
1.4.1 release on PyPI predates it). Three ideas in one update:

* Schedule-Free's three sequences (``z`` the base iterate, ``x`` its weighted average, ``y``
  where gradients are taken), with an interpolation ``beta_k`` that may be annealed;
* an Adam step on ``z`` (first and second moments, both bias-corrected) with AdamC-style
  decoupled weight decay at ``y`` scaled by the square of the step size;
* the step size from a Polyak rule on the loss value, corrected for the point ``y`` being
  off the average: :math:`\\alpha_k = \\gamma_k \\max(0, f(y_k) + \\beta_k\\langle g_k,
  z_k - x_k\\rangle) / (\\sqrt{\\pi/2}\\,\\widehat{\\|g\\|_1})`.

The parameters hold ``y``; the state holds ``z`` (and the Adam moments), and
:func:`adaptlr.schedule_free_eval_params` recovers ``x`` from ``y``, ``z`` and the last
``beta_k``, as for the other Schedule-Free methods.
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
    check_tree_match,
    map_leaves,
    resolve,
    scalar_dtype,
    tree_l1_norm,
    tree_vdot,
)
from adaptlr._docstrings import args_from
from adaptlr.parameter_free.schedule_free import ScheduleFreeState

__all__ = [
    "RANGES",
    "ScheduleFreePlusMoments",
    "scale_by_schedule_free_plus",
    "schedule_free_plus",
]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    # x is recovered from y and z by dividing by the interpolation weight (> 0), and the
    # annealing works on log(1 - beta) (< 1; the reference's math.log(0) raises).
    "sf_b1": Interval(0.0, 1.0, lower_closed=False, upper_closed=False),
    "sf_b1_max": Interval(0.0, 1.0, lower_closed=False, upper_closed=False),
    "eps": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "r": NON_NEGATIVE,
    "polyak_beta": UNIT_INTERVAL,
    "c_warmup": Interval(0.0, math.inf, integer=True),
    "sf_b1_anneal_steps": Interval(0.0, math.inf, integer=True),
    "weight_lr_power": NON_NEGATIVE,
}


class ScheduleFreePlusMoments(NamedTuple):
    """``ScheduleFreeState.base_state`` of ScheduleFree+.

    ``S`` is the scalar dtype: float32, or float64 for float64 parameters.
    """

    mu: PyTree  # like params: Adam's first moment
    nu: PyTree  # like params: Adam's second moment
    grad_l1_ema: jax.Array  # shape=(), S: bias-corrected EMA of sqrt(pi/2) * ||g||_1


def scale_by_schedule_free_plus(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.95,
    sf_b1: float = 0.9,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    r: float = 0.0,
    polyak_beta: float = 0.0,
    c_warmup: int = 1,
    sf_b1_anneal_steps: int = 0,
    sf_b1_max: float = 0.965,
    weight_lr_power: float = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""ScheduleFree+'s move of ``y``, negated (``y - y'``); see :func:`schedule_free_plus`.

    Args:
      learning_rate: :math:`\gamma_k`, multiplying the Polyak step, in ``[0, inf)`` or a
        schedule (evaluated at the step count ``0, 1, ...``); values below ``eps`` count
        as ``eps`` (the reference's floor).
      b1: Adam's first-moment decay, in ``[0, 1)``.
      b2: Adam's second-moment decay, in ``[0, 1)``.
      sf_b1: Schedule-Free interpolation :math:`\beta` between ``z`` and ``x``, in ``(0, 1)``.
      eps: denominator term of the Adam step and floor of the learning rate, in ``(0, inf)``;
        the running maximum of the step size starts at ``eps``.
      weight_decay: :math:`\lambda`, in ``[0, inf)``: ``z`` is decayed by
        :math:`\alpha_k^2\lambda y_k` (AdamC-style: the authors suggest values like 20 or 50,
        not AdamW's 0.1).
      r: in ``[0, inf)``: averaging weights grow like ``(k+1)**r``.
      polyak_beta: EMA decay of the gradient's L1 norm in the Polyak denominator, in
        ``[0, 1)`` (0: the current norm).
      c_warmup: integer in ``[0, inf)``: the first ``c_warmup`` steps set ``x = z``
        (averaging weight 1) and add nothing to the weight sum.
      sf_b1_anneal_steps: integer in ``[0, inf)``: anneal :math:`\beta` from ``sf_b1`` to
        ``sf_b1_max`` over this many steps, geometrically in :math:`1-\beta`; 0 keeps it.
      sf_b1_max: the annealed :math:`\beta`'s final value, in ``(0, 1)``.
      weight_lr_power: in ``[0, inf)``: averaging weights scale with ``max step ** power``.
    """
    check_all(
        RANGES, learning_rate=learning_rate, b1=b1, b2=b2, sf_b1=sf_b1, eps=eps,
        weight_decay=weight_decay, r=r, polyak_beta=polyak_beta, c_warmup=c_warmup,
        sf_b1_anneal_steps=sf_b1_anneal_steps, sf_b1_max=sf_b1_max,
        weight_lr_power=weight_lr_power,
    )

    def beta_at(k: jax.Array, sdtype: Any) -> jax.Array:
        start = jnp.asarray(sf_b1, sdtype)
        if isinstance(sf_b1_anneal_steps, int) and sf_b1_anneal_steps == 0:
            return start
        steps = jnp.asarray(sf_b1_anneal_steps, sdtype)
        progress = jnp.minimum(k.astype(sdtype) / jnp.where(steps > 0, steps, 1), 1)
        end = jnp.asarray(sf_b1_max, sdtype)
        annealed = 1 - jnp.exp(jnp.log1p(-start) * (1 - progress) + jnp.log1p(-end) * progress)
        return jnp.where(steps > 0, annealed, start)

    def init_fn(params: PyTree) -> ScheduleFreeState:
        check_real(params, "ScheduleFree+")
        sdtype = scalar_dtype(params)
        moments = ScheduleFreePlusMoments(
            mu=jax.tree.map(jnp.zeros_like, params),
            nu=jax.tree.map(jnp.zeros_like, params),
            grad_l1_ema=jnp.zeros((), sdtype),
        )
        return ScheduleFreeState(
            count=jnp.zeros((), jnp.int32),
            b1=beta_at(jnp.zeros((), jnp.int32), sdtype),
            z=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
            base_state=moments,
            lr_max=jnp.asarray(eps, sdtype),
            weight_sum=jnp.zeros((), sdtype),
            effective_lr=jnp.zeros((), sdtype),
        )

    def update_fn(
        updates: PyTree, state: ScheduleFreeState, params: PyTree = None, *,
        value: Any = None, **extra_args: Any,
    ) -> tuple[PyTree, ScheduleFreeState]:
        del extra_args
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("schedule_free_plus needs params: update(grads, state, params, "
                             "value=loss)")
        if value is None:
            raise ValueError("schedule_free_plus needs the loss: update(grads, state, params, "
                             "value=loss)")
        sdtype = state.lr_max.dtype
        k = state.count
        step = (k + 1).astype(sdtype)
        moments: ScheduleFreePlusMoments = state.base_state
        beta = beta_at(k, sdtype)
        beta_prev = state.b1

        # x_k from y_k, z_k and the beta that formed y_k.
        def average(y: jax.Array, z: jax.Array) -> jax.Array:
            cdt = accumulation_dtype(y.dtype)
            bp = beta_prev.astype(cdt)
            return (y.astype(cdt) - (1 - bp) * z.astype(cdt)) / bp

        x = jax.tree.map(average, params, state.z)
        z_minus_x = jax.tree.map(lambda z, xk: z.astype(xk.dtype) - xk, state.z, x)

        # The Polyak step size.
        grad_l1 = tree_l1_norm(updates).astype(sdtype)
        ip_term = beta * tree_vdot(updates, z_minus_x).astype(sdtype)
        pb = jnp.asarray(polyak_beta, sdtype)
        # The reference stores the bias-corrected average and feeds it to the next step's
        # EMA (group['grad_l1_ema'] = grad_l1_ema_corr): followed here.
        raw = pb * moments.grad_l1_ema + (1 - pb) * grad_l1 * math.sqrt(math.pi / 2)
        denominator = grad_l1_ema = raw / (1 - pb**step)
        numerator = jnp.maximum(0, jnp.asarray(value, sdtype) + ip_term)
        # A zero gradient (the reference divides by zero): no step.
        positive = denominator > 0
        polyak_lr = jnp.where(positive, numerator / jnp.where(positive, denominator, 1), 0)
        lr = jnp.maximum(jnp.asarray(resolve(learning_rate, k), sdtype),
                         jnp.asarray(eps, sdtype))
        alpha = lr * polyak_lr

        # Averaging weight.
        lr_max = jnp.maximum(alpha, state.lr_max)
        weight = step ** jnp.asarray(r, sdtype) * lr_max ** jnp.asarray(weight_lr_power, sdtype)
        warm = k.astype(sdtype) < jnp.asarray(c_warmup, sdtype)
        weight_sum = jnp.where(warm, state.weight_sum, state.weight_sum + weight)
        c = jnp.where(warm, 1, weight / jnp.where(warm, 1, weight_sum))

        beta1, beta2 = jnp.asarray(b1, sdtype), jnp.asarray(b2, sdtype)
        bias1, bias2 = 1 - beta1**step, 1 - beta2**step
        decay = alpha * alpha * jnp.asarray(weight_decay, sdtype)

        def leaf(
            g: jax.Array, y: jax.Array, z: jax.Array, xk: jax.Array, m: jax.Array, v: jax.Array
        ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
            cdt = accumulation_dtype(y.dtype)
            gc, yc = g.astype(cdt), y.astype(cdt)
            m_new = beta1.astype(cdt) * m.astype(cdt) + (1 - beta1).astype(cdt) * gc
            v_new = beta2.astype(cdt) * v.astype(cdt) + (1 - beta2).astype(cdt) * gc * gc
            denom = jnp.sqrt(v_new / bias2.astype(cdt)) + jnp.asarray(eps, cdt)
            z_new = (z.astype(cdt) - decay.astype(cdt) * yc
                     - alpha.astype(cdt) * (m_new / bias1.astype(cdt)) / denom)
            x_new = (1 - c.astype(cdt)) * xk + c.astype(cdt) * z_new
            y_new = beta.astype(cdt) * x_new + (1 - beta.astype(cdt)) * z_new
            return ((yc - y_new).astype(y.dtype), z_new.astype(z.dtype),
                    m_new.astype(m.dtype), v_new.astype(v.dtype))

        descent, z, mu, nu = map_leaves(leaf, 4, updates, params, state.z, x, moments.mu,
                                        moments.nu)
        new_state = ScheduleFreeState(
            count=optax.safe_increment(k),
            b1=beta,
            z=z,
            base_state=ScheduleFreePlusMoments(mu=mu, nu=nu, grad_l1_ema=grad_l1_ema),
            lr_max=lr_max,
            weight_sum=weight_sum,
            effective_lr=alpha,
        )
        return descent, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(scale_by_schedule_free_plus)
def schedule_free_plus(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.95,
    sf_b1: float = 0.9,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    r: float = 0.0,
    polyak_beta: float = 0.0,
    c_warmup: int = 1,
    sf_b1_anneal_steps: int = 0,
    sf_b1_max: float = 0.965,
    weight_lr_power: float = 2.0,
) -> optax.GradientTransformationExtraArgs:
    r"""ScheduleFree+: Schedule-Free AdamC whose step size is a Polyak step on the loss.

    Each update takes the loss ``value`` :math:`f_k = f(y_k)` and the gradient
    :math:`g_k` at ``y`` (the parameters). With :math:`x_k, z_k` the average and base
    iterates and :math:`\beta_k` the (annealed) interpolation:

    .. math::

        e_k = \frac{\beta_p e_{k-1} + (1-\beta_p)\sqrt{\pi/2}\,\|g_k\|_1}
                   {1-\beta_p^{k+1}}, \qquad
        \alpha_k = \max(\gamma_k, \epsilon)\,
            \frac{\max(0,\ f_k + \beta_k\langle g_k, z_k - x_k\rangle)}{e_k}, \\
        z_{k+1} = z_k - \alpha_k^2 \lambda y_k
            - \alpha_k \frac{\hat m_k}{\sqrt{\hat v_k} + \epsilon}, \qquad
        x_{k+1} = (1-c_{k+1}) x_k + c_{k+1} z_{k+1}, \qquad
        y_{k+1} = \beta_k x_{k+1} + (1-\beta_k) z_{k+1},

    with :math:`\hat m_k, \hat v_k` Adam's bias-corrected moments (decays ``b1``, ``b2``),
    :math:`c_{k+1} = 1` for the first ``c_warmup`` steps and
    :math:`w_{k+1}/\sum w` after, :math:`w_{k+1} = (k+1)^r \max_{i\le k}(\alpha_i,
    \epsilon)^{p}`. The Polyak rule assumes the loss' minimum is near 0.
    Pass the loss as ``update(grads, state, params, value=loss)``; train at the
    parameters (``y``), evaluate at ``schedule_free_eval_params(opt_state, params)``
    (``x``). Memory: ``z`` and the two moments.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> loss = lambda y: jnp.sum((y - 1.0) ** 2)
      >>> tx = adaptlr.schedule_free_plus(learning_rate=0.5)
      >>> params = jnp.array([3.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(50):
      ...     value, grads = jax.value_and_grad(loss)(params)
      ...     updates, state = tx.update(grads, state, params, value=value)
      ...     params = optax.apply_updates(params, updates)
      >>> x = adaptlr.schedule_free_eval_params(state, params)
      >>> bool(loss(x) < 0.5 * loss(jnp.array([3.0, -2.0])))
      True

    References:
      Defazio, "ScheduleFree+: Scaling Learning-Rate-Free & Schedule-Free Learning to Large
      Language Models", arXiv:2605.19095, 2026. Reference code:
      ``schedulefree.AdamCScheduleFreePlusPaper``, facebookresearch/schedule_free commit
      ``43e5c2d978920e1a3707a7609662c72b56401e62`` (main branch, not in release 1.4.1).

    Departures:
      Followed is the reference code. Its docstring gives ``c_warmup`` a default of 0, its
      signature 0.9 (typed ``int``); the code compares ``k < c_warmup``, so 0.9 acts as 1
      (the first step alone sets ``x = z`` and its weight is not added to the sum, so the
      second step's averaging weight is 1 as well). Here ``c_warmup`` is an integer and its
      default 1 reproduces the code. The reference's weight decay is scaled by
      :math:`\alpha_k^2` without dividing by a maximum step (AdamC's
      :math:`\gamma_t^2/\gamma_{\max}`; see :func:`adaptlr.add_adamc_decayed_weights`).
      The reference's L1-norm average feeds its bias-corrected value back into the next
      step's average (it stores ``grad_l1_ema_corr`` as ``grad_l1_ema``), so :math:`e_k` above
      is not the bias-corrected EMA its docstring describes (they differ for
      ``polyak_beta > 0``); the code is followed. The reference raises
      ``ZeroDivisionError`` on an all-zero gradient; here the step size is then 0.
      Parameters without a gradient are skipped by the reference; Optax passes a gradient
      for every parameter (zero or not). The reference all-reduces the
      L1 norm, inner product and loss over ranks for DTensor gradients; here global
      reductions are plain tree sums (JAX's sharding computes them on any mesh), and the
      loss given is used as is. The reference keeps ``x``, ``y`` and ``z`` (``y`` also in
      the parameters); here ``x`` is recomputed from ``y`` and ``z``, equal up to rounding.
    """
    return optax.chain(
        scale_by_schedule_free_plus(
            learning_rate, b1, b2, sf_b1, eps, weight_decay, r, polyak_beta, c_warmup,
            sf_b1_anneal_steps, sf_b1_max, weight_lr_power,
        ),
        optax.scale(-1.0),
    )
