"""COCOB-Backprop: per-parameter coin betting without a learning rate (Orabona and Tommasi)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    PyTree,
    check_all,
    check_real,
    check_tree_match,
    is_checkable,
    leaf_means_on_read,
    map_leaves,
    nonnegative_ratio,
    own_copy,
    scalar_dtype,
    smallest_normal,
)

__all__ = ["RANGES", "COCOBState", "cocob", "scale_by_cocob"]

RANGES = {
    "alpha": NON_NEGATIVE,  # warm-up: the bet is capped by 1 / (alpha L) early on
    "eps": NON_NEGATIVE,  # initial value of the gradient-range estimate L
    "weight_decay": NON_NEGATIVE,
}


class COCOBState(NamedTuple):
    """State of :func:`scale_by_cocob`. The five statistics are shaped like the parameters.

    The step-size record ``effective_lr`` is a property computed from the statistics when it is
    read, not a field written by every update: a per-leaf mean of the bet reads three
    statistics (12 bytes per parameter), an extra pass over memory that made the step 1.1-1.4x
    slower than ``optax.contrib.cocob``, which keeps no record. Reading the record (e.g. for
    logging inside the jitted step) pays that pass only when it is wanted.
    """

    count: jax.Array  # type: ignore[assignment]  # int32: updates so far
    alpha: jax.Array  # the warm-up cap alpha, a scalar (needed to recompute the bet)
    init_params: PyTree  # w_1, the point the bets are made from (parameter dtype)
    sum_neg_grads: PyTree  # theta_t = -sum_k g_k (state dtype)
    sum_abs_grads: PyTree  # G_t = sum_k |g_k| (state dtype)
    max_abs_grad: PyTree  # L_t = max(eps, max_k |g_k|) (state dtype)
    reward: PyTree  # Reward_t, the wealth won so far, >= 0 (state dtype)

    @property
    def effective_lr(self) -> PyTree:
        """Like params, one float32 scalar per leaf: the mean over the leaf of the last bet
        beta_t = (L_t + Reward_t) / (L_t max(G_t + L_t, alpha L_t)); 0 before the first update.
        """
        return leaf_means_on_read(self.count, _guarded_bet,
                                  (self.reward, self.max_abs_grad, self.sum_abs_grads),
                                  (self.alpha,))


def _bet(reward: jax.Array, lmax: jax.Array, gsum: jax.Array, alpha: jax.Array,
         tiny: jax.Array) -> jax.Array:
    """``beta = (L + Reward) / (L max(G + L, alpha L))`` for a denominator 0 or normal."""
    den = jnp.maximum(gsum + lmax, alpha * lmax) * lmax
    return nonnegative_ratio(reward + lmax, den, tiny)


def _guarded_bet(reward: jax.Array, lmax: jax.Array, gsum: jax.Array, alpha: jax.Array,
                 tiny: Any) -> jax.Array:
    """:func:`_bet` for any denominator: ``0`` where it is 0 (``eps = 0``, no gradient yet)."""
    del tiny
    den = jnp.maximum(gsum + lmax, alpha * lmax) * lmax
    safe = jnp.where(den > 0, den, 1)
    return jnp.where(den > 0, (reward + lmax) / safe, 0)


def scale_by_cocob(
    alpha: float = 100.0, eps: float = 1e-8, *, state_dtype: Any = None
) -> optax.GradientTransformation:
    r"""COCOB-Backprop as a transformation: the output is :math:`x_t - x_{t+1}`.

    Per coordinate, with :math:`g_t` the incoming gradient and :math:`w_1` the parameters
    given to ``init``:

    .. math::

      L_t = \max(L_{t-1}, |g_t|),\ L_0 = \epsilon, \qquad G_t = G_{t-1} + |g_t|, \\
      \mathrm{Reward}_t = \max\bigl(\mathrm{Reward}_{t-1} - g_t (x_t - w_1),\ 0\bigr), \qquad
      \theta_t = \theta_{t-1} - g_t, \\
      \beta_t = \frac{L_t + \mathrm{Reward}_t}{L_t \max(G_t + L_t,\ \alpha L_t)}, \qquad
      x_{t+1} = w_1 + \beta_t\, \theta_t .

    The output :math:`x_t - x_{t+1}` is the descent magnitude; :func:`cocob` negates it.
    The step-size record ``effective_lr`` is the mean of :math:`\beta_t`, the multiplier
    applied to the summed negative gradients, over each parameter leaf (one float32 scalar
    per leaf). It is a property of :class:`COCOBState`, recomputed from the statistics when
    read, so that updates which nobody inspects do not pay for it.

    Args:
      alpha: :math:`\alpha \ge 0` (``100`` in the paper): caps the bet during roughly the
        first :math:`\alpha` steps, a built-in warm-up.
      eps: :math:`\epsilon \ge 0`, initial gradient-range estimate (keeps the first bet finite).
      state_dtype: dtype of the per-parameter statistics (keyword); default the parameters'.
        ``jnp.float32`` is advisable with bf16 parameters: sums of gradients stall in bf16.

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params``. ``init`` must
      receive the actual initial parameters: they are :math:`w_1`.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.cocob()
      >>> params = jnp.array([0.0])
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([2.0]), state, params)
      >>> updates  # x_1 = w_1 + beta theta = 0 + (2 / (2 * max(4, 200))) * (-2)
      Array([-0.01], dtype=float32)

    References:
      Orabona and Tommasi, "Training Deep Networks without Learning Rates Through Coin
      Betting", NeurIPS 2017, Algorithm 2. Reference code: Orabona's ``parameterfree`` 0.0.1
      (``COCOB``).

    Departures:
      Matches the reference code (goldens agree to 1e-10 in float64), which starts
      :math:`L` at :math:`\epsilon` where the paper starts it at 0 (the paper's first bet
      divides by zero when a coordinate's first gradient is 0). Where the denominator is 0
      (``eps = 0`` and no nonzero gradient yet) the bet is 0 instead of the reference's NaN.
      :math:`w_1` is taken from ``init`` rather than from the first step (identical when
      ``init`` sees the initial parameters). The iterate is formed as
      :math:`\beta_t \theta_t + w_1` with one division per coordinate, where the reference
      divides :math:`(L_t + \mathrm{Reward}_t)\theta_t` by the denominator: the same to
      rounding.
    """
    check_all(RANGES, alpha=alpha, eps=eps)

    def init_fn(params: PyTree) -> COCOBState:
        check_real(params, "COCOB")

        def zeros(x: jax.Array) -> jax.Array:
            return jnp.zeros(x.shape, state_dtype or x.dtype)

        return COCOBState(
            count=jnp.zeros((), jnp.int32),
            alpha=jnp.asarray(alpha, scalar_dtype(params, state_dtype)),
            init_params=own_copy(params),
            sum_neg_grads=jax.tree.map(zeros, params),
            sum_abs_grads=jax.tree.map(zeros, params),
            max_abs_grad=jax.tree.map(lambda x: jnp.full(x.shape, eps, state_dtype or x.dtype),
                                      params),
            reward=jax.tree.map(zeros, params),
        )

    def update_fn(
        updates: PyTree, state: COCOBState, params: PyTree = None
    ) -> tuple[PyTree, COCOBState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("scale_by_cocob needs the current parameters: update(g, state, x)")

        def leaf(
            g: jax.Array, x: jax.Array, x0: jax.Array, theta: jax.Array, gsum: jax.Array,
            lmax: jax.Array, reward: jax.Array,
        ) -> tuple[jax.Array, ...]:
            work = jnp.promote_types(jnp.promote_types(x.dtype, theta.dtype), jnp.float32)
            g_, x_, x0_ = g.astype(work), x.astype(work), x0.astype(work)
            lmax_ = jnp.maximum(lmax.astype(work), jnp.abs(g_))
            theta_ = theta.astype(work) - g_
            gsum_ = gsum.astype(work) + jnp.abs(g_)
            reward_ = jnp.maximum(reward.astype(work) - g_ * (x_ - x0_), 0)
            sd = theta.dtype
            # The denominator is at least L^2 >= eps^2: with a concrete eps whose square (as
            # stored in the state dtype) is a normal number it is never 0 or subnormal, and
            # the bet needs no select (which XLA:CPU cannot fuse into the record's reduction).
            eps_sd = float(np.asarray(eps, sd)) if is_checkable(eps) else 0.0
            bet = _bet if eps_sd * eps_sd >= 4 * float(jnp.finfo(work).tiny) else _guarded_bet
            scalars = (jnp.asarray(alpha, work), smallest_normal(work))
            beta = bet(reward_, lmax_, gsum_, *scalars)
            x_new = beta * theta_ + x0_
            return ((x_ - x_new).astype(g.dtype), theta_.astype(sd), gsum_.astype(sd),
                    lmax_.astype(sd), reward_.astype(sd))

        new_updates, theta, gsum, lmax, reward = map_leaves(
            leaf, 5, updates, params, state.init_params, state.sum_neg_grads,
            state.sum_abs_grads, state.max_abs_grad, state.reward)
        return new_updates, COCOBState(
            count=optax.safe_increment(state.count),
            alpha=state.alpha,
            init_params=state.init_params,
            sum_neg_grads=theta,
            sum_abs_grads=gsum,
            max_abs_grad=lmax,
            reward=reward,
        )

    return optax.GradientTransformation(init_fn, update_fn)


def cocob(
    alpha: float = 100.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    mask: Any = None,
    state_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""COCOB-Backprop, the learning-rate-free coin-betting optimizer.

    .. math::

      g_t \leftarrow g_t + \lambda x_t, \qquad
      x_{t+1} = w_1 + \beta_t\, \theta_t

    with :math:`\beta_t, \theta_t` from :func:`scale_by_cocob` and :math:`\lambda` =
    ``weight_decay`` (added to the gradient before every statistic, as in the reference).

    Args:
      alpha: :math:`\alpha \ge 0`, warm-up cap (``100``).
      eps: :math:`\epsilon \ge 0`, initial gradient-range estimate.
      weight_decay: L2 coefficient ``>= 0``.
      mask: which leaves the weight decay applies to (keyword).
      state_dtype: dtype of the per-parameter statistics (keyword).

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.cocob()
      >>> params = jnp.array([1.0, -1.0])
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jax.grad(lambda p: jnp.sum(p**2))(params), state, params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Orabona and Tommasi, NeurIPS 2017 (see :func:`scale_by_cocob`).

    Departures:
      Those of :func:`scale_by_cocob`. There is no learning rate: COCOB is invariant to the
      scale of the gradients, so a multiplier on them (Optax's ``learning_rate``) changes
      nothing but the effect of ``eps``.
    """
    check_all(RANGES, weight_decay=weight_decay)
    return optax.chain(
        optax.add_decayed_weights(weight_decay, mask),
        scale_by_cocob(alpha, eps, state_dtype=state_dtype),
        optax.scale(-1.0),
    )
