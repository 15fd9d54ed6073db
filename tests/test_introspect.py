"""Tests for adaptlr.introspect: step-size records through Optax wrappers, update statistics."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.introspect import (
    as_floats,
    effective_lr,
    effective_lr_scalars,
    effective_lrs,
    log_stats,
    preconditioner_lr_stats,
    update_stats,
)

PARAMS = {"a": jnp.ones((2, 3)), "b": jnp.ones(4)}


def grads_like(params, value=1.0):
    return jax.tree.map(lambda p: jnp.full_like(p, value), params)


def step(tx, params=PARAMS, n=1):
    state = tx.init(params)
    for _ in range(n):
        _, state = tx.update(grads_like(params), state, params)
    return state


class PerParameterState(NamedTuple):
    effective_lr: dict  # like params: the per-parameter step size


def per_parameter_method(values):
    """Records a fixed per-parameter step-size tree (values keyed like PARAMS)."""

    def init_fn(params):
        return PerParameterState(jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        del params
        return updates, PerParameterState(values)

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------------------------
# effective_lr through Optax wrappers
# --------------------------------------------------------------------------------------------


def test_chain_ending_in_scale_by_learning_rate():
    tx = optax.chain(optax.scale_by_adam(), adaptlr.scale_by_learning_rate(0.01))
    assert float(effective_lr(tx.init(PARAMS))) == 0.0  # before the first update
    np.testing.assert_allclose(effective_lr(step(tx)), 0.01)
    assert list(effective_lrs(step(tx))) == ["all"]
    assert list(effective_lrs(step(tx), by="location")) == ["1"]


def test_schedule_is_read_at_the_step_it_was_applied():
    schedule = optax.linear_schedule(1.0, 0.0, 10)
    tx = optax.chain(optax.identity(), adaptlr.scale_by_learning_rate(schedule))
    # After 3 updates the last one used schedule(2) = 0.8.
    np.testing.assert_allclose(effective_lr(step(tx, n=3)), 0.8, rtol=1e-6)


def test_inject_hyperparams_learning_rate_and_schedule():
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=3e-4)
    np.testing.assert_allclose(effective_lr(tx.init(PARAMS)), 3e-4)
    assert list(effective_lrs(tx.init(PARAMS))) == ["all"]
    assert list(effective_lrs(tx.init(PARAMS), by="location")) == ["hyperparams/learning_rate"]
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=optax.linear_schedule(1.0, 0.0, 10))
    # Optax stores the value it applied: after 2 updates, schedule(1) = 0.9.
    np.testing.assert_allclose(effective_lr(step(tx, n=2)), 0.9, rtol=1e-6)


def test_inner_record_wins_over_injected_learning_rate():
    def build(learning_rate):
        return optax.chain(optax.scale_by_adam(), adaptlr.scale_by_learning_rate(learning_rate))

    tx = optax.inject_hyperparams(build)(learning_rate=0.5)
    records = effective_lrs(step(tx), by="location")
    assert list(records) == ["inner_state/1"]
    np.testing.assert_allclose(records["inner_state/1"], 0.5)
    np.testing.assert_allclose(effective_lr(step(tx)), 0.5)


def test_masked_and_multi_transform():
    masked = optax.masked(adaptlr.scale_by_learning_rate(0.1), {"a": True, "b": False})
    np.testing.assert_allclose(effective_lr(step(masked)), 0.1)

    tx = optax.multi_transform(
        {
            "fast": optax.inject_hyperparams(optax.sgd)(learning_rate=1.0),
            "slow": optax.chain(optax.scale_by_adam(), adaptlr.scale_by_learning_rate(1e-3)),
        },
        {"a": "fast", "b": "slow"},
    )
    state = step(tx)
    records = effective_lrs(state)
    assert set(records) == {"fast", "slow"}  # the group names
    np.testing.assert_allclose(records["fast"], 1.0)
    np.testing.assert_allclose(records["slow"], 1e-3)
    assert set(effective_lrs(state, by="location")) == {
        "inner_states/fast/inner_state/hyperparams/learning_rate",
        "inner_states/slow/inner_state/1",
    }
    # Plain SGD keeps nothing shaped like its parameters: how many the "fast" group holds,
    # the weight of the summary, is unknown.
    with pytest.raises(ValueError, match="effective_lrs"):
        effective_lr(state)
    # Nor can it say which parameters "fast" covers.
    with pytest.raises(ValueError, match="by='group'"):
        effective_lrs(state, by="path")


def test_several_groups_are_summarised_by_parameter_count():
    # "a" (6 entries) at 1.0 with momentum SGD, "b" (4 entries) at 1e-3 with Adam: the mean
    # step size over the 10 parameter entries is (6 * 1.0 + 4 * 1e-3) / 10.
    tx = optax.multi_transform(
        {
            "fast": optax.inject_hyperparams(optax.sgd)(learning_rate=1.0, momentum=0.9),
            "slow": optax.chain(optax.scale_by_adam(), adaptlr.scale_by_learning_rate(1e-3)),
        },
        {"a": "fast", "b": "slow"},
    )
    state = step(tx)
    np.testing.assert_allclose(effective_lr(state), (6 * 1.0 + 4 * 1e-3) / 10, rtol=1e-6)
    by_path = effective_lrs(state, by="path")
    assert set(by_path) == {"a", "b"}
    np.testing.assert_allclose([by_path["a"], by_path["b"]], [1.0, 1e-3], rtol=1e-6)


def test_param_groups_keys_are_group_names_and_parameter_paths():
    params = {"encoder": {"kernel": jnp.ones((3, 3)), "bias": jnp.zeros(3)},
              "head": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    tx = adaptlr.param_groups([adaptlr.group("head/*", lr_scale=10.0, name="head")],
                              optax.inject_hyperparams(optax.adamw), learning_rate=1e-3)
    state = tx.init(params)
    by_group = effective_lrs(state)
    assert set(by_group) == {"default", "head"}
    np.testing.assert_allclose([by_group["default"], by_group["head"]], [1e-3, 1e-2], rtol=1e-6)
    by_path = effective_lrs(state, by="path")
    assert set(by_path) == {"encoder/kernel", "encoder/bias", "head/kernel", "head/bias"}
    np.testing.assert_allclose(by_path["head/bias"], 1e-2, rtol=1e-6)
    np.testing.assert_allclose(by_path["encoder/bias"], 1e-3, rtol=1e-6)
    # 12 entries at 1e-3, 8 at 1e-2.
    np.testing.assert_allclose(effective_lr(state), (12 * 1e-3 + 8 * 1e-2) / 20, rtol=1e-6)


def test_records_in_one_chain_multiply():
    tx = optax.chain(adaptlr.scale_by_learning_rate(0.2), adaptlr.scale_by_learning_rate(0.5))
    np.testing.assert_allclose(effective_lr(step(tx)), 0.1, rtol=1e-6)
    assert len(effective_lrs(step(tx), by="location")) == 2


def test_rejects_an_unknown_by():
    with pytest.raises(ValueError, match="by must be one of"):
        effective_lrs(step(adaptlr.scale_by_learning_rate(0.1)), by="leaf")


def test_multi_steps_wrapper():
    tx = optax.MultiSteps(
        optax.chain(optax.identity(), adaptlr.scale_by_learning_rate(0.2)), every_k_schedule=2
    )
    np.testing.assert_allclose(effective_lr(step(tx, n=2)), 0.2)


def test_plain_optax_optimizer_has_no_record():
    with pytest.raises(ValueError, match="inject_hyperparams"):
        effective_lr(optax.adam(1e-3).init(PARAMS))
    assert effective_lr_scalars(optax.adam(1e-3).init(PARAMS)) == {}


class MomentState(NamedTuple):
    mu: dict  # like params
    effective_lr: dict  # like params: one mean step size per leaf


def per_leaf_method_with_moments(leaf_means):
    """Records one step size per leaf next to a parameter-shaped field, as adaptlr's do."""

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return MomentState(zeros, jax.tree.map(lambda p: jnp.zeros(()), params))

    def update_fn(updates, state, params=None):
        del params
        return updates, MomentState(state.mu, leaf_means)

    return optax.GradientTransformation(init_fn, update_fn)


