"""Shared foundations: types, hyperparameter validation, tree math, the step-size record.

Everything here is imported by the method modules; nothing here imports them.

Three conventions live in this file and every method follows them:

* **Validation.** Hyperparameters are checked when the transformation is built, with
  :func:`check` against an :class:`Interval`. A wrong value raises ``ValueError`` naming the
  argument, the value and the valid range. Traced values (``optax.inject_hyperparams``,
  ``jax.grad`` with respect to a hyperparameter) and schedules cannot be checked and pass.
* **Tree math.** Global reductions (:func:`tree_vdot`, :func:`tree_sum`, :func:`tree_norm`, ...)
  are plain sums of per-leaf ``jnp`` reductions, so XLA's SPMD partitioner computes them
  exactly on parameters sharded over any mesh. They skip ``None`` leaves, return ``0`` for an
  empty tree or a zero-size array, and accumulate in float32 or better whatever the parameter
  dtype (bf16 sums lose too much otherwise).
* **The step-size record.** A state ``NamedTuple`` that has a field named ``effective_lr``
  records the step size its method applied at the last update: a scalar for methods with one
  global step size, or, for per-parameter methods, a tree with one float32 scalar per parameter
  leaf holding the mean step size over that leaf (never a full extra copy of the parameters:
  the record must not cost optimizer memory). The value includes the learning-rate multiplier
  when the transformation takes one.
  :func:`adaptlr.effective_lr` finds these records anywhere in a chained, masked or injected
  state.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

PyTree = Any
Array = jax.Array
ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]

#: Name of the state field through which a method records the step size it applied.
EFFECTIVE_LR_FIELD = "effective_lr"

__all__ = [
    "EFFECTIVE_LR_FIELD",
    "NON_NEGATIVE",
    "POSITIVE",
    "PROBABILITY",
    "SCHEDULE_ARGS",
    "UNIT_INTERVAL",
    "Interval",
    "ScalarOrSchedule",
    "ScaleByLearningRateState",
    "accumulation_dtype",
    "check",
    "check_all",
    "check_choice",
    "check_real",
    "check_transformation",
    "check_tree_match",
    "computed_once",
    "in_float32_for_float16",
    "is_checkable",
    "leaf_mean",
    "leaf_means_on_read",
    "map_leaves",
    "nonnegative_ratio",
    "own_copy",
    "real_dtype",
    "recomputed_leaf_mean",
    "record_learning_rate",
    "resolve",
    "scalar_dtype",
    "scale_by_learning_rate",
    "smallest_normal",
    "tree_l1_norm",
    "tree_max_abs",
    "tree_norm",
    "tree_size",
    "tree_sq_norm",
    "tree_sum",
    "tree_sums",
    "tree_vdot",
    "tree_vdot_by_leaf",
    "written_after",
    "zeros_per_leaf",
]


# --------------------------------------------------------------------------------------------
# Hyperparameter validation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Interval:
    """A range of valid values for a scalar hyperparameter.

    ``Interval(0, 1, upper_closed=False)`` is ``[0, 1)``. ``integer=True`` also requires an
    integral value. The interval prints in the usual notation, which is what error messages
    use, and the printed range means what it says: an infinite bound is open unless asked for
    (``Interval(0, math.inf)`` is ``[0, inf)`` and rejects ``inf``;
    ``Interval(1, math.inf, upper_closed=True)`` is ``[1, inf]`` and accepts it, for arguments
    where ``inf`` means "no limit"). ``NaN`` is in no interval.

    Attributes:
      lower, upper: the bounds (``-inf``/``inf`` for none).
      lower_closed, upper_closed: whether each bound belongs to the interval (an infinite
        bound is open unless asked for).
      integer: also require an integral value.
    """

    lower: float = -math.inf
    upper: float = math.inf
    #: ``None`` (the default): closed at a finite bound, open at an infinite one.
    lower_closed: bool | None = None
    upper_closed: bool | None = None
    integer: bool = False

    def __post_init__(self) -> None:
        for side, bound in (("lower_closed", self.lower), ("upper_closed", self.upper)):
            closed = getattr(self, side)
            if closed is None or (self.integer and math.isinf(bound)):
                closed = math.isfinite(bound) if closed is None else False
            object.__setattr__(self, side, bool(closed))

    def __contains__(self, value: float) -> bool:
        if isinstance(value, bool):
            return False
        if not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        value = float(value)
        if math.isnan(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        above = value >= self.lower if self.lower_closed else value > self.lower
        below = value <= self.upper if self.upper_closed else value < self.upper
        return above and below

    def __str__(self) -> str:
        left = "[" if self.lower_closed else "("
        right = "]" if self.upper_closed else ")"
        kind = "integer in " if self.integer else ""
        return f"{kind}{left}{_fmt(self.lower)}, {_fmt(self.upper)}{right}"


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def _requirement(interval: Interval) -> str:
    """``"in [0, 1)"``, or ``"an integer in [1, inf)"`` for an integer interval."""
    return f"an {interval}" if interval.integer else f"in {interval}"


POSITIVE = Interval(0.0, math.inf, lower_closed=False)
NON_NEGATIVE = Interval(0.0, math.inf)
#: Momentum-like coefficients: ``[0, 1)``.
UNIT_INTERVAL = Interval(0.0, 1.0, upper_closed=False)
#: ``[0, 1]``.
PROBABILITY = Interval(0.0, 1.0)


#: Arguments that take a schedule ``step -> value`` as well as a number. Every other
#: hyperparameter is a number (or a tracer, under ``optax.inject_hyperparams``): a callable
#: passed for it is rejected when the transformation is built.
SCHEDULE_ARGS = frozenset({"learning_rate", "schedule"})


def is_checkable(value: Any) -> bool:
    """Whether ``value`` is a concrete number that can be validated now.

    Tracers (``inject_hyperparams``, ``jit``/``grad`` over hyperparameters) and schedules are not.
    """
    if isinstance(value, jax.core.Tracer) or callable(value):
        return False
    if isinstance(value, (jax.Array, np.ndarray)):
        return value.ndim == 0
    return isinstance(value, (int, float, np.integer, np.floating, bool))


def check(
    name: str,
    value: Any,
    interval: Interval,
    *,
    allow_none: bool = False,
    allow_schedule: bool | None = None,
) -> None:
    """Raise ``ValueError`` unless ``value`` lies in ``interval``.

    Traced values pass unchecked. A schedule (any callable) passes for the arguments in
    :data:`SCHEDULE_ARGS` (or with ``allow_schedule=True``) and raises ``TypeError`` for every
    other argument, naming it and pointing to ``optax.inject_hyperparams``, the way to vary a
    numbers-only hyperparameter during training. ``None`` passes only with ``allow_none``.
    Any other non-numeric value raises ``TypeError``.
    """
    if value is None:
        if allow_none:
            return
        raise ValueError(f"{name} must be a number in {interval}, got None")
    if allow_schedule is None:
        allow_schedule = name in SCHEDULE_ARGS
    if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
        if allow_schedule:
            return
        raise TypeError(
            f"{name} must be a number in {interval}, not a callable ({value!r}): only the "
            f"learning rate takes a schedule. To vary {name} during training, build the "
            f"optimizer with optax.inject_hyperparams(<factory>)(...) and set "
            f"state.hyperparams[{name!r}] between steps"
        )
    if not is_checkable(value):
        if isinstance(value, (jax.Array, np.ndarray)) and not isinstance(value, jax.core.Tracer):
            raise ValueError(f"{name} must be a scalar in {interval}, got shape {value.shape}")
        if isinstance(value, jax.core.Tracer):
            return
        raise TypeError(f"{name} must be a number in {interval}, got {type(value).__name__}")
    number = value.item() if isinstance(value, (jax.Array, np.ndarray)) else value
    if number not in interval:
        raise ValueError(f"{name} must be {_requirement(interval)}, got {value!r}")


def check_all(ranges: Mapping[str, Interval], **values: Any) -> None:
    """:func:`check` every ``name=value`` against ``ranges[name]``.

    Method modules keep their ranges in one mapping (which the registry also publishes) and
    call ``check_all(RANGES, b1=b1, ...)`` once when the transformation is built.
    """
    for name, value in values.items():
        if name not in ranges:
            raise KeyError(f"no documented range for hyperparameter {name!r}")
        check(name, value, ranges[name], allow_none=False)


def check_transformation(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` is an ``optax.GradientTransformation``.

    For wrappers (``mechanize``, ``cautious``, ...): passing the factory (``optax.adam``)
    instead of a transformation built from it (``optax.adam(1e-3)``) fails here, when the
    wrapper is built, with the fix in the message.
    """
    if isinstance(value, optax.GradientTransformation):
        return
    if callable(value):
        what = getattr(value, "__name__", None) or type(value).__name__
        raise TypeError(
            f"{name} must be an optax.GradientTransformation, got the callable {what!r}: "
            f"pass a built transformation such as optax.adam(1e-3), not the factory "
            f"optax.adam"
        )
    raise TypeError(
        f"{name} must be an optax.GradientTransformation, got {type(value).__name__}"
    )


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def resolve(value: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """Evaluate a scalar-or-schedule at ``count`` (a schedule is called, a scalar returned)."""
    return value(count) if callable(value) else jnp.asarray(value)


# --------------------------------------------------------------------------------------------
# Tree math
# --------------------------------------------------------------------------------------------


def accumulation_dtype(dtype: Any) -> jnp.dtype:
    """The dtype reductions over leaves of ``dtype`` accumulate in: at least float32.

    Complex leaves accumulate in complex64 or better; their reductions (norms, the real part
    of ``<a, b>``) are real, in :func:`real_dtype` of this.
    """
    return jnp.promote_types(jnp.dtype(dtype), jnp.float32)


def real_dtype(dtype: Any) -> jnp.dtype:
    """``dtype`` itself when real; the dtype of its real part when complex."""
    dtype = jnp.dtype(dtype)
    return jnp.dtype(jnp.finfo(dtype).dtype) if jnp.issubdtype(dtype, jnp.complexfloating) \
        else dtype


def scalar_dtype(tree: PyTree, state_dtype: Any = None) -> jnp.dtype:
    """Dtype of a method's scalar statistics (step sizes, norms, sums) for this tree: float32,
    or float64 when a leaf of ``tree`` (or ``state_dtype``) is float64."""
    dtype = jnp.dtype(jnp.float32)
    for leaf in jax.tree.leaves(tree):
        dtype = jnp.promote_types(dtype, real_dtype(accumulation_dtype(jnp.asarray(leaf).dtype)))
    if state_dtype is not None:
        dtype = jnp.promote_types(dtype, real_dtype(accumulation_dtype(state_dtype)))
    return jnp.dtype(dtype)


def own_copy(tree: PyTree) -> PyTree:
    """A copy of ``tree`` in new buffers, for states that keep the initial parameters: a state
    that shares the parameters' buffers cannot be donated together with them
    (``jax.jit(..., donate_argnums=...)`` rejects the call)."""
    return jax.tree.map(jnp.copy, tree)


def written_after(tree: PyTree, *deps: Any) -> PyTree:
    """``tree``, value for value, made to depend on ``deps`` in XLA's data flow.

    For a state that one pass reads and another overwrites in place. XLA:CPU's default copy
    insertion (without ``xla_cpu_copy_insertion_use_region_analysis``) keeps a donated buffer
    in place only if every pass that reads its old value is ordered by data flow before the pass
    that writes the new one; otherwise it copies the buffer first (8 bytes per value and a fresh
    allocation). Computing the new value from ``written_after(old, r)``, where ``r`` is the
    result of the reading pass, gives that order, and the write happens in place. Prefer one
    dependency per leaf (its own term of a reduction, :func:`tree_vdot_by_leaf`) to the total:
    tying every leaf to one scalar makes XLA's copy insertion superlinearly slower in the number
    of leaves (D-Adapt Adam on 300 leaves compiled in 21 s instead of 3).

    A dependency is a scalar (a reduction's result), or an array of which one entry is read.
    Each leaf passes through ``where(popcount(bits(r0)) <= 32, leaf, 0)``, ``r0`` that entry as
    float32: always true for a 32-bit word, so every value (NaN, inf and -0 included) is
    unchanged, but XLA does not fold it. Arrays count only on the CPU backend, the one measured
    (XLA's GPU copy insertion is said to use region analysis by default; not checked here), and
    when not sharded explicitly: reading one entry of a sharded array would cost a collective
    (or fail, with explicit sharding).
    """
    words = []
    for d in jax.tree.leaves(deps):
        d = jnp.asarray(d)
        if d.size == 0:
            continue
        if d.ndim > 0:
            spec = getattr(getattr(jax.typeof(d), "sharding", None), "spec", ())
            if jax.default_backend() != "cpu" or any(axis is not None for axis in spec):
                continue
        words.append(d.reshape(-1)[0].astype(jnp.float32))
    if not words:
        return tree
    # Combined with logical and, not a reduction, so that an elementwise step stays one.
    ok = functools.reduce(jnp.logical_and, [
        jax.lax.population_count(jax.lax.bitcast_convert_type(w, jnp.int32)) <= 32
        for w in words
    ])
    return jax.tree.map(lambda x: jnp.where(ok, x, jnp.zeros_like(x)), tree)


def computed_once(x: jax.Array) -> jax.Array:
    """``x``, value for value (NaN, inf and -0 included), as the result of a division.

    For a scalar made of many cheap operations (the sum of one term per leaf) that every leaf's
    pass reads. XLA's fusion copies cheap producers (add, compare, select, min, ...) into each
    consumer, so a chain of ``n`` adds read by ``n`` leaves' fusions becomes ``n * n``
    instructions, and compile time and memory grow quadratically in the number of leaves
    (SPS on 1,000 leaves: 508 s and 6.9 GB). It does not copy an expensive producer such as a
    division into consumers that broadcast it: ending the scalar with one keeps the chain in a
    single fusion, computed once. ``x / where(popcount(bits(x)) <= 32, 1, 2)`` divides by
    exactly 1 (a 32-bit word has at most 32 bits set; 64 for float64) in a way XLA does not
    fold, like :func:`written_after`. Costs one scalar division; see docs/performance.md,
    "Compile time".
    """
    x = jnp.asarray(x)
    if x.dtype == jnp.float64:
        bits, width = jax.lax.bitcast_convert_type(x, jnp.int64), 64
    else:
        bits, width = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32), 32
    one = jnp.where(jax.lax.population_count(bits) <= width, 1, 2).astype(x.dtype)
    return x / one


