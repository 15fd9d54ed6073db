"""The conformance checks, one function per property, each taking a registry ``MethodSpec``.

They are plain functions (not tests) so that ``test_conformance.py`` can run them over the
whole registry and ``test_meta.py`` can show that each one fails on a deliberately broken
method. A check fails by raising ``AssertionError`` (or the error the broken method raises).
"""

from __future__ import annotations

import inspect
import math
import tempfile
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from adaptlr import effective_lrs, value_fn_on_subtree
from adaptlr._base import accumulation_dtype
from adaptlr.registry import MethodSpec

from . import problems
from .targets import PROBLEM_OVERRIDES, TARGETS

PyTree = Any

# Float32 rounding over a handful of steps: XLA may fuse and reorder differently between jit
# and eager, between vmapped and single, and between sharded and unsharded reductions.
F32_RTOL = 2e-5
F32_ATOL = 1e-6


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


TARGET = 0.5


def sum_of_squares_loss(params: PyTree, target: PyTree | None = None) -> jax.Array:
    """``sum 0.5 * c_i * (x - t)^2`` over leaves, curvature ``c_i = 1 + i/2`` for leaf ``i``.

    ``t`` is :data:`TARGET` unless a target tree is given.
    """
    leaves = jax.tree.leaves(params)
    targets = jax.tree.leaves(target) if target is not None else [None] * len(leaves)
    total = jnp.zeros((), jnp.float32)
    for i, (x, t) in enumerate(zip(leaves, targets, strict=True)):
        t = TARGET if t is None else t
        c = 1.0 + 0.5 * i
        total = total + 0.5 * c * jnp.sum(jnp.square(x.astype(jnp.float32) - t))
    return total


def small_params(seed: int = 0, dtype: Any = jnp.float32) -> dict[str, jax.Array]:
    key = jax.random.key(seed)
    k1, k2 = jax.random.split(key)
    return {
        "w": jax.random.normal(k1, (4, 3), dtype=jnp.float32).astype(dtype),
        "b": jax.random.normal(k2, (3,), dtype=jnp.float32).astype(dtype),
    }


def update_kwargs(spec: MethodSpec, value: jax.Array,
                  value_fn: Callable[..., jax.Array] | None = None) -> dict[str, Any]:
    """The keywords ``update`` needs: ``value=`` (loss-value methods) and ``value_fn=`` (line
    searches: the loss of the problem being run as a function of the parameters)."""
    kwargs: dict[str, Any] = {"value": value} if spec.needs_value else {}
    if spec.needs_value_fn:
        if value_fn is None:
            raise TypeError(f"{spec.name} needs value_fn: the runner must pass the loss")
        kwargs["value_fn"] = value_fn
    return kwargs


def local_model(params: PyTree, grads: PyTree, value: jax.Array) -> Callable[[PyTree], jax.Array]:
    """``p -> value + <g, p - x> + |p - x|^2 / 2`` (float32): a loss with the given value and
    gradient at ``x = params``, for the checks that feed an update chosen gradients and loss
    values. A line search accepts steps up to ``2 (1 - c)`` on it, so it backtracks from larger
    ones. Leaves the method does not see (``optax.MaskedNode``) are skipped."""

    def masked(x: Any) -> bool:
        return isinstance(x, optax.MaskedNode)

    def fn(p: PyTree) -> jax.Array:
        total = jnp.asarray(value, jnp.float32)
        for q, x, g in zip(jax.tree.leaves(p, is_leaf=masked), jax.tree.leaves(params),
                           jax.tree.leaves(grads), strict=True):
            if masked(q):
                continue
            d = q.astype(jnp.float32) - x.astype(jnp.float32)
            total = total + jnp.sum(g.astype(jnp.float32) * d) + 0.5 * jnp.sum(d * d)
        return total

    return fn


def make_step(
    spec: MethodSpec, tx: optax.GradientTransformation, loss_fn: Callable[[PyTree], jax.Array]
) -> Callable[[PyTree, Any], tuple[PyTree, Any]]:
    def step(params: PyTree, state: Any) -> tuple[PyTree, Any]:
        value, grads = jax.value_and_grad(loss_fn)(params)
        # Inside optax.masked / multi_transform a line search sees only its leaves.
        value_fn = value_fn_on_subtree(loss_fn, params)
        updates, state = tx.update(grads, state, params, **update_kwargs(spec, value, value_fn))
        return optax.apply_updates(params, updates), state

    return step


