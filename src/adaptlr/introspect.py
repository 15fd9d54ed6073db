"""Read the step size a method applied out of its optimizer state.

Every adaptlr method whose step size is not simply the given learning rate keeps a field named
``effective_lr`` in its state (see :mod:`adaptlr._base`). :func:`effective_lr` finds these
records anywhere in a state tree: inside ``optax.chain``, ``optax.masked``,
``optax.multi_transform``, ``optax.inject_hyperparams``, ``optax.MultiSteps`` and so on, because
it walks tuples, lists, dicts and named tuples generically rather than knowing each wrapper.

``optax.inject_hyperparams`` states are read too: their ``learning_rate`` hyperparameter is the
step size of a plain Optax optimizer. When the injected optimizer records its own step size (an
adaptlr method, which already folds the learning rate in), the inner record wins and the
hyperparameter is not reported twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from adaptlr._base import EFFECTIVE_LR_FIELD, PyTree

__all__ = [
    "effective_lr",
    "effective_lr_scalars",
    "effective_lrs",
    "summarize_per_parameter",
]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def summarize_per_parameter(record: PyTree) -> PyTree:
    """Per-leaf mean of a per-parameter step-size tree (float32; ``0`` for zero-size leaves)."""

    def mean(x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.size == 0:
            return jnp.zeros((), jnp.float32)
        return jnp.mean(x.astype(jnp.float32))

    return jax.tree.map(mean, record)


def _summarize(record: Any) -> Any:
    if isinstance(record, (jax.Array, float, int)) and jnp.ndim(record) == 0:
        return jnp.asarray(record, jnp.float32)
    return summarize_per_parameter(record)


def _walk(
    node: Any,
    path: tuple[str, ...],
    out: dict[str, Any],
    summarize: Callable[[Any], Any] = _summarize,
) -> None:
    if _is_namedtuple(node):
        fields = node._fields
        if EFFECTIVE_LR_FIELD in fields:
            out["/".join(path)] = summarize(getattr(node, EFFECTIVE_LR_FIELD))
        injected = "hyperparams" in fields and "inner_state" in fields
        if injected:
            inner: dict[str, Any] = {}
            _walk(node.inner_state, (*path, "inner_state"), inner, summarize)
            hyperparams = node.hyperparams
            lr = hyperparams.get("learning_rate") if isinstance(hyperparams, dict) else None
            if not inner and lr is not None:
                out["/".join((*path, "hyperparams", "learning_rate"))] = summarize(lr)
            out.update(inner)
        for name in fields:
            if name == EFFECTIVE_LR_FIELD or (injected and name == "inner_state"):
                continue
            _walk(getattr(node, name), (*path, name), out, summarize)
    elif isinstance(node, (tuple, list)):
        for i, child in enumerate(node):
            _walk(child, (*path, str(i)), out, summarize)
    elif isinstance(node, dict):
        for key, child in node.items():
            _walk(child, (*path, str(key)), out, summarize)


def effective_lrs(opt_state: PyTree) -> dict[str, Any]:
    """All step-size records in ``opt_state``, keyed by their location.

    The key is the ``/``-joined path of field names, tuple indices and dict keys that leads from
    the top of the state to the record (``""`` when the state itself is the record), e.g.
    ``"0"`` for the first element of a chain or ``"inner_states/decay/inner_state/0"`` inside
    ``optax.multi_transform``. Global step sizes are float32 scalars; per-parameter step sizes
    are summarised as a tree of per-leaf means shaped like the parameters.
    """
    out: dict[str, Any] = {}
    _walk(opt_state, (), out)
    return out


def effective_lr(opt_state: PyTree) -> Any:
    """The step size the optimizer applied at its last update.

    Returns the single record's value when the state holds one step-size record (the common
    case: one method, possibly chained, masked or injected), and the dict of
    :func:`effective_lrs` when it holds several (e.g. one per group of ``multi_transform``).
    Before the first update the records hold ``0``.

    Raises:
      ValueError: when no part of the state records a step size (a plain Optax optimizer with
        a fixed learning rate: build it with ``optax.inject_hyperparams`` or end the chain with
        :func:`adaptlr.scale_by_learning_rate`).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
      >>> state = tx.init(jnp.zeros(2))
      >>> round(float(adaptlr.effective_lr(state)), 6)
      0.1
    """
    records = effective_lrs(opt_state)
    if not records:
        raise ValueError(
            "no step-size record found in this optimizer state: build plain Optax optimizers "
            "with optax.inject_hyperparams, or end the chain with adaptlr.scale_by_learning_rate"
        )
    if len(records) == 1:
        return next(iter(records.values()))
    return records


# --------------------------------------------------------------------------------------------
# Scalar summaries and update statistics (tools: logging, sweeps)
# --------------------------------------------------------------------------------------------


def _overall_mean(record: Any) -> jax.Array:
    """Mean over every entry of a step-size record (a scalar stays itself), float32."""
    leaves = [jnp.asarray(x) for x in jax.tree.leaves(record)]
    total_size = sum(x.size for x in leaves)
    if total_size == 0:
        return jnp.zeros((), jnp.float32)
    total = jnp.zeros((), jnp.float32)
    for leaf in leaves:
        if leaf.size:
            total = total + jnp.sum(leaf.astype(jnp.float32))
    return total / total_size


def effective_lr_scalars(opt_state: PyTree) -> dict[str, jax.Array]:
    """Every step-size record of ``opt_state`` reduced to one float32 scalar.

    The keys are those of :func:`effective_lrs`. A global step size is returned as is; a
    per-parameter record becomes its mean over all parameter entries (weighted by leaf size,
    unlike the per-leaf means of :func:`effective_lrs`). Cheap and traceable, for logging inside
    a jitted step or a :func:`adaptlr.sweep.train_sweep` trace. Returns ``{}`` when the state
    records no step size.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.01)
      >>> state = tx.init({"w": jnp.ones(3)})
      >>> {k: round(float(v), 6) for k, v in adaptlr.effective_lr_scalars(state).items()}
      {'hyperparams/learning_rate': 0.01}
    """
    out: dict[str, Any] = {}
    _walk(opt_state, (), out, _overall_mean)
    return out