def _leaf_terms(per_leaf: Callable[..., jax.Array], *trees: PyTree) -> tuple[jax.Array, PyTree]:
    """Sum over leaves of ``per_leaf(*leaves)``, and the terms: a tree like ``trees[0]`` of
    scalars (0 for zero-size leaves), each cast to the total's dtype before it is added."""
    leaves, treedef = jax.tree.flatten(trees[0])
    groups = zip(leaves, *(jax.tree.leaves(t) for t in trees[1:]), strict=True)
    dtype = scalar_dtype(leaves)
    total = jnp.zeros((), dtype)
    terms = []
    for group in groups:
        if group[0].size == 0:
            terms.append(jnp.zeros((), dtype))
            continue
        term = per_leaf(*(x.astype(accumulation_dtype(x.dtype)) for x in group)).astype(dtype)
        total = total + term
        terms.append(term)
    # Every leaf's pass may read the total: computed once, not copied into each (quadratic
    # compile time in the number of leaves otherwise).
    return computed_once(total), jax.tree.unflatten(treedef, terms)


def tree_sums(terms: Callable[..., tuple[jax.Array, ...]], k: int,
              *trees: PyTree) -> tuple[jax.Array, ...]:
    """``k`` global sums with one reduction per leaf: ``sum over leaves of sum(terms(...)[i])``.

    ``terms`` maps one leaf of each tree (cast to its :func:`accumulation_dtype`) to a tuple of
    ``k`` arrays of that leaf's shape. Sum ``i`` is :func:`tree_sum` of the tree of
    ``terms(...)[i]``: the same leaf-by-leaf order and dtypes, ended by :func:`computed_once`.
    Each leaf's ``k`` sums are one variadic ``jax.lax.reduce`` (one pass, one XLA fusion)
    instead of ``k`` reductions: fewer fusions per leaf and faster compilation on trees of many
    leaves (docs/performance.md, "Compile time"). Each leaf's sum may differ from
    ``jnp.sum``'s in the last bits: XLA:CPU adds the entries of a single reduction in a
    vectorised order, and those of a variadic one in sequence.
    """
    leaves, _ = jax.tree.flatten(trees[0])
    groups = list(zip(leaves, *(jax.tree.leaves(t) for t in trees[1:]), strict=True))
    per_leaf = [
        None if group[0].size == 0
        else tuple(terms(*(x.astype(accumulation_dtype(x.dtype)) for x in group)))
        for group in groups
    ]
    dtypes = [scalar_dtype([a[i] for a in per_leaf if a is not None]) for i in range(k)]
    totals = [jnp.zeros((), d) for d in dtypes]
    for arrays in per_leaf:
        if arrays is None:  # a zero term, as in tree_sum
            totals = [t + jnp.zeros((), d) for t, d in zip(totals, dtypes, strict=True)]
            continue
        arrays = tuple(a.astype(accumulation_dtype(a.dtype)) for a in arrays)
        sums = jax.lax.reduce(arrays, tuple(jnp.zeros((), a.dtype) for a in arrays),
                              lambda xs, ys: tuple(x + y for x, y in zip(xs, ys, strict=True)),
                              tuple(range(arrays[0].ndim)))
        totals = [t + x.astype(d) for t, x, d in zip(totals, sums, dtypes, strict=True)]
    return tuple(computed_once(t) for t in totals)