def run(
    spec: MethodSpec,
    tx: optax.GradientTransformation,
    params: PyTree,
    loss_fn: Callable[[PyTree], jax.Array] = sum_of_squares_loss,
    steps: int = 5,
    jit: bool = True,
) -> tuple[PyTree, Any]:
    state = tx.init(params)
    step = make_step(spec, tx, loss_fn)
    if jit:
        step = jax.jit(step)
    for _ in range(steps):
        # Blocking runs one program at a time: XLA:CPU's in-process collectives (the sharding
        # check) deadlocked now and then when asynchronous dispatch overlapped two steps.
        params, state = jax.block_until_ready(step(params, state))
    return params, state


def assert_finite(tree: PyTree, what: str) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        # At least float32 (NumPy's isfinite on bfloat16), never narrower than the leaf.
        arr = np.asarray(leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32)))
        assert np.all(np.isfinite(arr)), f"non-finite {what} at {jax.tree_util.keystr(path)}"


def assert_trees_close(a: PyTree, b: PyTree, rtol: float = F32_RTOL, atol: float = F32_ATOL,
                       what: str = "") -> None:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b), f"{what}: tree structures differ"
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=rtol, atol=atol, err_msg=what)


def assert_trees_equal(a: PyTree, b: PyTree, what: str = "") -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b), f"{what}: tree structures differ"
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=what)


def static_args(spec: MethodSpec) -> tuple[str, ...]:
    """Every factory argument except the learning rate: only the learning rate is injected."""
    names = inspect.signature(spec.factory).parameters
    return tuple(k for k in names if k != spec.learning_rate_arg)


# ------------------------------------------------------------------------------------------
# the checks
# ------------------------------------------------------------------------------------------


def check_jit_matches_eager(spec: MethodSpec) -> None:
    params = small_params()
    jitted, _ = run(spec, spec.build(), params, steps=3, jit=True)
    eager, _ = run(spec, spec.build(), params, steps=3, jit=False)
    assert_trees_close(jitted, eager, what="jit vs eager")


def check_no_retrace(spec: MethodSpec) -> None:
    tx = spec.build()
    params = small_params()
    state = tx.init(params)
    traces = 0

    def step(params: PyTree, state: Any) -> tuple[PyTree, Any]:
        nonlocal traces
        traces += 1
        return make_step(spec, tx, sum_of_squares_loss)(params, state)

    # The documented training step: parameters and state donated (a state with two leaves
    # on one buffer fails here with "Attempt to donate the same buffer twice").
    jitted = jax.jit(step, donate_argnums=(0, 1))
    for _ in range(3):
        params, state = jitted(params, state)
    assert traces == 1, f"update retraced: {traces} traces for 3 calls (state changed type?)"
    _assert_no_aliases(state, params, "after a donated step")


def check_vmap_matches_separate_runs(spec: MethodSpec) -> None:
    targets = [small_params(seed) for seed in (1, 2, 3)]
    params = small_params(0)

    def one(target: PyTree) -> PyTree:
        return run(spec, spec.build(), params, lambda p: sum_of_squares_loss(p, target),
                   steps=4, jit=False)[0]

    batched_targets = jax.tree.map(lambda *xs: jnp.stack(xs), *targets)
    batched = jax.jit(jax.vmap(one))(batched_targets)
    for i, target in enumerate(targets):
        single = jax.jit(one)(target)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), single,
                           what=f"vmap member {i} vs separate run")


def odd_trees() -> dict[str, PyTree]:
    return {
        "nested": {"a": [jnp.ones((2, 3)), (jnp.full((3,), 0.5), {"c": jnp.ones((2, 2, 2))})]},
        "none_leaves": {"a": jnp.ones((3,)), "b": None, "c": [None, jnp.ones((2, 2))]},
        "scalar_leaf": {"s": jnp.asarray(0.3), "v": jnp.ones((3,))},
        "empty": {},
        "zero_size": {"z": jnp.zeros((0, 3)), "v": jnp.ones((3,))},
        "only_zero_size": {"z": jnp.zeros((0,))},
    }


def check_odd_trees(spec: MethodSpec) -> None:
    # Six steps: some methods (RAdam-style warm phases) hold still for the first few.
    for name, params in odd_trees().items():
        out, state = run(spec, spec.build(), params, steps=6)
        assert jax.tree.structure(out) == jax.tree.structure(params), f"{name}: structure changed"
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(params), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype, f"{name}: leaf shape/dtype changed"
        assert_finite(out, f"params ({name})")
        assert_finite(state, f"state ({name})")
        if jax.tree.leaves(params) and any(x.size for x in jax.tree.leaves(params)):
            moved = any(not np.array_equal(np.asarray(a), np.asarray(b))
                        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(params), strict=True))
            assert moved, f"{name}: no parameter moved in 6 steps"


