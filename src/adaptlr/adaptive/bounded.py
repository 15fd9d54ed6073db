"""Bounded and smoothed per-parameter learning rates: AdaBound, AMSBound and AdaMod.

All three start from Adam's per-parameter step size ``lr / (sqrt(v) + eps)`` and limit it:
AdaBound and AMSBound clip it between bounds that tighten towards a final SGD learning rate
(Luo et al., 2019); AdaMod caps it by its own exponential moving average (Ding et al., 2019).
"""

from __future__ import annotations

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
    check,
    check_all,
    check_choice,
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
    "ADABOUND_RANGES",
    "ADAMOD_RANGES",
    "BASE_LR_RULES",
    "AdaBoundState",
    "AdaModState",
    "adabound",
    "adaboundw",
    "adamod",
    "amsbound",
    "scale_by_adabound",
    "scale_by_adaboundw",
    "scale_by_adamod",
    "scale_by_amsbound",
]

ADABOUND_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "final_lr": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "gamma": POSITIVE,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "base_lr": POSITIVE,
    "eps_root": NON_NEGATIVE,
}

#: String values of ``base_lr`` (numbers are the base learning rate itself).
BASE_LR_RULES = ("first_positive",)

ADAMOD_RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "b3": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


class AdaBoundState(NamedTuple):
    """State of :func:`scale_by_adabound` / :func:`scale_by_amsbound`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    base_lr: jax.Array  # shape=(), scalar dtype: base learning rate of the last update
    mu: PyTree  # like params: first moment (not bias-corrected)
    nu: PyTree  # like params: second moment (not bias-corrected)
    nu_max: PyTree  # like params: running maximum of nu (AMSBound), () for AdaBound
    record_scalars: tuple[jax.Array, ...]  # (step, lower, upper, eps, eps_root), last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean clipped step size applied to mu
        at the last update (0 before it), recomputed from the state when read."""
        vhat = self.nu_max if jax.tree.leaves(self.nu_max) else self.nu
        return leaf_means_on_read(self.count, _clipped_step_size, (vhat,), self.record_scalars)


class AdaModState(NamedTuple):
    """State of :func:`scale_by_adamod`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: first moment (not bias-corrected)
    nu: PyTree  # like params: second moment (not bias-corrected)
    eta: PyTree  # like params: moving average of the unclipped step sizes
    record_scalars: tuple[jax.Array, ...]  # (step, eps) of the last update

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean step size applied to mu at the
        last update (0 before it), recomputed from the state when read."""
        return leaf_means_on_read(self.count, _capped_step_size, (self.nu, self.eta),
                                  self.record_scalars)


def _safe_ratio(num: jax.Array, den: jax.Array, fallback: jax.Array) -> jax.Array:
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, jnp.ones_like(den)), fallback)


def _clipped_step_size(
    vhat: jax.Array, step: jax.Array, lower: jax.Array, upper: jax.Array, eps: jax.Array,
    eps_root: jax.Array, tiny: jax.Array,
) -> jax.Array:
    """AdaBound's ``clip(step / (sqrt(vhat + eps_root) + eps), lower, upper)``; ``upper``
    where 0/0."""
    return jnp.clip(nonnegative_ratio(step, jnp.sqrt(vhat + eps_root) + eps, tiny, upper),
                    lower, upper)


def _momental_step_size(
    v: jax.Array, step: jax.Array, eps: jax.Array, tiny: jax.Array
) -> jax.Array:
    """AdaMod's unclipped ``step / (sqrt(v) + eps)``; ``0`` where 0/0."""
    return nonnegative_ratio(step, jnp.sqrt(v) + eps, tiny)


def _capped_step_size(
    v: jax.Array, s: jax.Array, step: jax.Array, eps: jax.Array, tiny: jax.Array
) -> jax.Array:
    """AdaMod's step size ``min(step / (sqrt(v) + eps), s)``, ``s`` the new moving average."""
    return jnp.minimum(_momental_step_size(v, step, eps, tiny), s)


