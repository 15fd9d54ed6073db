"""DoG, L-DoG and DoWG step sizes, and polynomial-decay iterate averaging.

DoG (Ivgi, Hinder and Carmon, 2023) sets the step size of SGD to the largest distance travelled
from the initial point divided by the root of the summed squared gradient norms; L-DoG does the
same for every parameter leaf (layer) separately; DoWG (Khaled, Mishchenko and Jin, 2023)
weights the summed gradients by the squared distance estimate. DoG's authors recommend
evaluating the polynomial-decay average of the iterates, which
:func:`polynomial_decay_averaging` keeps alongside any optimizer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
    PyTree,
    ScalarOrSchedule,
    accumulation_dtype,
    check_all,
    check_tree_match,
    own_copy,
    real_dtype,
    resolve,
    scalar_dtype,
    tree_norm,
    tree_sq_norm,
)

__all__ = [
    "AVERAGING_RANGES",
    "DOWG_RANGES",
    "RANGES",
    "DoGState",
    "DoWGState",
    "LDoGState",
    "PolynomialDecayAveragingState",
    "dog",
    "dowg",
    "ldog",
    "polynomial_decay_averaged_params",
    "polynomial_decay_averaging",
    "scale_by_dog",
    "scale_by_dowg",
    "scale_by_ldog",
]

#: Ranges of DoG's and L-DoG's hyperparameters.
RANGES = {
    "learning_rate": NON_NEGATIVE,  # the paper's c; the authors advise 1
    "reps_rel": POSITIVE,  # r_eps / (1 + ||x_0||)
    "eps": NON_NEGATIVE,  # added to the sum of squared gradient norms
    "init_eta": POSITIVE,  # explicit first step size (optional)
    "weight_decay": NON_NEGATIVE,
}

#: Ranges of DoWG's hyperparameters.
DOWG_RANGES = {
    "learning_rate": NON_NEGATIVE,
    "reps_rel": POSITIVE,
    "weight_decay": NON_NEGATIVE,
}

#: Range of the averaging exponent.
AVERAGING_RANGES = {"gamma": NON_NEGATIVE}


def _flatten(tree: PyTree) -> tuple[list[Any], Any]:
    """Leaves and treedef (typed ``Any``: the stubs lack ``flatten_up_to``/``unflatten``)."""
    leaves, treedef = jax.tree.flatten(tree)
    return leaves, treedef


def _leaf_sq_norm(x: jax.Array) -> jax.Array:
    x = x.astype(accumulation_dtype(x.dtype))
    if jnp.iscomplexobj(x):  # |z|^2: z = a + ib counts as the pair (a, b)
        x = jnp.abs(x)
    return jnp.sum(jnp.square(x)) if x.size else jnp.zeros((), x.dtype)


def _difference(x: jax.Array, x0: jax.Array) -> jax.Array:
    """``x - x0`` in float32 or better: a bf16 difference would round the distance travelled."""
    dtype = accumulation_dtype(x.dtype)
    return x.astype(dtype) - x0.astype(dtype)


def _safe_ratio(num: jax.Array, den_sq: jax.Array) -> jax.Array:
    """``num / sqrt(den_sq)``, and ``0`` where ``den_sq`` is ``0`` (no gradient seen yet)."""
    positive = den_sq > 0
    return jnp.where(positive, num / jnp.sqrt(jnp.where(positive, den_sq, 1)), 0)


def _require_params(params: PyTree, name: str) -> None:
    if params is None:
        raise ValueError(f"{name} needs the current parameters: call update(grads, state, params)")


# --------------------------------------------------------------------------------------------
# DoG
# --------------------------------------------------------------------------------------------


class DoGState(NamedTuple):
    """State of :func:`scale_by_dog`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates applied so far
    init_params: PyTree  # x_0, shaped and typed like the parameters
    max_distance: jax.Array  # shape=(), scalar dtype: r-bar, largest ||x_t - x_0|| seen
    sum_sq_grads: jax.Array  # shape=(), scalar dtype: eps + sum of ||g_t||^2
    effective_lr: jax.Array  # shape=(), scalar dtype: eta_t applied at the last update


