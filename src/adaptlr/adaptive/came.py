"""CAME: confidence-guided, memory-efficient adaptive optimisation (Luo et al., ACL 2023).

Adafactor's factored second moment plus a factored estimate of the *instability*
``(u_t - m_t)^2`` of each update, whose inverse square root scales the momentum: directions that
the momentum predicts well take larger steps.
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
    check_all,
    check_real,
    check_tree_match,
    resolve,
)
from adaptlr._docstrings import args_from
from adaptlr.adaptive._common import (
    is_on,
    map_leaves,
    require_params,
    scalar_dtype,
    zeros_per_leaf,
)

__all__ = ["RANGES", "CAMEState", "came", "scale_by_came"]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "b3": UNIT_INTERVAL,
    "eps1": NON_NEGATIVE,
    "eps2": NON_NEGATIVE,
    "clip_threshold": POSITIVE,
    "weight_decay": NON_NEGATIVE,
}


class CAMEState(NamedTuple):
    """State of :func:`scale_by_came`.

    Leaves with two or more dimensions are *factored*: their second moment and instability are
    kept as row and column statistics (accumulation dtype) and the unfactored fields hold a
    scalar placeholder; vectors and scalars keep a full second moment and scalar placeholders
    for the factored fields.
    """

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: momentum of the normalised updates
    nu: PyTree  # like params (unfactored leaves) or (): second moment of g^2 + eps1
    nu_row: PyTree  # shape[:-1] (factored) or (): row means of g^2 + eps1
    nu_col: PyTree  # shape[:-2] + shape[-1:] (factored) or (): column means
    res_row: PyTree  # shape[:-1] (factored) or (): row means of the instability
    res_col: PyTree  # shape[:-2] + shape[-1:] (factored) or (): column means
    effective_lr: PyTree  # like params, one float32 scalar per leaf: mean step size applied
    #                       to mu at the last update (0 before it)


def _factored(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2


def _approx_factors(row: jax.Array, col: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Row and column factors of ``1 / sqrt(V)``, ``V = row col^T / mean(row)`` (Adafactor's
    rank-one estimate): ``1 / sqrt(V) = row_factor[..., :, None] * col_factor[..., None, :]``.
    """
    # Zero statistics (possible only with eps = 0 and all-zero gradients) give a zero factor
    # instead of 0 * inf = NaN.
    row_mean = jnp.mean(row, axis=-1, keepdims=True)
    ok = row > 0
    row_factor = jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, row / jnp.where(ok, row_mean, 1), 1)), 0)
    return row_factor, _rsqrt0(col)


def _approx(row: jax.Array, col: jax.Array) -> jax.Array:
    """``1 / sqrt(V)`` for the rank-one ``V = row col^T / mean(row)`` (Adafactor's estimate)."""
    row_factor, col_factor = _approx_factors(row, col)
    return row_factor[..., None] * col_factor[..., None, :]


def _rsqrt0(x: jax.Array) -> jax.Array:
    """``1 / sqrt(x)`` for ``x > 0``, ``0`` at ``x = 0``."""
    ok = x > 0
    return jnp.where(ok, jax.lax.rsqrt(jnp.where(ok, x, 1)), 0)