def scale_by_adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsbound: bool = False,
    base_lr: float | str | None = None,
    decouple_weight_decay: bool = False,
    fixed_decay: bool = True,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
    r"""AdaBound (or AMSBound): Adam whose per-parameter step sizes are clipped towards SGD's.

    With :math:`g_t` the gradient (plus ``weight_decay * params``, an L2 penalty as in the
    reference code, unless the decay is decoupled), :math:`t` the step number,
    :math:`\alpha_t` the learning rate and :math:`\alpha_0` the base learning rate
    (``base_lr``),

    .. math::

      m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
      v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2
      \quad(\hat v_t = \max(\hat v_{t-1}, v_t)\ \text{for AMSBound}),\\
      \alpha^*_t &= \alpha^{final}\,\alpha_t / \alpha_0,\qquad
      \eta_l(t) = \alpha^*_t\Bigl(1 - \frac{1}{\gamma t + 1}\Bigr),\qquad
      \eta_u(t) = \alpha^*_t\Bigl(1 + \frac{1}{\gamma t}\Bigr),\\
      \eta_t &= \operatorname{clip}\Bigl(
        \frac{\alpha_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)}{\sqrt{v_t} + \epsilon},
        \eta_l(t), \eta_u(t)\Bigr),\qquad
      u_t = \eta_t \odot m_t \;\bigl(+\, c\,\lambda\,\theta_t \text{ decoupled}\bigr).

    The transformation returns :math:`u_t` (descent-ready, without the sign) and records the
    mean of :math:`\eta_t` over each parameter leaf as ``effective_lr``. With
    ``decouple_weight_decay`` (AdaBoundW) the decay :math:`\lambda` is not added to the
    gradient but to the update, with :math:`c = 1` (``fixed_decay=True``, the authors'
    ``AdaBoundW``: :math:`\theta \leftarrow \theta - \lambda\theta`) or :math:`c = \alpha_t`
    (``fixed_decay=False``, ``pytorch_optimizer``'s ``AdaBound`` default,
    ``weight_decouple=True``).

    The bounds follow a learning-rate schedule through :math:`\alpha_t/\alpha_0`, as the
    reference's ``final_lr * lr / base_lr``, where PyTorch's ``base_lr`` is the learning rate
    the optimizer was built with. In the usual PyTorch workflow, ``AdaBound(params, lr=peak)``
    and a multiplicative scheduler (a warm-up ``LinearLR``, ``LambdaLR``, ``CosineAnnealingLR``),
    that is the peak: pass ``base_lr=peak`` with the schedule. For example ``AdaBound(lr=1e-3,
    final_lr=0.1)`` with ``LinearLR(start_factor=0.05, total_iters=20)`` is
    ``adabound(adaptlr.warmup(1e-3, 20, start_factor=0.05), final_lr=0.1, base_lr=1e-3)``.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule (then ``base_lr`` is
        required).
      base_lr: :math:`\alpha_0`. ``None`` (default): the learning rate itself, for a constant
        learning rate (also a traced one under ``optax.inject_hyperparams``, which then gives
        bounds that do not follow its schedule: pass ``base_lr``). A number in ``(0, inf)``
        (may be traced): the fixed base, the peak of a schedule. ``"first_positive"``: the
        first positive learning rate applied (kept in the state), ``pytorch_optimizer``'s rule
        for an optimizer built with learning rate 0; under a warm-up from ``s * peak`` this
        makes the bounds ``1/s`` times wider than PyTorch's with ``lr=peak``.
      final_lr: :math:`\alpha^{final}` in ``[0, inf)``, the SGD learning rate both bounds
        converge to.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      gamma: :math:`\gamma` in ``(0, inf)``, how fast the bounds close.
      eps: :math:`\epsilon` in ``[0, inf)``, added to :math:`\sqrt{v_t}`.
      weight_decay: :math:`\lambda` in ``[0, inf)``: an L2 penalty added to the gradient, or
        decoupled (needs ``params``).
      amsbound: use the running maximum of :math:`v_t` (AMSBound).
      decouple_weight_decay: decoupled decay (AdaBoundW) instead of an L2 penalty.
      fixed_decay: with decoupled decay, whether it is independent of the learning rate
        (:math:`c = 1`, the authors' ``AdaBoundW``) or scaled by it (:math:`c = \alpha_t`,
        ``pytorch_optimizer``'s default). Ignored without decoupled decay.
      eps_root: in ``[0, inf)``, added to :math:`v_t` under the square root (Optax's name):
        0 as the authors; ``pytorch_optimizer``'s ``AdaBound`` uses ``1e-15``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.adabound(learning_rate=1e-3, final_lr=0.1)
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Luo, Xiong, Liu and Sun, *Adaptive Gradient Methods with Dynamic Bound of Learning Rate*,
      ICLR 2019. Reference code: the authors' ``adabound`` package (``AdaBound``,
      ``AdaBoundW``).

    Departures:
      The bias corrections and the ``final_lr * lr / base_lr`` rescaling of the bounds follow
      the authors' code, not the paper's Algorithm 2 (which has neither). An Optax schedule
      has no "learning rate the optimizer was built with", so ``base_lr`` must be given with
      a schedule (or ``"first_positive"`` chosen); the bounds are zero while the base is 0.
      ``pytorch_optimizer`` adds ``1e-15`` to :math:`v_t` under the square root (about
      ``1e-9`` relative in 200 steps on the test problems); adaptlr, like the authors, does
      not unless ``eps_root=1e-15``. With ``eps = 0`` and :math:`v_t = 0` the unclipped step
      size is taken as the upper bound (the reference divides by zero, then clips the
      infinity to the same value).
    """
    check_all(ADABOUND_RANGES, learning_rate=learning_rate, final_lr=final_lr, b1=b1, b2=b2,
              gamma=gamma, eps=eps, weight_decay=weight_decay, eps_root=eps_root)
    if base_lr is None:
        if callable(learning_rate):
            raise ValueError(
                "base_lr must be given with a learning-rate schedule: a number in (0, inf), "
                "the learning rate PyTorch's AdaBound would be built with (the schedule's "
                "peak), or 'first_positive'")
    elif isinstance(base_lr, str):
        check_choice("base_lr", base_lr, BASE_LR_RULES)
    else:
        check("base_lr", base_lr, ADABOUND_RANGES["base_lr"])
    decoupled = decouple_weight_decay

    def init_fn(params: PyTree) -> AdaBoundState:
        check_real(params, "AdaBound/AMSBound")
        return AdaBoundState(
            count=jnp.zeros((), jnp.int32),
            base_lr=jnp.zeros((), scalar_dtype(params)),
            mu=zeros_like_tree(params),
            nu=zeros_like_tree(params),
            nu_max=zeros_like_tree(params) if amsbound else (),
            record_scalars=tuple(jnp.zeros((), scalar_dtype(params)) for _ in range(5)),
        )

    def update_fn(
        updates: PyTree, state: AdaBoundState, params: PyTree = None
    ) -> tuple[PyTree, AdaBoundState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "adabound")
        decay_on = is_on(weight_decay)
        sdtype = state.base_lr.dtype
        count = optax.safe_increment(state.count)
        t = count.astype(sdtype)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        if base_lr is None:
            base = lr
        elif isinstance(base_lr, str):  # "first_positive"
            base = jnp.where(state.base_lr > 0, state.base_lr, lr)
        else:
            base = jnp.asarray(base_lr, sdtype)
        final = _safe_ratio(jnp.asarray(final_lr, sdtype) * lr, base, jnp.zeros_like(lr))
        gamma_ = jnp.asarray(gamma, sdtype)
        lower = final * (1 - 1 / (gamma_ * t + 1))
        upper = final * (1 + 1 / (gamma_ * t))
        step = lr * jnp.sqrt(bias_correction(b2, count, sdtype)) / bias_correction(
            b1, count, sdtype)

        def leaf(g, m, v, vmax, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            if decay_on and not decoupled:
                g_ = g_ + jnp.asarray(weight_decay, acc) * p.astype(acc)
            b1_, b2_ = jnp.asarray(b1, acc), jnp.asarray(b2, acc)
            m_ = b1_ * m.astype(acc) + (1 - b1_) * g_
            v_ = b2_ * v.astype(acc) + (1 - b2_) * g_ * g_
            if amsbound:
                vhat = jnp.maximum(vmax.astype(acc), v_)
                vmax_out = vhat.astype(vmax.dtype)
            else:
                vhat, vmax_out = v_, None
            scalars = (step.astype(acc), lower.astype(acc), upper.astype(acc),
                       jnp.asarray(eps, acc), jnp.asarray(eps_root, acc), smallest_normal(acc))
            eta = _clipped_step_size(vhat, *scalars)
            u = eta * m_
            if decay_on and decoupled:
                rate = jnp.asarray(weight_decay, acc)
                u = u + (rate if fixed_decay else lr.astype(acc) * rate) * p.astype(acc)
            return (u.astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype), vmax_out)

        new_updates, mu, nu, nu_max = map_leaves(
            leaf, 4, updates, state.mu, state.nu, state.nu_max if amsbound else None,
            params)
        return new_updates, AdaBoundState(
            count=count, base_lr=base, mu=mu, nu=nu,
            nu_max=nu_max if amsbound else (),
            record_scalars=(step, lower, upper, jnp.asarray(eps, sdtype),
                            jnp.asarray(eps_root, sdtype)))

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_adabound)
def adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsbound: bool = False,
    base_lr: float | str | None = None,
    decouple_weight_decay: bool = False,
    fixed_decay: bool = True,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
    """The AdaBound optimizer: :func:`scale_by_adabound` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adabound(learning_rate=1e-3)
      >>> state = tx.init(jnp.zeros(2))
      >>> tx = adaptlr.adabound(adaptlr.warmup(1e-3, 20, start_factor=0.05), base_lr=1e-3)
    """
    return optax.chain(
        scale_by_adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay,
                          amsbound=amsbound, base_lr=base_lr,
                          decouple_weight_decay=decouple_weight_decay,
                          fixed_decay=fixed_decay, eps_root=eps_root),
        optax.scale(-1.0),
    )