def _check_dog(learning_rate: Any, reps_rel: Any, eps: Any, init_eta: Any) -> None:
    check_all(RANGES, learning_rate=learning_rate, reps_rel=reps_rel, eps=eps)
    if init_eta is not None:
        check_all(RANGES, init_eta=init_eta)


def scale_by_dog(
    learning_rate: ScalarOrSchedule = 1.0,
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    *,
    init_eta: float | None = None,
) -> optax.GradientTransformation:
    r"""Scale updates by the DoG (Distance over Gradients) step size.

    With :math:`x_0` the parameters passed to ``init``, :math:`g_t` the incoming updates
    (gradients) and :math:`c` the learning rate:

    .. math::

      \bar r_t = \max\bigl(r_\epsilon, \max_{k \le t} \|x_k - x_0\|\bigr), \quad
      r_\epsilon = \text{reps\_rel}\,(1 + \|x_0\|), \\
      G_t = \epsilon + \sum_{k \le t} \|g_k\|^2, \quad
      \eta_t = c_t\, \bar r_t / \sqrt{G_t}, \quad u_t = \eta_t\, g_t .

    Norms run over the whole parameter tree. The output is the descent magnitude
    :math:`u_t`; :func:`dog` negates it.

    Args:
      learning_rate: :math:`c \ge 0`, a float or a schedule. The authors advise ``1``.
      reps_rel: relative initial distance, ``> 0``. The authors suggest ``1e-6``, or ``1e-4``
        for models with batch normalisation.
      eps: added to the sum of squared gradient norms, ``>= 0``.
      init_eta: explicit first step size ``> 0`` (keyword). When given, :math:`r_\epsilon = 0`
        and the first update uses :math:`\eta_0` = ``init_eta`` regardless of ``learning_rate``,
        as in the reference code.

    Returns:
      An ``optax.GradientTransformation`` whose ``update`` needs ``params``. ``init`` must
      receive the actual initial parameters: they are :math:`x_0`.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.chain(adaptlr.scale_by_dog(), optax.scale(-1.0))
      >>> params = jnp.array([1.0, 2.0])
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.array([3.0, 4.0]), state, params)
      >>> round(float(adaptlr.effective_lr(state)), 10)  # 1e-6 * (1 + sqrt(5)) / 5
      6.472e-07

    References:
      Ivgi, Hinder and Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
      Schedule", ICML 2023. Reference code: ``dog-optimizer`` 1.0.3 (``DoG``).

    Departures:
      Matches the reference code (the goldens agree to 1e-10 in float64), with two choices of
      form: :math:`x_0` and :math:`r_\epsilon` are taken from ``init``'s parameters rather than
      from the first ``step`` (identical when, as usual, ``init`` sees the initial parameters);
      and where :math:`G_t = 0` (``eps = 0`` and only zero gradients so far) the step size is
      ``0`` instead of the reference's assertion error. The reference takes one step size per
      PyTorch parameter group; here one per transformation (use ``optax.multi_transform`` for
      groups).
    """
    _check_dog(learning_rate, reps_rel, eps, init_eta)

    def init_fn(params: PyTree) -> DoGState:
        dtype = scalar_dtype(params)
        if init_eta is None:
            r_eps = reps_rel * (1 + tree_norm(params).astype(dtype))
        else:
            r_eps = jnp.zeros((), dtype)
        return DoGState(
            count=jnp.zeros((), jnp.int32),
            init_params=own_copy(params),
            max_distance=jnp.asarray(r_eps, dtype),
            sum_sq_grads=jnp.asarray(eps, dtype),
            effective_lr=jnp.zeros((), dtype),
        )

    def update_fn(
        updates: PyTree, state: DoGState, params: PyTree = None
    ) -> tuple[PyTree, DoGState]:
        check_tree_match(updates, params)
        _require_params(params, "scale_by_dog")
        dtype = state.max_distance.dtype
        distance = tree_norm(jax.tree.map(_difference, params, state.init_params))
        max_distance = jnp.maximum(state.max_distance, distance.astype(dtype))
        sum_sq_grads = state.sum_sq_grads + tree_sq_norm(updates).astype(dtype)
        c = jnp.asarray(resolve(learning_rate, state.count), dtype)
        eta = _safe_ratio(c * max_distance, sum_sq_grads)
        if init_eta is not None:
            eta = jnp.where(state.count == 0, jnp.asarray(init_eta, dtype), eta)
        updates = jax.tree.map(lambda g: (eta * g).astype(g.dtype), updates)
        return updates, DoGState(
            count=optax.safe_increment(state.count),
            init_params=state.init_params,
            max_distance=max_distance,
            sum_sq_grads=sum_sq_grads,
            effective_lr=eta,
        )

    return optax.GradientTransformation(init_fn, update_fn)


