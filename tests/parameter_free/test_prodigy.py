"""Prodigy: golden trajectories of ``prodigyopt``, closed forms, edge cases."""

from __future__ import annotations

import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.parameter_free.prodigy import ProdigyState, prodigy, scale_by_prodigy
from tests import reference_problems as rp

GOLDENS = pathlib.Path(__file__).with_name("goldens")


def _warmup(step: jax.Array) -> jax.Array:
    # The generator's LambdaLR: lr_k = min(1, k / 10), so the first step has learning rate 0.
    return jnp.minimum(1.0, step / 10.0)


# The generator's settings (generate_goldens_prodigy_schedulefree.PRODIGY) in our vocabulary.
SETTINGS = {
    "prodigy_default": {},
    "prodigy_coupled_bias": dict(
        b1=0.9, b2=0.99, weight_decay=0.1, decouple=False, use_bias_correction=True,
        d_coef=0.5, eps=1e-6,
    ),
    "prodigy_decoupled_growth_slice": dict(
        weight_decay=0.05, decouple=True, growth_rate=1.02, safeguard_warmup=True, slice_p=3,
        b3=0.95, d0=1e-4, learning_rate=0.2,
    ),
    "prodigy_nomomentum_warmup": dict(b1=0.0, learning_rate=_warmup, reference_b1_zero=True),
    "prodigy_steps_default": dict(prodigy_steps=12),
    "prodigy_steps_bias_decay": dict(
        prodigy_steps=20, use_bias_correction=True, weight_decay=0.05, b2=0.99,
    ),
    "prodigy_d_limiter_default": dict(d_limiter=True),
    "prodigy_d_limiter_coef_decay": dict(d_limiter=True, d_coef=2.0, d0=1e-5, weight_decay=0.01),
}

# Each control's goldens against the same run without it: the control must change the path.
CONTROLLED = {
    "prodigy_steps_default": dict(),
    "prodigy_steps_bias_decay": dict(use_bias_correction=True, weight_decay=0.05, b2=0.99),
    "prodigy_d_limiter_default": dict(),
    "prodigy_d_limiter_coef_decay": dict(d_coef=2.0, d0=1e-5, weight_decay=0.01),
}


def load_golden(name: str, problem: str) -> dict[str, np.ndarray]:
    with np.load(GOLDENS / f"{name}.npz") as data:
        prefix = f"{problem}/"
        return {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)
                and "/" not in k[len(prefix):]}


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("name", list(SETTINGS))
def test_matches_reference_trajectory(name: str, problem: str) -> None:
    golden = load_golden(name, problem)
    # The shared MLP loss broadcasts its biases, which tests/conftest.py's rank-promotion
    # setting would reject.
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = rp.run_jax(problem, prodigy(**SETTINGS[name]))
    # max_relative_error alone would pass a NaN trajectory (max(0.0, nan) is 0.0).
    assert all(np.all(np.isfinite(v)) for v in ours.values())
    assert ours.keys() == golden.keys()
    assert rp.max_relative_error(ours, golden) <= 1e-10


@pytest.mark.parametrize("name", list(CONTROLLED))
def test_controls_change_the_trajectory(name: str) -> None:
    # Guards the goldens above against a control that does nothing (and a generator whose
    # freeze or patch did not take): without the control the path is far from the golden.
    golden = load_golden(name, "mlp")
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        without = rp.run_jax("mlp", prodigy(**CONTROLLED[name]))
    assert rp.max_relative_error(without, golden) > 1e-4


def _d_path(steps: int, **kwargs: object) -> np.ndarray:
    tx = scale_by_prodigy(**kwargs)  # type: ignore[arg-type]
    params = jnp.array([1.0, -2.0, 0.5])
    state = tx.init(params)
    ds = [float(state.d)]
    update = jax.jit(tx.update)
    for _ in range(steps):
        updates, state = update(params - 3.0, state, params)
        params = params - updates
        ds.append(float(state.d))
    return np.array(ds)


