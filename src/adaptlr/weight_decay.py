"""Weight decay that follows the learning-rate schedule: AdamC's corrected decay (Defazio, 2025).

With decoupled weight decay (AdamW) the parameters shrink by :math:`\\gamma_t \\lambda` per
step. Defazio (2025) shows that for layers followed by a normalisation layer this makes the
steady-state ratio of gradient norm to weight norm depend on :math:`\\gamma_t`, so that it
grows as a schedule decays the learning rate (the gradient-norm rise at the end of training).
The correction makes the decay coefficient itself follow the schedule,
:math:`\\lambda_t = \\lambda \\gamma_t / \\gamma_{\\max}`, so the parameters shrink by

.. math::

    \\gamma_t \\lambda_t = \\lambda \\frac{\\gamma_t^2}{\\gamma_{\\max}}

per step, which keeps the steady-state ratio constant. Adam with this decay is AdamC.
:func:`add_adamc_decayed_weights` is the decay term, to be placed like
``optax.add_decayed_weights`` (before the learning-rate scaling); :func:`adamc` is the
ready optimizer.
"""

from __future__ import annotations

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
    in_float32_for_float16,
    resolve,
    scalar_dtype,
    scale_by_learning_rate,
)
from adaptlr._docstrings import args_from

__all__ = [
    "RANGES",
    "AdamCDecayState",
    "adamc",
    "add_adamc_decayed_weights",
]

#: The valid range of every scalar argument of this module's transformations.
RANGES: dict[str, Interval] = {
    "weight_decay": NON_NEGATIVE,
    "learning_rate": NON_NEGATIVE,
    "max_learning_rate": POSITIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "eps_root": NON_NEGATIVE,
}

MaskOrFn = Any  # a tree of bools, a predicate params -> tree of bools, or None


class AdamCDecayState(NamedTuple):
    """State of :func:`add_adamc_decayed_weights`.

    ``S`` is the scalar dtype: float32, or float64 for float64 parameters.
    """

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: steps taken
    lr_max: jax.Array  # shape=(), S: gamma_max used by the last step (running max if not given)