def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    init_eta: float | None = None,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""DoG: SGD with the Distance-over-Gradients step size.

    .. math::

      g_t \leftarrow g_t + \lambda x_t, \qquad x_{t+1} = x_t - \eta_t\, g_t

    with :math:`\eta_t` from :func:`scale_by_dog` (which sees the decayed gradient, as in the
    reference code) and :math:`\lambda` = ``weight_decay``. The authors stress that DoG should
    be evaluated at averaged iterates: chain :func:`polynomial_decay_averaging` at the end.

    Args:
      learning_rate: :math:`c \ge 0`, float or schedule (advised: ``1``).
      reps_rel: relative initial distance ``> 0`` (``1e-6``; ``1e-4`` with batch norm).
      eps: ``>= 0``, added to the sum of squared gradient norms.
      weight_decay: L2 coefficient ``>= 0`` added to the gradient.
      init_eta: explicit first step size ``> 0`` (keyword), see :func:`scale_by_dog`.
      mask: which leaves the weight decay applies to (keyword), as in ``optax``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.chain(adaptlr.dog(), adaptlr.polynomial_decay_averaging())
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(3):
      ...     grads = jax.grad(lambda p: jnp.sum(p ** 2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> adaptlr.polynomial_decay_averaged_params(state).shape
      (2,)

    References:
      Ivgi, Hinder and Carmon, ICML 2023 (see :func:`scale_by_dog`).

    Departures:
      Those of :func:`scale_by_dog`. The decay is added for every leaf, also those whose
      gradient is zero.
    """
    check_all(RANGES, weight_decay=weight_decay)
    return optax.chain(
        optax.add_decayed_weights(weight_decay, mask),
        scale_by_dog(learning_rate, reps_rel, eps, init_eta=init_eta),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# L-DoG
# --------------------------------------------------------------------------------------------


class LDoGState(NamedTuple):
    """State of :func:`scale_by_ldog`: DoG's statistics, one per parameter leaf."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates applied so far
    init_params: PyTree  # x_0, shaped and typed like the parameters
    max_distance: PyTree  # one scalar per leaf: r-bar of that leaf
    sum_sq_grads: PyTree  # one scalar per leaf: eps + sum of that leaf's ||g_t||^2
    effective_lr: PyTree  # one scalar per leaf: the leaf's eta_t at the last update


def scale_by_ldog(
    learning_rate: ScalarOrSchedule = 1.0,
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    *,
    init_eta: float | None = None,
) -> optax.GradientTransformation:
    r"""Scale updates by the layer-wise DoG step size: DoG's rule for every leaf separately.

    For every parameter leaf :math:`i` (a layer's weight matrix, a bias):

    .. math::

      \bar r_{t,i} = \max\bigl(\text{reps\_rel}\,(1 + \|x_{0,i}\|),
                               \max_{k \le t} \|x_{k,i} - x_{0,i}\|\bigr), \quad
      G_{t,i} = \epsilon + \sum_{k \le t} \|g_{k,i}\|^2, \quad
      u_{t,i} = c_t\, \frac{\bar r_{t,i}}{\sqrt{G_{t,i}}}\, g_{t,i} .

    Args:
      learning_rate: :math:`c \ge 0`, float or schedule (advised: ``1``).
      reps_rel: relative initial distance ``> 0``.
      eps: ``>= 0``, added to each leaf's sum of squared gradient norms.
      init_eta: explicit first step size ``> 0`` for every leaf (keyword).

    Returns:
      An ``optax.GradientTransformation``; ``update`` needs ``params``. The step-size record
      ``effective_lr`` is a tree of one scalar per leaf.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.ldog()
      >>> params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
      >>> state = tx.init(params)
      >>> _, state = tx.update({"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, state, params)
      >>> sorted(adaptlr.effective_lrs(state, by="path"))
      ['b', 'w']

    References:
      Ivgi, Hinder and Carmon, ICML 2023, Section 5. Reference code: ``dog-optimizer`` 1.0.3
      (``LDoG``).

    Departures:
      As for :func:`scale_by_dog`. A "layer" is a leaf of the parameter tree, as in the
      reference code, where it is a tensor of the parameter group. Zero-size leaves get
      step size ``r_eps / sqrt(eps)``, harmless since they have nothing to update.
    """
    _check_dog(learning_rate, reps_rel, eps, init_eta)

    def init_fn(params: PyTree) -> LDoGState:
        leaves, treedef = _flatten(params)
        dtypes = [real_dtype(accumulation_dtype(x.dtype)) for x in leaves]
        if init_eta is None:
            r_eps = [
                (reps_rel * (1 + jnp.sqrt(_leaf_sq_norm(x)))).astype(d)
                for x, d in zip(leaves, dtypes, strict=True)
            ]
        else:
            r_eps = [jnp.zeros((), d) for d in dtypes]
        return LDoGState(
            count=jnp.zeros((), jnp.int32),
            init_params=own_copy(params),
            max_distance=treedef.unflatten(r_eps),
            sum_sq_grads=treedef.unflatten([jnp.asarray(eps, d) for d in dtypes]),
            effective_lr=treedef.unflatten([jnp.zeros((), d) for d in dtypes]),
        )

    def update_fn(
        updates: PyTree, state: LDoGState, params: PyTree = None
    ) -> tuple[PyTree, LDoGState]:
        check_tree_match(updates, params)
        _require_params(params, "scale_by_ldog")
        grads, treedef = _flatten(updates)
        xs = treedef.flatten_up_to(params)
        x0s = treedef.flatten_up_to(state.init_params)
        rs = treedef.flatten_up_to(state.max_distance)
        gsums = treedef.flatten_up_to(state.sum_sq_grads)
        new_updates, new_rs, new_gsums, etas = [], [], [], []
        for g, x, x0, r, gsum in zip(grads, xs, x0s, rs, gsums, strict=True):
            r = jnp.maximum(r, jnp.sqrt(_leaf_sq_norm(_difference(x, x0))).astype(r.dtype))
            gsum = gsum + _leaf_sq_norm(g).astype(gsum.dtype)
            c = jnp.asarray(resolve(learning_rate, state.count), r.dtype)
            eta = _safe_ratio(c * r, gsum)
            if init_eta is not None:
                eta = jnp.where(state.count == 0, jnp.asarray(init_eta, r.dtype), eta)
            new_updates.append((eta * g).astype(g.dtype))
            new_rs.append(r)
            new_gsums.append(gsum)
            etas.append(eta)
        return treedef.unflatten(new_updates), LDoGState(
            count=optax.safe_increment(state.count),
            init_params=state.init_params,
            max_distance=treedef.unflatten(new_rs),
            sum_sq_grads=treedef.unflatten(new_gsums),
            effective_lr=treedef.unflatten(etas),
        )

    return optax.GradientTransformation(init_fn, update_fn)


def ldog(
    learning_rate: ScalarOrSchedule = 1.0,
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    init_eta: float | None = None,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""L-DoG: SGD with a DoG step size per parameter leaf (layer).

    .. math::

      g_t \leftarrow g_t + \lambda x_t, \qquad x_{t+1,i} = x_{t,i} - \eta_{t,i}\, g_{t,i}

    with :math:`\eta_{t,i}` from :func:`scale_by_ldog`.

    Args:
      learning_rate: :math:`c \ge 0`, float or schedule (advised: ``1``).
      reps_rel: relative initial distance ``> 0``.
      eps: ``>= 0``, added to each leaf's sum of squared gradient norms.
      weight_decay: L2 coefficient ``>= 0`` added to the gradient.
      init_eta: explicit first step size ``> 0`` (keyword).
      mask: which leaves the weight decay applies to (keyword).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> tx = adaptlr.ldog(reps_rel=1e-4)
      >>> state = tx.init({"w": jnp.ones(3)})

    References:
      Ivgi, Hinder and Carmon, ICML 2023 (see :func:`scale_by_ldog`).

    Departures:
      Those of :func:`scale_by_ldog`.
    """
    check_all(RANGES, weight_decay=weight_decay)
    return optax.chain(
        optax.add_decayed_weights(weight_decay, mask),
        scale_by_ldog(learning_rate, reps_rel, eps, init_eta=init_eta),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# DoWG
# --------------------------------------------------------------------------------------------


class DoWGState(NamedTuple):
    """State of :func:`scale_by_dowg`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of updates applied so far
    init_params: PyTree  # x_0, shaped and typed like the parameters
    max_sq_distance: jax.Array  # shape=(), scalar dtype: r-bar^2
    weighted_sum_sq_grads: jax.Array  # shape=(), scalar dtype: v_t = sum r-bar_k^2 ||g_k||^2
    effective_lr: jax.Array  # shape=(), scalar dtype: eta_t applied at the last update


def scale_by_dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    reps_rel: float = 1e-6,
) -> optax.GradientTransformation:
    r"""Scale updates by the DoWG (Distance over Weighted Gradients) step size.

    .. math::

      \bar r_t = \max\bigl(r_\epsilon, \max_{k \le t} \|x_k - x_0\|\bigr), \quad
      r_\epsilon = \text{reps\_rel}\,(1 + \|x_0\|), \\
      v_t = \sum_{k \le t} \bar r_k^2 \|g_k\|^2, \quad
      \eta_t = c_t\, \bar r_t^2 / \sqrt{v_t}, \quad u_t = \eta_t\, g_t .

    Args:
      learning_rate: :math:`c \ge 0`, float or schedule (``1`` is the paper's method).
      reps_rel: relative initial distance ``> 0``.

    Returns:
      An ``optax.GradientTransformation``; ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.scale_by_dowg()
      >>> params = jnp.array([3.0, 4.0])
      >>> state = tx.init(params)
      >>> _, state = tx.update(jnp.array([1.0, 0.0]), state, params)
      >>> round(float(adaptlr.effective_lr(state)), 10)  # r_eps = 6e-6: r_eps^2 / (r_eps * 1)
      6e-06

    References:
      Khaled, Mishchenko and Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
      Gradient Descent Method", NeurIPS 2023, Algorithm 1.

    Departures:
      No public reference implementation by the authors exists; the tests check this against
      the paper's equations written independently in NumPy. The paper leaves :math:`r_\epsilon`
      as an input; it is set here by DoG's relative rule (same default as DoG) so that the
      family shares one initialisation. The paper has no :math:`\epsilon`: :math:`v_t = 0` only
      when every gradient so far was zero, and then the step size is ``0``. The optional
      learning-rate multiplier :math:`c` is not in the paper (``c = 1`` recovers it).
    """
    check_all(DOWG_RANGES, learning_rate=learning_rate, reps_rel=reps_rel)

    def init_fn(params: PyTree) -> DoWGState:
        dtype = scalar_dtype(params)
        r_eps = reps_rel * (1 + tree_norm(params).astype(dtype))
        return DoWGState(
            count=jnp.zeros((), jnp.int32),
            init_params=own_copy(params),
            max_sq_distance=jnp.square(jnp.asarray(r_eps, dtype)),
            weighted_sum_sq_grads=jnp.zeros((), dtype),
            effective_lr=jnp.zeros((), dtype),
        )

    def update_fn(
        updates: PyTree, state: DoWGState, params: PyTree = None
    ) -> tuple[PyTree, DoWGState]:
        check_tree_match(updates, params)
        _require_params(params, "scale_by_dowg")
        dtype = state.max_sq_distance.dtype
        sq_distance = tree_sq_norm(jax.tree.map(_difference, params, state.init_params))
        max_sq_distance = jnp.maximum(state.max_sq_distance, sq_distance.astype(dtype))
        weighted = state.weighted_sum_sq_grads + max_sq_distance * tree_sq_norm(updates).astype(
            dtype
        )
        c = jnp.asarray(resolve(learning_rate, state.count), dtype)
        eta = _safe_ratio(c * max_sq_distance, weighted)
        updates = jax.tree.map(lambda g: (eta * g).astype(g.dtype), updates)
        return updates, DoWGState(
            count=optax.safe_increment(state.count),
            init_params=state.init_params,
            max_sq_distance=max_sq_distance,
            weighted_sum_sq_grads=weighted,
            effective_lr=eta,
        )

    return optax.GradientTransformation(init_fn, update_fn)


def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    reps_rel: float = 1e-6,
    weight_decay: float = 0.0,
    *,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""DoWG: SGD with the Distance-over-Weighted-Gradients step size.

    .. math::

      g_t \leftarrow g_t + \lambda x_t, \qquad x_{t+1} = x_t - \eta_t\, g_t

    with :math:`\eta_t` from :func:`scale_by_dowg`.

    Args:
      learning_rate: :math:`c \ge 0`, float or schedule (``1`` is the paper's method).
      reps_rel: relative initial distance ``> 0``.
      weight_decay: L2 coefficient ``>= 0`` added to the gradient (not in the paper).
      mask: which leaves the weight decay applies to (keyword).

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.dowg().init(jnp.ones(3))

    References:
      Khaled, Mishchenko and Jin, NeurIPS 2023 (see :func:`scale_by_dowg`).

    Departures:
      Those of :func:`scale_by_dowg`.
    """
    check_all(DOWG_RANGES, weight_decay=weight_decay)
    return optax.chain(
        optax.add_decayed_weights(weight_decay, mask),
        scale_by_dowg(learning_rate, reps_rel),
        optax.scale(-1.0),
    )


# --------------------------------------------------------------------------------------------
# Polynomial-decay averaging
# --------------------------------------------------------------------------------------------


class PolynomialDecayAveragingState(NamedTuple):
    """State of :func:`polynomial_decay_averaging`."""

    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: number of averaged iterates
    averaged_params: PyTree  # x-bar_t, shaped like the parameters, in the averaging dtype


def polynomial_decay_averaging(
    gamma: float = 8.0, *, dtype: Any = None
) -> optax.GradientTransformation:
    r"""Keep the polynomial-decay average of the iterates; pass updates through unchanged.

    Placed last in a chain, it sees the final update :math:`u_t` and the parameters
    :math:`x_t`, so the new iterate is :math:`x_{t+1} = x_t + u_t` and

    .. math::

      \bar x_{t+1} = \Bigl(1 - \frac{1 + \gamma}{t + 1 + \gamma}\Bigr) \bar x_t
                     + \frac{1 + \gamma}{t + 1 + \gamma}\, x_{t+1},
      \qquad t = 0, 1, \dots

    so :math:`\bar x_1 = x_1`. :math:`\gamma = 0` is the uniform average of
    :math:`x_1, \dots, x_t`; larger :math:`\gamma` forgets old iterates faster. Read the average
    with :func:`polynomial_decay_averaged_params`.

    Args:
      gamma: :math:`\gamma \ge 0`. DoG's authors use ``8``.
      dtype: dtype of the average (keyword); default the parameters' dtype. Use
        ``jnp.float32`` with bf16 parameters: a bf16 average cannot absorb small weights.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.chain(optax.sgd(0.5), adaptlr.polynomial_decay_averaging(gamma=0.0))
      >>> params = jnp.array([4.0])
      >>> state = tx.init(params)
      >>> for _ in range(2):
      ...     updates, state = tx.update(params, state, params)  # gradient of x^2 / 2
      ...     params = optax.apply_updates(params, updates)
      >>> adaptlr.polynomial_decay_averaged_params(state)  # mean of 2.0 and 1.0
      Array([1.5], dtype=float32)

    References:
      Shamir and Zhang, "Stochastic Gradient Descent for Non-smooth Optimization: Convergence
      Results and Optimal Averaging Schemes", ICML 2013. Ivgi, Hinder and Carmon, ICML 2023,
      Section 4. Reference code: ``dog-optimizer`` 1.0.3 (``PolynomialDecayAverager``).

    Departures:
      None in the arithmetic. The reference averages a whole ``nn.Module`` state dict (and
      copies integer buffers); this averages the parameters the transformation sees.
    """
    check_all(AVERAGING_RANGES, gamma=gamma)

    def init_fn(params: PyTree) -> PolynomialDecayAveragingState:
        average = jax.tree.map(lambda x: jnp.array(x, dtype=dtype or x.dtype), params)
        return PolynomialDecayAveragingState(
            count=jnp.zeros((), jnp.int32), averaged_params=average
        )

    def update_fn(
        updates: PyTree, state: PolynomialDecayAveragingState, params: PyTree = None
    ) -> tuple[PyTree, PolynomialDecayAveragingState]:
        check_tree_match(updates, params)
        _require_params(params, "polynomial_decay_averaging")
        t = optax.safe_increment(state.count)

        def average(avg: jax.Array, x: jax.Array, u: jax.Array) -> jax.Array:
            work = jnp.promote_types(avg.dtype, jnp.float32)
            weight = (1 + jnp.asarray(gamma, work)) / (t.astype(work) + gamma)
            new = x.astype(work) + u.astype(work)
            return (avg.astype(work) * (1 - weight) + new * weight).astype(avg.dtype)

        averaged = jax.tree.map(average, state.averaged_params, params, updates)
        return updates, PolynomialDecayAveragingState(count=t, averaged_params=averaged)

    return optax.GradientTransformation(init_fn, update_fn)


def _find_averaging(node: Any, found: list[PolynomialDecayAveragingState]) -> None:
    if isinstance(node, PolynomialDecayAveragingState):
        found.append(node)
    elif isinstance(node, (tuple, list)):
        for child in node:
            _find_averaging(child, found)
    elif isinstance(node, dict):
        for child in node.values():
            _find_averaging(child, found)


def polynomial_decay_averaged_params(opt_state: PyTree) -> PyTree:
    """The averaged parameters kept by :func:`polynomial_decay_averaging` in ``opt_state``.

    Finds the averaging state anywhere in a chained, masked or injected optimizer state.
    Before the first update it holds the initial parameters.

    Args:
      opt_state: the state of an optimizer that contains exactly one
        :func:`polynomial_decay_averaging` (e.g. chained after ``dog``).

    Raises:
      ValueError: when ``opt_state`` holds no averaging state, or more than one.

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = optax.chain(adaptlr.dog(), adaptlr.polynomial_decay_averaging())
      >>> adaptlr.polynomial_decay_averaged_params(tx.init(jnp.ones(2)))
      Array([1., 1.], dtype=float32)
    """
    found: list[PolynomialDecayAveragingState] = []
    _find_averaging(opt_state, found)
    if len(found) != 1:
        raise ValueError(
            f"expected one polynomial_decay_averaging state in the optimizer state, "
            f"found {len(found)}"
        )
    return found[0].averaged_params