def _reduce(per_leaf: Callable[..., jax.Array], *trees: PyTree) -> jax.Array:
    return _leaf_terms(per_leaf, *trees)[0]


def _vdot_leaf(x: jax.Array, y: jax.Array) -> jax.Array:
    if jnp.iscomplexobj(x) or jnp.iscomplexobj(y):
        return jnp.sum(jnp.real(jnp.conj(x) * y))
    return jnp.sum(x * y)


def _sq_leaf(x: jax.Array) -> jax.Array:
    if jnp.iscomplexobj(x):
        return jnp.sum(jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x)))
    return jnp.sum(jnp.square(x))


def tree_vdot_by_leaf(a: PyTree, b: PyTree) -> tuple[jax.Array, PyTree]:
    """:func:`tree_vdot` (bit for bit) and its per-leaf terms, a tree like ``a`` of scalars.

    For :func:`written_after`: a state leaf written after its own term is ordered after the
    pass that reads it, without tying every leaf to the total (which slows XLA's copy
    insertion, superlinearly in the number of leaves).
    """
    return _leaf_terms(_vdot_leaf, a, b)


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """``sum(a * b)`` over all leaves, accumulated in float32 or better.

    For complex leaves, the real inner product ``sum(Re(conj(a) * b))``: the inner product of
    the same numbers split into real and imaginary parts.

    Args:
      a, b: pytrees of the same structure and shapes.
    """
    return _reduce(_vdot_leaf, a, b)