def add_adamc_decayed_weights(
    weight_decay: float = 0.0,
    learning_rate: ScalarOrSchedule = 1.0,
    max_learning_rate: float | None = None,
    mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Add ``weight_decay * (lr_t / lr_max) * params`` to the updates (AdamC's decay term).

    Placed before the learning-rate scaling, as ``optax.add_decayed_weights`` is, the
    parameters then shrink by :math:`\lambda\gamma_t^2/\gamma_{\max}` per step:

    .. math::

        u_t \leftarrow u_t + \lambda \frac{\gamma_t}{\gamma_{\max}} \theta_t, \qquad
        \theta_{t+1} = \theta_t - \gamma_t u_t .

    With a constant learning rate this is ``optax.add_decayed_weights(weight_decay)``.

    Args:
      weight_decay: :math:`\lambda`, in ``[0, inf)`` (a number; to vary it, use
        ``optax.inject_hyperparams``).
      learning_rate: the learning rate :math:`\gamma_t` the chain applies after this term, a
        number in ``[0, inf)`` or the same schedule (evaluated at the step count
        ``0, 1, ...``, as Optax's scaling does).
      max_learning_rate: :math:`\gamma_{\max}`, in ``(0, inf)``. ``None``: the learning rate
        itself when it is a number; for a schedule, the largest value it has taken so far
        (held in the state), which is the schedule's peak from the step it is reached on;
        before that (during a warmup) the ratio is 1 and the decay is AdamW's
        :math:`\lambda\gamma_t`. Give the peak to apply the paper's rule from the first step.
      mask: as in ``optax.add_decayed_weights``: a tree of bools, or a function of the
        parameters returning one, selecting the leaves to decay. The paper applies the
        corrected decay to layers followed by a normalisation layer (in its Llama runs,
        every linear layer except the output layer) and AdamW's decay to the rest: build the
        second part with ``optax.add_decayed_weights`` and the complementary mask.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> sched = optax.cosine_decay_schedule(1e-3, 100)
      >>> tx = optax.chain(
      ...     optax.scale_by_adam(),
      ...     adaptlr.add_adamc_decayed_weights(0.1, sched, max_learning_rate=1e-3),
      ...     optax.scale_by_learning_rate(sched),
      ... )
      >>> params = {"w": jnp.ones(3)}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.zeros(3)}, state, params)
      >>> round(float(updates["w"][0]), 10)  # -lr_0 * 0.1 * (lr_0 / lr_max) * 1
      -0.0001

    References:
      Defazio, "Why gradients rapidly increase near the end of training", arXiv:2506.02285,
      2025 (the corrected decay :math:`\lambda_t = \lambda\gamma_t/\gamma_{\max}`).

    Departures:
      The paper takes :math:`\gamma_{\max}` as the schedule's peak, known in advance;
      pytorch_optimizer's ``AdamC`` (4.1.0) takes the learning rate the optimizer was built
      with. Optax schedules are plain functions with no peak attribute, so without
      ``max_learning_rate`` the running maximum stands in for it (equal to the peak once the
      peak has been reached). The decay is added to the update (``optax.add_decayed_weights``'
      form) rather than applied to the parameters first; the two are the same step since
      the Adam direction does not depend on the parameters.
    """
    check_all(RANGES, weight_decay=weight_decay, learning_rate=learning_rate)
    if max_learning_rate is not None:
        check("max_learning_rate", max_learning_rate, RANGES["max_learning_rate"])
    scheduled = callable(learning_rate)

    def init_fn(params: PyTree) -> AdamCDecayState:
        sdtype = scalar_dtype(params)
        return AdamCDecayState(count=jnp.zeros((), jnp.int32), lr_max=jnp.zeros((), sdtype))

    def update_fn(
        updates: PyTree, state: AdamCDecayState, params: PyTree = None
    ) -> tuple[PyTree, AdamCDecayState]:
        if params is None:
            raise ValueError(
                "add_adamc_decayed_weights needs params: update(updates, state, params)"
            )
        check_tree_match(updates, params)
        sdtype = state.lr_max.dtype
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        if max_learning_rate is not None:
            lr_max = jnp.asarray(max_learning_rate, sdtype)
        elif scheduled:
            lr_max = jnp.maximum(state.lr_max, lr)
        else:
            lr_max = lr
        # No learning rate yet (a schedule starting at 0, or lr = 0): no decay.
        positive = lr_max > 0
        ratio = jnp.where(positive, lr / jnp.where(positive, lr_max, 1), 0)
        coefficient = jnp.asarray(weight_decay, sdtype) * ratio

        def leaf(u: jax.Array | None, p: jax.Array) -> jax.Array | None:
            if u is None:
                return None
            cdt = accumulation_dtype(u.dtype)
            return (u.astype(cdt) + coefficient.astype(cdt) * p.astype(cdt)).astype(u.dtype)

        new_updates = jax.tree.map(leaf, updates, params, is_leaf=lambda x: x is None)
        return new_updates, AdamCDecayState(count=optax.safe_increment(state.count),
                                            lr_max=lr_max)

    tx = optax.GradientTransformation(init_fn, update_fn)
    if mask is not None:
        return optax.masked(tx, mask)
    return tx


def _checked(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """``tx`` that rejects complex parameters and gradients unlike the parameters first."""

    def init_fn(params: PyTree) -> Any:
        check_real(params, "AdamC")
        return tx.init(params)

    def update_fn(updates: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        check_tree_match(updates, params)
        return tx.update(updates, state, params)

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(add_adamc_decayed_weights)
def adamc(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 1e-4,
    max_learning_rate: float | None = None,
    mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""AdamC: Adam with weight decay that follows the learning-rate schedule.

    .. math::

        \theta_{t+1} = \theta_t - \gamma_t \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}}
        + \epsilon} - \lambda\frac{\gamma_t^2}{\gamma_{\max}}\theta_t,

    that is ``optax.adamw`` with :func:`add_adamc_decayed_weights` in place of
    ``optax.add_decayed_weights``. With a constant learning rate it is ``optax.adamw``.

    Args:
      b1: first-moment decay, in ``[0, 1)``.
      b2: second-moment decay, in ``[0, 1)``.
      eps: denominator term outside the square root, in ``[0, inf)``.
      eps_root: denominator term inside the square root, in ``[0, inf)``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> sched = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100)
      >>> tx = adaptlr.adamc(sched, weight_decay=0.1, max_learning_rate=1e-3)
      >>> params = jnp.ones(3)
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.ones(3), state, params)

    References:
      Defazio, "Why gradients rapidly increase near the end of training", arXiv:2506.02285,
      2025.

    Departures:
      See :func:`add_adamc_decayed_weights` (``max_learning_rate`` when not given). The
      paper applies the corrected decay to normalised layers only and AdamW's to the rest;
      ``mask`` selects the corrected leaves, and the others get no decay here (chain
      ``optax.add_decayed_weights`` with the complementary mask for AdamW's). ``eps`` is
      Optax's (added to :math:`\sqrt{\hat v}`), not pytorch_optimizer's (added to
      :math:`\sqrt{v}` before the bias correction); with ``eps = 0`` and its 1e-15 under
      the root removed, pytorch_optimizer 4.1.0's ``AdamC`` on a ``normalized`` group is
      matched to 1e-12 in float64 (``tests/adaptive/generate_goldens_adamc.py``). For
      float16 parameters Adam's moments are kept in float32 (float16 cannot hold ``eps``
      nor small squares). The registry's ``weight_decay`` default is Optax AdamW's 1e-4:
      pytorch_optimizer's ``AdamC`` defaults to 0 (plain Adam) and the paper gives none.
    """
    check_all(RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
              weight_decay=weight_decay)
    return optax.chain(
        # Adam's moments in float32 for float16 parameters (eps and small squares underflow).
        _checked(in_float32_for_float16(
            optax.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root))),
        add_adamc_decayed_weights(weight_decay, learning_rate, max_learning_rate, mask),
        scale_by_learning_rate(learning_rate),
    )

