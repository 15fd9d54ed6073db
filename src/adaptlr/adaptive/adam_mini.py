"""Adam-mini: one second-moment statistic per block of parameters (Zhang et al., 2024).

Adam-mini partitions the parameters into blocks following the Hessian's near-block-diagonal
structure (one block per attention head for queries and keys, per output neuron for values,
projections and MLPs, per token for embeddings and output layers, one per tensor elsewhere) and
keeps the *mean* of ``g^2`` over each block instead of one ``v`` per parameter, halving Adam's
memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    UNIT_INTERVAL,
    Interval,
    PyTree,
    ScalarOrSchedule,
    accumulation_dtype,
    check,
    check_all,
    check_real,
    check_tree_match,
    resolve,
)
from adaptlr._docstrings import args_from
from adaptlr.adaptive._common import (
    bias_correction,
    is_on,
    leaf_mean,
    map_leaves,
    require_params,
    scalar_dtype,
    zeros_per_leaf,
)

__all__ = [
    "RANGES",
    "AdamMiniState",
    "Block",
    "adam_mini",
    "adam_mini_partition",
    "path_names",
    "scale_by_adam_mini",
]

RANGES: dict[str, Interval] = {
    "learning_rate": NON_NEGATIVE,
    "b1": UNIT_INTERVAL,
    "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
}

#: Name fragments of the default partition (matched as substrings of the lower-cased path, as
#: the reference code does with PyTorch names).
EMBEDDING_NAMES = ("embed", "embd", "wte")
OUTPUT_NAMES = ("lm_head", "output", "final_layer")
QUERY_KEY_NAMES = ("k_proj", "q_proj", "wq", "wk", "query", "key")
VALUE_NAMES = ("v_proj", "wv", "value")
PROJECTION_NAMES = ("o_proj", "wo", "attn.proj", "attn/proj")
MLP_NAMES = ("feed_forward", "linear", "mlp")
#: No weight decay on parameters whose path contains one of these (the reference's rule).
NO_DECAY_NAMES = ("norm", "ln", "bias")


class Block(NamedTuple):
    """How a parameter tensor is cut into blocks that share one second moment.

    ``heads=(axis, n)`` first splits ``axis`` into ``n`` equal consecutive groups (a new axis of
    size ``n`` at position ``axis``, followed by the group's elements). ``keep`` lists the axes
    (of the split shape) that index blocks; ``g^2`` is averaged over all other axes. So
    ``keep=()`` is one block per tensor, ``keep=`` all axes is one block per entry (Adam), and
    ``Block(keep=(1,), heads=(1, 8))`` on a ``(d, 8 * h)`` kernel is one block per head.
    """

    keep: tuple[int, ...]
    heads: tuple[int, int] | None = None

    @staticmethod
    def tensor() -> Block:
        return Block(keep=())

    @staticmethod
    def element(ndim: int) -> Block:
        return Block(keep=tuple(range(ndim)))


class AdamMiniState(NamedTuple):
    """State of :func:`scale_by_adam_mini`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    mu: PyTree  # like params: first moment (not bias-corrected)
    nu: PyTree  # per leaf, the block shape (split shape, 1 on averaged axes), accumulation dtype
    effective_lr: PyTree  # like params, one float32 scalar per leaf: mean step size applied
    #                       to mu at the last update (0 before it; blocks are equal-sized)


def path_names(tree: PyTree) -> PyTree:
    """The ``/``-joined key path of every leaf (``"params/attn/query/kernel"``), as a tree."""

    def name(path: Sequence[Any], _: Any) -> str:
        parts = []
        for key in path:
            for attr in ("key", "name", "idx"):
                if hasattr(key, attr):
                    parts.append(str(getattr(key, attr)))
                    break
            else:
                parts.append(str(key))
        return "/".join(parts)

    return jax.tree_util.tree_map_with_path(name, tree)


def adam_mini_partition(path: str, shape: tuple[int, ...], num_heads: int | None = None) -> Block:
    """The paper's partition rules, by parameter path, for Flax's ``(in, ..., out)`` kernels.

    Rules, first match wins, on the lower-cased path (substring matches, as in the reference):

    1. ``bias`` anywhere: one block per entry (plain Adam).
    2. Queries and keys (``query``, ``key``, ``q_proj``, ``k_proj``, ``wq``, ``wk``): one block
       per head. A ``(in, heads, head_dim)`` ``DenseGeneral`` kernel uses axis 1; a 2-D
       ``(in, heads * head_dim)`` kernel splits its last axis into ``num_heads`` heads.
    3. Embeddings (``embed``, ``embd``, ``wte``): one block per token (axis 0 of the
       ``(vocab, features)`` table).
    4. Output layers (``lm_head``, ``output``, ``final_layer``): one block per token, the last
       (output) axis of the kernel.
    5. Values (``value``, ``v_proj``, ``wv``), attention output projections (``o_proj``,
       ``wo``, ``attn/proj`` or a path component ``out``) and MLPs (``mlp``, ``linear``,
       ``feed_forward``): one block per output neuron: the kernel's last axis, and for a
       ``(in, heads, head_dim)`` value kernel both output axes.
    6. Anything else (norm scales, ...): one block per tensor.

    Vectors and scalars that reach rules 2-5 are one block. Pass your own function with this
    signature as ``partition=`` to override; PyTorch-layout ``(out, in)`` weights, for example,
    keep axis 0 instead of the last.

    Args:
      path: the parameter's path (see :func:`adaptlr.param_path`).
      shape: the parameter's shape.
      num_heads: number of attention heads, an integer in ``[1, inf)``, used to split a 2-D
        query or key kernel; ``None`` raises ``ValueError`` when such a kernel needs it.
    """
    name = path.lower()
    ndim = len(shape)
    has = lambda names: any(n in name for n in names)  # noqa: E731
    if "bias" in name:
        return Block.element(ndim)
    if ndim < 2:
        return Block.tensor()
    if has(QUERY_KEY_NAMES):
        if ndim == 3:
            return Block(keep=(1,))
        if num_heads is None:
            raise ValueError(f"num_heads is required to split the query/key kernel {path!r} "
                             f"{shape} into heads")
        return Block(keep=(ndim - 1,), heads=(ndim - 1, num_heads))
    if has(EMBEDDING_NAMES):
        return Block(keep=(0,))
    if has(OUTPUT_NAMES):
        return Block(keep=(ndim - 1,))
    if has(VALUE_NAMES):
        return Block(keep=(1, 2) if ndim == 3 else (ndim - 1,))
    if has(PROJECTION_NAMES) or "out" in name.split("/") or has(MLP_NAMES):
        return Block(keep=(ndim - 1,))
    return Block.tensor()


def _split_shape(shape: tuple[int, ...], block: Block, path: str) -> tuple[int, ...]:
    if block.heads is None:
        return shape
    axis, n = block.heads
    if not 0 <= axis < len(shape):
        raise ValueError(f"{path!r}: head axis {axis} out of range for shape {shape}")
    check("num_heads", n, Interval(1, np.inf, integer=True))
    if shape[axis] % n:
        raise ValueError(f"{path!r}: axis {axis} of size {shape[axis]} does not split into "
                         f"num_heads={n} heads")
    return (*shape[:axis], n, shape[axis] // n, *shape[axis + 1:])


def _block_shape(split: tuple[int, ...], block: Block, path: str) -> tuple[int, ...]:
    for axis in block.keep:
        if not 0 <= axis < len(split):
            raise ValueError(f"{path!r}: block axis {axis} out of range for shape {split}")
    return tuple(s if i in block.keep else 1 for i, s in enumerate(split))


def scale_by_adam_mini(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    num_heads: int | None = None,
    partition: Callable[[str, tuple[int, ...]], Block] | None = None,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""Adam-mini: Adam with one second moment per parameter block.

    For a block :math:`B` of a tensor,

    .. math::

      m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
      v_{B,t} = \beta_2 v_{B,t-1} + (1-\beta_2)\operatorname{mean}_{i\in B} g_{i,t}^2,\\
      \eta_{B,t} &= \frac{\alpha_t / (1-\beta_1^t)}{\sqrt{v_{B,t}/(1-\beta_2^t)} + \epsilon},
      \qquad u_{i,t} = \eta_{B,t}\, m_{i,t} + \alpha_t\lambda_i\theta_{i,t}\quad(i\in B).

    Returns :math:`u_t` (descent-ready, without the sign); records the mean of
    :math:`\eta_{B,t}` over each parameter leaf (blocks of a leaf are equal-sized, so this
    is the mean over its parameters) as ``effective_lr``.

    Args:
      learning_rate: :math:`\alpha_t` in ``[0, inf)``, or a schedule.
      b1: :math:`\beta_1` in ``[0, 1)``.
      b2: :math:`\beta_2` in ``[0, 1)``.
      eps: :math:`\epsilon` in ``[0, inf)``.
      weight_decay: :math:`\lambda` in ``[0, inf)``, decoupled, scaled by the learning rate
        (needs ``params``).
      num_heads: number of attention heads, integer in ``[1, inf)``; needed only to split 2-D
        query/key kernels (rule 2 of :func:`adam_mini_partition`).
      partition: ``(path, shape) -> Block`` deciding the blocks of each leaf from its
        ``/``-joined key path (see :func:`path_names`); default :func:`adam_mini_partition`.
      mask: which leaves get weight decay: a tree of booleans like the params or a callable
        ``params -> tree``. Default: all but those whose path contains ``norm``, ``ln`` or
        ``bias`` (the reference's rule).

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> params = {"attn": {"query": {"kernel": jnp.ones((8, 8))}},
      ...           "mlp": {"kernel": jnp.ones((8, 16)), "bias": jnp.zeros(16)}}
      >>> tx = adaptlr.adam_mini(learning_rate=1e-3, num_heads=2)
      >>> state = tx.init(params)
      >>> [x.shape for x in jax.tree.leaves(state[0].nu)]  # per head, per neuron, per entry
      [(1, 2, 1), (16,), (1, 16)]

    References:
      Zhang et al., *Adam-mini: Use Fewer Learning Rates
      To Gain More*, arXiv:2406.16793, 2024 (ICLR 2025). Reference code: the authors'
      ``adam_mini`` package (version 1.1.1).

    Departures:
      The default rules are the reference's name rules translated to Flax's ``(in, out)``
      kernel layout (the reference cuts PyTorch's ``(out, in)`` weights by rows) and to
      ``DenseGeneral``'s head axis; a path component ``out`` (Flax's attention output
      projection) counts as a projection. Queries and keys are split into heads by
      ``num_heads`` directly rather than through ``dim * dim / n_heads``, which assumes square
      kernels. Parameters that match no rule are one block per tensor as in the reference;
      its all-reduce over devices is what JAX's sharded ``mean`` does. Block statistics are
      kept in float32 or better.
    """
    check_all(RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              weight_decay=weight_decay)
    check("num_heads", num_heads, Interval(1, np.inf, integer=True), allow_none=True)

    def blocks(tree: PyTree) -> PyTree:
        def one(path: str, leaf: Any) -> tuple[Block, tuple[int, ...], tuple[int, ...]]:
            shape = tuple(jnp.shape(leaf))
            block = (partition(path, shape) if partition is not None
                     else adam_mini_partition(path, shape, num_heads))
            split = _split_shape(shape, block, path)
            return block, split, _block_shape(split, block, path)

        return jax.tree.map(one, path_names(tree), tree)

    def decay_mask(params: PyTree) -> PyTree:
        if mask is None:
            return jax.tree.map(lambda name: not any(n in name.lower() for n in NO_DECAY_NAMES),
                                path_names(params))
        return mask(params) if callable(mask) else mask

    def init_fn(params: PyTree) -> AdamMiniState:
        check_real(params, "Adam-mini")
        specs = blocks(params)

        def nu0(p: jax.Array, spec: Any) -> jax.Array:
            return jnp.zeros(spec[2], accumulation_dtype(p.dtype))

        nu = jax.tree.map(nu0, params, specs)
        return AdamMiniState(
            count=jnp.zeros((), jnp.int32),
            mu=jax.tree.map(jnp.zeros_like, params),
            nu=nu,
            effective_lr=zeros_per_leaf(params),
        )

    def update_fn(
        updates: PyTree, state: AdamMiniState, params: PyTree = None
    ) -> tuple[PyTree, AdamMiniState]:
        check_tree_match(updates, params)
        require_params(params, weight_decay, "adam_mini")
        decay_on = is_on(weight_decay)
        sdtype = scalar_dtype(updates)
        count = optax.safe_increment(state.count)
        lr = jnp.asarray(resolve(learning_rate, state.count), sdtype)
        bc1, bc2 = bias_correction(b1, count, sdtype), bias_correction(b2, count, sdtype)
        specs = blocks(updates)
        decays = decay_mask(params) if decay_on else None

        def leaf(g, m, v, spec, decays_leaf, p):  # type: ignore[no-untyped-def]
            block, split, _ = spec
            if g.size == 0:
                return jnp.zeros_like(g), m, v, jnp.zeros((), jnp.float32)
            acc = accumulation_dtype(g.dtype)
            g_ = g.astype(acc).reshape(split)
            b1_, b2_ = jnp.asarray(b1, acc), jnp.asarray(b2, acc)
            reduce = tuple(i for i in range(len(split)) if i not in block.keep)
            sq = g_ * g_
            block_sq = jnp.mean(sq, axis=reduce, keepdims=True) if reduce else sq
            v_ = b2_ * v + (1 - b2_) * block_sq
            m0 = m.astype(acc).reshape(split)
            m_ = m0 + (1 - b1_) * (g_ - m0)
            h = jnp.sqrt(v_) / jnp.sqrt(bc2.astype(acc)) + jnp.asarray(eps, acc)
            positive = h > 0
            eta = jnp.where(positive, (1 / bc1.astype(acc)) / jnp.where(positive, h, 1), 0)
            eta = lr.astype(acc) * eta
            u = (m_ * eta).reshape(g.shape)
            if decay_on and decays_leaf is not False:
                wd = jnp.asarray(weight_decay, acc) * jnp.asarray(decays_leaf, acc)
                u = u + lr.astype(acc) * wd * p.astype(acc)
            return (u.astype(g.dtype), m_.reshape(g.shape).astype(m.dtype), v_, leaf_mean(eta))

        new_updates, mu, nu, eff = map_leaves(
            leaf, 4, updates, state.mu, state.nu, specs, decays, params)
        return new_updates, AdamMiniState(count=count, mu=mu, nu=nu, effective_lr=eff)

    return optax.GradientTransformation(init_fn, update_fn)


@args_from(scale_by_adam_mini)
def adam_mini(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    num_heads: int | None = None,
    partition: Callable[[str, tuple[int, ...]], Block] | None = None,
    mask: Any = None,
) -> optax.GradientTransformation:
    """The Adam-mini optimizer: :func:`scale_by_adam_mini` followed by a descent sign.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.adam_mini(learning_rate=1e-3).init({"w": jnp.zeros((2, 2))})
    """
    return optax.chain(
        scale_by_adam_mini(learning_rate, b1, b2, eps, weight_decay, num_heads=num_heads,
                           partition=partition, mask=mask),
        optax.scale(-1.0),
    )