def _state_dtypes_follow_params(state: Any, params: PyTree, dtype: Any) -> None:
    shapes = {x.shape for x in jax.tree.leaves(params) if x.ndim > 0}
    allowed = {jnp.dtype(dtype), jnp.dtype(accumulation_dtype(dtype))}
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.shape in shapes:
            assert leaf.dtype in allowed, (
                f"state leaf {jax.tree_util.keystr(path)} has dtype {leaf.dtype} for {dtype} "
                f"parameters (expected the parameter dtype or {accumulation_dtype(dtype)})")


#: Gradient magnitude of the finite-input contract's large-gradient phase, per dtype: the
#: square of every entry, summed over the phase's 10 steps, is finite in the dtype
#: (CONTRIBUTING.md, "Finite input, finite output").
LARGE_GRADIENT = {"float16": 50.0, "bfloat16": 1e15, "float32": 1e15, "float64": 1e15}


#: Methods whose rule itself makes the step grow faster than the gradient's square, so no
#: dtype holds it for gradients near the square root of the largest value. They are exempt
#: from the large-gradient run only (documented in their docstrings).
LARGE_GRADIENT_EXEMPT = {
    # The learned rate moves by beta g.u ~ |g|^2 per step and multiplies g: the update grows
    # like |g|^3 (SGD-HD's documented limit; the optional max_lr guard bounds it).
    "hypergradient_sgd": "learned rate ~ |g|^2, update ~ |g|^3",
    # The log step sizes move by theta * delta * g * h ~ |g|^2 and are exponentiated.
    "idbd": "log step sizes move by ~ |g|^2 and are exponentiated",
}


def _update_step(spec: MethodSpec, tx: optax.GradientTransformation) -> Callable[..., Any]:
    """A jitted ``(params, state, grads, value) -> (params, state)``."""

    @jax.jit
    def step(params: PyTree, state: Any, grads: PyTree, value: jax.Array) -> tuple[PyTree, Any]:
        kwargs = update_kwargs(spec, value, local_model(params, grads, value))
        updates, state = tx.update(grads, state, params, **kwargs)
        return optax.apply_updates(params, updates), state

    return step


def _check_dtype(spec: MethodSpec, dtype: Any) -> None:
    """Five steps on the quadratic in ``dtype``, then the finite-input contract.

    The contract (CONTRIBUTING.md): no NaN or inf in parameters or state from finite inputs
    whose squares fit the dtype. Two runs from a fresh state: 50 zero gradients, then 10
    ordinary ones (statistics that decayed to zero must not give 0/0 or underflow to a zero
    denominator); and 10 gradients of magnitude ``LARGE_GRADIENT[dtype]`` (squared statistics
    must not overflow). One compiled step serves all three runs.
    """
    name = jnp.dtype(dtype).name
    params = small_params(dtype=dtype)
    tx = spec.build()
    state0 = tx.init(params)
    step = _update_step(spec, tx)
    grad_fn = jax.value_and_grad(sum_of_squares_loss)

    def ordinary(params: PyTree, state: Any, steps: int) -> tuple[PyTree, Any]:
        for _ in range(steps):
            value, grads = grad_fn(params)
            params, state = jax.block_until_ready(step(params, state, grads, value))
        return params, state

    out, state = ordinary(params, state0, 5)
    assert_finite(out, f"{name} params")
    assert_finite(state, f"{name} state")
    for leaf in jax.tree.leaves(out):
        assert leaf.dtype == jnp.dtype(dtype), f"parameters changed dtype to {leaf.dtype}"
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(state0), jax.tree.leaves(state),
                            strict=True):
        assert jnp.asarray(a).dtype == jnp.asarray(b).dtype, (
            f"state leaf {jax.tree_util.keystr(path)} changed dtype across update: "
            f"{jnp.asarray(a).dtype} -> {jnp.asarray(b).dtype}")
    _state_dtypes_follow_params(state, params, dtype)

    # Contract, large gradients: 10 of fixed signs.
    big = LARGE_GRADIENT[name] if spec.name not in LARGE_GRADIENT_EXEMPT else 1.0
    grads = jax.tree.map(lambda x: jnp.where(x >= 0, big, -big).astype(x.dtype), params)
    value = jnp.asarray(0.5 * big * big * sum(x.size for x in jax.tree.leaves(params)),
                        jnp.float32)
    p, s = params, tx.init(params)
    for i in range(10):
        p, s = jax.block_until_ready(step(p, s, grads, value))
        assert_finite(p, f"{name} params after {i + 1} gradients of magnitude {big:g}")
        assert_finite(s, f"{name} state after {i + 1} gradients of magnitude {big:g}")

    # Contract, zero gradients: 50, then 10 ordinary ones. Not for Optax's own
    # baselines in float16: Optax's Adam, AdamW, NAdamW, RMSProp and Adafactor divide 0 by
    # an eps that underflows to 0 in float16 (adaptlr passes Optax's arithmetic through).
    if spec.family == "baseline" and name == "float16":
        return
    p, s = params, tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    zero_value = jnp.zeros((), jnp.float32)
    for _ in range(50):
        p, s = step(p, s, zeros, zero_value)
    assert_finite(s, f"{name} state after 50 zero gradients")
    p, s = ordinary(p, s, 10)
    assert_finite(p, f"{name} params after 50 zero gradients and 10 ordinary ones")
    assert_finite(s, f"{name} state after 50 zero gradients and 10 ordinary ones")


