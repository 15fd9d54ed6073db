"""Schedule-Free: golden y and x trajectories of ``schedulefree``, closed forms, edge cases."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.parameter_free.schedule_free import (
    ScheduleFreeState,
    scale_by_schedule_free_sgd,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_radam,
    schedule_free_sgd,
)
from tests import reference_problems as rp
from tests.xla_cost import step_bytes_per_param

GOLDENS = pathlib.Path(__file__).with_name("goldens")
X_EVERY = 10  # generate_goldens_prodigy_schedulefree.X_EVERY

# The generator's settings (generate_goldens_prodigy_schedulefree.SCHEDULE_FREE) in our
# vocabulary: the reference's momentum is b1, weight_decay_at_y is weight_decay.
SETTINGS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "schedule_free_sgd_default": lambda: schedule_free_sgd(),
    "schedule_free_sgd_warmup_r": lambda: schedule_free_sgd(
        0.5, b1=0.8, weight_decay=0.01, warmup_steps=20, r=1.0, weight_lr_power=1.0
    ),
    "schedule_free_sgd_r_half": lambda: schedule_free_sgd(
        1.5, b1=0.95, warmup_steps=50, r=0.5, weight_lr_power=3.0
    ),
    "schedule_free_adamw_default": lambda: schedule_free_adamw(),
    "schedule_free_adamw_decay_warmup": lambda: schedule_free_adamw(
        0.02, b1=0.95, b2=0.99, weight_decay=0.1, warmup_steps=10, r=2.0, weight_lr_power=0.0
    ),
    "schedule_free_adamw_eps_r": lambda: schedule_free_adamw(
        0.01, eps=1e-4, warmup_steps=30, r=0.5, weight_lr_power=3.0
    ),
    "schedule_free_radam_default": lambda: schedule_free_radam(),
    "schedule_free_radam_sgd_phase": lambda: schedule_free_radam(
        0.01, b2=0.99, weight_decay=0.05, silent_sgd_phase=False
    ),
    "schedule_free_radam_r": lambda: schedule_free_radam(
        0.02, b1=0.8, r=1.0, weight_lr_power=1.0
    ),
    "schedule_free_wrap_sgd": lambda: schedule_free(optax.sgd(0.5), 0.5),
    "schedule_free_wrap_adam_decay": lambda: schedule_free(
        optax.adam(0.01, b1=0.0), 0.01, weight_decay=0.1, r=1.0
    ),
    "schedule_free_wrap_adagrad": lambda: schedule_free(
        optax.adagrad(0.1, initial_accumulator_value=0.1, eps=0.0), 0.1, b1=0.8
    ),
    "schedule_free_wrap_sgd_momentum": lambda: schedule_free(
        optax.sgd(0.2, momentum=0.5), 0.2, b1=0.7, weight_lr_power=1.0
    ),
}


def load_golden(name: str, problem: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(y trajectory, x snapshots)`` of one setting on one problem."""
    with np.load(GOLDENS / f"{name}.npz") as data:
        y = {k.split("/")[1]: data[k] for k in data.files
             if k.startswith(f"{problem}/") and k.count("/") == 1}
        x = {k.split("/")[2]: data[k] for k in data.files if k.startswith(f"{problem}/x/")}
    return y, x