@args_from(scale_by_adabound, weight_decay=(
    "decoupled decay coefficient :math:`\\lambda`, range ``[0, inf)``: the update adds "
    ":math:`c\\,\\lambda\\,\\theta_t` (``fixed_decay`` chooses :math:`c`)."))
def scale_by_adaboundw(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsbound: bool = False,
    base_lr: float | str | None = None,
    fixed_decay: bool = True,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
    r"""AdaBoundW: :func:`scale_by_adabound` with decoupled weight decay.

    :math:`u_t = \eta_t \odot m_t + c\,\lambda\,\theta_t` with :math:`c = 1`
    (``fixed_decay=True``, the authors' ``AdaBoundW``, whose default ``weight_decay`` is 0 as
    here) or :math:`c = \alpha_t` (``fixed_decay=False``: ``pytorch_optimizer``'s
    ``AdaBound``, which decouples by default: a port of ``pytorch_optimizer.AdaBound(...,
    weight_decay=wd)`` is ``adaboundw(..., weight_decay=wd, fixed_decay=False,
    eps_root=1e-15)``, not
    :func:`adabound`, whose decay is the authors' L2 penalty).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.scale_by_adaboundw(weight_decay=1e-4)
      >>> updates, state = tx.update(jnp.ones(2), tx.init(jnp.ones(2)), jnp.ones(2))

    References:
      Luo, Xiong, Liu and Sun, *Adaptive Gradient Methods with Dynamic Bound of Learning Rate*,
      ICLR 2019; ``AdaBoundW`` in the authors' repository (github.com/Luolc/AdaBound, not in
      the ``adabound`` 0.0.5 package). Loshchilov and Hutter, *Decoupled Weight Decay
      Regularization*, ICLR 2019.
    """
    return scale_by_adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay,
                             amsbound=amsbound, base_lr=base_lr, decouple_weight_decay=True,
                             fixed_decay=fixed_decay, eps_root=eps_root)