def check_float32(spec: MethodSpec) -> None:
    _check_dtype(spec, jnp.float32)


def check_bfloat16(spec: MethodSpec) -> None:
    _check_dtype(spec, jnp.bfloat16)


def check_float16(spec: MethodSpec) -> None:
    _check_dtype(spec, jnp.float16)


def check_float64(spec: MethodSpec) -> None:
    with jax.enable_x64(True):
        _check_dtype(spec, jnp.float64)


def check_zero_gradients(spec: MethodSpec) -> None:
    params = small_params()
    tx = spec.build()
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)

    @jax.jit
    def step(params: PyTree, state: Any) -> tuple[PyTree, Any]:
        value = jnp.zeros((), jnp.float32)
        updates, state = tx.update(zeros, state, params,
                                   **update_kwargs(spec, value, local_model(params, zeros, value)))
        return optax.apply_updates(params, updates), state

    for _ in range(10):
        params, state = step(params, state)
    assert_finite(params, "params after zero gradients")
    assert_finite(state, "state after zero gradients")


def check_effective_lr_reported(spec: MethodSpec) -> None:
    _, state = run(spec, spec.build(), small_params(), steps=6)
    records = effective_lrs(state)
    assert records, "no step-size record in the state (adaptlr.effective_lr finds nothing)"
    assert_finite(records, "effective_lr")
    # After six steps on non-zero gradients some record must hold a non-zero step size.
    assert any(np.any(np.asarray(x) != 0) for x in jax.tree.leaves(records)), (
        "every step-size record is still zero after six updates (not updated?)")


#: Methods whose registered weight decay does not scale with the learning rate (the authors'
#: AdaBoundW, ``fixed_decay=True``): at learning rate 0 they still decay, and nothing else.
DECAY_WITHOUT_LEARNING_RATE = frozenset({"adaboundw"})


def check_inject_hyperparams(spec: MethodSpec) -> None:
    if spec.learning_rate_arg is None:
        return
    params = small_params()
    injected = optax.inject_hyperparams(spec.factory, static_args=static_args(spec))(
        **spec.defaults)
    plain, _ = run(spec, spec.build(), params)
    through, state = run(spec, injected, params)
    assert_trees_close(through, plain, what="inject_hyperparams vs plain")
    # The injected learning rate is live: changing it in the state changes the next update.
    # (Not "learning rate 0 freezes the parameters": Schedule-Free keeps averaging towards z.)
    # A hundredfold cut, not a halving: where the learning rate caps a Polyak-type step
    # (MoMo at its default 1) the cap only binds well below the default.
    step = jax.jit(make_step(spec, injected, sum_of_squares_loss))
    lr = state.hyperparams[spec.learning_rate_arg]
    nxt, _ = step(through, state)
    state.hyperparams[spec.learning_rate_arg] = 0.01 * lr
    halved, _ = step(through, state)
    moved = any(not np.array_equal(np.asarray(a), np.asarray(b))
                for a, b in zip(jax.tree.leaves(nxt), jax.tree.leaves(halved), strict=True))
    assert moved, "changing the injected learning rate does not change the update"
    # learning_rate = 0 from the start means no step (CONTRIBUTING.md; the same compiled step).
    if spec.learning_rate_arg == "learning_rate":
        p, s = params, injected.init(params)
        s.hyperparams[spec.learning_rate_arg] = jnp.zeros_like(lr)
        for _ in range(3):
            p, s = step(p, s)
        assert_finite(s, "state at learning_rate=0")
        if spec.name in DECAY_WITHOUT_LEARNING_RATE:
            # The authors' AdaBoundW decays by weight_decay * x whatever the learning rate:
            # at learning rate 0 that decay is the whole step, x (1 - wd)^3 after 3 steps.
            shrink = (1.0 - spec.defaults["weight_decay"]) ** 3
            assert_trees_close(p, jax.tree.map(lambda x: x * shrink, params), rtol=1e-6,
                               atol=0.0, what="parameters after 3 steps at learning_rate=0")
        else:
            assert_trees_equal(p, params, "parameters after 3 steps at learning_rate=0")