def tree_sum(tree: PyTree) -> jax.Array:
    """Sum of all entries of all leaves.

    Args:
      tree: a pytree of arrays (``None`` leaves and empty trees count as zero).
    """
    return _reduce(jnp.sum, tree)


def tree_sq_norm(tree: PyTree) -> jax.Array:
    """Squared Euclidean norm of the whole tree (``sum |x|^2`` for complex leaves)."""
    return _reduce(_sq_leaf, tree)


def tree_norm(tree: PyTree) -> jax.Array:
    """Euclidean norm of the whole tree (exact zero for a zero tree, with a finite gradient).

    Args:
      tree: a pytree of arrays (``None`` leaves and empty trees count as zero).
    """
    sq = tree_sq_norm(tree)
    # The double-where keeps the gradient of the norm finite at zero.
    safe = jnp.where(sq > 0, sq, jnp.ones_like(sq))
    return jnp.where(sq > 0, jnp.sqrt(safe), jnp.zeros_like(sq))


def tree_l1_norm(tree: PyTree) -> jax.Array:
    """Sum of absolute values of all entries."""
    return _reduce(lambda x: jnp.sum(jnp.abs(x)), tree)


def tree_max_abs(tree: PyTree) -> jax.Array:
    """Largest absolute entry (``0`` for an empty tree)."""
    leaves = [x for x in jax.tree.leaves(tree) if x.size]
    dtype = scalar_dtype(leaves)
    out = jnp.zeros((), dtype)
    for leaf in leaves:
        out = jnp.maximum(out, jnp.max(jnp.abs(leaf)).astype(dtype))
    return computed_once(out)


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