def test_per_parameter_records_are_summarised():
    values = {"a": jnp.full((2, 3), 2.0), "b": jnp.arange(4.0)}
    state = step(per_parameter_method(values))
    per_leaf = effective_lrs(state, by="path")
    np.testing.assert_allclose(per_leaf["a"], 2.0)
    np.testing.assert_allclose(per_leaf["b"], 1.5)
    # One number: the mean over all 10 parameter entries, not the mean of the leaf means.
    # Nothing in this state is shaped like the parameters, so their sizes come from params.
    with pytest.raises(ValueError, match="params="):
        effective_lr(state)
    summary = effective_lr(state, PARAMS)
    assert summary.shape == () and summary.dtype == jnp.float32
    np.testing.assert_allclose(summary, (6 * 2.0 + 0 + 1 + 2 + 3) / 10, rtol=1e-6)
    np.testing.assert_allclose(effective_lr_scalars(state, PARAMS)["all"], summary)


def test_per_leaf_records_are_weighted_by_the_sizes_found_in_the_state():
    # Leaf means 2 (6 entries) and 0.5 (4 entries): weighted (12 + 2) / 10 = 1.4, where the
    # unweighted mean over leaves would be 1.25. The sizes come from the state's "mu".
    state = step(per_leaf_method_with_moments({"a": jnp.asarray(2.0), "b": jnp.asarray(0.5)}))
    np.testing.assert_allclose(effective_lr(state), 1.4, rtol=1e-6)
    np.testing.assert_allclose(effective_lrs(state)["all"], 1.4, rtol=1e-6)
    assert effective_lrs(state, by="path") == {"a": 2.0, "b": 0.5}