def run_recording_values(
    spec: MethodSpec, tx: optax.GradientTransformation, params: PyTree, steps: int = 5
) -> tuple[PyTree, list[jax.Array], list[jax.Array]]:
    """Like :func:`run` on :func:`sum_of_squares_loss`, also returning the loss and the
    parameters ``b`` at each step."""
    state = tx.init(params)
    step = jax.jit(make_step(spec, tx, sum_of_squares_loss))
    values, others = [], []
    for _ in range(steps):
        values.append(sum_of_squares_loss(params))
        others.append(params["b"])
        params, state = step(params, state)
    return params, values, others


def run_subtree(spec: MethodSpec, w: jax.Array, values: list[jax.Array],
                others: list[jax.Array]) -> jax.Array:
    """The method alone on ``{"w": w}``, fed the whole model's loss values of another run.

    A loss-value method (Polyak steps) sees the loss of the whole model even when it only
    updates part of it, so the comparison run gets the same sequence of values; a line search
    evaluates the whole model's loss with ``b`` where the other run had it at that step.
    """
    tx = spec.build()
    params = {"w": w}
    state = tx.init(params)
    loss = lambda p: sum_of_squares_loss({"b": jnp.zeros(3), "w": p["w"]})  # noqa: E731

    @jax.jit
    def step(params: PyTree, state: Any, value: jax.Array, b: jax.Array) -> tuple[PyTree, Any]:
        grads = jax.grad(loss)(params)
        value_fn = lambda p: sum_of_squares_loss({"b": b, "w": p["w"]})  # noqa: E731
        updates, state = tx.update(grads, state, params, **update_kwargs(spec, value, value_fn))
        return optax.apply_updates(params, updates), state

    for value, b in zip(values, others, strict=True):
        params, state = step(params, state, value, b)
    return params["w"]


def check_masked(spec: MethodSpec) -> None:
    params = small_params()
    masked = optax.masked(spec.build(), {"w": True, "b": False})
    out, values, others = run_recording_values(spec, masked, params)
    # Masked-out leaves receive the raw gradient; masked-in ones see the method on {"w"} alone.
    alone = run_subtree(spec, params["w"], values, others)
    assert_trees_close(out["w"], alone, what="masked leaf vs method on the sub-tree")
    b = params["b"]
    for _ in range(5):  # identity on gradients: b <- b + grad, grad = 1.0 * (b - TARGET)
        b = b + 1.0 * (b - TARGET)
    assert_trees_close(out["b"], b, what="masked-out leaf")


def check_multi_transform(spec: MethodSpec) -> None:
    params = small_params()
    tx = optax.multi_transform({"m": spec.build(), "s": optax.sgd(0.1)}, {"w": "m", "b": "s"})
    out, values, others = run_recording_values(spec, tx, params)
    alone = run_subtree(spec, params["w"], values, others)
    assert_trees_close(out["w"], alone, what="multi_transform group vs method alone")
    b = params["b"]
    for _ in range(5):
        b = b - 0.1 * 1.0 * (b - TARGET)
    assert_trees_close(out["b"], b, what="multi_transform sgd group")