def test_prodigy_steps_freezes_d_after_n_minus_one_updates() -> None:
    free = _d_path(12)
    frozen = _d_path(12, prodigy_steps=5)
    # Steps 1..5 use the unfrozen d's (the d after step 4 is the last estimate) ...
    np.testing.assert_array_equal(frozen[:5], free[:5])
    # ... and it stays there, while the free estimate keeps moving.
    np.testing.assert_array_equal(frozen[5:], np.full(8, free[4]))
    assert free[-1] > 2 * free[4]
    np.testing.assert_array_equal(_d_path(5, prodigy_steps=1), np.full(6, free[0]))


def test_d_limiter_caps_growth_per_step() -> None:
    # From d0 = 1e-6 the cap needs 4 log2(1e6) = 80 steps to reach d of order 1.
    free = _d_path(100)
    limited = _d_path(100, d_limiter=True)
    ratios = limited[1:] / limited[:-1]
    assert np.all(ratios <= 2**0.25 * (1 + 1e-6))
    assert np.any(free[1:] / free[:-1] > 2.0)  # without it d triples in one step here
    # The first step has x = x0 and no estimate; then the cap binds: d0 2**(j/4).
    np.testing.assert_allclose(limited[2:5], 1e-6 * 2 ** (0.25 * np.arange(1, 4)), rtol=1e-6)
    assert limited[-1] > 1e4 * limited[0]  # slower, not stopped


def test_prodigy_steps_can_be_injected() -> None:
    params = jnp.array([1.0, -2.0, 0.5])
    outs = []
    for tx in (optax.inject_hyperparams(prodigy)(prodigy_steps=4), prodigy(prodigy_steps=4)):
        p, state = params, tx.init(params)
        for _ in range(8):
            updates, state = jax.jit(tx.update)(p - 3.0, state, p)
            p = optax.apply_updates(p, updates)
        outs.append(p)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def test_per_group_d_is_separate_per_group() -> None:
    # adaptlr.param_groups gives each group its own Prodigy instance and so its own d
    # (prodigyopt shares one d across groups). Each group's d equals a lone Prodigy's on
    # that group's parameters alone.
    params = {"a": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([10.0, 20.0])}
    grads_of = {"a": lambda p: p - 3.0, "b": lambda p: 0.01 * (p + 1.0)}
    tx = adaptlr.param_groups(
        [adaptlr.group("b", name="small", lr_scale=0.5)], prodigy, learning_rate=1.0
    )
    state = tx.init(params)
    lone = {"a": prodigy(), "b": prodigy(learning_rate=0.5)}
    lone_p = dict(params)
    lone_s = {k: lone[k].init(v) for k, v in params.items()}
    p = params
    for _ in range(6):
        updates, state = tx.update({k: grads_of[k](v) for k, v in p.items()}, state, p)
        p = optax.apply_updates(p, updates)
        for k in lone:
            u, lone_s[k] = lone[k].update(grads_of[k](lone_p[k]), lone_s[k], lone_p[k])
            lone_p[k] = optax.apply_updates(lone_p[k], u)
    lrs = adaptlr.effective_lrs(state)
    (key_a,) = [k for k in lrs if "default" in k]
    (key_b,) = [k for k in lrs if "small" in k]
    np.testing.assert_allclose(float(lrs[key_a]), float(adaptlr.effective_lr(lone_s["a"])),
                               rtol=1e-6)
    np.testing.assert_allclose(float(lrs[key_b]), float(adaptlr.effective_lr(lone_s["b"])),
                               rtol=1e-6)
    assert abs(float(lrs[key_a]) / float(lrs[key_b]) - 1.0) > 0.5  # really separate
    for k in p:
        np.testing.assert_allclose(p[k], lone_p[k], rtol=1e-6)