def check_one_float32_scalar(name):
    spec = adaptlr.registry.get(name)
    tx = spec.build()
    state = tx.init(PARAMS)
    extra = {"value": jnp.asarray(1.0)} if spec.needs_value else {}
    if spec.needs_value_fn:  # line searches: a loss to evaluate at trial points
        extra["value_fn"] = lambda p: sum(jnp.sum(x * x) for x in jax.tree.leaves(p))
    _, state = tx.update(grads_like(PARAMS, 0.1), state, PARAMS, **extra)
    value = effective_lr(state)
    assert isinstance(value, jax.Array), name
    assert value.shape == () and value.dtype == jnp.float32, name
    by_path = effective_lrs(state, by="path", params=PARAMS)
    assert set(by_path) == {"a", "b"}, name
    # The summary is the size-weighted mean of the per-parameter values.
    np.testing.assert_allclose(value, (6 * by_path["a"] + 4 * by_path["b"]) / 10,
                               rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", ["adabound", "cocob", "ldog", "idbd", "prodigy", "sps"])
def test_registered_methods_report_one_float32_scalar(name):
    # Per-parameter records (property, field, per-leaf global), global ones, a loss-driven one.
    check_one_float32_scalar(name)


@pytest.mark.slow
def test_every_registered_method_reports_one_float32_scalar():
    for name in adaptlr.registry.names():
        check_one_float32_scalar(name)


def test_effective_lr_under_jit_and_vmap():
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)

    def read(lr):
        state = tx.init(PARAMS)._replace(hyperparams={"learning_rate": lr})
        return effective_lr(state)

    np.testing.assert_allclose(jax.jit(jax.vmap(read))(jnp.array([0.1, 0.2])), [0.1, 0.2])


# --------------------------------------------------------------------------------------------
# update_stats / preconditioner_lr_stats / log_stats
# --------------------------------------------------------------------------------------------


