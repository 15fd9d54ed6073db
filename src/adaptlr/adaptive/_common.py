"""Small helpers shared by the per-parameter Adam-family methods of this package.

Private: the public surface is the method modules. Everything here works leaf by leaf so that
XLA fuses a method's elementwise work into one pass over the parameters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from adaptlr._base import PyTree, accumulation_dtype, is_checkable

__all__ = [
    "bias_correction",
    "is_on",
    "leaf_mean",
    "map_leaves",
    "nonnegative_ratio",
    "recomputed_leaf_mean",
    "require_params",
    "scalar_dtype",
    "smallest_normal",
    "zeros_like_tree",
    "zeros_per_leaf",
]


def scalar_dtype(params: PyTree) -> jnp.dtype:
    """Dtype of scalar statistics for this tree: float32, or float64 when any leaf is f64."""
    dtype = jnp.dtype(jnp.float32)
    for leaf in jax.tree.leaves(params):
        dtype = jnp.promote_types(dtype, accumulation_dtype(jnp.asarray(leaf).dtype))
    return jnp.dtype(dtype)


def bias_correction(decay: Any, count: jax.Array, dtype: Any) -> jax.Array:
    """``1 - decay**count`` in ``dtype`` (``count`` is the 1-based step number)."""
    decay = jnp.asarray(decay, dtype)
    return 1 - decay ** count.astype(dtype)


def zeros_like_tree(params: PyTree, dtype: Any = None) -> PyTree:
    """Zeros shaped like ``params`` (``None`` leaves stay ``None``), in ``dtype`` if given."""
    return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=dtype), params)


def zeros_per_leaf(params: PyTree) -> PyTree:
    """One float32 zero per leaf of ``params``: the initial per-leaf step-size record."""
    return jax.tree.map(lambda p: jnp.zeros((), jnp.float32), params)


def is_on(value: Any) -> bool:
    """False only for a concrete zero: traced or scheduled values must be applied."""
    return not (is_checkable(value) and float(value) == 0.0)


def require_params(params: PyTree, weight_decay: Any, method: str) -> None:
    """Raise when weight decay is (or may be) on and ``update`` was called without params."""
    if params is not None:
        return
    if is_checkable(weight_decay) and float(weight_decay) == 0.0:
        return
    raise ValueError(f"{method}: weight_decay needs the parameters: call update(grads, state, "
                     "params)")


def map_leaves(fn: Any, n_out: int, tree: PyTree, *others: PyTree | None) -> tuple[PyTree, ...]:
    """Apply ``fn`` leaf by leaf to ``tree`` and ``others``; return ``n_out`` trees like ``tree``.

    ``fn`` returns a tuple of ``n_out`` arrays per leaf. An ``others`` entry that is ``None``
    feeds ``None`` to ``fn`` for every leaf (an optional state tree that is switched off).
    Works for trees whose inner nodes are tuples, unlike unzipping with ``is_leaf``.
    """
    leaves, treedef_ = jax.tree.flatten(tree)
    treedef: Any = treedef_  # jaxlib's stubs lack flatten_up_to / unflatten
    columns = [
        [None] * len(leaves) if other is None else treedef.flatten_up_to(other)
        for other in others
    ]
    results = [fn(*args) for args in zip(leaves, *columns, strict=True)]
    return tuple(treedef.unflatten([r[i] for r in results]) for i in range(n_out))


def leaf_mean(x: jax.Array) -> jax.Array:
    """Mean of one leaf as a float32 scalar (``0`` for a zero-size leaf): a step-size record.

    The mean is taken in ``x``'s dtype (float64 stays float64 until the final cast).
    """
    x = jnp.asarray(x)
    if x.size == 0:
        return jnp.zeros((), jnp.float32)
    return jnp.mean(x).astype(jnp.float32)


def recomputed_leaf_mean(fn: Any, *args: jax.Array) -> jax.Array:
    """:func:`leaf_mean` of ``fn(*args)``, recomputed inside the reduction.

    For records of a per-parameter quantity that the update also consumes (``eta`` in
    ``u = eta * m``). XLA does not duplicate an expensive elementwise producer (``sqrt``,
    division) into two consumers: it writes the quantity out once and reads it twice, 8 bytes
    per parameter. Passing ``args`` through ``jax.lax.optimization_barrier`` hides that the two
    computations are the same, so the update and the reduction each fuse their own copy of
    ``fn`` and read only ``args`` (arrays that are written out anyway, such as the new second
    moment). The record is the mean of the same expression the update applies.
    """
    return leaf_mean(fn(*jax.lax.optimization_barrier(args)))


def nonnegative_ratio(
    num: jax.Array, den: jax.Array, tiny: jax.Array, fallback: Any = None
) -> jax.Array:
    """``num / den`` for ``den > 0``; ``fallback`` (default 0) where ``den == 0``; no select.

    ``tiny`` is the smallest normal number of ``den``'s dtype (:func:`smallest_normal`); ``den``
    must be ``0`` or at least ``tiny`` (true of ``sqrt(v) + eps`` and its powers: the square
    root of a subnormal is normal), so that ``max(den, tiny) == den`` and the quotient is
    exactly ``num / den``. Written with ``sign`` and ``max`` instead of ``jnp.where`` because
    XLA:CPU fuses a reduction with producers made of arithmetic, ``sqrt``, ``min``/``max`` and
    ``sign`` but not ``select``: a per-leaf mean of an expression with a ``where`` costs an
    extra pass that writes and reads it. ``tiny`` is an argument, not a constant inside, so
    that :func:`recomputed_leaf_mean` can pass it through its barrier (XLA otherwise shares
    one broadcast constant between the update and the reduction and writes it out in full).
    """
    positive = jnp.sign(den)  # 1 or 0
    ratio = num * positive / jnp.maximum(den, tiny)
    if fallback is None:
        return ratio
    return ratio + (fallback - fallback * positive)


def smallest_normal(dtype: Any) -> jax.Array:
    """The smallest positive normal number of ``dtype``, as a scalar array."""
    return jnp.asarray(jnp.finfo(dtype).tiny, dtype)