def tree_size(tree: PyTree) -> int:
    """Number of scalar entries in the tree (a Python int, known at trace time)."""
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


# --------------------------------------------------------------------------------------------
# Checks on the trees a transformation is given
# --------------------------------------------------------------------------------------------


def check_tree_match(
    updates: PyTree, reference: PyTree, *, name: str = "updates", reference_name: str = "params",
    shapes: bool = True,
) -> None:
    """Raise ``ValueError`` unless ``updates`` has the structure (and leaf shapes) of ``reference``.

    Called by every method's ``update`` at trace time (no cost in the compiled step), with the
    parameters or a state tree shaped like them: a gradient tree with a missing, extra or
    renamed entry, or a leaf of another shape, fails there with the differing paths of both
    trees instead of a ``zip`` error deep inside the method or a shape error in
    ``optax.apply_updates``. ``None`` leaves (and Optax's masked-out nodes) count as absent
    on both sides. A ``reference`` of ``None`` (``update`` called without ``params``) checks
    nothing.
    """
    if reference is None:
        return
    got, got_def = jax.tree_util.tree_flatten_with_path(updates)
    want, want_def = jax.tree_util.tree_flatten_with_path(reference)
    if got_def != want_def:  # type: ignore[operator]
        got_paths = [jax.tree_util.keystr(p) for p, _ in got]
        want_paths = [jax.tree_util.keystr(p) for p, _ in want]
        only_got = [p for p in got_paths if p not in set(want_paths)]
        only_want = [p for p in want_paths if p not in set(got_paths)]
        if only_got or only_want:
            detail = (f"only in {name}: {_short(only_got)}; "
                      f"only in {reference_name}: {_short(only_want)}")
        else:
            detail = f"same entries, different containers: {got_def} vs {want_def}"
        raise ValueError(f"{name} and {reference_name} have different tree structures ({detail})")
    if not shapes:
        return
    bad = [
        f"{jax.tree_util.keystr(p)}: {jnp.shape(g)} vs {jnp.shape(w)}"
        for (p, g), (_, w) in zip(got, want, strict=True)
        if jnp.shape(g) != jnp.shape(w)
    ]
    if bad:
        raise ValueError(f"{name} and {reference_name} have leaves of different shapes "
                         f"({name} vs {reference_name}): {_short(bad)}")


