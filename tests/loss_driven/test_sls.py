"""SLS and AdaSLS: goldens (NumPy transcriptions, SLS's checked against the authors' ``sls``),
Optax's backtracking line search where the two coincide, the extra-args convention, and a
short benchmark run through the runner."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.benchmarks import runner, tasks

from .generate_sls_goldens import PROBLEMS, SETTINGS

GOLDENS = Path(__file__).resolve().parent / "goldens"
FACTORY = {"run_sls": adaptlr.sls, "run_adasls": adaptlr.adasls}


def _loss(kind: str, w: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    z = x @ w
    if kind == "lstsq":
        return 0.5 * jnp.mean((z - y) ** 2)
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z)


def _run(tx: optax.GradientTransformation, kind: str, data: dict[str, np.ndarray],
         optax_style: bool = False) -> tuple[np.ndarray, list[float], list[int]]:
    x, y = jnp.asarray(data["x"]), jnp.asarray(data["y"])
    w = jnp.asarray(data["w0"])
    state = tx.init(w)

    @jax.jit
    def step(w: jax.Array, state: object, idx: jax.Array) -> tuple[jax.Array, object]:
        def value_fn(p: jax.Array, xb: jax.Array, yb: jax.Array) -> jax.Array:
            return _loss(kind, p, xb, yb)

        xb, yb = x[idx], y[idx]
        value, grad = jax.value_and_grad(value_fn)(w, xb, yb)
        # The batch reaches value_fn through update's extra keywords (Optax's convention).
        updates, state = tx.update(grad, state, w, value=value, grad=grad, value_fn=value_fn,
                                   xb=xb, yb=yb)
        return optax.apply_updates(w, updates), state

    traj, steps, evals = [np.asarray(w)], [], []
    for idx in data["batches"]:
        w, state = step(w, state, jnp.asarray(idx))
        traj.append(np.asarray(w))
        if optax_style:
            steps.append(float(state[1].learning_rate))
            evals.append(int(state[1].info.num_linesearch_steps))
        else:
            inner = state[0]
            steps.append(float(inner.effective_lr))
            evals.append(int(inner.evaluations))
    return np.array(traj), steps, evals


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_matches_goldens(setting: str, problem: str) -> None:
    runner_fn, kwargs = SETTINGS[setting]
    golden = dict(np.load(GOLDENS / f"{setting}_{problem}.npz"))
    if runner_fn.__name__ == "run_sls":
        kwargs = {"n_batches_per_epoch": 4, **kwargs}
    with jax.enable_x64(True):
        tx = FACTORY[runner_fn.__name__](**kwargs)
        traj, steps, evals = _run(tx, problem, golden)
    np.testing.assert_allclose(traj, golden["params"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(steps, golden["step"], rtol=1e-10, atol=0)
    np.testing.assert_array_equal(evals, golden["evaluations"])
    # The goldens are not trivial: the search backtracked somewhere, and things moved.
    assert np.abs(traj[-1] - traj[0]).max() > 1e-2


def test_goldens_exercise_backtracking() -> None:
    for setting in ("sls_reset1", "sls_reset2", "adasls_default"):
        golden = np.load(GOLDENS / f"{setting}_lstsq.npz")
        assert golden["evaluations"].max() > 1, setting


@pytest.mark.parametrize(("reset_option", "optax_kwargs"), [
    (0, {"increase_factor": 1.0, "max_learning_rate": math.inf}),
    (1, {"increase_factor": 2.0 ** 0.25, "max_learning_rate": math.inf}),
    (2, {"increase_factor": math.inf, "max_learning_rate": 1.0}),
])
def test_coincides_with_optax_backtracking(reset_option: int, optax_kwargs: dict) -> None:
    # Optax's search starts from min(increase * previous, max) with previous = 1 at the
    # start, shrinks by decrease_factor and accepts f(x + eta u) <= f(x) + c eta <u, g>: with
    # u = -g that is SLS's Armijo test, and its start is SLS's reset rule (growth
    # gamma^(1/n) = increase_factor, keep = 1, restart = max). Neither search fails here.
    with jax.enable_x64(True):
        data = dict(np.load(GOLDENS / "sls_reset1_lstsq.npz"))
        ours = adaptlr.sls(reset_option=reset_option, n_batches_per_epoch=4, gamma=2.0)
        theirs = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(
            max_backtracking_steps=99, slope_rtol=0.1, decrease_factor=0.9, **optax_kwargs))
        a, steps_a, evals_a = _run(ours, "lstsq", data)
        b, steps_b, evals_b = _run(theirs, "lstsq", data, optax_style=True)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(steps_a, steps_b, rtol=1e-10)
    np.testing.assert_array_equal(evals_a, evals_b)
    assert max(evals_a) > 1  # it did backtrack


def test_value_fn_is_required_and_value_optional() -> None:
    loss = lambda x: 0.5 * jnp.sum(x ** 2)  # noqa: E731
    x = jnp.array([1.0, -2.0])
    for tx in (adaptlr.sls(), adaptlr.adasls()):
        state = tx.init(x)
        with pytest.raises(ValueError, match="value_fn"):
            tx.update(jax.grad(loss)(x), state, x, value=loss(x))
        with_value = tx.update(jax.grad(loss)(x), state, x, value=loss(x), value_fn=loss)[0]
        without = tx.update(jax.grad(loss)(x), state, x, value_fn=loss)[0]
        np.testing.assert_array_equal(with_value, without)


def test_failed_search_takes_the_fallback_step() -> None:
    # A loss that is never low enough (the value passed is below every trial): 100 trials
    # fail, the step is 1e-6, and the next search starts from init * gamma^(1/n) * 0.9^100.
    x = jnp.array([1.0, -2.0])
    tx = adaptlr.scale_by_sls(n_batches_per_epoch=1, gamma=1.0)
    state = tx.init(x)
    updates, state = tx.update(x, state, x, value=-1.0, value_fn=lambda p: jnp.sum(p ** 2))
    np.testing.assert_allclose(updates, 1e-6 * x, rtol=1e-6)
    assert int(state.evaluations) == 100
    np.testing.assert_allclose(float(state.step_size), 0.9 ** 100, rtol=1e-4)


def test_schedule_caps_the_step() -> None:
    loss = lambda x: 0.5 * jnp.sum(x ** 2)  # noqa: E731
    x = jnp.array([1.0, -2.0])
    # The cap binds at the first step; the second search resets from the step taken (0.25)
    # grown by 2^(1/500), below the new cap 0.5; the third cap, 0.1, binds again.
    tx = adaptlr.scale_by_sls(learning_rate=lambda count: jnp.array([0.25, 0.5, 0.1])[count])
    state = tx.init(x)
    for expected in (0.25, 0.25 * 2.0 ** (1 / 500), 0.1):
        _, state = tx.update(jax.grad(loss)(x), state, x, value=loss(x), value_fn=loss)
        assert float(state.effective_lr) == pytest.approx(expected)


def test_masked_line_search_sees_the_whole_loss() -> None:
    # Inside optax.masked the search moves only "w"; value_fn_on_subtree fills in "b".
    loss = lambda p: jnp.sum((p["w"] - 1.0) ** 2) + jnp.sum(p["b"] ** 2)  # noqa: E731
    params = {"w": jnp.zeros(3), "b": jnp.ones(2)}
    tx = optax.masked(adaptlr.sls(), {"w": True, "b": False})
    state = tx.init(params)
    value, grads = jax.value_and_grad(loss)(params)
    updates, _ = tx.update(grads, state, params, value=value,
                           value_fn=adaptlr.value_fn_on_subtree(loss, params))
    alone = adaptlr.sls()
    ref, _ = alone.update({"w": grads["w"]}, alone.init({"w": params["w"]}), {"w": params["w"]},
                          value=value, value_fn=lambda p: loss({"w": p["w"], "b": params["b"]}))
    np.testing.assert_allclose(updates["w"], ref["w"], rtol=1e-6)
    np.testing.assert_array_equal(updates["b"], grads["b"])


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError, match="reset_option"):
        adaptlr.sls(reset_option=3)
    with pytest.raises(ValueError, match="beta_b"):
        adaptlr.sls(beta_b=1.0)
    with pytest.raises(ValueError, match="rho"):
        adaptlr.adasls(rho=0.0)
    with pytest.raises(ValueError, match="complex"):
        adaptlr.sls().init(jnp.ones(2, jnp.complex64))


@pytest.mark.parametrize("name", ["sls", "adasls"])
def test_runner_trains_with_a_line_search(tmp_path, name: str) -> None:
    # The runner gives value_fn (the step's batch loss): a short quadratic run converges.
    records = runner.run("quadratic", [name], [0], str(tmp_path / "r.jsonl"), factors=[1.0],
                         progress=False, steps=100)
    (record,) = records
    assert not record["diverged"]
    task = tasks.get_task("quadratic")
    initial = float(task.loss_fn(task.init_fn(jax.random.split(jax.random.key(0))[0]), None))
    assert record["final"]["loss"] < 1e-2 * initial  # measured 3.5e-3 (sls), 2.7e-3 (adasls)
    assert max(record["effective_lr"][""]) > 0
