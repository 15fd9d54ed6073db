"""Small helpers shared by the per-parameter Adam-family methods of this package.

Private: the public surface is the method modules. Everything here works leaf by leaf so that
XLA fuses a method's elementwise work into one pass over the parameters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

# The step-size record helpers live in _base (parameter-free methods use them too); they
# are re-exported here for the modules of this package.
from adaptlr._base import (
    PyTree,
    is_checkable,
    leaf_mean,
    leaf_means_on_read,
    map_leaves,
    nonnegative_ratio,
    recomputed_leaf_mean,
    scalar_dtype,
    smallest_normal,
    zeros_per_leaf,
)

__all__ = [
    "bias_correction",
    "is_on",
    "leaf_mean",
    "leaf_means_on_read",
    "map_leaves",
    "nonnegative_ratio",
    "recomputed_leaf_mean",
    "require_params",
    "scalar_dtype",
    "smallest_normal",
    "zeros_like_tree",
    "zeros_per_leaf",
]


def bias_correction(decay: Any, count: jax.Array, dtype: Any) -> jax.Array:
    """``1 - decay**count`` in ``dtype`` (``count`` is the 1-based step number)."""
    decay = jnp.asarray(decay, dtype)
    return 1 - decay ** count.astype(dtype)


def zeros_like_tree(params: PyTree, dtype: Any = None) -> PyTree:
    """Zeros shaped like ``params`` (``None`` leaves stay ``None``), in ``dtype`` if given."""
    return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=dtype), params)


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
