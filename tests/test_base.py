"""Validation helpers and tree math of adaptlr._base."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import NamedSharding, PartitionSpec

from adaptlr import _base
from adaptlr._base import Interval


def test_interval_notation_and_membership() -> None:
    unit = Interval(0.0, 1.0, upper_closed=False)
    assert str(unit) == "[0, 1)"
    assert str(_base.POSITIVE) == "(0, inf)"
    assert 0.0 in unit and 0.999 in unit and 1.0 not in unit and -1e-12 not in unit
    assert math.nan not in _base.NON_NEGATIVE
    assert True not in _base.NON_NEGATIVE  # booleans are not numbers here
    integer = Interval(1, math.inf, integer=True)
    assert 3 in integer and 3.0 in integer and 2.5 not in integer and 0 not in integer


def test_check_names_argument_value_and_range() -> None:
    with pytest.raises(ValueError, match=r"b1 must be in \[0, 1\), got 1\.5"):
        _base.check("b1", 1.5, _base.UNIT_INTERVAL)
    with pytest.raises(ValueError, match="eps must be a number"):
        _base.check("eps", None, _base.NON_NEGATIVE)
    with pytest.raises(TypeError, match="eps must be a number"):
        _base.check("eps", "small", _base.NON_NEGATIVE)
    with pytest.raises(ValueError, match="scalar"):
        _base.check("eps", np.ones(3), _base.NON_NEGATIVE)
    _base.check("eps", None, _base.NON_NEGATIVE, allow_none=True)
    _base.check("eps", jnp.asarray(0.5), _base.NON_NEGATIVE)
    with pytest.raises(ValueError, match="eps"):
        _base.check("eps", jnp.asarray(-0.5), _base.NON_NEGATIVE)


def test_integer_range_messages_read_as_english() -> None:
    # Issue 16: the message used to read "must be in integer in [1, inf)".
    integer = Interval(1, math.inf, integer=True)
    with pytest.raises(ValueError) as info:
        _base.check("slice_p", 0, integer)
    assert str(info.value) == "slice_p must be an integer in [1, inf), got 0"
    assert str(integer) == "integer in [1, inf)"  # the notation the catalogue prints


def test_traced_values_and_schedules_pass() -> None:
    # A schedule and a tracer are not checkable: construction must not fail on them.
    _base.check("learning_rate", optax.constant_schedule(-1.0), _base.NON_NEGATIVE)

    @jax.jit
    def f(x: jax.Array) -> jax.Array:
        _base.check("learning_rate", x, _base.NON_NEGATIVE)
        return x

    assert float(f(-1.0)) == -1.0


def test_check_all_and_choice() -> None:
    ranges = {"b1": _base.UNIT_INTERVAL, "eps": _base.NON_NEGATIVE}
    _base.check_all(ranges, b1=0.9, eps=1e-8)
    with pytest.raises(ValueError, match="eps"):
        _base.check_all(ranges, b1=0.9, eps=-1.0)
    with pytest.raises(KeyError, match="no documented range"):
        _base.check_all(ranges, b2=0.9)
    with pytest.raises(ValueError, match=r"shape must be one of \('a', 'b'\)"):
        _base.check_choice("shape", "c", ("a", "b"))


TREE = {"a": jnp.arange(6.0).reshape(2, 3), "b": None, "c": [jnp.asarray(2.0), jnp.zeros((0, 4))]}
OTHER = {"a": jnp.ones((2, 3)), "b": None, "c": [jnp.asarray(-1.0), jnp.zeros((0, 4))]}


def test_tree_math_closed_forms() -> None:
    # a = 0..5, c0 = 2: sum 17, squares 55 + 4 = 59, dot with ones/-1 = 15 - 2 = 13.
    assert float(_base.tree_sum(TREE)) == 17.0
    assert float(_base.tree_sq_norm(TREE)) == 59.0
    assert float(_base.tree_norm(TREE)) == pytest.approx(math.sqrt(59.0))
    assert float(_base.tree_vdot(TREE, OTHER)) == 13.0
    assert float(_base.tree_l1_norm(OTHER)) == 7.0
    assert float(_base.tree_max_abs(TREE)) == 5.0
    assert _base.tree_size(TREE) == 7


@pytest.mark.parametrize("tree", [{}, [], {"z": jnp.zeros((0,))}, {"n": None}])
def test_tree_math_on_empty_trees_is_zero(tree: object) -> None:
    for fn in (_base.tree_sum, _base.tree_sq_norm, _base.tree_norm, _base.tree_l1_norm,
               _base.tree_max_abs):
        out = fn(tree)
        assert out.shape == () and float(out) == 0.0
    assert float(_base.tree_vdot(tree, tree)) == 0.0


def test_norm_gradient_is_finite_at_zero() -> None:
    grad = jax.grad(lambda x: _base.tree_norm({"x": x}))(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_bf16_reductions_accumulate_in_float32() -> None:
    # 4096 ones in bf16: a bf16 accumulator stalls at 256 (8 significand bits); float32 is exact.
    x = {"x": jnp.ones((4096,), jnp.bfloat16)}
    total = _base.tree_sum(x)
    assert total.dtype == jnp.float32 and float(total) == 4096.0
    assert float(_base.tree_sq_norm(x)) == 4096.0


def test_float64_reductions_stay_float64() -> None:
    with jax.enable_x64(True):
        x = {"x": jnp.full((3,), 1.0 + 2.0**-40, jnp.float64)}
        total = _base.tree_sum(x)
        assert total.dtype == jnp.float64
        assert float(total) == 3.0 * (1.0 + 2.0**-40)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=40))
def test_tree_math_matches_numpy(values: list[float]) -> None:
    arr = np.asarray(values, np.float32)
    half = len(arr) // 2
    tree = {"p": jnp.asarray(arr[:half]), "q": jnp.asarray(arr[half:])}
    wide = arr.astype(np.float64)
    np.testing.assert_allclose(float(_base.tree_sq_norm(tree)), np.sum(wide**2),
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(float(_base.tree_l1_norm(tree)), np.sum(np.abs(wide)),
                               rtol=1e-5, atol=1e-3)


def test_reductions_on_sharded_arrays_match_unsharded() -> None:
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]), ("d",))
    x = jnp.arange(128.0).reshape(16, 8) / 7.0
    y = jnp.cos(jnp.arange(128.0)).reshape(16, 8)
    xs = jax.device_put(x, NamedSharding(mesh, PartitionSpec("d", None)))
    ys = jax.device_put(y, NamedSharding(mesh, PartitionSpec(None, "d")))  # different layouts
    got = jax.jit(lambda a, b: _base.tree_vdot({"a": a}, {"a": b}))(xs, ys)
    want = np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64))
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_scale_by_learning_rate_records_schedule_value() -> None:
    sched = optax.linear_schedule(1.0, 0.0, 4)
    tx = _base.scale_by_learning_rate(sched)
    state = tx.init({"w": jnp.ones(2)})
    seen = []
    for _ in range(3):
        upd, state = tx.update({"w": jnp.ones(2)}, state)
        seen.append(float(state.effective_lr))
        np.testing.assert_allclose(np.asarray(upd["w"]), -seen[-1])
    assert seen == [1.0, 0.75, 0.5]  # the first update uses schedule(0)


def test_record_learning_rate_leaves_updates_bit_identical() -> None:
    tx = optax.chain(optax.adam(1e-2), _base.record_learning_rate(1e-2))
    ref = optax.adam(1e-2)
    g = {"w": jnp.linspace(-1.0, 1.0, 5)}
    s1, s2 = tx.init(g), ref.init(g)
    for _ in range(3):
        u1, s1 = tx.update(g, s1)
        u2, s2 = ref.update(g, s2)
        np.testing.assert_array_equal(np.asarray(u1["w"]), np.asarray(u2["w"]))
    assert float(s1[1].effective_lr) == pytest.approx(1e-2)


def test_learning_rate_validation() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        _base.scale_by_learning_rate(-0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        _base.record_learning_rate(math.nan)


SPECIAL = [0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38]


@pytest.mark.parametrize("leaf_dtype", [jnp.float32, jnp.bfloat16, jnp.int32])
@pytest.mark.parametrize("dep", [*SPECIAL, 7, np.float64(-0.0)])
def test_written_after_changes_no_bit(leaf_dtype, dep) -> None:
    # Every value passes through unchanged, whatever the dependency's value: the predicate is
    # true for every 32-bit word, NaN, infinities and negative zero included.
    leaf = np.array(SPECIAL, np.float32).astype(leaf_dtype) if leaf_dtype != jnp.int32 else (
        np.array([0, -1, 2**31 - 1, -(2**31)], np.int32))
    tree = {"a": jnp.asarray(leaf), "b": (jnp.asarray(leaf)[::-1],)}
    for deps in ((jnp.asarray(dep),), (jnp.full((3,), dep, jnp.float32), jnp.asarray(dep))):
        out = jax.jit(_base.written_after)(tree, *deps)
        for x, y in zip(jax.tree.leaves(tree), jax.tree.leaves(out), strict=True):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(
                np.asarray(x).view(np.uint8), np.asarray(y).view(np.uint8))
    assert _base.written_after(tree) is tree
    assert _base.written_after(tree, jnp.zeros((0,))) is tree


def test_written_after_lets_xla_update_a_read_state_in_place() -> None:
    # A reduction reads the old state s, and a second pass overwrites s in place (a
    # D-Adaptation step). XLA:CPU's default copy insertion cannot order the two by data flow
    # and copies s first: 8 bytes per value more in its cost analysis. The dependency on the
    # reduction's result gives the order and removes the copy.
    def step(p, s, g, ordered):
        inner = jnp.vdot(g, s)
        s_old = _base.written_after(s, inner) if ordered else s
        return p - inner * g, s_old + 0.5 * g

    x = jnp.ones((256, 256))

    def compiled(ordered: bool):
        jitted = jax.jit(lambda p, s, g: step(p, s, g, ordered), donate_argnums=(0, 1))
        return jitted.lower(x, x, x).compile()

    def copies(ordered: bool) -> int:
        return compiled(ordered).as_text().count("f32[256,256]{1,0} copy(")

    assert copies(False) == 1 and copies(True) == 0
    cost = compiled(True).cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # Reduction: g, s (8); p pass: p, g, write p (12); s pass: s, g, write s (12).
    assert float(cost["bytes accessed"]) / x.size == pytest.approx(32.0, abs=0.1)


def test_written_after_skips_explicitly_sharded_arrays() -> None:
    # Reading one entry of a sharded array would need a collective: such dependencies are
    # left out (the value passes through, only XLA's order is not constrained).
    mesh = jax.make_mesh((8,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,))
    dep = jax.device_put(jnp.arange(8.0), NamedSharding(mesh, PartitionSpec("x")))
    tree = jnp.arange(4.0)
    with jax.set_mesh(mesh):
        out = jax.jit(_base.written_after)(tree, dep)
    np.testing.assert_array_equal(out, tree)


def test_tree_vdot_by_leaf_is_tree_vdot_and_its_terms() -> None:
    rng = np.random.default_rng(0)
    a = {"w": jnp.asarray(rng.normal(size=(5, 3)), jnp.float32), "e": jnp.zeros((0,)),
         "b": jnp.asarray(rng.normal(size=7), jnp.bfloat16)}
    b = jax.tree.map(lambda x: x * 3 - 1, a)
    total, terms = jax.jit(_base.tree_vdot_by_leaf)(a, b)
    np.testing.assert_array_equal(total, jax.jit(_base.tree_vdot)(a, b))  # bit for bit
    assert jax.tree.structure(terms) == jax.tree.structure(a)
    for x, y, t in zip(jax.tree.leaves(a), jax.tree.leaves(b), jax.tree.leaves(terms),
                       strict=True):
        want = np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64))
        np.testing.assert_allclose(float(t), want, rtol=1e-6, atol=1e-6)
        assert t.shape == () and t.dtype == total.dtype


def test_written_after_adds_no_reduction() -> None:
    # Elementwise steps must stay elementwise (the update-throughput benchmark classifies them
    # by the absence of a reduction): the dependencies are combined without one.
    x = jnp.ones((4, 4))
    text = jax.jit(lambda a, b, c: _base.written_after(a, b, c)).lower(x, x, x).as_text()
    assert "stablehlo.reduce" not in text


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_computed_once_is_the_identity_bit_for_bit(dtype: str) -> None:
    with jax.enable_x64(dtype == "float64"):
        values = np.array([0.0, -0.0, 1.0, -3.5, np.inf, -np.inf, np.nan, 1e-40, 3e38], dtype)
        out = np.asarray(jax.jit(jax.vmap(_base.computed_once))(jnp.asarray(values)))
        assert out.dtype == values.dtype
        np.testing.assert_array_equal(out.view(np.uint8), values.view(np.uint8))


def test_a_total_read_by_every_leaf_is_fused_once() -> None:
    # XLA copies a cheap scalar (a chain of adds) into every consumer's fusion: n leaves that
    # read the sum of n terms compile to n * n instructions. The total of tree_sq_norm ends in
    # a division, which XLA does not copy, so the compiled program grows linearly.
    def chars(n: int) -> int:
        tree = {f"p{i:03d}": jnp.zeros((16,), jnp.float32) for i in range(n)}
        step = jax.jit(lambda g: jax.tree.map(lambda x: x * _base.tree_sq_norm(g), g))
        return len(step.lower(tree).compile().as_text())

    assert chars(60) / chars(20) < 3.2  # linear: 3; 7.1 with the bare chain of adds


# --- issue 14 (items 6, 7, 11, 12) and issue 16 (item 4) ---------------------------------------


def test_infinite_bounds_are_open_unless_asked_for() -> None:
    # "[0, inf)" must reject inf (it used to accept it: prodigy(learning_rate=inf) built).
    assert str(_base.NON_NEGATIVE) == "[0, inf)" and math.inf not in _base.NON_NEGATIVE
    assert str(_base.POSITIVE) == "(0, inf)" and math.inf not in _base.POSITIVE
    assert -math.inf not in Interval(upper=0.0) and str(Interval(upper=0.0)) == "(-inf, 0]"
    unbounded = Interval(1.0, math.inf, upper_closed=True)
    assert str(unbounded) == "[1, inf]" and math.inf in unbounded
    # An integer range never contains inf, and says so.
    steps = Interval(0, math.inf, integer=True, upper_closed=True)
    assert str(steps) == "integer in [0, inf)" and math.inf not in steps
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, inf\), got inf"):
        _base.check("learning_rate", math.inf, _base.NON_NEGATIVE)
    with pytest.raises(ValueError, match="nan"):
        _base.check("eps", jnp.asarray(jnp.nan), _base.NON_NEGATIVE)


def test_numbers_only_arguments_reject_callables() -> None:
    schedule = optax.linear_schedule(1.0, 0.0, 10)
    with pytest.raises(TypeError, match=r"max_lr must be a number.*inject_hyperparams"):
        _base.check("max_lr", schedule, _base.POSITIVE)
    with pytest.raises(TypeError, match="d0 must be a number"):
        _base.check_all({"d0": _base.POSITIVE}, d0=lambda count: 1e-6)
    _base.check("learning_rate", schedule, _base.NON_NEGATIVE)  # the schedule argument
    _base.check("weight_decay", schedule, _base.NON_NEGATIVE, allow_schedule=True)
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        _base.check("learning_rate", schedule, _base.NON_NEGATIVE, allow_schedule=False)


def test_check_transformation_explains_factory_versus_transformation() -> None:
    _base.check_transformation("inner", optax.adam(1e-3))
    with pytest.raises(TypeError, match=r"got the callable 'adam'.*optax\.adam\(1e-3\)"):
        _base.check_transformation("inner", optax.adam)
    with pytest.raises(TypeError, match="got int"):
        _base.check_transformation("inner", 3)


def test_check_tree_match_names_both_trees_paths() -> None:
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3), "n": None}
    _base.check_tree_match({"w": jnp.zeros((2, 3)), "b": jnp.zeros(3), "n": None}, params)
    _base.check_tree_match({"w": jnp.zeros(1)}, None)  # no params given: nothing to compare
    with pytest.raises(ValueError, match=r"only in updates: none; only in params: \['b'\]"):
        _base.check_tree_match({"w": jnp.zeros((2, 3)), "n": None}, params)
    with pytest.raises(ValueError, match=r"only in updates: \['c'\]; only in params: \['b'\]"):
        _base.check_tree_match({"w": jnp.zeros((2, 3)), "c": jnp.zeros(3), "n": None}, params)
    with pytest.raises(ValueError, match=r"\['b'\]: \(4,\) vs \(3,\)"):
        _base.check_tree_match({"w": jnp.zeros((2, 3)), "b": jnp.zeros(4), "n": None}, params)
    with pytest.raises(ValueError, match="different containers"):
        _base.check_tree_match([jnp.ones(2), jnp.ones(2)], (jnp.ones(2), jnp.ones(2)))


def test_complex_reductions_are_those_of_the_real_split() -> None:
    a = jnp.asarray([1 + 2j, -3 + 0.5j], jnp.complex64)
    b = jnp.asarray([0.5 - 1j, 2 + 4j], jnp.complex64)
    ra = np.concatenate([np.real(a), np.imag(a)])
    rb = np.concatenate([np.real(b), np.imag(b)])
    vdot = _base.tree_vdot({"x": a}, {"x": b})
    assert vdot.dtype == jnp.float32
    np.testing.assert_allclose(float(vdot), ra @ rb, rtol=1e-6)
    np.testing.assert_allclose(float(_base.tree_sq_norm({"x": a})), ra @ ra, rtol=1e-6)
    np.testing.assert_allclose(float(_base.tree_norm({"x": a})), np.sqrt(ra @ ra), rtol=1e-6)
    assert _base.scalar_dtype({"x": a}) == jnp.float32
    with pytest.raises(ValueError, match=r"toy does not support complex parameters \(leaf"):
        _base.check_real({"w": jnp.ones(2), "z": a}, "toy")
    _base.check_real({"w": jnp.ones(2)}, "toy")


def test_in_float32_for_float16_keeps_adam_finite_after_zero_gradients() -> None:
    # Optax's Adam in float16: eps = 1e-8 underflows to 0, and a zero gradient after decayed
    # moments gives 0 / 0. In float32 the same updates are finite and exactly 0.
    params = jnp.ones(3, jnp.float16)
    for tx, finite in ((optax.scale_by_adam(), False),
                       (_base.in_float32_for_float16(optax.scale_by_adam()), True)):
        state = tx.init(params)
        for _ in range(3):
            updates, state = tx.update(jnp.zeros(3, jnp.float16), state, params)
        assert updates.dtype == jnp.float16
        assert bool(jnp.all(jnp.isfinite(updates))) == finite
    wrapped = _base.in_float32_for_float16(optax.scale_by_adam())
    assert wrapped.init(params).mu.dtype == jnp.float32  # statistics in float32
    assert wrapped.init(jnp.ones(3, jnp.bfloat16)).mu.dtype == jnp.bfloat16  # others as is


def test_tree_sums_match_separate_tree_sums() -> None:
    # Several sums in one variadic reduction per leaf: each equals tree_sum of its terms (up
    # to the summation order inside a leaf), in tree_sum's dtype; zero-size leaves add 0.
    rng = np.random.default_rng(0)
    a = {"w": jnp.asarray(rng.normal(size=(5, 7)), jnp.float32),
         "b": jnp.asarray(rng.normal(size=(3,)), jnp.bfloat16), "e": jnp.zeros((0,))}
    b = jax.tree.map(lambda x: x * 2 + 1, a)

    def terms(x, y):
        return x * y, jnp.abs(x), jnp.square(y)

    got = jax.jit(lambda a, b: _base.tree_sums(terms, 3, a, b))(a, b)
    want = [_base.tree_sum(jax.tree.map(lambda x, y, i=i: terms(
        x.astype(jnp.float32), y.astype(jnp.float32))[i], a, b)) for i in range(3)]
    assert len(got) == 3
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == jnp.float32
        np.testing.assert_allclose(float(g), float(w), rtol=1e-6)
    assert [float(x) for x in _base.tree_sums(terms, 2, {}, {})] == [0.0, 0.0]