def test_b1_zero_uses_current_d_unless_reference_flag() -> None:
    # prodigyopt's b1 = 0 branch scales the gradient by the updated d (golden checked above
    # with reference_b1_zero=True). Without the flag, b1 = 0 is the momentum branch's formula
    # m = 0 * m + d_k g at b1 = 0: a traced-like array b1 takes that branch, a float 0 the
    # memory-saving one, and both must agree.
    golden = load_golden("prodigy_nomomentum_warmup", "quadratic")
    with jax.enable_x64(True):
        ours = rp.run_jax("quadratic", prodigy(b1=0.0, learning_rate=_warmup))
        via_momentum = rp.run_jax(
            "quadratic", prodigy(b1=jnp.asarray(0.0, jnp.float64), learning_rate=_warmup)
        )
    assert rp.max_relative_error(ours, via_momentum) <= 1e-13
    assert rp.max_relative_error(ours, golden) > 1e-3  # the reference's branch differs


def _numpy_prodigy(grads: list[np.ndarray], x0: np.ndarray, d0: float = 1e-6) -> list[float]:
    """The paper's Algorithm (Adam version, defaults) in NumPy on a fixed gradient sequence.

    The parameters move as Prodigy moves them; returns ``d`` after each step.
    """
    b1, b2 = 0.9, 0.999
    b3 = math.sqrt(b2)
    d, d_max, r = d0, d0, 0.0
    m, v, s = np.zeros_like(x0), np.zeros_like(x0), np.zeros_like(x0)
    x = x0.copy()
    ds = []
    for g in grads:
        eta = d  # learning rate 1, no bias correction
        r = b3 * r + d / d0 * eta * float(g @ (x0 - x))
        s = b3 * s + d / d0 * eta * g
        m = b1 * m + (1 - b1) * d * g
        v = b2 * v + (1 - b2) * d * d * g * g
        d_hat = r / np.abs(s).sum()
        d_max = max(d_max, d_hat)
        d = d_max  # growth rate inf: d is the largest estimate so far
        x = x - eta * m / (np.sqrt(v) + d * 1e-8)
        ds.append(d)
    return ds


def test_d_follows_paper_equations_on_fixed_gradients() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5) for _ in range(30)]
    x0 = rng.standard_normal(5)
    expected = _numpy_prodigy(grads, x0)
    with jax.enable_x64(True):
        tx = scale_by_prodigy()
        x = jnp.asarray(x0)
        state = tx.init(x)
        got = []
        for g in grads:
            u, state = tx.update(jnp.asarray(g), state, x)
            x = x - u
            got.append(float(state.d))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_first_step_size_is_d0_times_lr_and_update_is_adam_sign() -> None:
    # Step 1: m = 0.1 d0 g, v = 0.001 d0^2 g^2, so u = d0 lr 0.1 g / (sqrt(0.001) d0 |g| + ...)
    # = lr 0.1/sqrt(0.001) sign(g) up to eps, i.e. 3.1623 * d0 * lr (x0 = x gives d_hat = 0).
    tx = prodigy(learning_rate=0.5)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    state = tx.init(params)
    updates, state = tx.update({"w": jnp.array([2.0, -1.0, 0.5])}, state, params)
    expected = -0.5 * 1e-6 * 0.1 / math.sqrt(0.001) * np.sign([2.0, -1.0, 0.5])
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-5)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(0.5e-6)