def run_with_eval_point(
    problem: str, tx: optax.GradientTransformation, eval_params: Callable[..., Any]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Like ``reference_problems.run_jax`` (call under x64), also recording ``x``."""
    params = {k: jnp.asarray(v, jnp.float64) for k, v in rp.init_params(problem).items()}
    loss_fn = rp.jax_loss(problem)
    state = tx.init(params)

    @jax.jit
    def step(params: Any, state: Any) -> Any:
        grads = jax.grad(loss_fn)(params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        return params, state, eval_params(state, params)

    ys = {k: [np.asarray(v)] for k, v in params.items()}
    xs = {k: [np.asarray(v)] for k, v in params.items()}
    for t in range(1, rp.STEPS + 1):
        params, state, x = step(params, state)
        for k in params:
            ys[k].append(np.asarray(params[k]))
            if t % X_EVERY == 0:
                xs[k].append(np.asarray(x[k]))
    return {k: np.stack(v) for k, v in ys.items()}, {k: np.stack(v) for k, v in xs.items()}


def _run(problem: str, tx: optax.GradientTransformation, eval_params: Callable[..., Any]) -> Any:
    # The shared MLP loss broadcasts its biases, which tests/conftest.py's rank-promotion
    # setting would reject.
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        return run_with_eval_point(problem, tx, eval_params)


@pytest.mark.parametrize("problem", rp.PROBLEMS)
@pytest.mark.parametrize("name", list(SETTINGS))
def test_matches_reference_y_and_x(name: str, problem: str) -> None:
    golden_y, golden_x = load_golden(name, problem)
    ours_y, ours_x = _run(problem, SETTINGS[name](), schedule_free_eval_params)
    # max_relative_error alone would pass a NaN trajectory (max(0.0, nan) is 0.0).
    for traj in (*ours_y.values(), *ours_x.values()):
        assert np.all(np.isfinite(traj))
    assert ours_y.keys() == golden_y.keys() and ours_x.keys() == golden_x.keys()
    assert golden_x["w" if problem == "quadratic" else "w1"].shape[0] == rp.STEPS // X_EVERY + 1
    assert rp.max_relative_error(ours_y, golden_y) <= 1e-10
    assert rp.max_relative_error(ours_x, golden_x) <= 1e-10


def test_sgd_matches_closed_form_on_a_quadratic() -> None:
    # f(y) = 0.5 * a * y^2, written out from the paper's three sequences (no shortcuts).
    a, lr, beta, steps = 0.7, 0.3, 0.9, 25
    z = x = 2.0
    weight_sum = 0.0
    expected_y, expected_x = [], []
    for k in range(steps):
        y = (1 - beta) * z + beta * x
        z = z - lr * a * y
        weight = lr**2  # r = 0, weight_lr_power = 2, constant lr
        weight_sum += weight
        c = weight / weight_sum  # = 1 / (k + 1): the uniform average
        assert c == pytest.approx(1 / (k + 1))
        x = (1 - c) * x + c * z
        expected_y.append((1 - beta) * z + beta * x)
        expected_x.append(x)
    with jax.enable_x64(True):
        tx = schedule_free_sgd(lr, b1=beta)
        y = jnp.asarray(2.0, jnp.float64)
        state = tx.init(y)
        got_y, got_x = [], []
        for _ in range(steps):
            updates, state = tx.update(a * y, state, y)
            y = y + updates
            got_y.append(float(y))
            got_x.append(float(schedule_free_eval_params(state, y)))
    np.testing.assert_allclose(got_y, expected_y, rtol=1e-13)
    np.testing.assert_allclose(got_x, expected_x, rtol=1e-13)


def test_eval_params_inside_chain_masked_and_multi_transform() -> None:
    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0]), "c": jnp.array([-1.0])}
    grads = {"a": jnp.array([0.5, -0.5]), "b": jnp.array([1.0]), "c": jnp.array([2.0])}
    labels = {"a": "sf", "b": "sf2", "c": "plain"}
    tx = optax.chain(
        optax.clip_by_global_norm(10.0),
        optax.multi_transform(
            {
                "sf": schedule_free_sgd(0.1, b1=0.9),
                "sf2": optax.masked(
                    schedule_free_adamw(0.1, b1=0.5), {"a": False, "b": True, "c": False}
                ),
                "plain": optax.sgd(0.1),
            },
            labels,
        ),
    )
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    x = schedule_free_eval_params(state, params)
    # Each part against the same method run alone on that part.
    alone_a, alone_b = schedule_free_sgd(0.1, b1=0.9), schedule_free_adamw(0.1, b1=0.5)
    pa, pb = jnp.array([1.0, 2.0]), jnp.array([3.0])
    sa, sb = alone_a.init(pa), alone_b.init(pb)
    for _ in range(3):
        ua, sa = alone_a.update(grads["a"], sa, pa)
        ub, sb = alone_b.update(grads["b"], sb, pb)
        pa, pb = pa + ua, pb + ub
    np.testing.assert_allclose(x["a"], schedule_free_eval_params(sa, pa), rtol=1e-6)
    np.testing.assert_allclose(x["b"], schedule_free_eval_params(sb, pb), rtol=1e-6)
    np.testing.assert_array_equal(x["c"], params["c"])  # not schedule-free: unchanged


@pytest.mark.parametrize(
    "wrap",
    [
        lambda: optax.inject_hyperparams(schedule_free_adamw)(learning_rate=0.05),
        lambda: optax.MultiSteps(schedule_free_adamw(0.05), every_k_schedule=1),
        lambda: optax.apply_if_finite(schedule_free_adamw(0.05), 3),
    ],
)
def test_eval_params_through_optax_wrappers(wrap: Callable[[], Any]) -> None:
    # Every wrapper leaves the method itself unchanged, so x must equal the bare method's.
    params = jnp.array([1.0, -2.0, 0.5])
    grads = jnp.array([0.3, -0.1, 0.2])
    results = []
    for tx in (wrap(), schedule_free_adamw(0.05)):
        p, state = params, tx.init(params)
        for _ in range(4):
            updates, state = tx.update(grads * p, state, p)
            p = optax.apply_updates(p, updates)
        results.append(schedule_free_eval_params(state, p))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    assert not np.allclose(results[1], params)  # x moved


def test_wrapper_around_an_adaptlr_method() -> None:
    # The wrapper's record and Prodigy's own both reach effective_lrs(by="location"); the
    # summary is Prodigy's (the wrapper's learning rate is the one Prodigy was given).
    tx = schedule_free(adaptlr.prodigy(), 1.0)
    params = {"w": jnp.array([1.0, 2.0])}
    state = tx.init(params)
    for _ in range(5):
        updates, state = tx.update({"w": params["w"] - 3.0}, state, params)
        params = optax.apply_updates(params, updates)
    records = adaptlr.effective_lrs(state, by="location")
    assert len(records) == 2 and all(np.isfinite(float(v)) for v in records.values())
    assert float(adaptlr.effective_lr(state)) == float(state[0].base_state[0].effective_lr)
    assert np.all(np.isfinite(np.asarray(schedule_free_eval_params(state, params)["w"])))


def test_eval_params_without_state_raises() -> None:
    with pytest.raises(ValueError, match="ScheduleFreeState"):
        schedule_free_eval_params(optax.sgd(0.1).init(jnp.ones(2)), jnp.ones(2))


def test_wrapper_state_records_base_state_and_lr() -> None:
    base = optax.adam(0.01, b1=0.0)
    tx = schedule_free(base, 0.01)
    params = jnp.ones(3)
    state = tx.init(params)
    sf_state = state[0]
    assert isinstance(sf_state, ScheduleFreeState)
    assert isinstance(sf_state.base_state[0], optax.ScaleByAdamState)
    _, state = tx.update(jnp.ones(3), state, params)
    assert int(state[0].base_state[0].count) == 1
    assert float(adaptlr.effective_lr(state)) == pytest.approx(0.01)


def test_warmup_reported_as_effective_lr() -> None:
    tx = schedule_free_adamw(0.1, warmup_steps=4)
    params = jnp.ones(2)
    state = tx.init(params)
    seen = []
    for _ in range(6):
        _, state = tx.update(jnp.ones(2), state, params)
        seen.append(float(adaptlr.effective_lr(state)))
    np.testing.assert_allclose(seen, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-6)


def test_radam_silent_phase_leaves_parameters_until_rectification() -> None:
    # rho_k = rho_inf - 2 k b2^k / (1 - b2^k) is 1, 1.995, 2.987, 3.975, 4.960 for b2 = 0.99:
    # the first step with rho_k > 4 is k = 5.
    tx = schedule_free_radam(0.01, b2=0.99)
    params = jnp.ones(3)
    state = tx.init(params)
    moved = []
    for _ in range(8):
        updates, state = tx.update(jnp.ones(3), state, params)
        moved.append(bool(jnp.any(updates != 0)))
    assert moved == [False] * 4 + [True] * 4


@pytest.mark.parametrize("make", [schedule_free_sgd, schedule_free_adamw, schedule_free_radam])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_zero_gradients_and_single_parameter_stay_finite(make: Any, dtype: Any) -> None:
    tx = make(weight_decay=0.1)
    params = jnp.asarray(2.0, dtype)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(10):
        updates, state = update(jnp.zeros((), dtype), state, params)
        params = optax.apply_updates(params, updates)
        assert updates.dtype == dtype
    assert np.isfinite(float(params))
    assert np.isfinite(float(schedule_free_eval_params(state, params)))


def test_learning_rate_zero_gives_no_step_and_no_nan() -> None:
    tx = schedule_free_sgd(lambda count: jnp.where(count < 3, 0.0, 0.1))
    params = jnp.array([1.0, -1.0])
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(jnp.array([1.0, 1.0]), state, params)
        np.testing.assert_array_equal(updates, 0.0)
    updates, state = tx.update(jnp.array([1.0, 1.0]), state, params)
    # First real step: c = 1 (all the weight so far), so y' = z - lr g ... = y - lr g.
    np.testing.assert_allclose(updates, [-0.1, -0.1], rtol=1e-6)


@pytest.mark.parametrize(
    ("make", "kwargs", "name"),
    [
        (schedule_free_sgd, {"learning_rate": -1.0}, "learning_rate"),
        (schedule_free_sgd, {"b1": 0.0}, "b1"),
        (schedule_free_sgd, {"warmup_steps": 2.5}, "warmup_steps"),
        (schedule_free_adamw, {"b2": 1.0}, "b2"),
        (schedule_free_adamw, {"eps": 0.0}, "eps"),
        (schedule_free_adamw, {"weight_decay": -0.1}, "weight_decay"),
        (schedule_free_radam, {"r": -1.0}, "r"),
        (schedule_free_radam, {"weight_lr_power": -2.0}, "weight_lr_power"),
        (scale_by_schedule_free_sgd, {"b1": 1.5}, "b1"),
    ],
)
def test_bad_hyperparameters_raise(make: Any, kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make(**kwargs)


def test_wrapper_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError, match="b1"):
        schedule_free(optax.sgd(0.1), 0.1, b1=0.0)


def test_sharded_parameters_match_unsharded() -> None:
    devices = np.array(jax.devices()[:8])
    assert devices.size == 8  # tests/conftest.py provides 8 host devices
    mesh = jax.sharding.Mesh(devices, ("x",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    tx = schedule_free_adamw(0.05, weight_decay=0.01, warmup_steps=3)
    rng = np.random.default_rng(2)
    params = jnp.asarray(rng.standard_normal(64), jnp.float32)
    target = jnp.asarray(rng.standard_normal(64), jnp.float32)

    def run(params: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array]:
        state = tx.init(params)
        step = jax.jit(lambda p, s: tx.update(p - target, s, p))
        for _ in range(10):
            u, state = step(params, state)
            # One sharded program at a time (see test_prodigy's sharding test).
            params = jax.block_until_ready(optax.apply_updates(params, u))
        return params, schedule_free_eval_params(state, params)

    plain = run(params, target)
    sharded = run(jax.device_put(params, sharding), jax.device_put(target, sharding))
    assert sharded[0].sharding.is_equivalent_to(sharding, 1)
    for a, b in zip(sharded, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


REGION_ANALYSIS = {"xla_cpu_copy_insertion_use_region_analysis": True}


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        # SGD: read g, y, z, write y, z = 20; XLA:CPU reads g twice and z' once more: 28.
        # Optax's y' reads the old z and z', so XLA copies z first: 36.
        (lambda: schedule_free_sgd(), lambda: optax.contrib.schedule_free_sgd(), 28),
        # AdamW: v pass 12, z pass 16, y pass 20 (the normalised gradient recomputed); 52
        # for Optax's (its z copied first, the normalised gradient written out once).
        (lambda: schedule_free_adamw(), lambda: optax.contrib.schedule_free_adamw(), 48),
        (lambda: schedule_free_radam(), lambda: optax.contrib.schedule_free_adamw(), 48),
        (lambda: adaptlr.prodigy(), lambda: optax.contrib.prodigy(), None),
    ],
)
def test_memory_traffic_not_above_optax_contrib(
    ours: Any, theirs: Any, expected: int | None
) -> None:
    # Updates are memory-bound; the compiled step must not move more bytes than Optax's, with
    # XLA's default options and with region analysis. Rounded to whole bytes per parameter:
    # scalar state (a few dozen bytes) is not traffic. Schedule-Free's y' reads only the new z
    # (see the module docstring), so z is updated in place without region analysis.
    for options in (None, REGION_ANALYSIS):
        mine = round(step_bytes_per_param(ours(), options))
        assert mine <= round(step_bytes_per_param(theirs(), options))
        if expected is not None:
            assert mine == expected


def test_state_dtype_keeps_z_in_float32_for_bfloat16_parameters() -> None:
    tx = schedule_free_adamw(0.01, state_dtype=jnp.float32)
    params = {"w": jnp.full((3,), 1.0, jnp.bfloat16)}
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update({"w": jnp.full((3,), 0.5, jnp.bfloat16)}, state, params)
        params = optax.apply_updates(params, updates)
    sf = state[0]
    assert sf.z["w"].dtype == jnp.float32 and sf.base_state["w"].dtype == jnp.float32
    assert params["w"].dtype == jnp.bfloat16
    assert schedule_free_eval_params(state, params)["w"].dtype == jnp.bfloat16
    # z moved by 3 steps of lr * g / (|g| + eps) = 0.01 each, kept exactly in float32.
    np.testing.assert_allclose(sf.z["w"], 1.0 - 0.03, rtol=1e-6)


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (schedule_free_sgd, {"learning_rate": 0.1, "warmup_steps": 3, "weight_decay": 0.01}),
        (schedule_free_adamw, {"learning_rate": 0.1, "warmup_steps": 3, "b1": 0.8}),
        (schedule_free_radam, {"learning_rate": 0.1, "r": 1.0, "weight_lr_power": 1.0}),
    ],
)
def test_every_hyperparameter_can_be_injected(factory: Any, kwargs: dict[str, float]) -> None:
    # inject_hyperparams traces every numeric argument it is given; results must not change.
    params = jnp.array([1.0, -2.0])
    outs = []
    for tx in (optax.inject_hyperparams(factory)(**kwargs), factory(**kwargs)):
        p, state = params, tx.init(params)
        for _ in range(6):
            updates, state = jax.jit(tx.update)(p * 0.5, state, p)
            p = optax.apply_updates(p, updates)
        outs.append((p, schedule_free_eval_params(state, p)))
    for a, b in zip(outs[0], outs[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_wrapper_weight_decay_can_be_injected() -> None:
    def make(weight_decay: Any) -> optax.GradientTransformation:
        return schedule_free(optax.sgd(0.1), 0.1, weight_decay=weight_decay)

    params = jnp.array([1.0, -2.0])
    outs = []
    for tx in (optax.inject_hyperparams(make)(weight_decay=0.05), make(0.05)):
        p, state = params, tx.init(params)
        for _ in range(4):
            updates, state = tx.update(p * 0.5, state, p)
            p = optax.apply_updates(p, updates)
        outs.append(p)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)