def check_multi_steps(spec: MethodSpec) -> None:
    params = small_params()
    key = jax.random.key(7)
    grads = [jax.tree.map(lambda x, k=k: jax.random.normal(k, x.shape), params)
             for k in jax.random.split(key, 4)]
    values = [jnp.asarray(1.0 + i, jnp.float32) for i in range(4)]
    multi = optax.MultiSteps(spec.build(), every_k_schedule=2)
    m_state = multi.init(params)
    p_multi = params

    # A line search gets the local model of the averaged gradient the emitting step applies.
    @jax.jit  # one wrapper: a fresh jax.jit per call retraces
    def multi_update(g: PyTree, s: Any, p: PyTree, v: jax.Array, mean: PyTree) -> Any:
        return multi.update(g, s, p, **update_kwargs(spec, v, local_model(p, mean, v)))

    previous = grads[0]
    for g, v in zip(grads, values, strict=True):
        mean_g = jax.tree.map(lambda a, b: (a + b) / 2, previous, g)
        upd, m_state = multi_update(g, m_state, p_multi, v, mean_g)
        p_multi = optax.apply_updates(p_multi, upd)
        previous = g
    tx = spec.build()
    state = tx.init(params)
    p_ref = params

    @jax.jit
    def update(g: PyTree, s: Any, p: PyTree, v: jax.Array) -> Any:
        return tx.update(g, s, p, **update_kwargs(spec, v, local_model(p, g, v)))

    for i in (0, 2):
        mean_g = jax.tree.map(lambda a, b: (a + b) / 2, grads[i], grads[i + 1])
        # MultiSteps forwards the extra arguments of the mini-step that emits the update.
        upd, state = update(mean_g, state, p_ref, values[i + 1])
        p_ref = optax.apply_updates(p_ref, upd)
    assert_trees_close(p_multi, p_ref, what="MultiSteps(k=2) vs method on averaged gradients")


def check_apply_if_finite(spec: MethodSpec) -> None:
    params = small_params()
    tx = optax.apply_if_finite(spec.build(), max_consecutive_errors=3)
    state = tx.init(params)
    step = jax.jit(make_step(spec, tx, sum_of_squares_loss))
    params, state = step(params, state)
    bad = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), params)
    nan = jnp.asarray(jnp.nan)
    upd, state_after_bad = jax.jit(
        lambda g, s, p: tx.update(g, s, p, **update_kwargs(spec, nan, local_model(p, g, nan)))
    )(bad, state, params)
    assert_trees_equal(upd, jax.tree.map(jnp.zeros_like, params), "update on NaN gradient")
    assert_trees_equal(state_after_bad.inner_state, state.inner_state,
                       "inner state after a skipped NaN step")
    p1, _ = step(params, state_after_bad)
    p2, _ = step(params, state)
    assert_trees_close(p1, p2, rtol=0, atol=0, what="trajectory after a skipped NaN step")


def check_checkpoint_roundtrip(spec: MethodSpec) -> None:
    import orbax.checkpoint as ocp

    tx = spec.build()
    params = small_params()
    state = tx.init(params)
    step = jax.jit(make_step(spec, tx, sum_of_squares_loss))
    for _ in range(3):
        params, state = step(params, state)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = ocp.StandardCheckpointer()
        ckpt.save(f"{tmp}/ckpt", {"params": params, "opt_state": state})
        ckpt.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                                {"params": params, "opt_state": state})
        restored = ckpt.restore(f"{tmp}/ckpt", abstract)
        ckpt.close()
    assert jax.tree.structure(restored["opt_state"]) == jax.tree.structure(state), (
        "restored optimizer state has a different structure")
    p_a, s_a = params, state
    p_b, s_b = restored["params"], restored["opt_state"]
    for _ in range(3):
        p_a, s_a = step(p_a, s_a)
        p_b, s_b = step(p_b, s_b)
    assert_trees_equal(p_a, p_b, "continued after checkpoint restore")
    assert_trees_equal(s_a, s_b, "state after checkpoint restore")


def check_sharded_matches_unsharded(spec: MethodSpec) -> None:
    devices = jax.devices()
    assert len(devices) >= 8, "the sharding check needs 8 devices (tests/conftest.py sets them)"
    mesh = jax.sharding.Mesh(np.array(devices[:8]), ("d",))
    key = jax.random.key(3)
    params = {"w": jax.random.normal(key, (16, 6)), "b": jnp.linspace(-1.0, 1.0, 8)}
    reference, _ = run(spec, spec.build(), params)
    sharded_params = {
        "w": jax.device_put(params["w"], NamedSharding(mesh, PartitionSpec("d", None))),
        "b": jax.device_put(params["b"], NamedSharding(mesh, PartitionSpec("d"))),
    }
    sharded, _ = run(spec, spec.build(), sharded_params)
    assert sharded["w"].sharding.is_equivalent_to(sharded_params["w"].sharding, 2), (
        "parameters lost their sharding")
    assert_trees_close(sharded, reference, what="sharded vs unsharded")