def test_update_stats_closed_form():
    params = {"a": jnp.full((2, 2), 3.0), "b": jnp.array([4.0, 0.0]), "z": jnp.zeros(3)}
    updates = {"a": jnp.full((2, 2), 0.5), "b": jnp.array([0.0, 0.3]), "z": jnp.zeros(3)}
    stats = update_stats(updates, params)
    # |a| = 6, |u_a| = 1; |b| = 4, |u_b| = 0.3; all: sqrt(36 + 16) and sqrt(1 + 0.09).
    np.testing.assert_allclose(stats.leaf_ratios["a"], 1 / 6, rtol=1e-6)
    np.testing.assert_allclose(stats.leaf_ratios["b"], 0.3 / 4, rtol=1e-6)
    assert float(stats.leaf_ratios["z"]) == 0.0  # 0 / 0: nothing moved
    np.testing.assert_allclose(stats.param_norm, np.sqrt(52.0), rtol=1e-6)
    np.testing.assert_allclose(stats.update_norm, np.sqrt(1.09), rtol=1e-6)
    np.testing.assert_allclose(stats.ratio, np.sqrt(1.09 / 52.0), rtol=1e-6)


def test_update_stats_edge_cases_never_nan():
    stats = update_stats({"z": jnp.zeros(2)}, {"z": jnp.zeros(2)})
    assert float(stats.ratio) == 0.0
    stats = update_stats({"z": jnp.ones(2)}, {"z": jnp.zeros(2)})
    assert float(stats.ratio) == np.inf  # a zero tensor being moved
    stats = update_stats({}, {})
    assert float(stats.ratio) == 0.0
    stats = update_stats({"e": jnp.zeros((0, 3))}, {"e": jnp.zeros((0, 3))})
    assert float(stats.leaf_ratios["e"]) == 0.0
    # bf16 parameters: statistics in float32, no overflow of the squares.
    big = jnp.full((4,), 300.0, jnp.bfloat16)
    stats = update_stats({"w": big}, {"w": big})
    assert stats.ratio.dtype == jnp.float32
    np.testing.assert_allclose(stats.ratio, 1.0)


def adam_reference_lrs(grads_seq, lr, b2, eps, eps_root=0.0):
    """Per-parameter Adam step sizes lr / (sqrt(v_hat + eps_root) + eps), in NumPy."""
    v = np.zeros_like(grads_seq[0])
    for g in grads_seq:
        v = b2 * v + (1 - b2) * g**2
    v_hat = v / (1 - b2 ** len(grads_seq))
    return lr / (np.sqrt(v_hat + eps_root) + eps)


def test_preconditioner_lr_stats_matches_numpy_adam():
    rng = np.random.default_rng(0)
    grads_seq = [rng.normal(size=50).astype(np.float32) for _ in range(5)]
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.01, b2=0.9, eps=1e-3)
    params = jnp.zeros(50)
    state = tx.init(params)
    for g in grads_seq:
        _, state = tx.update(jnp.asarray(g), state, params)
    levels = (0.0, 0.25, 0.5, 0.75, 1.0)
    stats = preconditioner_lr_stats(state, quantiles=levels)
    expected = adam_reference_lrs([g.astype(np.float64) for g in grads_seq], 0.01, 0.9, 1e-3)
    for q in levels:
        np.testing.assert_allclose(stats[f"q{100 * q:g}"], np.quantile(expected, q), rtol=1e-5)
    np.testing.assert_allclose(stats["mean"], expected.mean(), rtol=1e-5)


def test_preconditioner_lr_stats_plain_adam_needs_explicit_values():
    rng = np.random.default_rng(1)
    g = rng.normal(size=20).astype(np.float32)
    tx = optax.adam(0.1, b2=0.99, eps=1e-8)
    state = tx.init(jnp.zeros(20))
    _, state = tx.update(jnp.asarray(g), state)
    with pytest.raises(ValueError, match="learning_rate"):
        preconditioner_lr_stats(state)
    stats = preconditioner_lr_stats(state, learning_rate=0.1, b2=0.99, quantiles=(0.5,))
    expected = adam_reference_lrs([g.astype(np.float64)], 0.1, 0.99, 1e-8)
    np.testing.assert_allclose(stats["q50"], np.median(expected), rtol=1e-5)
    with pytest.raises(ValueError, match="nu"):
        preconditioner_lr_stats(optax.sgd(0.1).init(jnp.zeros(2)), learning_rate=0.1)
    with pytest.raises(ValueError, match="quantiles"):
        preconditioner_lr_stats(state, learning_rate=0.1, quantiles=(1.5,))
    with pytest.raises(ValueError, match="max_samples"):
        preconditioner_lr_stats(state, learning_rate=0.1, max_samples=0)


