"""Mechanic: a learned global scale for any Optax optimizer (Cutkosky, Defazio and Mehta)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    PyTree,
    ScalarOrSchedule,
    check,
    check_all,
    check_transformation,
    check_tree_match,
    in_float32_for_float16,
    own_copy,
    resolve,
    scalar_dtype,
    tree_sq_norm,
    tree_vdot,
)
from adaptlr._docstrings import args_from

__all__ = [
    "DEFAULT_BETAS",
    "RANGES",
    "MechanicState",
    "mechanic_adam",
    "mechanic_sgd",
    "mechanize",
]

RANGES = {
    "learning_rate": NON_NEGATIVE,  # multiplies the base optimizer's updates
    "s_decay": NON_NEGATIVE,  # the paper's lambda
    "s_init": POSITIVE,  # scale of the initial wealth
    "eps": NON_NEGATIVE,
}

#: The reference code's betas, ``1 - 10^-k`` for ``k = 1..6``.
DEFAULT_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)

# The reference code starts the running maximum m at 1e-6 (the paper at 0): with s = 0 at the
# start, that is what makes the scale nonzero after the first step.
_INITIAL_MAX_PRODUCT = 1e-6


class MechanicState(NamedTuple):
    """State of :func:`mechanize`. The per-beta fields have shape ``(len(betas),)``."""

    base_state: Any  # the base optimizer's state
    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates so far
    reference: PyTree  # x_ref, the parameters given to init (parameter dtype)
    delta: PyTree  # Delta_t, shaped like the parameters, with store_delta; else EmptyState()
    scale: jax.Array  # s_t, one per beta (scalar dtype)
    max_product: jax.Array  # m_t, running max of |h| (scalar dtype)
    root_sum_sq_products: jax.Array  # sqrt(v_t), v_t the discounted sum of h^2 (scalar dtype)
    reward: jax.Array  # r_t, clipped discounted reward (scalar dtype)
    effective_lr: jax.Array  # shape=(), scalar dtype: learning_rate * sum(s) at the last update


def _add_scaled(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    return a + c * b


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0)


def mechanize(
    base_optimizer: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule = 1.0,
    s_decay: float = 0.01,
    s_init: float = 1e-8,
    eps: float = 1e-8,
    *,
    betas: Sequence[float] = DEFAULT_BETAS,
    store_delta: bool = False,
    decay_on_stepped_params: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Wrap any Optax optimizer in Mechanic, which learns the scale of its updates.

    With :math:`u_t` = ``learning_rate`` times the base optimizer's update, :math:`x_\mathrm{ref}`
    the parameters given to ``init``, :math:`n` betas and :math:`S_t = \sum_i s_{t,i}`
    (:math:`s_1 = 0`, :math:`m_0 = 10^{-6}`, :math:`v_0 = r_0 = 0`, :math:`\Delta_1 = 0`):

    .. math::

      h_t = \Bigl\langle \Delta_t,\ g_t + \lambda S_t \frac{\|g_t\|}{\|x_t\| + \epsilon} x_t
            \Bigr\rangle, \qquad \Delta_{t+1} = \Delta_t + u_t, \\
      m_t = \max(\beta m_{t-1}, |h_t|), \quad v_t = \beta^2 v_{t-1} + h_t^2, \quad
      r_t = \max(0, \beta r_{t-1} - s_t h_t), \\
      s_{t+1} = \frac{s_\mathrm{init}\, m_t / n + r_t}{\sqrt{v_t} + \epsilon}, \qquad
      x_{t+1} = x_\mathrm{ref} + \max(S_{t+1}, 0)\, \Delta_{t+1},

    all per beta (elementwise in :math:`\beta`). Without ``store_delta``, :math:`\Delta_t` is
    recomputed as :math:`(x_t - x_\mathrm{ref}) / (S_t + \epsilon)` (no extra parameter-sized
    state). The output is the update :math:`x_{t+1} - x_t` to add to the parameters (the base
    optimizer already carries the sign). ``effective_lr`` records
    ``learning_rate`` :math:`\cdot \max(S_{t+1}, 0)`.

    Args:
      base_optimizer: any ``optax.GradientTransformation``; extra ``update`` arguments such as
        ``value=`` are forwarded to it.
      learning_rate: ``>= 0``, float or schedule, multiplying the base updates. Equivalent to
        the base optimizer's own learning rate for bases linear in it (SGD, Adam, Lion), and
        folded into the step-size record; leave the base's learning rate at 1 when using it.
      s_decay: :math:`\lambda \ge 0` (``0.01``), the tuner's weight-decay analogue.
      s_init: ``> 0`` (``1e-8``), scale of the initial wealth.
      eps: :math:`\epsilon \ge 0` (``1e-8``).
      betas: the :math:`n` discount factors, each in ``[0, 1)`` (keyword).
      store_delta: keep :math:`\Delta_t` in the state (one parameter-sized tree more) instead
        of recomputing it (keyword).
      decay_on_stepped_params: use :math:`x_t + u_t` instead of :math:`x_t` in the
        :math:`\lambda` term of :math:`h_t`, reproducing ``mechanic-pytorch`` 0.0.1 (keyword).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.mechanize(optax.adam(1.0))
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(3):
      ...     grads = jax.grad(lambda p: jnp.sum(p ** 2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> bool(adaptlr.effective_lr(state) > 0)
      True

    References:
      Cutkosky, Defazio and Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023,
      Algorithm 1. Reference code: ``mechanic-pytorch`` 0.0.1.

    Departures:
      The reference code evaluates the :math:`\lambda` term at the parameters after the base
      optimizer's raw step, :math:`x_t + u_t`, where the paper (and Optax) use :math:`x_t`;
      this follows the paper by default and reproduces the reference with
      ``decay_on_stepped_params=True`` (the goldens agree to 1e-10 in float64 then, and with
      either setting when ``s_decay = 0``). Otherwise it follows the reference code:
      :math:`m_0 = 10^{-6}` (the paper has 0, with which :math:`h_t = 0` forever when
      :math:`\Delta` is recomputed: the iterates would never leave :math:`x_\mathrm{ref}`),
      :math:`s_1 = 0`, and :math:`x_\mathrm{ref}`
      from ``init`` (the reference takes it at the first step: the same when ``init`` sees the
      initial parameters). The :math:`\lambda` term is split as
      :math:`\langle\Delta,g\rangle + c\,\langle\Delta,x\rangle` so that every reduction of a
      step is computed in one pass; the reference sums :math:`\Delta\cdot(g + c x)` after a
      first pass for the norms (the same to rounding). The update is returned as
      :math:`(x_\mathrm{ref} - x_t) + S_{t+1}\Delta_{t+1}` where the reference overwrites the
      parameters with :math:`x_\mathrm{ref} + S_{t+1}\Delta_{t+1}`: the same to rounding, and
      small steps are not lost to ``ulp(x)`` in float32. Divisions by zero (``eps = 0``) give 0.
      The state keeps :math:`\sqrt{v_t}`, updated as ``hypot``:math:`(\beta\sqrt{v_{t-1}}, h_t)`,
      instead of :math:`v_t`: the same to rounding, and finite for every :math:`h_t` that is
      (the square of :math:`h_t \sim \|g\|^2 t` overflows float32 from gradients of about
      ``1e9``).
      ``learning_rate`` is an addition (default 1: none).
    """
    check_transformation("base_optimizer", base_optimizer)
    check_all(RANGES, learning_rate=learning_rate, s_decay=s_decay, s_init=s_init, eps=eps)
    betas = tuple(betas)
    if not betas:
        raise ValueError("betas must hold at least one value in [0, 1), got ()")
    for beta in betas:
        check("betas", beta, UNIT_INTERVAL)
    n = len(betas)
    base = optax.with_extra_args_support(base_optimizer)

    def init_fn(params: PyTree) -> MechanicState:
        dtype = scalar_dtype(params)

        def zeros() -> jax.Array:  # a new buffer per field, so the state can be donated
            return jnp.zeros((n,), dtype)

        return MechanicState(
            base_state=base.init(params),
            count=jnp.zeros((), jnp.int32),
            reference=own_copy(params),
            delta=jax.tree.map(jnp.zeros_like, params) if store_delta else optax.EmptyState(),
            scale=zeros(),
            max_product=jnp.full((n,), _INITIAL_MAX_PRODUCT, dtype),
            root_sum_sq_products=zeros(),
            reward=zeros(),
            effective_lr=jnp.zeros((), dtype),
        )

    def update_fn(
        updates: PyTree, state: MechanicState, params: PyTree = None, **extra_args: Any
    ) -> tuple[PyTree, MechanicState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("mechanize needs the current parameters: update(g, state, params)")
        base_updates, base_state = base.update(updates, state.base_state, params, **extra_args)
        dtype = state.scale.dtype
        lr = jnp.asarray(resolve(learning_rate, state.count), dtype)
        s_sum = jnp.sum(state.scale)

        def work(x: jax.Array) -> jax.Array:
            return x.astype(jnp.promote_types(x.dtype, dtype))

        step = jax.tree.map(lambda u: lr * work(u), base_updates)
        if store_delta:
            delta = delta_seen = jax.tree.map(work, state.delta)
        else:
            # Delta = (x - x_ref) / sum(s), 0 while sum(s) + eps is 0, without a select per
            # entry.
            den = s_sum + eps
            den_safe, mask = jnp.where(den > 0, den, 1), (den > 0).astype(dtype)

            def recover(x: jax.Array, x0: jax.Array, den: jax.Array, mask: jax.Array) -> jax.Array:
                return (work(x) - work(x0)) / den * mask

            delta = jax.tree.map(lambda x, x0: recover(x, x0, den_safe, mask), params,
                                 state.reference)
            # The inner product below recomputes Delta from its inputs passed through a barrier,
            # one per leaf: XLA:CPU's reduction fusion takes neither a select, nor an array
            # shared with the update pass, nor a scalar broadcast shared by two leaves, and
            # would write Delta out (8 bytes per parameter more).
            delta_seen = jax.tree.map(
                lambda x, x0: recover(*jax.lax.optimization_barrier((x, x0, den_safe, mask))),
                params, state.reference)
        if decay_on_stepped_params:
            point = jax.tree.map(lambda x, u: work(x) + u, params, step)
        else:
            point = params
        # ||g||^2 from g behind a barrier per leaf: a base optimizer that squares g as well
        # (Adam) would otherwise share one g^2 with it, written out in full (XLA:CPU).
        grad_sq = tree_sq_norm(jax.tree.map(jax.lax.optimization_barrier, updates)).astype(dtype)
        point_sq = tree_sq_norm(point).astype(dtype)
        coefficient = _safe_div(s_decay * s_sum * jnp.sqrt(grad_sq), jnp.sqrt(point_sq) + eps)
        # h = <Delta, g + coefficient x> in one reduction, as the reference computes it (two
        # inner products <Delta, g> + coefficient <Delta, x> cost a further pass per leaf).
        # g + coefficient x is formed behind a per-leaf barrier too: the coefficient's
        # broadcast, shared by leaves of equal shape, would otherwise be written out.
        h = tree_vdot(
            delta_seen,
            jax.tree.map(lambda g, x: _add_scaled(*jax.lax.optimization_barrier(
                (work(g), work(x), coefficient))), updates, point),
        ).astype(dtype)
        b = jnp.asarray(betas, dtype)
        max_product = jnp.maximum(b * state.max_product, jnp.abs(h))
        # sqrt(v_t) = hypot(beta sqrt(v_{t-1}), h_t): h is of the order of |g|^2 t, and its
        # square overflows float32 from |g| ~ 1e9 (|g| = 1e15 made the state inf at step 2).
        root_sum_sq_products = jnp.hypot(b * state.root_sum_sq_products, h)
        reward = jnp.maximum(b * state.reward - state.scale * h, 0)
        wealth = max_product * s_init / n + reward
        scale = _safe_div(wealth, root_sum_sq_products + eps)
        applied = jnp.maximum(jnp.sum(scale), 0)

        new_delta = jax.tree.map(jnp.add, delta, step)
        # x_{t+1} - x_t as (x_ref - x_t) + S Delta: the first difference is exact for nearby
        # points, so small steps survive in float32 where x_ref + S Delta - x_t would round
        # them to a multiple of ulp(x).
        new_updates = jax.tree.map(
            lambda x, x0, d: ((work(x0) - work(x)) + d * applied).astype(x.dtype),
            params, state.reference, new_delta,
        )
        if store_delta:
            kept_delta = jax.tree.map(lambda d, old: d.astype(old.dtype), new_delta, state.delta)
        else:
            kept_delta = state.delta
        return new_updates, MechanicState(
            base_state=base_state,
            count=optax.safe_increment(state.count),
            reference=state.reference,
            delta=kept_delta,
            scale=scale,
            max_product=max_product,
            root_sum_sq_products=root_sum_sq_products,
            reward=reward,
            effective_lr=lr * applied,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@args_from(mechanize)
def mechanic_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    momentum: float | None = None,
    s_decay: float = 0.01,
    s_init: float = 1e-8,
    *,
    nesterov: bool = False,
    betas: Sequence[float] = DEFAULT_BETAS,
    store_delta: bool = False,
    decay_on_stepped_params: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Mechanic around SGD (with optional momentum): :func:`mechanize` of ``optax.sgd``.

    The base update is :math:`-\,\text{learning\_rate} \cdot g_t` (or the momentum buffer);
    Mechanic learns its scale, see :func:`mechanize`.

    Args:
      learning_rate: ``>= 0``, float or schedule (``1``: Mechanic finds the scale).
      momentum: heavy-ball coefficient in ``[0, 1)``, or ``None`` for none.
      s_decay: :math:`\lambda \ge 0`.
      s_init: ``> 0``.
      nesterov, betas, store_delta, decay_on_stepped_params: keyword, see :func:`mechanize`.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.mechanic_sgd(momentum=0.9).init(jnp.ones(3))

    References:
      Cutkosky, Defazio and Mehta, NeurIPS 2023 (see :func:`mechanize`).

    Departures:
      Those of :func:`mechanize`.
    """
    if momentum is not None:
        check("momentum", momentum, UNIT_INTERVAL)
    return mechanize(
        optax.sgd(1.0, momentum=momentum, nesterov=nesterov),
        learning_rate, s_decay, s_init,
        betas=betas, store_delta=store_delta, decay_on_stepped_params=decay_on_stepped_params,
    )


@args_from(mechanize)
def mechanic_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    s_decay: float = 0.01,
    s_init: float = 1e-8,
    *,
    betas: Sequence[float] = DEFAULT_BETAS,
    store_delta: bool = False,
    decay_on_stepped_params: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Mechanic around Adam(W): :func:`mechanize` of ``optax.adamw``.

    The base update is :math:`-\,\text{learning\_rate}\,(\hat m_t / (\sqrt{\hat v_t} + \epsilon)
    + \text{weight\_decay}\; x_t)`; Mechanic learns its scale, see :func:`mechanize`.

    Args:
      learning_rate: ``>= 0``, float or schedule (``1``: Mechanic finds the scale).
      b1, b2: Adam's moment coefficients in ``[0, 1)``.
      eps: Adam's ``eps >= 0`` (Mechanic's own epsilon stays at ``1e-8``).
      weight_decay: decoupled weight decay ``>= 0`` of the base (AdamW).
      s_decay: :math:`\lambda \ge 0`.
      s_init: ``> 0``.
      betas, store_delta, decay_on_stepped_params: keyword, see :func:`mechanize`.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.mechanic_adam().init(jnp.ones(3))

    References:
      Cutkosky, Defazio and Mehta, NeurIPS 2023 (see :func:`mechanize`).

    Departures:
      Those of :func:`mechanize`. For float16 parameters the Adam base keeps its moments and
      computes its step in float32 (``eps = 1e-8`` and small squared gradients underflow in
      float16, and the reference's ``0 / 0`` after zero gradients turned the state NaN);
      other dtypes are unchanged.
    """
    check_all(MECHANIC_ADAM_RANGES, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    return mechanize(
        in_float32_for_float16(
            optax.adamw(1.0, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)),
        learning_rate, s_decay, s_init,
        betas=betas, store_delta=store_delta, decay_on_stepped_params=decay_on_stepped_params,
    )


#: Ranges of :func:`mechanic_sgd`'s hyperparameters.
MECHANIC_SGD_RANGES = {
    "learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL, "s_decay": NON_NEGATIVE,
    "s_init": POSITIVE,
}
#: Ranges of :func:`mechanic_adam`'s hyperparameters.
MECHANIC_ADAM_RANGES = {
    "learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL, "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE, "s_decay": NON_NEGATIVE, "s_init": POSITIVE,
}