def _short(items: list[str], limit: int = 8) -> str:
    if not items:
        return "none"
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def check_real(params: PyTree, method: str) -> None:
    """Raise ``ValueError`` if a leaf of ``params`` is complex: for methods (in ``init``) whose
    per-entry statistics have no complex form here.

    Methods that support complex parameters treat ``z = a + ib`` as the pair ``(a, b)``:
    their trajectory is the one on the real and imaginary parts split into separate leaves,
    which the conformance suite checks.
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            raise ValueError(
                f"{method} does not support complex parameters (leaf "
                f"{jax.tree_util.keystr(path)} is {jnp.asarray(leaf).dtype}): optimise the real "
                f"and imaginary parts as separate real leaves, or use a method that supports "
                f"complex parameters (see CONTRIBUTING.md, 'Complex parameters')"
            )


def in_float32_for_float16(
    inner: optax.GradientTransformation,
) -> optax.GradientTransformationExtraArgs:
    """``inner`` run on float32 copies of float16 leaves (state included); other dtypes as is.

    For bases whose statistics float16 cannot hold: Adam's ``eps = 1e-8`` and the squares of
    small gradients underflow to 0 in float16 (``0 / 0`` after zero gradients), and squares
    above 65504 overflow. The updates are returned in the dtype of the incoming updates.
    Costs float32 state for float16 parameters; bfloat16 (float32's exponent range) and
    wider dtypes are untouched, so the wrapper is the identity for them.
    """
    inner = optax.with_extra_args_support(inner)

    def up(x: Any) -> Any:
        return x.astype(jnp.float32) if jnp.asarray(x).dtype == jnp.float16 else x

    def init_fn(params: PyTree) -> Any:
        return inner.init(jax.tree.map(up, params))

    def update_fn(
        updates: PyTree, state: Any, params: PyTree = None, **extra: Any
    ) -> tuple[PyTree, Any]:
        wide = None if params is None else jax.tree.map(up, params)
        new, state = inner.update(jax.tree.map(up, updates), state, wide, **extra)
        return jax.tree.map(lambda u, g: u.astype(jnp.asarray(g).dtype), new, updates), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------------------------
# Per-leaf step-size records and select-free ratios
# --------------------------------------------------------------------------------------------


def zeros_per_leaf(params: PyTree) -> PyTree:
    """One float32 zero per leaf of ``params``: the initial per-leaf step-size record."""
    return jax.tree.map(lambda p: jnp.zeros((), jnp.float32), params)


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


def leaf_means_on_read(
    count: jax.Array, fn: Any, trees: tuple[PyTree, ...], scalars: tuple[Any, ...] = ()
) -> PyTree:
    """Per-leaf step-size record computed from the state when it is read.

    For a state NamedTuple whose ``effective_lr`` is a *property* (see CONTRIBUTING.md): one
    float32 scalar per leaf of ``trees[0]``, the :func:`leaf_mean` of
    ``fn(*leaves, *scalars, tiny)`` with every argument cast to the leaves' accumulation dtype
    and ``tiny`` its :func:`smallest_normal`; ``0`` while ``count`` is 0 (before the first
    update). ``trees`` are state fields written by the last update (e.g. the new second
    moment) or trees of per-leaf scalars; ``scalars`` are the step's scalars kept in the state.
    The update then pays nothing for its record unless someone reads it.
    """

    def one(*leaves: jax.Array) -> jax.Array:
        acc = accumulation_dtype(jnp.asarray(leaves[0]).dtype)
        args = [jnp.asarray(x).astype(acc) for x in (*leaves, *scalars)]
        return jnp.where(count > 0, leaf_mean(fn(*args, smallest_normal(acc))), 0)

    return jax.tree.map(one, *trees)


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


# --------------------------------------------------------------------------------------------
# The learning-rate record
# --------------------------------------------------------------------------------------------


class ScaleByLearningRateState(NamedTuple):
    """State of :func:`scale_by_learning_rate` and :func:`record_learning_rate`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    effective_lr: jax.Array  # shape=(), float32: learning rate applied at the last update


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    """Scale updates by ``-learning_rate`` (or ``+`` with ``flip_sign=False``) and record it.

    The same as ``optax.scale_by_learning_rate`` except that the state records the value it
    applied, so :func:`adaptlr.effective_lr` can report the step size of any chain that ends in
    it, scheduled or not. The schedule is evaluated at ``count`` = 0, 1, 2, ..., so the first
    update uses ``schedule(0)``.

    Args:
      learning_rate: a positive float or a schedule ``step -> value``.
      flip_sign: negate the update (descent). ``False`` for ascent or for cores that already
        return descent directions.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.chain(optax.scale_by_adam(), adaptlr.scale_by_learning_rate(1e-3))
      >>> state = tx.init({"w": jnp.ones(3)})
      >>> _, state = tx.update({"w": jnp.ones(3)}, state)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # float32: 0.0010000000474974513
      0.001
    """
    check("learning_rate", learning_rate, NON_NEGATIVE)
    sign = -1.0 if flip_sign else 1.0

    def init_fn(params: PyTree) -> ScaleByLearningRateState:
        del params
        return ScaleByLearningRateState(
            count=jnp.zeros((), jnp.int32), effective_lr=jnp.zeros((), jnp.float32)
        )

    def update_fn(
        updates: PyTree, state: ScaleByLearningRateState, params: PyTree = None
    ) -> tuple[PyTree, ScaleByLearningRateState]:
        del params
        lr = resolve(learning_rate, state.count)
        updates = jax.tree.map(lambda u: (sign * lr * u).astype(u.dtype), updates)
        new_state = ScaleByLearningRateState(
            count=optax.safe_increment(state.count),
            effective_lr=jnp.asarray(lr, jnp.float32),
        )
        return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def record_learning_rate(learning_rate: ScalarOrSchedule) -> optax.GradientTransformation:
    """Pass updates through unchanged and record ``learning_rate`` (evaluated at the step count).

    For optimizers that apply the learning rate themselves (any Optax alias): appended to the
    chain, it makes the applied learning rate visible to :func:`adaptlr.effective_lr` without
    touching the arithmetic, so the result stays bit-identical to the optimizer alone. The
    registry builds its Optax baselines this way.

    Args:
      learning_rate: the learning rate the wrapped optimizer applies, a number in
        ``[0, inf)`` or the same schedule ``step -> value`` it was given.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> sched = optax.linear_schedule(1.0, 0.0, 10)
      >>> tx = optax.chain(optax.sgd(sched), adaptlr.record_learning_rate(sched))
      >>> state = tx.init(jnp.zeros(2))
      >>> for _ in range(3):
      ...     _, state = tx.update(jnp.ones(2), state)
      >>> round(float(adaptlr.effective_lr(state)), 6)  # schedule(2): the third update
      0.8
    """
    check("learning_rate", learning_rate, NON_NEGATIVE)

    def init_fn(params: PyTree) -> ScaleByLearningRateState:
        del params
        return ScaleByLearningRateState(
            count=jnp.zeros((), jnp.int32), effective_lr=jnp.zeros((), jnp.float32)
        )

    def update_fn(
        updates: PyTree, state: ScaleByLearningRateState, params: PyTree = None
    ) -> tuple[PyTree, ScaleByLearningRateState]:
        del params
        lr = resolve(learning_rate, state.count)
        return updates, ScaleByLearningRateState(
            count=optax.safe_increment(state.count), effective_lr=jnp.asarray(lr, jnp.float32)
        )

    return optax.GradientTransformation(init_fn, update_fn)
