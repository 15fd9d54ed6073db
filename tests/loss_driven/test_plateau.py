"""Reduce-on-plateau against PyTorch's ReduceLROnPlateau goldens and Optax's contrib version."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.loss_driven.plateau import ReduceOnPlateauState

GOLDENS = np.load(Path(__file__).parent / "goldens" / "plateau_torch.npz")
CASES = sorted({k.split("/")[0] for k in GOLDENS.files})
AGREEING = [c for c in CASES if c != "negative_rel_departure"]


def _config(case: str) -> dict:
    return json.loads(str(GOLDENS[f"{case}/config"]))


def _controller_lrs(metrics: np.ndarray, config: dict) -> np.ndarray:
    """Learning rate after each metric, the controller stepped inside jit + lax.scan."""
    lr = config["lr"]
    ctrl = adaptlr.plateau_controller(
        config["factor"], config["patience"], config["threshold"], mode=config["mode"],
        threshold_mode=config["threshold_mode"], cooldown=config["cooldown"],
        min_scale=config["min_lr"] / lr, eps=1e-8 / lr)

    @jax.jit
    def scan(metrics: jax.Array) -> jax.Array:
        def body(state: ReduceOnPlateauState, m: jax.Array) -> tuple:
            state = ctrl.step(state, m)
            return state, lr * state.scale

        return jax.lax.scan(body, ctrl.init(jnp.float64), metrics)[1]

    return np.asarray(scan(jnp.asarray(metrics)))


def _transformation_lrs(metrics: np.ndarray, config: dict) -> np.ndarray:
    """``adaptlr.reduce_on_plateau`` fed each metric as ``value=``: its effective_lr."""
    tx = adaptlr.reduce_on_plateau(
        config["lr"], config["factor"], config["patience"], config["threshold"],
        mode=config["mode"], threshold_mode=config["threshold_mode"],
        cooldown=config["cooldown"], min_lr=config["min_lr"])
    params = jnp.zeros(2, jnp.float64)

    @jax.jit
    def scan(metrics: jax.Array) -> jax.Array:
        def body(state: tuple, m: jax.Array) -> tuple:
            _, state = tx.update(jnp.ones(2, jnp.float64), state, params, value=m)
            # adaptlr.effective_lr reads the float32 learning-rate record: the float64
            # product from the parts instead.
            return state, config["lr"] * state[0].scale

        return jax.lax.scan(body, tx.init(params), metrics)[1]

    return np.asarray(scan(jnp.asarray(metrics)))


@pytest.mark.parametrize("case", AGREEING)
def test_controller_matches_torch(case: str) -> None:
    with jax.enable_x64(True):
        got = _controller_lrs(GOLDENS[f"{case}/metrics"], _config(case))
    np.testing.assert_allclose(got, GOLDENS[f"{case}/lr"], rtol=1e-10, atol=0)


@pytest.mark.parametrize("case", AGREEING[::3])
def test_chained_transformation_matches_torch(case: str) -> None:
    with jax.enable_x64(True):
        got = _transformation_lrs(GOLDENS[f"{case}/metrics"], _config(case))
    np.testing.assert_allclose(got, GOLDENS[f"{case}/lr"], rtol=1e-10, atol=0)


def _numpy_rule(metrics: np.ndarray, factor: float, patience: int, threshold: float,
                threshold_mode: str, mode: str, cooldown: int, min_scale: float,
                eps: float) -> list[float]:
    """Our documented rule, written independently: the threshold is relative to |best|."""
    sign = 1.0 if mode == "min" else -1.0
    best, bad, cd, scale, out = math.inf, 0, 0, 1.0, []
    for m in metrics:
        v = sign * m
        margin = threshold * abs(best) if threshold_mode == "rel" else threshold
        if v < best - (margin if math.isfinite(best) else 0.0):
            best, bad = v, 0
        else:
            bad += 1
        if cd > 0:
            cd, bad = cd - 1, 0
        if bad > patience:
            new = max(scale * factor, min_scale)
            if scale - new > eps:
                scale = new
            cd, bad = cooldown, 0
        out.append(scale)
    return out


def test_negative_loss_relative_threshold_departs_from_torch() -> None:
    case = "negative_rel_departure"
    config, metrics = _config(case), GOLDENS[f"{case}/metrics"]
    with jax.enable_x64(True):
        got = _controller_lrs(metrics, config)
    expected = _numpy_rule(metrics, config["factor"], config["patience"], config["threshold"],
                           "rel", "min", config["cooldown"], 0.0, 1e-8)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    # The loss falls by about 0.5 log(1 + t): later gains are below 5% of |best|, so the rate
    # must be cut, while PyTorch's best * (1 - 0.05) (above a negative best) never cuts.
    assert got[-1] < 1e-2
    np.testing.assert_array_equal(GOLDENS[f"{case}/lr"], 1.0)


def _scales(tx: optax.GradientTransformationExtraArgs, metrics: np.ndarray) -> np.ndarray:
    """The scale after each ``value=`` fed to ``tx`` (jit + lax.scan, float64)."""
    params = jnp.zeros(1, jnp.float64)

    @jax.jit
    def scan(metrics: jax.Array) -> jax.Array:
        def body(state: ReduceOnPlateauState, m: jax.Array) -> tuple:
            _, state = tx.update(params, state, params, value=m)
            return state, state.scale

        return jax.lax.scan(body, tx.init(params), metrics)[1]

    return np.asarray(scan(jnp.asarray(metrics)))


@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize(("cooldown", "min_scale", "accumulation_size"),
                         [(0, 0.0, 1), (3, 0.002, 1), (2, 0.0, 4)])
def test_matches_optax_contrib_in_min_mode(threshold_mode: str, cooldown: int,
                                           min_scale: float, accumulation_size: int) -> None:
    # Optax cuts after exactly `patience` bad evaluations (ours after more than patience) and
    # has no eps; its rtol / atol are our rel / abs thresholds on a non-negative loss.
    metrics = GOLDENS["min_rel_cd0_min0.0_falling/metrics"]
    threshold, patience = 1e-2, 2
    ours = adaptlr.scale_by_reduce_on_plateau(
        0.1, patience, threshold, threshold_mode=threshold_mode, cooldown=cooldown,
        min_scale=min_scale, eps=0.0, accumulation_size=accumulation_size)
    theirs = optax.contrib.reduce_on_plateau(
        factor=0.1, patience=patience + 1, rtol=threshold if threshold_mode == "rel" else 0.0,
        atol=threshold if threshold_mode == "abs" else 0.0, cooldown=cooldown,
        accumulation_size=accumulation_size, min_scale=min_scale)
    with jax.enable_x64(True):
        got, ref = _scales(ours, metrics), _scales(theirs, metrics)
    assert min(got) < 1.0  # the sequence exercises cuts
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def test_accumulation_averages_values() -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(1.0, 2.0, size=40)
    acc = adaptlr.scale_by_reduce_on_plateau(0.5, 1, 1e-2, accumulation_size=4)
    with jax.enable_x64(True):
        p = jnp.zeros(1, jnp.float64)
        state = acc.init(p)
        scales = []
        for v in values:
            _, state = acc.update(p, state, p, value=v)
            scales.append(float(state.scale))
    expected = _numpy_rule(values.reshape(-1, 4).mean(axis=1), 0.5, 1, 1e-2, "rel", "min", 0,
                           0.0, 1e-8)
    np.testing.assert_allclose(scales[3::4], expected, rtol=1e-12)
    # Between evaluations the scale holds: it can only change at every 4th value.
    changes = np.flatnonzero(np.diff(scales)) + 1
    assert changes.size and np.all(changes % 4 == 3)


def test_effective_lr_is_the_product_with_the_chained_step_size() -> None:
    ctrl = adaptlr.plateau_controller(patience=0, factor=0.5)
    inner = adaptlr.registry.get("adam").build(learning_rate=0.01)  # a nested chain
    tx = optax.chain(inner, ctrl.transformation)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    _, state = tx.update({"w": jnp.ones(3)}, state, params)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(0.01, rel=1e-7)
    state = ctrl.step(ctrl.step(state, 1.0), 1.0)  # one bad evaluation after the first: cut
    updates, state = tx.update({"w": jnp.ones(3)}, state, params)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(0.005, rel=1e-7)
    inner_state = inner.init(params)
    for _ in range(2):
        plain, inner_state = inner.update({"w": jnp.ones(3)}, inner_state, params)
    # The update itself is halved.
    np.testing.assert_allclose(updates["w"], 0.5 * plain["w"], rtol=1e-6)
    # Alone, the plateau state reports its scale.
    alone = ctrl.transformation.init(params)
    assert float(adaptlr.effective_lr(ctrl.step(ctrl.step(alone, 1.0), 2.0))) == 0.5


def test_nan_value_is_a_bad_evaluation() -> None:
    tx = adaptlr.scale_by_reduce_on_plateau(0.1, patience=1)
    p = jnp.zeros(2)
    state = tx.init(p)
    for v in [1.0, jnp.nan, jnp.nan]:
        updates, state = tx.update(jnp.ones(2), state, p, value=v)
    assert float(state.scale) == pytest.approx(0.1)
    assert float(state.best) == 1.0
    assert np.all(np.isfinite(np.asarray(updates)))


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="mode"):
        adaptlr.scale_by_reduce_on_plateau(mode="mean")
    with pytest.raises(ValueError, match="threshold_mode"):
        adaptlr.scale_by_reduce_on_plateau(threshold_mode="relative")
    with pytest.raises(ValueError, match="factor"):
        adaptlr.reduce_on_plateau(factor=1.0)
    with pytest.raises(ValueError, match="patience"):
        adaptlr.reduce_on_plateau(patience=1.5)
    with pytest.raises(ValueError, match="min_lr"):
        adaptlr.reduce_on_plateau(learning_rate=0.1, min_lr=0.2)
    with pytest.raises(ValueError, match="min_lr"):
        adaptlr.reduce_on_plateau(learning_rate=optax.constant_schedule(0.1), min_lr=0.01)
    with pytest.raises(ValueError, match="feed"):
        adaptlr.scale_by_reduce_on_plateau(feed="metric")
    tx = adaptlr.scale_by_reduce_on_plateau()
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), None)
    with pytest.raises(ValueError, match="scalar"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), None, value=jnp.ones(2))


@pytest.mark.parametrize("mode", ["min", "max"])
def test_zero_and_sign_changing_metrics(mode: str) -> None:
    # A metric crossing zero: with best = 0 a relative threshold leaves no margin (any strict
    # improvement counts, as in PyTorch: best * (1 - threshold) = 0); past zero the margin
    # is taken from |best|.
    metrics = np.array([0.5, 0.0, 0.0, -1e-6, -0.5, -0.5 - 1e-6, -0.6, -0.6, -0.6, -0.6])
    metrics = metrics if mode == "min" else -metrics
    ctrl = adaptlr.plateau_controller(0.5, 1, 1e-2, mode=mode)
    with jax.enable_x64(True):
        state, scales = ctrl.init(jnp.float64), []
        for m in metrics:
            state = ctrl.step(state, m)
            scales.append(float(state.scale))
    expected = _numpy_rule(metrics, 0.5, 1, 1e-2, "rel", mode, 0, 0.0, 1e-8)
    np.testing.assert_array_equal(scales, expected)
    assert scales[-1] < 1.0 and np.all(np.isfinite(scales))
