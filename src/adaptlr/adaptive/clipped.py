"""Update-clipped and epsilon-free Adam: StableAdamW (Wortsman et al.), Adam-atan2 (Everett et al.).

StableAdamW divides each tensor's learning rate by the root-mean-square of ``g^2 / v`` when it
exceeds one, AdaFactor's update clipping moved onto AdamW. Adam-atan2 replaces
``m / (sqrt(v) + eps)`` by ``atan2(m, sqrt(v))``, which is bounded and needs no epsilon.
"""

from __future__ import annotations

import math
from typing import NamedTuple

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
    resolve,
)
from adaptlr._docstrings import args_from
from adaptlr.adaptive._common import (
    bias_correction,
    is_on,
    leaf_means_on_read,
    map_leaves,
    nonnegative_ratio,
    require_params,
    scalar_dtype,
    smallest_normal,
    zeros_like_tree,
)

__all__ = [
    "ADAM_ATAN2_RANGES",
    "STABLE_ADAMW_RANGES",
    "AdamAtan2State",
    "StableAdamWState",
    "adam_atan2",
    "scale_by_adam_atan2",
    "scale_by_stable_adamw",
    "stable_adamw",
]

STABLE_ADAMW_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}

ADAM_ATAN2_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "weight_decay": NON_NEGATIVE,
    "a": POSITIVE,
    "b": POSITIVE,
}


class StableAdamWState(NamedTuple):
    """State of :func:`scale_by_stable_adamw`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: bias-corrected first moment
    nu: PyTree  # like params: bias-corrected second moment
    leaf_lr: PyTree  # like params, one scalar per leaf: the learning rate lr / max(RMS, 1)
    #                  the leaf's last update applied (scalar dtype)
    eps: jax.Array  # eps, for the record

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean step size applied to mu at the
        last update (0 before it), recomputed from the state when read."""
        return leaf_means_on_read(self.count, _stable_step_size, (self.nu, self.leaf_lr),
                                  (self.eps,))


class AdamAtan2State(NamedTuple):
    """State of :func:`scale_by_adam_atan2`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: first moment (not bias-corrected)
    nu: PyTree  # like params: second moment (not bias-corrected)
    record_scalars: tuple[jax.Array, ...]  # (lr a, 1 / (1 - b1^t), b^2 / (1 - b2^t)), last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean over the leaf of the decay-free
        update divided by the bias-corrected momentum at the last update (0 before it),
        recomputed from the state when read."""
        return leaf_means_on_read(self.count, _atan2_step_size, (self.mu, self.nu),
                                  self.record_scalars)


def _atan2_nonnegative_x(y: jax.Array, x: jax.Array) -> jax.Array:
    """``atan2(y, x)`` for ``x >= 0``, from arithmetic that XLA vectorises.

    XLA:CPU evaluates ``jnp.arctan2`` about 9x (float32) and 3x (float64) slower than this
    (``benchmarks/atan2_speed.py``), which made Adam-atan2's step compute-bound. The quotient
    of the smaller by the larger of ``|y|`` and ``x`` lies in [0, 1]; above tan(pi/12) it is
    mapped by
    ``atan(t) = pi/6 + atan((sqrt(3) t - 1) / (t + sqrt(3)))`` into [-tan(pi/12), tan(pi/12)],
    where the Taylor series ``atan(r) = sum_k (-1)^k r^(2k+1) / (2k+1)`` converges by a factor
    ``r^2 <= 0.072`` per term: 7 terms reach float32's precision, 16 float64's. Measured
    against a float64 ``arctan2`` (``tests/adaptive/test_clipped.py``): within 2.3 ulp in
    float32 and 4 ulp in float64, where ``jnp.arctan2`` is within 1.5 and 1. ``x = -0`` counts
    as ``+0`` (``arctan2(0, -0)`` would be pi).

    ``x`` and the quotient ``t`` pass through ``abs`` (exact, both are >= 0): XLA does not fuse
    an expensive producer (``sqrt``, a division) into a consumer that uses it more than once;
    it writes it out instead, a fresh buffer and 8 bytes per entry. Behind the ``abs`` each is
    used once, and the whole step stays one pass.
    """
    dtype = y.dtype
    terms = 16 if dtype == jnp.float64 else 7

    def const(value: float) -> jax.Array:
        return jnp.asarray(value, dtype)

    x = jnp.abs(x)
    ay = jnp.abs(y)
    hi, lo = jnp.maximum(ay, x), jnp.minimum(ay, x)
    t = jnp.abs(lo / jnp.where(hi > 0, hi, 1))
    reduced = t > const(math.tan(math.pi / 12))
    sqrt3 = const(math.sqrt(3.0))
    r = jnp.where(reduced, (sqrt3 * t - 1) / (t + sqrt3), t)
    r2 = r * r
    series = const((-1) ** (terms - 1) / (2 * terms - 1))
    for k in range(terms - 2, -1, -1):
        series = series * r2 + const((-1) ** k / (2 * k + 1))
    angle = r * series
    angle = jnp.where(reduced, const(math.pi / 6) + angle, angle)
    angle = jnp.where(ay > x, const(math.pi / 2) - angle, angle)
    return jnp.copysign(angle, y)