@args_from(scale_by_adaboundw)
def adaboundw(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsbound: bool = False,
    base_lr: float | str | None = None,
    fixed_decay: bool = True,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
    """The AdaBoundW optimizer: :func:`scale_by_adaboundw` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.adaboundw(learning_rate=1e-3, weight_decay=1e-4)
      >>> state = tx.init(jnp.zeros(2))
    """
    return optax.chain(
        scale_by_adaboundw(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay,
                           amsbound=amsbound, base_lr=base_lr, fixed_decay=fixed_decay,
                           eps_root=eps_root),
        optax.scale(-1.0),
    )


@args_from(scale_by_adabound)
def scale_by_amsbound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    base_lr: float | str | None = None,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
    """AMSBound: :func:`scale_by_adabound` with ``amsbound=True`` (the running max of ``v``).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.scale_by_amsbound().init(jnp.zeros(2))
    """
    return scale_by_adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay,
                             amsbound=True, base_lr=base_lr, eps_root=eps_root)


@args_from(scale_by_adabound)
def amsbound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    b1: float = 0.9,
    b2: float = 0.999,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    base_lr: float | str | None = None,
    eps_root: float = 0.0,
) -> optax.GradientTransformation:
    """The AMSBound optimizer: :func:`adabound` with ``amsbound=True``.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.amsbound(learning_rate=1e-3).init(jnp.zeros(2))
    """
    return adabound(learning_rate, final_lr, b1, b2, gamma, eps, weight_decay, amsbound=True,
                    base_lr=base_lr, eps_root=eps_root)