def relative_progress(spec: MethodSpec, init: PyTree, loss_fn: Callable, steps: int,
                      problem: str | None = None) -> float:
    """``f(x_T) / f(x_0)`` after ``steps`` full-batch steps with the registered defaults.

    ``problem`` names the problem for :data:`targets.PROBLEM_OVERRIDES`.
    """
    tx = spec.build(**PROBLEM_OVERRIDES.get((spec.name, problem or ""), {}))
    step = make_step(spec, tx, loss_fn)

    @jax.jit
    def train(params: PyTree) -> PyTree:
        def body(carry: Any, _: Any) -> tuple[Any, None]:
            return step(*carry), None

        return jax.lax.scan(body, (params, tx.init(params)), None, length=steps)[0][0]

    final, initial = float(loss_fn(train(init))), float(loss_fn(init))
    return final / initial if math.isfinite(final) else math.inf


def check_quadratic(spec: MethodSpec) -> None:
    target = TARGETS[spec.name]
    rel = relative_progress(spec, problems.quadratic_init(), problems.quadratic_loss,
                             target.steps, "quadratic")
    assert rel <= target.quadratic, (
        f"quadratic: f_T/f_0 = {rel:.3g} after {target.steps} steps, target {target.quadratic}")


def check_rosenbrock(spec: MethodSpec) -> None:
    target = TARGETS[spec.name]
    rel = relative_progress(spec, problems.rosenbrock_init(), problems.rosenbrock_loss,
                             target.steps, "rosenbrock")
    assert rel <= target.rosenbrock, (
        f"rosenbrock: f_T/f_0 = {rel:.3g} after {target.steps} steps, target {target.rosenbrock}")


def check_state_bytes(spec: MethodSpec) -> None:
    params = {"w": jnp.zeros((256, 256), jnp.float32)}
    state = spec.build().init(params)
    nbytes = sum(jnp.asarray(x).nbytes for x in jax.tree.leaves(state))
    declared = spec.state_bytes_per_param * 256 * 256
    # Allowance for O(1) scalars and per-row/column statistics (factored methods).
    slack = 4 * 4 * (256 + 256) + 1024
    assert declared <= nbytes <= declared + slack, (
        f"state holds {nbytes} bytes for 65536 float32 params; registry declares "
        f"{spec.state_bytes_per_param} B/param = {declared:.0f} (+ up to {slack} for scalars)")


def _buffer_ids(tree: PyTree) -> list[tuple[str, int]]:
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if isinstance(leaf, jax.Array) and leaf.size:
            out.append((jax.tree_util.keystr(path), leaf.unsafe_buffer_pointer()))
    return out


def _assert_no_aliases(state: Any, params: PyTree, when: str) -> None:
    seen: dict[int, str] = {p: f"params{k}" for k, p in _buffer_ids(params)}
    for path, pointer in _buffer_ids(state):
        other = seen.get(pointer)
        assert other is None, (
            f"{when}: state leaf {path} shares its buffer with {other} (a training step that "
            f"donates the state fails with 'Attempt to donate the same buffer twice')")
        seen[pointer] = f"state{path}"


def check_state_buffers_distinct(spec: MethodSpec) -> None:
    """No two state leaves, nor a state leaf and a parameter, share a buffer after ``init``:
    the standard training step donates both (``check_no_retrace`` runs that donated step)."""
    params = small_params()
    _assert_no_aliases(spec.build().init(params), params, "after init")


def check_mismatched_trees(spec: MethodSpec) -> None:
    """A gradient tree that does not match the parameters fails in ``update`` at trace time
    with a ``ValueError`` naming the differing paths (missing key, extra key, other shape)."""
    tx = spec.build()
    params = small_params()
    state = tx.init(params)
    value = jnp.ones((), jnp.float32)
    cases = {
        "missing key": ({"w": params["w"]}, "['b']"),
        "extra key": ({**params, "extra": jnp.ones(2)}, "['extra']"),
        "other shape": ({"w": params["w"], "b": jnp.ones(4)}, "['b']"),
    }
    for what, (grads, path) in cases.items():
        try:
            jax.eval_shape(lambda g: tx.update(g, state, params, **update_kwargs(
                spec, value, sum_of_squares_loss)), grads)
        except ValueError as e:
            assert path in str(e), f"{what}: the error does not name {path}: {e}"
        else:
            raise AssertionError(f"{what}: update accepted a gradient tree unlike the params")


