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

import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr._base import EFFECTIVE_LR_FIELD, PyTree

__all__ = [
    "ALL",
    "UpdateStats",
    "as_floats",
    "effective_lr",
    "effective_lr_scalars",
    "effective_lrs",
    "log_stats",
    "plain",
    "preconditioner_lr_stats",
    "summarize_per_parameter",
    "update_stats",
]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


# --------------------------------------------------------------------------------------------
# Flax NNX states, read without importing flax
# --------------------------------------------------------------------------------------------


def _nnx_variable_type() -> type | None:
    """``flax.nnx.Variable`` when the program has imported Flax NNX, else ``None``.

    An NNX object can only exist once ``flax.nnx`` is imported, so looking it up in
    ``sys.modules`` finds it whenever it matters and keeps ``import adaptlr`` free of flax.
    """
    nnx = sys.modules.get("flax.nnx")
    variable = getattr(nnx, "Variable", None) if nnx is not None else None
    return variable if isinstance(variable, type) else None


def plain(tree: PyTree) -> PyTree:
    """``tree`` with every Flax NNX ``Variable`` replaced by the array it holds.

    ``nnx.Optimizer.opt_state`` wraps every array of the Optax state in ``nnx.OptArray`` /
    ``nnx.OptVariable``, and ``nnx.state(model, nnx.Param)`` holds ``nnx.Param`` variables;
    this gives the same structure with plain arrays, which is what :func:`effective_lr` and
    friends return. Any other tree is returned as is. Flax is not imported by this function.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> adaptlr.introspect.plain({"w": jnp.ones(2)})["w"].tolist()
      [1.0, 1.0]
    """
    variable = _nnx_variable_type()
    if variable is None:
        return tree

    def is_variable(x: Any) -> bool:
        return isinstance(x, variable)

    if not any(is_variable(x) for x in jax.tree.leaves(tree, is_leaf=is_variable)):
        return tree

    def value(x: Any) -> Any:
        return x.get_value() if is_variable(x) else x

    return jax.tree.map(value, tree, is_leaf=is_variable)


# --------------------------------------------------------------------------------------------
# Finding the step-size records
# --------------------------------------------------------------------------------------------

#: Name of the group of a record outside any ``optax.partition`` / ``multi_transform``.
ALL = "all"

_BY = ("group", "path", "location")


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


class _Record(NamedTuple):
    location: str  # "/"-joined fields, indices and keys from the top of the state
    group: str  # the partition key(s) above it, "/"-joined; ALL outside any partition
    owner: Any  # the state NamedTuple holding the record
    group_state: Any  # the state subtree of the record's group (the whole state for ALL)
    value: Any  # the raw record: a scalar, or a tree shaped like the parameters


def _is_partition(node: Any) -> bool:
    return "inner_states" in node._fields and isinstance(node.inner_states, dict)


def _walk(
    node: Any,
    path: tuple[str, ...],
    group: tuple[str, ...],
    group_state: Any,
    out: list[_Record],
    keep_outer: bool,
) -> None:
    if _is_namedtuple(node):
        fields = node._fields
        if _is_partition(node):
            for key, child in node.inner_states.items():
                _walk(child, (*path, "inner_states", str(key)), (*group, str(key)), child, out,
                      keep_outer)
            return
        first = len(out)
        injected = "hyperparams" in fields and "inner_state" in fields
        for name in fields:
            if name == EFFECTIVE_LR_FIELD or (injected and name == "hyperparams"):
                continue
            _walk(getattr(node, name), (*path, name), group, group_state, out, keep_outer)
        # A wrapper's own record describes the method it wraps (inject_hyperparams' learning
        # rate, Schedule-Free's): a record found inside it is the more precise one and wins.
        inner = len(out) > first
        name = "/".join(group) if group else ALL
        if _has_record(node) and (keep_outer or not inner):
            value = getattr(node, EFFECTIVE_LR_FIELD)
            out.append(_Record("/".join(path), name, node, group_state, value))
        elif injected and not inner and isinstance(node.hyperparams, dict):
            lr = node.hyperparams.get("learning_rate")
            if lr is not None:
                location = "/".join((*path, "hyperparams", "learning_rate"))
                out.append(_Record(location, name, node, group_state, lr))
    elif isinstance(node, (tuple, list)):
        for i, child in enumerate(node):
            _walk(child, (*path, str(i)), group, group_state, out, keep_outer)
    elif isinstance(node, dict):
        for key, child in node.items():
            _walk(child, (*path, str(key)), group, group_state, out, keep_outer)