def _atan2_step_size(m: jax.Array, v: jax.Array, scale: jax.Array, inv_bc1: jax.Array,
                     den_scale: jax.Array, tiny: jax.Array) -> jax.Array:
    """Adam-atan2's update per unit of bias-corrected momentum, ``scale atan2(m^, d) / m^``
    with ``d = b sqrt(v^)``; its limit ``scale / d`` where ``m^ = 0``, and 0 where both are 0."""
    del tiny
    m_hat = m * inv_bc1
    den = jnp.sqrt(v * den_scale)
    nonzero = m_hat != 0
    ratio = jnp.where(nonzero, _atan2_nonnegative_x(m_hat, den) / jnp.where(nonzero, m_hat, 1),
                      jnp.where(den > 0, 1 / jnp.where(den > 0, den, 1), 0))
    return scale * ratio


def _debiased_decay(decay: float, count: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """``b (1 - b^(t-1)) / (1 - b^t)``: the decay that keeps a moving average bias-corrected."""
    b = jnp.asarray(decay, dtype)
    t = count.astype(dtype)
    den = 1 - b**t
    return jnp.where(den > 0, b * (1 - b ** (t - 1)) / jnp.where(den > 0, den, 1), 0)


def _stable_step_size(v: jax.Array, lr: jax.Array, eps: jax.Array, tiny: jax.Array) -> jax.Array:
    """StableAdamW's ``lr / (sqrt(v) + eps)`` (``lr`` already clipped); ``0`` where 0/0."""
    return nonnegative_ratio(lr, jnp.sqrt(v) + eps, tiny)




def scale_by_stable_adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    *,
    decouple_weight_decay: bool = True,
) -> optax.GradientTransformation:
    r"""StableAdamW: AdamW with AdaFactor's update clipping applied per tensor.

    With :math:`\hat\beta_t = \beta\,(1-\beta^{t-1})/(1-\beta^t)` (so that the averages are
    bias-corrected as they go), per parameter tensor:

    .. math::

      m_t &= \hat\beta_{1,t} m_{t-1} + (1-\hat\beta_{1,t}) g_t,\qquad
      v_t = \hat\beta_{2,t} v_{t-1} + (1-\hat\beta_{2,t}) g_t^2,\\
      \mathrm{RMS}_t &= \sqrt{\operatorname{mean}\bigl(g_t^2 / \max(v_t, \epsilon^2)\bigr)},
      \qquad \alpha'_t = \alpha_t / \max(1, \mathrm{RMS}_t),\\
      u_t &= \alpha'_t \Bigl(\frac{m_t}{\sqrt{v_t}+\epsilon} + \lambda\theta_t\Bigr).

    Returns :math:`u_t` (descent-ready, without the sign); records the mean of
    :math:`\alpha'_t/(\sqrt{v_t}+\epsilon)` over each parameter leaf as ``effective_lr``.
    With ``decouple_weight_decay=False`` the decay is an L2 penalty instead: :math:`g_t`
    becomes :math:`g_t + \lambda\theta_t` everywhere above (moments and RMS) and the update
    has no :math:`\lambda\theta_t` term, as ``pytorch_optimizer``'s
    ``StableAdamW(weight_decouple=False)``.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      eps: :math:`\epsilon` in ``[0, inf)``.
      weight_decay: :math:`\lambda` in ``[0, inf)``, decoupled and scaled by the clipped
        learning rate as in the paper, or an L2 penalty (needs ``params``).
      decouple_weight_decay: decoupled decay (the paper's) or an L2 penalty added to the
        gradient.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.stable_adamw(learning_rate=1e-3)
      >>> params = jnp.ones(3)
      >>> updates, state = tx.update(jnp.ones(3), tx.init(params), params)

    References:
      Wortsman, Dettmers, Zettlemoyer, Morcos, Farhadi and Schmidt, *Stable and low-precision
      training for large-scale vision-language models*, NeurIPS 2023 (Algorithm 1).
      Reference code: ``pytorch_optimizer.StableAdamW`` (after ``optimi``).

    Departures:
      No Kahan-summed parameter update for bf16/f16 parameters (``pytorch_optimizer``'s
      ``kahan_sum``): an Optax transformation returns updates and cannot own the parameter
      addition; use float32 master weights instead. The RMS is always computed in float32 or
      better. Defaults are ``pytorch_optimizer``'s.
    """
    check_all(STABLE_ADAMW_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> StableAdamWState:
        check_real(params, "StableAdamW")
        return StableAdamWState(
            count=jnp.zeros((), jnp.int32),
            mu=zeros_like_tree(params),
            nu=zeros_like_tree(params),
            leaf_lr=jax.tree.map(lambda p: jnp.zeros((), scalar_dtype(params)), params),
            eps=jnp.asarray(eps, scalar_dtype(params)),
        )

    def update_fn(
        updates: PyTree, state: StableAdamWState, params: PyTree = None
    ) -> tuple[PyTree, StableAdamWState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "stable_adamw")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        b1_hat, b2_hat = _debiased_decay(b1, count, sdtype), _debiased_decay(b2, count, sdtype)

        def leaf(g, m, v, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            if decay_on and not decouple_weight_decay:
                g_ = g_ + jnp.asarray(weight_decay, acc) * p.astype(acc)
            w1, b2_ = (1 - b1_hat).astype(acc), b2_hat.astype(acc)
            m0 = m.astype(acc)
            m_ = m0 + w1 * (g_ - m0)
            g2 = g_ * g_
            v_ = b2_ * v.astype(acc) + (1 - b2_) * g2
            eps_ = jnp.asarray(eps, acc)
            if g.size:
                # g^2 is recomputed from g here rather than shared with v_ (which XLA would
                # write out and read back): see recomputed_leaf_mean.
                g_seen, v_seen, eps_seen = jax.lax.optimization_barrier((g_, v_, eps_))
                rms = jnp.sqrt(jnp.mean(g_seen * g_seen
                                        / jnp.maximum(v_seen, eps_seen * eps_seen)))
                lr_t = lr.astype(acc) / jnp.maximum(rms, 1)
            else:
                lr_t = lr.astype(acc)
            scalars = (lr_t, eps_, smallest_normal(acc))
            eta = _stable_step_size(v_, *scalars)
            u = eta * m_
            if decay_on and decouple_weight_decay:
                u = u + lr_t * jnp.asarray(weight_decay, acc) * p.astype(acc)
            return (u.astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype),
                    lr_t.astype(sdtype))

        new_updates, mu, nu, leaf_lr = map_leaves(leaf, 4, updates, state.mu, state.nu, params)
        return new_updates, StableAdamWState(count=count, mu=mu, nu=nu, leaf_lr=leaf_lr,
                                             eps=state.eps)

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_stable_adamw)
def stable_adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    *,
    decouple_weight_decay: bool = True,
) -> optax.GradientTransformation:
    """The StableAdamW optimizer: :func:`scale_by_stable_adamw` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.stable_adamw(learning_rate=1e-3).init(jnp.zeros(2))
    """
    return optax.chain(scale_by_stable_adamw(learning_rate, b1, b2, eps, weight_decay,
                                             decouple_weight_decay=decouple_weight_decay),
                       optax.scale(-1.0))


