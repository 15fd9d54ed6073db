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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from adaptlr._base import EFFECTIVE_LR_FIELD, PyTree

__all__ = [
    "UpdateStats",
    "as_floats",
    "effective_lr",
    "effective_lr_scalars",
    "effective_lrs",
    "log_stats",
    "preconditioner_lr_stats",
    "summarize_per_parameter",
    "update_stats",
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


def _has_record(node: Any) -> bool:
    """A state NamedTuple with an ``effective_lr`` field, or a property of that name that
    computes the record from the state when read (COCOB's, see :class:`adaptlr.COCOBState`)."""
    return EFFECTIVE_LR_FIELD in node._fields or isinstance(
        getattr(type(node), EFFECTIVE_LR_FIELD, None), property
    )


def _walk(
    node: Any,
    path: tuple[str, ...],
    out: dict[str, Any],
    summarize: Callable[[Any], Any] = _summarize,
) -> None:
    if _is_namedtuple(node):
        fields = node._fields
        if _has_record(node):
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
        # A state that multiplies its chain's updates by a scale (reduce-on-plateau) folds
        # the scale into the step-size records of its siblings; alone, it reports the scale.
        scales = [c.scale for c in node
                  if _is_namedtuple(c) and getattr(c, "multiplies_chain_records", False)]
        if not scales:
            for i, child in enumerate(node):
                _walk(child, (*path, str(i)), out, summarize)
            return
        others: dict[str, Any] = {}
        own: dict[str, Any] = {}
        for i, child in enumerate(node):
            scaling = _is_namedtuple(child) and getattr(child, "multiplies_chain_records", False)
            _walk(child, (*path, str(i)), own if scaling else others, summarize)
        if not others:
            out.update(own)
            return
        factor = jnp.ones((), jnp.float32)
        for scale in scales:
            factor = factor * jnp.asarray(scale, jnp.float32)
        for key, record in others.items():
            out[key] = jax.tree.map(lambda r: r * factor, record)
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

    The keys are those of :func:`effective_lrs`. A global step size is returned as is; any
    other record becomes the mean over all its entries. For a record shaped like the parameters
    that is the mean over all parameter entries; for adaptlr's per-parameter methods, whose
    records hold one mean per leaf, it is the unweighted mean of the leaf means (each leaf,
    zero-size ones included, counts once). Cheap and traceable, for logging inside
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


def _path_name(path: tuple[Any, ...]) -> str:
    parts = []
    for key in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(key, attribute):
                parts.append(str(getattr(key, attribute)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


class UpdateStats(NamedTuple):
    """Sizes of one update relative to the parameters (see :func:`update_stats`)."""

    update_norm: jax.Array  # shape=(), float32: Euclidean norm of the whole update
    param_norm: jax.Array  # shape=(), float32: Euclidean norm of all parameters
    ratio: jax.Array  # shape=(), float32: update_norm / param_norm
    leaf_ratios: PyTree  # like params, one float32 scalar per leaf: |u_leaf| / |p_leaf|


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    # 0/0 -> 0 (nothing moved, nothing there); x/0 -> inf (a zero tensor is being moved).
    safe = jnp.where(den > 0, den, jnp.ones_like(den))
    return jnp.where(den > 0, num / safe, jnp.where(num > 0, jnp.inf, 0.0))


def update_stats(updates: PyTree, params: PyTree) -> UpdateStats:
    r"""Update-to-parameter norm ratios, per leaf and over the whole tree.

    :math:`\|u\| / \|p\|` says how far one step moves the weights relative to their size (about
    1e-3 per step is a common rule of thumb for Adam-trained networks). Each leaf's squared
    norms are computed once, in float32 or wider, and summed for the global figures, so the
    whole thing costs two passes over the parameters and is meant to run inside the jitted
    step. A zero parameter leaf gives ratio ``0`` when its update is zero too and ``inf``
    otherwise; never NaN.

    Args:
      updates: the update about to be applied (what ``tx.update`` returned), a tree like params.
      params: the parameters it will be applied to.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> stats = adaptlr.update_stats({"w": jnp.full(4, 0.01)}, {"w": jnp.ones(4)})
      >>> round(float(stats.ratio), 6), round(float(stats.leaf_ratios["w"]), 6)
      (0.01, 0.01)
    """

    def squares(x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.size == 0:
            return jnp.zeros((), jnp.float32)
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        return jnp.sum(jnp.square(x)).astype(jnp.float32)

    update_sq = jax.tree.map(squares, updates)
    param_sq = jax.tree.map(squares, params)
    leaf_ratios = jax.tree.map(lambda u, p: _ratio(jnp.sqrt(u), jnp.sqrt(p)), update_sq, param_sq)
    update_norm = jnp.sqrt(sum(jax.tree.leaves(update_sq), jnp.zeros((), jnp.float32)))
    param_norm = jnp.sqrt(sum(jax.tree.leaves(param_sq), jnp.zeros((), jnp.float32)))
    return UpdateStats(update_norm, param_norm, _ratio(update_norm, param_norm), leaf_ratios)


class _Preconditioner(NamedTuple):
    nu: PyTree
    count: Any
    hyperparams: dict[str, Any]


def _find_preconditioners(
    node: Any, hyperparams: dict[str, Any], out: list[_Preconditioner]
) -> None:
    if _is_namedtuple(node):
        fields = node._fields
        if "nu" in fields:
            out.append(_Preconditioner(node.nu, getattr(node, "count", None), hyperparams))
            return
        if (
            "hyperparams" in fields
            and "inner_state" in fields
            and isinstance(node.hyperparams, dict)
        ):
            _find_preconditioners(node.inner_state, {**hyperparams, **node.hyperparams}, out)
            return
        for name in fields:
            _find_preconditioners(getattr(node, name), hyperparams, out)
    elif isinstance(node, (tuple, list)):
        for child in node:
            _find_preconditioners(child, hyperparams, out)
    elif isinstance(node, dict):
        for child in node.values():
            _find_preconditioners(child, hyperparams, out)


def preconditioner_lr_stats(
    opt_state: PyTree,
    *,
    learning_rate: Any = None,
    eps: Any = None,
    b2: Any = None,
    eps_root: Any = None,
    quantiles: tuple[float, ...] = (0.0, 0.1, 0.5, 0.9, 1.0),
    max_samples: int = 65536,
) -> dict[str, jax.Array]:
    r"""Quantiles of the per-parameter learning rate of an Adam-like preconditioner.

    Adam moves parameter :math:`i` by :math:`\eta_i \hat m_i` with

    .. math:: \eta_i = \frac{\eta}{\sqrt{\hat v_i + \epsilon_{\text{root}}} + \epsilon},
       \qquad \hat v_i = \frac{\nu_i}{1 - \beta_2^t}.

    The second moments :math:`\nu` are read from every state field named ``nu`` (Optax's
    ``ScaleByAdamState`` and its relatives: AdamW, NAdam, AMSGrad, ...; the ``count`` field next
    to it gives :math:`t`). ``learning_rate``, ``eps``, ``b2`` and ``eps_root`` default to the
    values of the enclosing ``optax.inject_hyperparams`` state when there is one; otherwise the
    learning rate is the single scalar :func:`effective_lr_scalars` record, and
    ``eps = 1e-8``, ``eps_root = 0`` (Optax's defaults) and no bias correction (``b2=None``).

    Quantiles over more than ``max_samples`` entries are taken over an evenly strided subset of
    that size, which keeps the sort cheap enough for a jitted step.

    Args:
      opt_state: an optimizer state containing at least one ``nu`` field.
      learning_rate, eps, b2, eps_root: override the values described above.
      quantiles: levels in [0, 1]; the keys are ``"q<100 * level>"`` (``"q50"`` the median).
      max_samples: an integer in [1, inf).

    Returns:
      ``{"q0": ..., "q50": ..., "mean": ...}`` float32 scalars (the mean over all entries).

    Raises:
      ValueError: no ``nu`` field in the state, no way to know the learning rate, or bad
        ``quantiles``/``max_samples``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.1, b2=0.5, eps=0.0)
      >>> params = {"w": jnp.ones(2)}
      >>> _, state = tx.update({"w": jnp.array([2.0, 4.0])}, tx.init(params), params)
      >>> stats = adaptlr.preconditioner_lr_stats(state, quantiles=(0.0, 1.0))
      >>> [round(float(stats[k]), 6) for k in ("q0", "q100")]   # 0.1 / |g|
      [0.025, 0.05]
    """
    for q in quantiles:
        if not (isinstance(q, (int, float)) and 0.0 <= q <= 1.0):
            raise ValueError(f"quantiles must lie in [0, 1], got {q!r}")
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise ValueError(f"max_samples must be an integer in [1, inf), got {max_samples!r}")
    found: list[_Preconditioner] = []
    _find_preconditioners(opt_state, {}, found)
    if not found:
        raise ValueError("no second-moment field 'nu' found in this optimizer state")
    pieces = []
    for pre in found:
        hp = pre.hyperparams
        lr = learning_rate if learning_rate is not None else hp.get("learning_rate")
        if lr is None:
            records = effective_lr_scalars(opt_state)
            if len(records) != 1:
                raise ValueError(
                    "learning_rate: pass it explicitly; the state holds "
                    f"{len(records)} step-size records, not exactly one"
                )
            lr = next(iter(records.values()))
        this_eps = eps if eps is not None else hp.get("eps", 1e-8)
        this_root = eps_root if eps_root is not None else hp.get("eps_root", 0.0)
        this_b2 = b2 if b2 is not None else hp.get("b2")
        correction = jnp.ones((), jnp.float32)
        if this_b2 is not None and pre.count is not None:
            debias = 1.0 - jnp.asarray(this_b2, jnp.float32) ** jnp.asarray(pre.count, jnp.float32)
            correction = jnp.where(debias > 0, debias, jnp.ones_like(debias))
        for nu in jax.tree.leaves(pre.nu):
            nu = jnp.ravel(jnp.asarray(nu)).astype(jnp.float32)
            if nu.size == 0:
                continue
            den = jnp.sqrt(nu / correction + jnp.asarray(this_root, jnp.float32))
            den = den + jnp.asarray(this_eps, jnp.float32)
            safe = jnp.where(den > 0, den, jnp.ones_like(den))
            pieces.append(jnp.where(den > 0, jnp.asarray(lr, jnp.float32) / safe, jnp.inf))
    if not pieces:
        return {
            **{_quantile_name(q): jnp.zeros((), jnp.float32) for q in quantiles},
            "mean": jnp.zeros((), jnp.float32),
        }
    values = jnp.concatenate(pieces)
    mean = jnp.mean(values)
    if values.size > max_samples:
        stride = -(-values.size // max_samples)
        values = values[::stride]
    levels = jnp.asarray(quantiles, jnp.float32)
    qs = jnp.quantile(values, levels) if quantiles else jnp.zeros((0,), jnp.float32)
    out = {_quantile_name(q): qs[i] for i, q in enumerate(quantiles)}
    out["mean"] = mean
    return out


def _quantile_name(q: float) -> str:
    return f"q{100 * q:g}"


def log_stats(
    updates: PyTree,
    params: PyTree,
    opt_state: PyTree = None,
    *,
    per_leaf: bool = True,
    quantiles: tuple[float, ...] = (0.0, 0.1, 0.5, 0.9, 1.0),
) -> dict[str, jax.Array]:
    """One flat ``{name: scalar}`` dict of step-size statistics for logging.

    Traceable and cheap: call it inside the jitted training step on the update about to be
    applied and the new optimizer state, return the dict with the loss, and turn it into
    ``{name: float}`` outside with :func:`as_floats`. Keys:

    * ``update_norm``, ``param_norm``, ``update_ratio``: :func:`update_stats`;
    * ``update_ratio/<leaf path>`` for every parameter leaf (``per_leaf=True``);
    * ``effective_lr`` (one record) or ``effective_lr/<location>`` (several):
      :func:`effective_lr_scalars` of ``opt_state`` (per-parameter records as their mean);
    * ``precond_lr/q<level>`` and ``precond_lr/mean``: :func:`preconditioner_lr_stats` when the
      state has an Adam-like ``nu`` and a known learning rate.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
      >>> params = {"w": jnp.ones(4)}
      >>> updates, state = tx.update({"w": jnp.ones(4)}, tx.init(params), params)
      >>> logs = adaptlr.as_floats(jax.jit(adaptlr.log_stats)(updates, params, state))
      >>> {k: round(v, 6) for k, v in logs.items()}
      {'effective_lr': 0.1, 'param_norm': 2.0, 'update_norm': 0.2, 'update_ratio': 0.1, 'update_ratio/w': 0.1}
    """  # noqa: E501
    stats = update_stats(updates, params)
    out: dict[str, jax.Array] = {
        "update_norm": stats.update_norm,
        "param_norm": stats.param_norm,
        "update_ratio": stats.ratio,
    }
    if per_leaf:
        for path, value in jax.tree_util.tree_flatten_with_path(stats.leaf_ratios)[0]:
            out[f"update_ratio/{_path_name(path)}"] = value
    if opt_state is not None:
        records = effective_lr_scalars(opt_state)
        if len(records) == 1:
            out["effective_lr"] = next(iter(records.values()))
        else:
            for key, value in records.items():
                out[f"effective_lr/{key}"] = value
        try:
            precond = preconditioner_lr_stats(opt_state, quantiles=quantiles)
        except ValueError:
            precond = {}
        for key, value in precond.items():
            out[f"precond_lr/{key}"] = value
    return out


def as_floats(stats: dict[str, Any]) -> dict[str, float]:
    """``{name: float}`` from a dict of scalars (one device-to-host transfer)."""
    host = jax.device_get(stats)
    return {name: float(value) for name, value in host.items()}