def _records(opt_state: PyTree, *, keep_outer: bool = False) -> list[_Record]:
    """The step-size records; ``keep_outer`` keeps wrappers' records next to inner ones."""
    state = plain(opt_state)
    out: list[_Record] = []
    _walk(state, (), (), state, out, keep_outer)
    return out


def _is_scalar(value: Any) -> bool:
    return jax.tree_util.treedef_is_leaf(jax.tree.structure(value)) and jnp.ndim(value) == 0


def _leaves_by_path(tree: Any) -> dict[str, Any]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_path_name(path, drop_value=True): leaf for path, leaf in flat}


def _float32(x: Any) -> jax.Array:
    return jnp.asarray(x).astype(jnp.float32)


def _leaf_values(record: _Record) -> dict[str, jax.Array]:
    """A per-parameter record as ``{parameter path: float32 mean step size}``."""
    return {path: summarize_per_parameter(leaf) for path, leaf in
            _leaves_by_path(record.value).items()}


def _sizes_from(tree: Any) -> dict[str, int]:
    return {path: int(np.size(leaf)) for path, leaf in _leaves_by_path(tree).items()}


def _param_sizes(record: _Record, params: Any) -> dict[str, int] | None:
    """Entries per parameter leaf of a per-parameter record: from ``params`` when given, else
    from a field of the same state shaped like the record (the method's moments)."""
    paths = list(_leaves_by_path(record.value))
    if params is not None:
        sizes = _sizes_from(plain(params))
        missing = [p for p in paths if p not in sizes]
        if missing:
            raise ValueError(
                f"params has no leaf at {missing[:3]} where the step-size record at "
                f"{record.location!r} has one: pass the parameters the optimizer was built for")
        return {p: sizes[p] for p in paths}
    structure = jax.tree.structure(record.value)
    best: dict[str, int] | None = None
    for name in record.owner._fields:
        if name == EFFECTIVE_LR_FIELD:
            continue
        field = getattr(record.owner, name)
        if jax.tree.structure(field) == structure:  # type: ignore[operator]
            sizes = _sizes_from(field)
            if best is None or sum(sizes.values()) > sum(best.values()):
                best = sizes
    return best


def _group_sizes(group_state: Any) -> dict[str, int] | None:
    """The parameters a partition group covers, read from a parameter-shaped tree in its state
    (one with ``optax.MaskedNode`` where the other groups' parameters are), if it has one."""
    best: dict[str, int] | None = None

    def is_state(x: Any) -> bool:
        return _is_namedtuple(x) and not isinstance(x, optax.MaskedNode)

    def is_masked(x: Any) -> bool:
        return isinstance(x, optax.MaskedNode)

    def consider(field: Any) -> None:
        # A parameter-shaped tree: masked where other groups' parameters are, no state inside.
        nonlocal best
        masked = any(is_masked(x) for x in jax.tree.leaves(field, is_leaf=is_masked))
        nested = any(is_state(x) for x in jax.tree.leaves(field, is_leaf=is_state))
        if masked and not nested:
            sizes = _sizes_from(field)
            if best is None or sum(sizes.values()) > sum(best.values()):
                best = sizes
        else:
            visit(field)

    def visit(node: Any) -> None:
        if is_state(node):
            for child in node:
                consider(child)
        elif isinstance(node, (tuple, list)):
            for child in node:
                visit(child)
        elif isinstance(node, dict):
            for child in node.values():
                visit(child)

    visit(group_state)
    return best


def _weighted_mean(values: dict[str, jax.Array], sizes: dict[str, int]) -> jax.Array:
    total = sum(sizes[p] for p in values)
    if total == 0:
        return jnp.zeros((), jnp.float32)
    acc = jnp.zeros((), jnp.float32)
    for path, value in values.items():
        if sizes[path]:
            acc = acc + _float32(value) * sizes[path]
    return acc / total


