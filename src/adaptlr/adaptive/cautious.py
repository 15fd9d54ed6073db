"""Cautious optimizers (Liang et al., 2024): drop update components that oppose the gradient.

:func:`cautious` wraps any Optax transformation; :func:`cautious_adamw` is the paper's C-AdamW.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    UNIT_INTERVAL,
    Interval,
    PyTree,
    ScalarOrSchedule,
    accumulation_dtype,
    check_all,
    check_choice,
    check_real,
    check_transformation,
    check_tree_match,
    in_float32_for_float16,
    scale_by_learning_rate,
)

__all__ = ["RANGES", "RESCALINGS", "CautiousState", "cautious", "cautious_adamw"]

#: Ranges of :func:`cautious_adamw` (the wrapper itself has no scalar hyperparameters).
RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}


#: The rescalings of :func:`cautious`'s kept components (see its docstring).
RESCALINGS = ("mask_mean", "count_plus_one")

#: Smallest mask mean the authors' current code divides by (``mask.mean().clamp(min=1e-3)``).
_MIN_MASK_MEAN = 1e-3


class CautiousState(NamedTuple):
    """State of :func:`cautious`: the wrapped transformation's state, untouched."""

    inner_state: Any  # the wrapped transformation's state


def cautious(
    inner: optax.GradientTransformation, *, descent: bool = True, rescale: str = "mask_mean"
) -> optax.GradientTransformationExtraArgs:
    r"""Mask the components of ``inner``'s update whose sign disagrees with the gradient.

    Per parameter tensor with :math:`d` entries, gradient :math:`g` and ``inner``'s update
    :math:`u`, with :math:`\phi_i = \mathbb{1}[\text{$u_i$ points along $-g_i$}]` and
    :math:`k = \sum_j \phi_j` kept components:

    .. math::

      u'_i = u_i\,\phi_i\,\frac{1}{\max(k/d,\ 10^{-3})}
      \quad(\texttt{rescale="mask\_mean"}),\qquad
      u'_i = u_i\,\phi_i\,\frac{d}{k + 1}
      \quad(\texttt{rescale="count\_plus\_one"}),

    so the kept components are rescaled to keep the update's overall size. ``"mask_mean"``
    (the default) divides by the mean of the mask, clamped at ``1e-3`` as in the authors'
    current code (``C-Optim``'s ``c_adamw.py`` and ``c_muon.py``, which keep the older rule in
    a comment as "original implementation"; after timm's ``caution``). ``"count_plus_one"`` is
    the rule of the paper's first version (arXiv v1, Algorithm 1), of ``pytorch_optimizer``'s
    ``cautious=True`` (``apply_cautious``) and of the authors' ``c_lion.py`` and
    ``c_adafactor.py``; it scales a tensor's kept steps by ``k / (k + 1)`` of the other rule,
    which matters for small tensors (half the step for a single kept entry).

    With ``descent=True`` (a full optimizer such as ``optax.adamw(...)``, whose updates are
    added to the parameters) a component agrees when :math:`u_i g_i < 0`; with
    ``descent=False`` (a gradient-aligned core such as ``optax.scale_by_adam()``) when
    :math:`u_i g_i > 0`. Zero components of either are dropped. Extra ``update`` arguments
    (``value=`` ...) are passed through. The step-size record, if any, is ``inner``'s.

    The wrapper masks everything ``inner`` returns, weight decay included when ``inner`` adds
    it: ``cautious(optax.lion(lr, weight_decay=wd))`` masks the decay too. The references
    apply the mask inside the optimizer, to the direction only. ``pytorch_optimizer``'s
    ``Lion(lr, betas, weight_decay=wd, cautious=True)`` is

    .. code-block:: python

      optax.chain(
          adaptlr.cautious(optax.scale_by_lion(b1, b2), descent=False,
                           rescale="count_plus_one"),
          optax.add_decayed_weights(wd),
          optax.scale_by_learning_rate(lr),
      )

    (checked against it in ``tests/adaptive/test_cautious.py``), and :func:`cautious_adamw`
    is built the same way.

    Args:
      inner: any gradient transformation.
      descent: the sign convention of ``inner``'s updates, as above.
      rescale: ``"mask_mean"`` (the authors' current code) or ``"count_plus_one"`` (the
        first paper version and ``pytorch_optimizer``).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.cautious(optax.adamw(1e-3))
      >>> params = jnp.ones(3)
      >>> updates, state = tx.update(jnp.array([1.0, -1.0, 0.5]), tx.init(params), params)

    References:
      Liang, Chen, Liu and Liu, *Cautious Optimizers: Improving Training with One Line of
      Code*, arXiv:2411.16085, 2024 (Algorithm 1). Reference code: the authors' ``C-Optim``
      (github.com/kyleliang919/C-Optim) and ``pytorch_optimizer``'s ``cautious=True``.

    Departures:
      None in either rule. Where the references mask inside each optimizer, the wrapper
      masks whatever ``inner`` returns: wrap the part that should be masked, as above.
    """
    check_choice("rescale", rescale, RESCALINGS)
    check_transformation("inner", inner)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params: PyTree) -> CautiousState:
        check_real(params, "cautious")
        return CautiousState(inner.init(params))

    def update_fn(
        updates: PyTree, state: CautiousState, params: PyTree = None, **extra: Any
    ) -> tuple[PyTree, CautiousState]:
        check_tree_match(updates, params)
        new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra)

        def leaf(u: jax.Array, g: jax.Array) -> jax.Array:
            acc = accumulation_dtype(u.dtype)
            product = u.astype(acc) * g.astype(acc)
            agree = (product < 0) if descent else (product > 0)
            phi = agree.astype(acc)
            # The count of agreeing entries as max(+-sign(u g), 0), the same number, from inputs
            # behind a barrier: XLA:CPU's reduction fusion takes sign and max but not a
            # comparison, nor a product or constant shared with the update pass, and would
            # write those out first. (A NaN product makes the count NaN.)
            u_, g_, zero = jax.lax.optimization_barrier((u.astype(acc), g.astype(acc),
                                                         jnp.zeros((), acc)))
            agreeing = jnp.sign(u_ * g_)
            count = jnp.sum(jnp.maximum(-agreeing if descent else agreeing, zero))
            size = jnp.asarray(u.size, acc)
            if rescale == "mask_mean":
                scale = size / jnp.maximum(count, jnp.asarray(_MIN_MASK_MEAN * u.size, acc))
            else:
                scale = size / (count + 1)
            return (u.astype(acc) * (phi * scale)).astype(u.dtype)

        return jax.tree.map(leaf, new_updates, updates), CautiousState(inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def cautious_adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    *,
    rescale: str = "mask_mean",
) -> optax.GradientTransformationExtraArgs:
    r"""C-AdamW: AdamW whose Adam direction is masked by :func:`cautious`.

    .. math::

      \theta_{t+1} = \theta_t - \alpha_t\bigl(\operatorname{cautious}(\hat m_t /
      (\sqrt{\hat v_t}+\epsilon)) + \lambda\theta_t\bigr)

    The weight decay is not masked, as in the paper's C-AdamW. The learning rate goes through
    :func:`adaptlr.scale_by_learning_rate`, whose record ``adaptlr.effective_lr`` reports.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: in ``[0, 1)``.
      b2: in ``[0, 1)``.
      eps: in ``[0, inf)``.
      weight_decay: :math:`\lambda` in ``[0, inf)`` (decoupled, as ``optax.adamw``).
      rescale: :func:`cautious`'s rule, ``"mask_mean"`` (the authors' current C-AdamW) or
        ``"count_plus_one"`` (the paper's first version).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.cautious_adamw(learning_rate=1e-3).init(jnp.zeros(2))

    References:
      Liang, Chen, Liu and Liu, *Cautious Optimizers*, arXiv:2411.16085, 2024.

    Departures:
      ``weight_decay`` defaults to ``optax.adamw``'s 1e-4 (the reference's AdamW uses 0.0).
      :math:`\epsilon` is added to the bias-corrected :math:`\sqrt{\hat v_t}` (Optax's
      ``scale_by_adam``); the authors' ``c_adamw.py`` adds it before the bias correction
      (``sqrt(v) + eps`` with the step ``lr sqrt(1 - b2^t) / (1 - b1^t)``), as the old
      ``transformers`` AdamW did. With ``eps = 0`` the two agree (the golden test's setting).
    """
    check_all(RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              weight_decay=weight_decay)
    return optax.chain(
        # float16: Adam's moments in float32 (eps = 1e-8 underflows; 0/0 after zero gradients).
        cautious(in_float32_for_float16(optax.scale_by_adam(b1=b1, b2=b2, eps=eps)),
                 descent=False, rescale=rescale),
        optax.add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