def scale_by_came(
    learning_rate: ScalarOrSchedule = 2e-4,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.9999,
    eps1: float = 1e-30,
    eps2: float = 1e-16,
    clip_threshold: float = 1.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""CAME: Adafactor with a confidence-guided, factored scaling of the momentum.

    For a matrix parameter (row/column means :math:`\bar{\cdot}^{r}`, :math:`\bar{\cdot}^{c}`;
    higher-rank tensors are factored over their last two axes):

    .. math::

      r_t &= \beta_2 r_{t-1} + (1-\beta_2)\,\overline{(g_t^2+\epsilon_1)}^{r},\quad
      c_t = \beta_2 c_{t-1} + (1-\beta_2)\,\overline{(g_t^2+\epsilon_1)}^{c},\quad
      u_t = g_t \big/ \sqrt{r_t c_t^\top / \bar r_t},\\
      \hat u_t &= u_t / \max\bigl(1, \mathrm{RMS}(u_t)/d\bigr),\qquad
      m_t = \beta_1 m_{t-1} + (1-\beta_1)\hat u_t,\\
      U_t &= (\hat u_t - m_t)^2 + \epsilon_2,\quad
      R_t = \beta_3 R_{t-1} + (1-\beta_3)\,\overline{U_t}^{r},\quad
      C_t = \beta_3 C_{t-1} + (1-\beta_3)\,\overline{U_t}^{c},\\
      \text{update}_t &= \alpha_t\, m_t \big/ \sqrt{R_t C_t^\top / \bar R_t}
        + \alpha_t\lambda\theta_t .

    Vectors and scalars keep the full second moment :math:`v_t` in place of
    :math:`r_t c_t^\top/\bar r_t` and use :math:`m_t` unscaled. Returns the update
    (descent-ready, without the sign); records the multiplier of :math:`m_t`,
    :math:`\alpha_t/\sqrt{R_t C_t^\top/\bar R_t}` (or :math:`\alpha_t`), averaged over each
    parameter leaf, as ``effective_lr``. The mean of a rank-one matrix is the product of the
    means of its factors, so the record costs no pass over the parameters.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule (the paper uses 2e-4
        for BERT).
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      b3: :math:`\beta_3` in ``[0, 1)``, memory of the instability.
      eps1: :math:`\epsilon_1` in ``[0, inf)``, added to :math:`g^2`.
      eps2: :math:`\epsilon_2` in ``[0, inf)``, added to the instability.
      clip_threshold: :math:`d` in ``(0, inf)``, update clipping threshold.
      weight_decay: :math:`\lambda` in ``[0, inf)``, decoupled, scaled by the learning rate
        (needs ``params``).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.came(learning_rate=2e-4)
      >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
      >>> updates, state = tx.update(params, tx.init(params), params)

    References:
      Luo et al., *CAME: Confidence-guided Adaptive Memory Efficient Optimization*,
      ACL 2023. Reference code: the authors'
      ``came-pytorch`` package.

    Departures:
      As in the authors' code (and unlike the paper's Algorithm 1, which writes everything
      for matrices), vectors are not factored and take the plain momentum. Second-moment and
      instability statistics are kept in float32 or better whatever the parameter dtype
      (the reference computes in float32 for half-precision gradients too; ``eps1 = 1e-30``
      underflows in float16). With ``eps1 = 0`` an all-zero statistic gives a zero factor where
      the reference produces NaN. Zero-size leaves are left untouched (the reference's means over
      empty axes give NaN).
    """
    check_all(RANGES, learning_rate=learning_rate, b1=b1, b2=b2, b3=b3, eps1=eps1, eps2=eps2,
              clip_threshold=clip_threshold, weight_decay=weight_decay)

    def init_fn(params: PyTree) -> CAMEState:
        check_real(params, "CAME")

        def fields(p: jax.Array) -> tuple[jax.Array, ...]:
            # A new buffer for every field: a state that holds one array twice cannot be
            # donated (jit rejects "the same buffer twice").
            acc = accumulation_dtype(p.dtype)
            if _factored(p.shape):
                row, col = p.shape[:-1], p.shape[:-2] + p.shape[-1:]
                return (jnp.zeros((), acc), jnp.zeros(row, acc), jnp.zeros(col, acc),
                        jnp.zeros(row, acc), jnp.zeros(col, acc))
            return (jnp.zeros(p.shape, acc), *(jnp.zeros((), acc) for _ in range(4)))

        nu, nu_row, nu_col, res_row, res_col = map_leaves(
            lambda p: fields(p), 5, params)
        return CAMEState(
            count=jnp.zeros((), jnp.int32),
            mu=jax.tree.map(jnp.zeros_like, params),
            nu=nu, nu_row=nu_row, nu_col=nu_col, res_row=res_row, res_col=res_col,
            effective_lr=zeros_per_leaf(params),
        )

    def update_fn(
        updates: PyTree, state: CAMEState, params: PyTree = None
    ) -> tuple[PyTree, CAMEState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "came")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)

        def leaf(g, m, v, vr, vc, rr, rc, p):  # type: ignore[no-untyped-def]
            if g.size == 0:
                return jnp.zeros_like(g), m, v, vr, vc, rr, rc, jnp.zeros((), jnp.float32)
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc)
            b1_, b2_, b3_ = (jnp.asarray(b, acc) for b in (b1, b2, b3))
            lr_ = lr.astype(acc)
            if _factored(g.shape):
                # Row and column means each compute g^2 + eps1 from g and eps1 passed through
                # their own barrier (different operand orders, so XLA does not merge the two):
                # a shared g^2 + eps1, or an eps1 broadcast shared with another leaf of the same
                # shape, would be written out and read back (see recomputed_leaf_mean).
                eps = jnp.asarray(eps1, acc)
                g_r, eps_r = jax.lax.optimization_barrier((g_, eps))
                eps_c, g_c = jax.lax.optimization_barrier((eps, g_))
                vr = b2_ * vr + (1 - b2_) * jnp.mean(g_r * g_r + eps_r, axis=-1)
                vc = b2_ * vc + (1 - b2_) * jnp.mean(g_c * g_c + eps_c, axis=-2)
                u = _approx(vr, vc) * g_
            else:
                v = b2_ * v + (1 - b2_) * (g_ * g_ + jnp.asarray(eps1, acc))
                u = _rsqrt0(v) * g_
            rms = jnp.sqrt(jnp.mean(u * u))
            u = u / jnp.maximum(rms / jnp.asarray(clip_threshold, acc), 1)
            m_ = b1_ * m.astype(acc) + (1 - b1_) * u
            if _factored(g.shape):
                res = (u - m_) ** 2 + jnp.asarray(eps2, acc)
                rr = b3_ * rr + (1 - b3_) * jnp.mean(res, axis=-1)
                rc = b3_ * rc + (1 - b3_) * jnp.mean(res, axis=-2)
                row_factor, col_factor = _approx_factors(rr, rc)
                eta = lr_ * (row_factor[..., None] * col_factor[..., None, :])
                # mean_ij(r_i c_j) = mean(r) mean(c), per leading (batch) index.
                mean_eta = lr_ * jnp.mean(jnp.mean(row_factor, axis=-1)
                                          * jnp.mean(col_factor, axis=-1))
            else:
                eta, mean_eta = jnp.broadcast_to(lr_, g.shape), lr_
            out = eta * m_
            if decay_on:
                out = out + lr_ * jnp.asarray(weight_decay, acc) * p.astype(acc)
            return (out.astype(g.dtype), m_.astype(m.dtype), v, vr, vc, rr, rc,
                    mean_eta.astype(jnp.float32))

        new_updates, mu, nu, nu_row, nu_col, res_row, res_col, eff = map_leaves(
            leaf, 8, updates, state.mu, state.nu, state.nu_row, state.nu_col, state.res_row,
            state.res_col, params)
        return new_updates, CAMEState(count=count, mu=mu, nu=nu, nu_row=nu_row, nu_col=nu_col,
                                      res_row=res_row, res_col=res_col, effective_lr=eff)

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_came)
def came(
    learning_rate: ScalarOrSchedule = 2e-4,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.9999,
    eps1: float = 1e-30,
    eps2: float = 1e-16,
    clip_threshold: float = 1.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    """The CAME optimizer: :func:`scale_by_came` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.came(learning_rate=2e-4).init({"w": jnp.zeros((2, 2))})
    """
    return optax.chain(
        scale_by_came(learning_rate, b1, b2, b3, eps1, eps2, clip_threshold, weight_decay),
        optax.scale(-1.0),
    )