def test_preconditioner_lr_stats_subsamples_large_states():
    # 10 entries valued 0..9 in nu (via lr / sqrt(nu)): with max_samples = 5 the quantiles come
    # from every second entry; the mean still covers all of them.
    nu = jnp.asarray(1.0 / np.arange(1, 11) ** 2, jnp.float32)  # lr / sqrt(nu) = 1..10
    state = optax.ScaleByAdamState(count=jnp.ones((), jnp.int32), mu=nu, nu=nu)
    stats = preconditioner_lr_stats(
        state, learning_rate=1.0, eps=0.0, quantiles=(0.0, 1.0), max_samples=5
    )
    np.testing.assert_allclose([stats["q0"], stats["q100"]], [1.0, 9.0], rtol=1e-5)
    np.testing.assert_allclose(stats["mean"], 5.5, rtol=1e-6)


def test_log_stats_inside_a_jitted_training_step():
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.05)
    params = {"w": jnp.ones(3), "b": jnp.zeros(2)}

    @jax.jit
    def train_step(params, state):
        grads = {"w": jnp.array([1.0, 2.0, 3.0]), "b": jnp.ones(2)}
        updates, state = tx.update(grads, state, params)
        logs = log_stats(updates, params, state, quantiles=(0.5,))
        return optax.apply_updates(params, updates), state, logs

    _, _, logs = train_step(params, tx.init(params))
    logs = as_floats(logs)
    assert set(logs) == {
        "update_norm",
        "param_norm",
        "update_ratio",
        "update_ratio/w",
        "update_ratio/b",
        "effective_lr",
        "precond_lr/q50",
        "precond_lr/mean",
    }
    assert all(isinstance(v, float) for v in logs.values())
    # Adam's first step moves every coordinate by lr (m_hat / sqrt(v_hat) = sign(g)).
    np.testing.assert_allclose(logs["update_norm"], 0.05 * np.sqrt(5), rtol=1e-5)
    np.testing.assert_allclose(logs["param_norm"], np.sqrt(3), rtol=1e-6)
    np.testing.assert_allclose(logs["update_ratio/w"], 0.05, rtol=1e-5)
    assert logs["update_ratio/b"] == np.inf  # zero-initialised bias being moved
    np.testing.assert_allclose(logs["effective_lr"], 0.05)
    # Per-parameter Adam step at t = 1: 0.05 / (|g| + 1e-8); median over |g| = 1,1,1,2,3 -> 1.
    np.testing.assert_allclose(logs["precond_lr/q50"], 0.05, rtol=1e-5)


def test_log_stats_several_records_and_no_preconditioner():
    tx = optax.multi_transform(
        {
            "x": optax.inject_hyperparams(optax.sgd)(learning_rate=1.0),
            "y": optax.inject_hyperparams(optax.sgd)(learning_rate=2.0),
        },
        {"a": "x", "b": "y"},
    )
    updates, state = tx.update(grads_like(PARAMS), tx.init(PARAMS), PARAMS)
    logs = as_floats(log_stats(updates, PARAMS, state, per_leaf=False))
    assert logs["effective_lr/x"] == 1.0 and logs["effective_lr/y"] == 2.0
    assert "effective_lr" not in logs  # plain SGD groups: their sizes are unknown
    assert not any(k.startswith("precond_lr") or k.startswith("update_ratio/") for k in logs)


def test_tools_page_examples_run():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "tools.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) == 4
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})


def test_docstring_examples_run():
    import doctest

    import adaptlr.introspect

    failures, tried = doctest.testmod(adaptlr.introspect, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0