def scale_by_adam_atan2(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: float = 0.0,
    a: float = 1.27,
    b: float = 1.0,
) -> optax.GradientTransformation:
    r"""Adam-atan2: Adam with ``atan2`` in place of the division, free of epsilon.

    .. math::

      m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
      v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
      u_t &= \alpha_t\, a \operatorname{atan2}\Bigl(\frac{m_t}{1-\beta_1^t},
              b\sqrt{\frac{v_t}{1-\beta_2^t}}\Bigr) + \alpha_t \lambda \theta_t .

    :math:`\operatorname{atan2}(x, y) \approx x/y` for :math:`|x| \ll y` and is bounded by
    :math:`\pi/2`, so the update is Adam's where Adam is well behaved and never explodes where
    :math:`v` is tiny. Returns :math:`u_t` (descent-ready, without the sign). The recorded
    ``effective_lr`` is the mean over each parameter leaf of the decay-free update divided by
    the bias-corrected momentum,
    :math:`\alpha_t a \operatorname{atan2}(\hat m, b\sqrt{\hat v})/\hat m` (its limit
    :math:`\alpha_t a / (b\sqrt{\hat v})` where :math:`\hat m = 0`).

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      weight_decay: :math:`\lambda` in ``[0, inf)``, decoupled, scaled by the learning rate
        (needs ``params``).
      a: :math:`a` in ``(0, inf)``, output scale (1.27 makes the update's scale match
        Adam's for typical ratios).
      b: :math:`b` in ``(0, inf)``, scale of the denominator.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adam_atan2(learning_rate=1e-3)
      >>> updates, state = tx.update(jnp.ones(3), tx.init(jnp.zeros(3)))

    References:
      Everett et al., *Scaling Exponents Across Parameterizations and Optimizers*, ICML 2024
      (Section 4.4). Reference code: ``adam-atan2-pytorch`` (``AdamAtan2``).

    Departures:
      The default learning rate is 1e-3 (Adam's usual start) where ``adam-atan2-pytorch``
      uses 1e-4; ``b2 = 0.99, a = 1.27, b = 1`` are its defaults. Its options for cautious
      updates, regenerative regularisation and learning-rate-independent decay are left
      out: ``adaptlr.cautious`` wraps any optimizer, and ``weight_decay / learning_rate``
      gives the last. ``atan2`` is our own polynomial evaluation (``_atan2_nonnegative_x``,
      within 2.3 ulp in float32 and 4 in float64 of the correctly rounded value, where
      ``torch.atan2`` and ``jnp.arctan2`` are within about 1): several times faster on CPU,
      and the goldens still agree to 1e-12.
    """
    check_all(ADAM_ATAN2_RANGES, learning_rate=learning_rate, b1=b1, b2=b2,
              weight_decay=weight_decay, a=a, b=b)

    def init_fn(params: PyTree) -> AdamAtan2State:
        check_real(params, "Adam-atan2")
        return AdamAtan2State(
            count=jnp.zeros((), jnp.int32),
            mu=zeros_like_tree(params),
            nu=zeros_like_tree(params),
            record_scalars=tuple(jnp.zeros((), scalar_dtype(params)) for _ in range(3)),
        )

    def update_fn(
        updates: PyTree, state: AdamAtan2State, params: PyTree = None
    ) -> tuple[PyTree, AdamAtan2State]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "adam_atan2")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        bc1, bc2 = bias_correction(b1, count, sdtype), bias_correction(b2, count, sdtype)

        def leaf(g, m, v, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            w1, w2 = 1 - jnp.asarray(b1, acc), 1 - jnp.asarray(b2, acc)
            m0, v0 = m.astype(acc), v.astype(acc)
            m_ = m0 + w1 * (g_ - m0)
            v_ = v0 + w2 * (g_ * g_ - v0)
            den = jnp.sqrt(v_ * den_scale.astype(acc))
            m_hat = m_ * inv_bc1.astype(acc)
            u = scale.astype(acc) * _atan2_nonnegative_x(m_hat, den)
            if decay_on:
                u = u + lr.astype(acc) * jnp.asarray(weight_decay, acc) * p.astype(acc)
            return u.astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype)

        scale = lr * jnp.asarray(a, sdtype)
        inv_bc1 = 1 / bc1
        den_scale = jnp.asarray(b, sdtype) * jnp.asarray(b, sdtype) / bc2
        new_updates, mu, nu = map_leaves(leaf, 3, updates, state.mu, state.nu, params)
        return new_updates, AdamAtan2State(count=count, mu=mu, nu=nu,
                                           record_scalars=(scale, inv_bc1, den_scale))

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_adam_atan2)
def adam_atan2(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: float = 0.0,
    a: float = 1.27,
    b: float = 1.0,
) -> optax.GradientTransformation:
    """The Adam-atan2 optimizer: :func:`scale_by_adam_atan2` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.adam_atan2(learning_rate=1e-3).init(jnp.zeros(2))
    """
    return optax.chain(scale_by_adam_atan2(learning_rate, b1, b2, weight_decay, a, b),
                       optax.scale(-1.0))