#: How each registered method treats complex parameters (CONTRIBUTING.md, "Complex
#: parameters"). "split": ``z = a + ib`` is the pair ``(a, b)``, and the trajectory equals the
#: method's on the real and imaginary parts stacked into a real leaf. "per_entry": Optax's own
#: per-entry statistics (``|g|^2`` moments, ``sign(z) = z/|z|``), checked for invariance under
#: a rotation of each entry's phase (which a ``g * g`` moment or a real-only step breaks).
#: Every other method raises ``ValueError`` at ``init``.
COMPLEX_SPLIT = frozenset({
    "sgd", "sgd_momentum", "sgd_nesterov", "schedule_free_sgd", "dog", "ldog", "dowg",
    "mechanic_sgd", "adagrad_norm", "sps", "alig", "hypergradient_sgd", "reduce_on_plateau",
    "decsps", "adasps", "sps_safe",
})
COMPLEX_PER_ENTRY = frozenset({
    "adam", "adamw", "nadamw", "adagrad", "rmsprop", "adafactor", "lion", "lamb",
    "mechanic_adam", "hypergradient_adam",
})


def _complex_problem(phase: float = 0.0) -> tuple[PyTree, PyTree]:
    rotation = jnp.exp(1j * phase).astype(jnp.complex64)
    x = small_params()
    y = small_params(seed=5)
    z = {k: (x[k] + 1j * y[k]).astype(jnp.complex64) * rotation for k in x}
    t = {k: (0.5 - 0.25j) * jnp.ones_like(z[k]) * rotation for k in z}
    return z, t


def _complex_runner(spec: MethodSpec) -> Callable[[PyTree, PyTree], PyTree]:
    """``(params, target) -> params`` after 8 steps on ``sum_i c_i |z_i - t_i|^2``; one
    compiled step per tree shape (the rotated problem reuses the complex one's)."""
    tx = spec.build()

    def loss(p: PyTree, target: PyTree) -> jax.Array:
        return sum((1.0 + 0.5 * i) * jnp.sum(jnp.square(jnp.abs(p[k] - target[k])))
                   for i, k in enumerate(sorted(p)))

    @jax.jit
    def step(p: PyTree, s: Any, target: PyTree) -> tuple[PyTree, Any]:
        value, grads = jax.value_and_grad(loss)(p, target)
        # JAX's gradient of a real function of z is the conjugate of the descent direction.
        grads = jax.tree.map(jnp.conj, grads)
        value_fn = lambda q: loss(q, target)  # noqa: E731
        updates, s = tx.update(grads, s, p, **update_kwargs(spec, value, value_fn))
        return optax.apply_updates(p, updates), s

    def run_complex(params: PyTree, target: PyTree) -> PyTree:
        state = tx.init(params)
        for _ in range(8):
            params, state = step(params, state, target)
        return params

    return run_complex


def check_complex(spec: MethodSpec) -> None:
    z, t = _complex_problem()
    run_complex = _complex_runner(spec)
    if spec.name in COMPLEX_SPLIT:
        out = run_complex(z, t)
        stack = lambda tree: {k: jnp.stack([jnp.real(v), jnp.imag(v)])  # noqa: E731
                              for k, v in tree.items()}
        split = run_complex(stack(z), stack(t))
        for k in out:
            assert out[k].dtype == jnp.complex64, f"{k}: complex parameters became {out[k].dtype}"
        assert_trees_close(stack(out), split, what="complex run vs real/imaginary split")
        assert not np.allclose(np.asarray(out["w"]), np.asarray(z["w"])), "nothing moved"
    elif spec.name in COMPLEX_PER_ENTRY:
        out = run_complex(z, t)
        phase = 0.7
        rotated = run_complex(*_complex_problem(phase))
        for k in out:
            assert out[k].dtype == jnp.complex64, f"{k}: complex parameters became {out[k].dtype}"
        assert_finite(jax.tree.map(jnp.abs, out), "complex params")
        turned = jax.tree.map(lambda x: x * jnp.exp(1j * phase).astype(jnp.complex64), out)
        assert_trees_close(jax.tree.map(jnp.real, rotated), jax.tree.map(jnp.real, turned),
                           rtol=1e-4, atol=1e-5, what="rotated problem, real part")
        assert_trees_close(jax.tree.map(jnp.imag, rotated), jax.tree.map(jnp.imag, turned),
                           rtol=1e-4, atol=1e-5, what="rotated problem, imaginary part")
        assert not np.allclose(np.asarray(out["w"]), np.asarray(z["w"])), "nothing moved"
    else:
        tx = spec.build()
        try:
            tx.init(z)
        except ValueError as e:
            assert "complex" in str(e), f"init raised without saying why: {e}"
        else:
            raise AssertionError(
                "init accepted complex parameters: support them (and list the method in "
                "COMPLEX_SPLIT or COMPLEX_PER_ENTRY) or call _base.check_real in init")


CHECKS: dict[str, Callable[[MethodSpec], None]] = {
    name.removeprefix("check_"): fn
    for name, fn in list(globals().items())
    if name.startswith("check_") and callable(fn)
}