def scale_by_adamod(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""AdaMod: Adam whose per-parameter step sizes are capped by their own moving average.

    .. math::

      m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
      v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\\
      \hat\eta_t &= \frac{\alpha_t\sqrt{1-\beta_2^t}/(1-\beta_1^t)}{\sqrt{v_t}+\epsilon},\qquad
      s_t = \beta_3 s_{t-1} + (1-\beta_3)\hat\eta_t,\qquad
      \eta_t = \min(\hat\eta_t, s_t),\\
      u_t &= \eta_t \odot m_t + \alpha_t \lambda\, \theta_t .

    Returns :math:`u_t` (descent-ready, without the sign); records the mean of :math:`\eta_t`
    over each parameter leaf as ``effective_lr``.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      b3: :math:`\beta_3` in ``[0, 1)``, the memory of the step-size average (the paper's
        "momental bound"; ``0`` recovers Adam).
      eps: :math:`\epsilon` in ``[0, inf)``.
      weight_decay: :math:`\lambda` in ``[0, inf)``, decoupled, scaled by the learning rate
        (needs ``params``).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.adamod(learning_rate=1e-3)
      >>> params = jnp.ones(3)
      >>> updates, state = tx.update(jnp.ones(3), tx.init(params), params)

    References:
      Ding, Ren, Luo and Sun, *An Adaptive and Momental Bound Method for Stochastic Learning*,
      arXiv:1910.12249, 2019. Reference code: the authors' ``adamod`` package.

    Departures:
      Bias corrections and the decoupled weight decay ``lr * weight_decay * params`` follow
      the authors' code (the paper's algorithm shows neither). With ``eps = 0`` and
      :math:`v_t = 0` (no gradient yet) the step size is taken as 0 where the reference
      divides by zero and produces NaN.
    """
    check_all(ADAMOD_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, b3=b3, eps=eps,
              weight_decay=weight_decay)

    def init_fn(params: PyTree) -> AdaModState:
        check_real(params, "AdaMod")
        return AdaModState(
            count=jnp.zeros((), jnp.int32),
            mu=zeros_like_tree(params),
            nu=zeros_like_tree(params),
            eta=zeros_like_tree(params),
            record_scalars=tuple(jnp.zeros((), scalar_dtype(params)) for _ in range(2)),
        )

    def update_fn(
        updates: PyTree, state: AdaModState, params: PyTree = None
    ) -> tuple[PyTree, AdaModState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "adamod")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        step = lr * jnp.sqrt(bias_correction(b2, count, sdtype)) / bias_correction(
            b1, count, sdtype)

        def leaf(g, m, v, s, p):  # type: ignore[no-untyped-def]
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            b1_, b2_, b3_ = (jnp.asarray(b, acc) for b in (b1, b2, b3))
            m_ = b1_ * m.astype(acc) + (1 - b1_) * g_
            v_ = b2_ * v.astype(acc) + (1 - b2_) * g_ * g_
            scalars = (step.astype(acc), jnp.asarray(eps, acc), smallest_normal(acc))
            raw = _momental_step_size(v_, *scalars)
            s_ = b3_ * s.astype(acc) + (1 - b3_) * raw
            # The update recomputes raw from v_ rather than reading it back: both v_ and s_
            # are written out anyway (see recomputed_leaf_mean).
            v_seen, s_seen = jax.lax.optimization_barrier((v_, s_))
            eta = _capped_step_size(v_seen, s_seen, *scalars)
            u = eta * m_
            if decay_on:
                u = u + (lr.astype(acc) * jnp.asarray(weight_decay, acc)) * p.astype(acc)
            return (u.astype(g.dtype), m_.astype(m.dtype), v_.astype(v.dtype),
                    s_.astype(s.dtype))

        new_updates, mu, nu, eta = map_leaves(
            leaf, 4, updates, state.mu, state.nu, state.eta, params)
        return new_updates, AdaModState(count=count, mu=mu, nu=nu, eta=eta,
                                        record_scalars=(step, jnp.asarray(eps, sdtype)))

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_adamod)
def adamod(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    """The AdaMod optimizer: :func:`scale_by_adamod` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.adamod(learning_rate=1e-3).init(jnp.zeros(2))
    """
    return optax.chain(scale_by_adamod(learning_rate, b1, b2, b3, eps, weight_decay),
                       optax.scale(-1.0))