class _Group(NamedTuple):
    name: str
    value: jax.Array | None  # float32 scalar (the weighted mean for per-parameter records)
    per_leaf: dict[str, jax.Array] | None  # per-parameter records: {path: step size}
    sizes: dict[str, int] | None  # entries per parameter path the group covers, when known


def _groups(opt_state: PyTree, params: Any, *, need_sizes: bool) -> list[_Group]:
    by_group: dict[str, list[_Record]] = {}
    for record in _records(opt_state):
        by_group.setdefault(record.group, []).append(record)
    out = []
    for name, records in by_group.items():
        # Records of one group that are not nested (e.g. chain(method, scale_by_learning_rate))
        # scale the update one after the other: the step size applied is their product.
        factor = jnp.ones((), jnp.float32)
        per_leaf: dict[str, jax.Array] | None = None
        sizes: dict[str, int] | None = None
        for record in records:
            if _is_scalar(record.value):
                factor = factor * _float32(record.value)
                continue
            leaves = _leaf_values(record)
            leaf_sizes = _param_sizes(record, params) if need_sizes else None
            if per_leaf is None:
                per_leaf, sizes = leaves, leaf_sizes
            else:
                per_leaf = {p: per_leaf[p] * leaves[p] for p in per_leaf}
        if per_leaf is not None:
            per_leaf = {p: v * factor for p, v in per_leaf.items()}
            value = _weighted_mean(per_leaf, sizes) if sizes is not None else None
        else:
            value = factor
            if need_sizes and name != ALL:
                sizes = _group_sizes(records[0].group_state)
            elif need_sizes and params is not None:
                sizes = _sizes_from(plain(params))
        out.append(_Group(name, value, per_leaf, sizes))
    return out


def effective_lrs(
    opt_state: PyTree, params: PyTree = None, *, by: str = "group"
) -> dict[str, jax.Array]:
    """The step sizes the optimizer applied at its last update, by group or by parameter.

    ``by="group"`` (default): ``{group: float32 scalar}``, one entry per parameter group of
    ``optax.partition`` / ``optax.multi_transform`` / :func:`adaptlr.param_groups`, keyed by
    the group's name (``"default"``, ``"head"``, ...; nested partitions join names with
    ``/``), or ``{"all": ...}`` for an optimizer without groups. A per-parameter method's
    value is the parameter-count-weighted mean of its step sizes (see :func:`effective_lr`).

    ``by="path"``: ``{parameter path: float32 scalar}``, keyed like :func:`adaptlr.param_path`
    (``"dense/kernel"``, ``"params/Dense_0/bias"``): a per-parameter method's mean step size
    over each parameter leaf, a global step size repeated for every parameter it applies to.
    The paths a global step size covers come from ``params`` (needed without groups) or, in a
    group, from a parameter-shaped tree in the group's state (its moments).

    ``by="location"``: the raw records keyed by where they sit in the state (``"0"``,
    ``"inner_states/head/inner_state/1"``), per-parameter ones as trees of per-leaf means;
    for debugging, and what this function returned in adaptlr 0.1.0.

    How records combine: an ``optax.inject_hyperparams`` learning rate is reported unless the
    injected optimizer records its own step size (which already includes it); likewise a
    wrapper's record (Schedule-Free's) gives way to the record of the method it wraps. Records
    that follow each other in one chain (``chain(prodigy(), scale_by_learning_rate(0.5))``)
    multiply. Flax NNX states (``nnx.Optimizer.opt_state``) are read directly; the values are
    plain arrays.

    Args:
      opt_state: an Optax state, or ``nnx.Optimizer.opt_state``.
      params: the parameters (a pytree or ``nnx.state(model, nnx.Param)``); only needed to
        weight per-parameter records whose state holds nothing shaped like the parameters and
        for ``by="path"`` with a global step size outside groups.
      by: ``"group"``, ``"path"`` or ``"location"``.

    Returns:
      ``{name: float32 scalar}`` (``by="location"``: records as stored); ``{}`` when the state
      records no step size.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.param_groups([adaptlr.group("head/*", lr_scale=0.1, name="head")],
      ...                           optax.inject_hyperparams(optax.adam), learning_rate=1e-2)
      >>> params = {"body": {"w": jnp.ones(3)}, "head": {"w": jnp.ones(2)}}
      >>> state = tx.init(params)
      >>> {k: round(float(v), 6) for k, v in adaptlr.effective_lrs(state).items()}
      {'default': 0.01, 'head': 0.001}
      >>> {k: round(float(v), 6) for k, v in adaptlr.effective_lrs(state, by="path").items()}
      {'body/w': 0.01, 'head/w': 0.001}
    """
    if by not in _BY:
        raise ValueError(f"by must be one of {_BY}, got {by!r}")
    if by == "location":
        records = _records(opt_state, keep_outer=True)
        return {record.location: _summarize(record.value) for record in records}
    groups = _groups(opt_state, params, need_sizes=True)
    if by == "group":
        return {g.name: _value_of(g) for g in groups}
    by_path: dict[str, jax.Array] = {}
    for g in groups:
        if g.per_leaf is not None:
            by_path.update(g.per_leaf)
            continue
        if g.sizes is None:
            why = ("pass params= to say which parameters it applies to" if g.name == ALL else
                   f"group {g.name!r} holds no parameter-shaped state (e.g. plain SGD), so "
                   "which parameters it covers is unknown: read it with by='group'")
            raise ValueError(f"effective_lrs(by='path') of a global step size: {why}")
        for path in g.sizes:
            by_path[path] = _value_of(g)
    return by_path