def test_effective_lr_records_d_lr_bias_correction() -> None:
    # float64 parameters make the scalars float64, so the closed form holds to rounding.
    with jax.enable_x64(True):
        tx = scale_by_prodigy(learning_rate=2.0, use_bias_correction=True)
        x = jnp.array([1.0, 2.0], jnp.float64)
        state = tx.init(x)
        for _ in range(4):
            d_before, k = float(state.d), int(state.k)
            _, state = tx.update(x - 3.0, state, x)
            x = x + 0.1
            bc = math.sqrt(1 - 0.999 ** (k + 1)) / (1 - 0.9 ** (k + 1))
            assert float(state.effective_lr) == pytest.approx(d_before * 2.0 * bc, rel=1e-12)
            # adaptlr.effective_lr reports records as float32.
            assert float(adaptlr.effective_lr(state)) == float(np.float32(state.effective_lr))
        assert float(state.d) > 1e-6  # the estimate moved, so the check covered several d


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_zero_gradients_skip_steps_without_nan(dtype: jnp.dtype) -> None:
    tx = prodigy(weight_decay=0.1)  # decoupled decay would move the parameters if not skipped
    params = {"w": jnp.ones((3, 2), dtype), "b": jnp.ones((), dtype)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(10):
        updates, state = update(jax.tree.map(jnp.zeros_like, params), state, params)
        for u in jax.tree.leaves(updates):
            assert u.dtype == dtype
            assert not np.any(np.asarray(u, np.float32))
    inner = state[0]
    assert isinstance(inner, ProdigyState)
    # float16 moments would underflow (d0^2 g^2 ~ 1e-12): they are kept in float32.
    expected = jnp.float32 if dtype == jnp.float16 else dtype
    assert all(v.dtype == expected for v in jax.tree.leaves(inner.exp_avg_sq))
    assert int(inner.k) == 0 and int(inner.count) == 10
    assert float(inner.d) == float(np.float32(1e-6))


def test_zero_gradients_skip_steps_with_injected_eps() -> None:
    # An injected (traced) eps is not known to be positive: the skip selects per entry.
    tx = optax.inject_hyperparams(prodigy)(eps=1e-8, weight_decay=0.1)
    params = {"w": jnp.ones((3, 2))}
    state = tx.init(params)
    for _ in range(3):
        updates, state = jax.jit(tx.update)({"w": jnp.zeros((3, 2))}, state, params)
        np.testing.assert_array_equal(np.asarray(updates["w"]), 0.0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_single_parameter_and_low_precision_stay_finite(dtype: jnp.dtype) -> None:
    tx = prodigy()
    params = jnp.asarray(3.0, dtype)
    state = tx.init(params)

    @jax.jit
    def step(params: jax.Array, state: optax.OptState) -> tuple[jax.Array, optax.OptState]:
        g = jax.grad(lambda p: jnp.square(p.astype(jnp.float32) - 1.0))(params)
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(200):
        params, state = step(params, state)
    assert params.dtype == dtype
    assert np.isfinite(float(params)) and np.isfinite(float(state[0].d))
    if dtype == jnp.float32:
        assert abs(float(params) - 1.0) < 0.5  # d grew from 1e-6 and the parameter moved
    else:
        # Steps of d0 * lr = 1e-6 are below the resolution of 3.0 in bf16/f16 (1.6e-2, 2e-3),
        # so x stays at x0, <g, x0 - x> = 0 and d never grows: the documented limitation.
        assert float(params) == 3.0 and float(state[0].d) == float(np.float32(1e-6))


def test_learning_rate_zero_from_schedule_changes_nothing() -> None:
    tx = scale_by_prodigy(learning_rate=lambda count: jnp.where(count < 2, 0.0, 1.0))
    x = jnp.array([1.0, 2.0])
    state = tx.init(x)
    for _ in range(2):
        u, new_state = tx.update(jnp.array([1.0, -1.0]), state, x)
        assert not np.any(np.asarray(u))
        np.testing.assert_array_equal(new_state.exp_avg_sq, state.exp_avg_sq)
        np.testing.assert_array_equal(new_state.s, state.s)
        state = new_state
    u, state = tx.update(jnp.array([1.0, -1.0]), state, x)
    assert np.all(np.asarray(u) != 0) and int(state.k) == 1


def test_slice_p_state_is_flat_and_strided() -> None:
    tx = scale_by_prodigy(slice_p=4)
    params = {"w": jnp.arange(10.0).reshape(2, 5), "s": jnp.asarray(1.0)}
    state = tx.init(params)
    np.testing.assert_array_equal(state.p0["w"], [0.0, 4.0, 8.0])
    assert state.s["w"].shape == (3,) and state.s["s"].shape == (1,)
    assert state.exp_avg_sq["w"].shape == (2, 5)


def test_no_momentum_stores_no_first_moment() -> None:
    state = scale_by_prodigy(b1=0.0).init({"w": jnp.ones(4)})
    assert state.exp_avg == ()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        # learning_rate = 0 is valid (no step; one rule for every method, CONTRIBUTING.md).
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"b1": 1.0}, "b1"),
        ({"b2": -0.1}, "b2"),
        ({"b3": 1.5}, "b3"),
        ({"eps": 0.0}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"d0": 0.0}, "d0"),
        ({"d_coef": -2.0}, "d_coef"),
        ({"growth_rate": 0.5}, "growth_rate"),
        ({"slice_p": 0}, "slice_p"),
        ({"slice_p": 2.5}, "slice_p"),
    ],
)
def test_bad_hyperparameters_raise(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        prodigy(**kwargs)


def test_sharded_parameters_match_unsharded() -> None:
    devices = np.array(jax.devices()[:8])
    assert devices.size == 8  # tests/conftest.py provides 8 host devices
    mesh = jax.sharding.Mesh(devices, ("x",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    tx = prodigy(weight_decay=0.01, slice_p=3)
    rng = np.random.default_rng(1)

    def run(params: jax.Array, target: jax.Array) -> jax.Array:
        state = tx.init(params)
        step = jax.jit(lambda p, s: tx.update(p - target, s, p))
        for _ in range(20):
            u, state = step(params, state)
            # One sharded program at a time: with JAX's asynchronous dispatch the next step's
            # collectives could start while this step's were in flight, and XLA:CPU's
            # in-process collectives then deadlocked about once in 30 runs (the worker aborted
            # at the collective time limit).
            params = jax.block_until_ready(optax.apply_updates(params, u))
        return params

    # float64, so that the different summation order of the sharded reductions (partial sums
    # per device) stays at rounding level instead of float32's 1e-5 after 20 steps.
    with jax.enable_x64(True):
        params = jnp.asarray(rng.standard_normal(64))
        target = jnp.asarray(rng.standard_normal(64))
        plain = run(params, target)
        sharded = run(jax.device_put(params, sharding), jax.device_put(target, sharding))
        assert sharded.sharding.is_equivalent_to(sharding, 1)
        assert float(jnp.max(jnp.abs(plain - params))) > 1e-3  # the parameters moved
        np.testing.assert_allclose(sharded, plain, rtol=1e-10, atol=1e-12)


def test_every_hyperparameter_can_be_injected() -> None:
    # inject_hyperparams traces every numeric argument it is given; results must not change.
    kwargs = dict(learning_rate=0.5, b1=0.8, b2=0.99, b3=0.9, eps=1e-6, weight_decay=0.01,
                  d0=1e-4, d_coef=0.8, growth_rate=1.5)
    params = jnp.array([1.0, -2.0, 0.5])
    outs = []
    for tx in (optax.inject_hyperparams(prodigy)(**kwargs), prodigy(**kwargs)):
        p, state = params, tx.init(params)
        for _ in range(8):
            updates, state = jax.jit(tx.update)(p - 3.0, state, p)
            p = optax.apply_updates(p, updates)
        outs.append(p)
    assert float(jnp.max(jnp.abs(outs[1] - params))) > 1e-3
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5)


def test_slice_p_is_structural_under_inject_hyperparams() -> None:
    params = jnp.ones(6)
    ok = optax.inject_hyperparams(prodigy, static_args=("slice_p",))(slice_p=2)
    state = ok.init(params)
    jax.jit(ok.update)(params, state, params)
    traced = optax.inject_hyperparams(prodigy)(slice_p=2)
    state = traced.init(params)
    with pytest.raises(TypeError, match="static_args"):
        jax.jit(traced.update)(params, state, params)