def _value_of(group: _Group) -> jax.Array:
    if group.value is None:
        raise ValueError(
            f"the per-parameter step sizes of group {group.name!r} need the parameters' sizes "
            "to be averaged and the optimizer state holds nothing shaped like them: pass "
            "params=")
    return group.value


def effective_lr(opt_state: PyTree, params: PyTree = None) -> jax.Array:
    """The step size the optimizer applied at its last update, as one float32 scalar.

    A global step size (Prodigy's ``d * lr``, an injected learning rate) is returned as is.
    Per-parameter methods (AdaBound, IDBD, L-DoG, ...) and several parameter groups are
    summarised by the **parameter-count-weighted mean**: the step size averaged over every
    parameter entry, i.e. the step size of a parameter drawn at random. It equals the common
    value when all entries share one, and it does not depend on how the model is split into
    leaves or groups (a 10-entry bias weighs 10 entries, not as much as a million-entry
    kernel), which an unweighted mean over leaves would. The per-group and per-parameter
    values are :func:`effective_lrs` (``by="group"`` / ``by="path"``). Before the first update
    the records hold ``0``. Flax NNX states are read directly.

    The weights are the parameter counts: read from the optimizer state where it holds
    something shaped like the parameters (the moments of Adam-like methods), or from
    ``params``. Groups whose state holds nothing of the kind (plain SGD in a group) need
    nothing when there is one group, and raise otherwise (read them with ``effective_lrs``).

    Migration: in adaptlr 0.1.0 this returned a tree of per-leaf means for per-parameter
    methods and a dict keyed by state location for several records; those are now
    ``effective_lrs(state, by="path")`` (keyed by parameter path),
    ``effective_lrs(state)`` (keyed by group name) and ``effective_lrs(state, by="location")``.

    Args:
      opt_state: an Optax state, or ``nnx.Optimizer.opt_state``.
      params: the parameters, only needed when the state does not tell the parameter counts.

    Raises:
      ValueError: when no part of the state records a step size (a plain Optax optimizer with
        a fixed learning rate: build it with ``optax.inject_hyperparams`` or end the chain with
        :func:`adaptlr.scale_by_learning_rate`), or the weights are unknown.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
      >>> state = tx.init(jnp.zeros(2))
      >>> round(float(adaptlr.effective_lr(state)), 6)
      0.1
    """
    groups = _groups(opt_state, params, need_sizes=False)
    if not groups:
        raise ValueError(
            "no step-size record found in this optimizer state: build plain Optax optimizers "
            "with optax.inject_hyperparams, or end the chain with adaptlr.scale_by_learning_rate"
        )
    if len(groups) == 1 and groups[0].value is not None:
        return groups[0].value
    groups = _groups(opt_state, params, need_sizes=True)
    if len(groups) == 1:
        return _value_of(groups[0])
    unknown = [g.name for g in groups if g.sizes is None]
    if unknown:
        raise ValueError(
            f"effective_lr: the parameter groups {unknown} hold no parameter-shaped state "
            "(e.g. plain SGD), so their parameter counts, the weights of the summary, are "
            "unknown; read the per-group values with adaptlr.effective_lrs(state)")
    values, sizes = {}, {}
    for g in groups:
        assert g.sizes is not None
        values[g.name], sizes[g.name] = _value_of(g), sum(g.sizes.values())
    return _weighted_mean(values, sizes)


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


def effective_lr_scalars(opt_state: PyTree, params: PyTree = None) -> dict[str, jax.Array]:
    """Every group's step size as one float32 scalar: ``effective_lrs(state, params)``.

    Keyed by group name (``{"all": ...}`` without groups); per-parameter step sizes are their
    parameter-count-weighted mean. Cheap and traceable, for logging inside a jitted step or a
    :func:`adaptlr.sweep.train_sweep` trace. Returns ``{}`` when the state records no step
    size. (In adaptlr 0.1.0 the keys were state locations, ``effective_lrs(state,
    by="location")``, and per-parameter records were averaged over leaves without weights.)

    Args:
      opt_state: any optimizer state (see :func:`effective_lr`).
      params: the parameters, when the state does not tell their sizes (see
        :func:`effective_lrs`).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.01)
      >>> state = tx.init({"w": jnp.ones(3)})
      >>> {k: round(float(v), 6) for k, v in adaptlr.effective_lr_scalars(state).items()}
      {'all': 0.01}
    """
    return effective_lrs(opt_state, params)


def _path_name(path: tuple[Any, ...], drop_value: bool = False) -> str:
    """``/``-joined key path; ``drop_value`` drops a Flax NNX Variable's trailing ``value``."""
    keys = list(path)
    if drop_value and keys and getattr(keys[-1], "name", None) == "value":
        keys = keys[:-1]
    parts = []
    for key in keys:
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

    updates, params = plain(updates), plain(params)  # NNX states: arrays, not Variables
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
    opt_state = plain(opt_state)
    found: list[_Preconditioner] = []
    _find_preconditioners(opt_state, {}, found)
    if not found:
        raise ValueError("no second-moment field 'nu' found in this optimizer state")
    pieces = []
    for pre in found:
        hp = pre.hyperparams
        lr = learning_rate if learning_rate is not None else hp.get("learning_rate")
        if lr is None:
            records = {r.location: _overall_mean(r.value)
                       for r in _records(opt_state, keep_outer=True)}
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
    * ``effective_lr``: :func:`effective_lr` of ``opt_state`` (per-parameter and per-group
      step sizes as their parameter-count-weighted mean; left out when the group sizes are
      unknown), and ``effective_lr/<group>`` for every group when there are several
      (:func:`effective_lrs`);
    * ``precond_lr/q<level>`` and ``precond_lr/mean``: :func:`preconditioner_lr_stats` when the
      state has an Adam-like ``nu`` and a known learning rate.

    Args:
      updates: the updates the optimizer returned this step.
      params: the parameters the updates apply to (before the update).
      opt_state: the optimizer state after the update; ``None`` leaves out the
        step-size and preconditioner entries.
      per_leaf: also report the update-to-parameter ratio of every leaf.
      quantiles: levels in ``[0, 1]`` of the preconditioner's per-parameter learning
        rates (see :func:`preconditioner_lr_stats`).

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
            out[f"update_ratio/{_path_name(path, drop_value=True)}"] = value
    if opt_state is not None:
        records = effective_lrs(opt_state, params)
        if len(records) == 1:
            out["effective_lr"] = next(iter(records.values()))
        elif records:
            for key, value in records.items():
                out[f"effective_lr/{key}"] = value
            try:
                out["effective_lr"] = effective_lr(opt_state, params)
            except ValueError:
                pass
        try:
            precond = preconditioner_lr_stats(opt_state, quantiles=quantiles)
        except ValueError:
            precond = {}
        for key, value in precond.items():
            out[f"precond_lr/{key}"] = value
    return out


def as_floats(stats: dict[str, Any]) -> dict[str, float]:
    """``{name: float}`` from a dict of scalars (one device-to-host transfer).

    Args:
      stats: ``{name: scalar}``, e.g. from :func:`log_stats` inside a jitted step.
    """
    host = jax.device_get(stats)
    return {name: float(value) for name, value in host.items()}
