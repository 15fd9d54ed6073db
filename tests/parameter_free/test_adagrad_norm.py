"""AdaGrad-Norm: the step equals eta / sqrt(b0^2 + sum of squared gradient norms).

No packaged reference implementation exists (pytorch_optimizer has none), so the trajectory is
checked against the paper's update written in NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adaptlr
from tests import reference_problems as rp


def test_step_on_constant_gradients_is_closed_form():
    # With the same gradient g every step, b_{t+1}^2 = b0^2 + (t + 1) |g|^2.
    eta, b0 = 0.7, 0.3
    g = {"w": jnp.array([[1.0, 2.0], [0.0, -2.0]]), "b": jnp.array([0.5])}
    sq = 1 + 4 + 4 + 0.25
    tx = adaptlr.scale_by_adagrad_norm(eta, b0)
    state = tx.init(g)
    for t in range(5):
        updates, state = tx.update(g, state)
        step = eta / np.sqrt(b0**2 + (t + 1) * sq)
        assert float(state.effective_lr) == pytest.approx(step, rel=1e-6)
        np.testing.assert_allclose(updates["w"], step * np.asarray(g["w"]), rtol=1e-6)


@pytest.mark.parametrize("problem", rp.PROBLEMS)
def test_matches_paper_update_in_numpy(problem):
    eta, b0 = 0.5, 0.1
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = rp.run_jax(problem, adaptlr.adagrad_norm(eta, b0))
        grad = jax.jit(jax.grad(rp.jax_loss(problem)))
        params = {k: v.copy() for k, v in rp.init_params(problem).items()}
        traj = {k: [v.copy()] for k, v in params.items()}
        b_sq = b0**2
        for _ in range(rp.STEPS):
            g = {k: np.asarray(v) for k, v in grad(params).items()}
            b_sq += sum(float(np.sum(x * x)) for x in g.values())
            params = {k: params[k] - eta / np.sqrt(b_sq) * g[k] for k in params}
            for k in params:
                traj[k].append(params[k].copy())
    ref = {k: np.stack(v) for k, v in traj.items()}
    assert rp.max_relative_error(ours, ref) <= 1e-10


def test_schedule_and_zero_start():
    # b0 = 0 and a zero first gradient: no step, no NaN; the schedule is read at count 0, 1, ...
    tx = adaptlr.scale_by_adagrad_norm(lambda count: 1.0 + count, b0=0.0)
    state = tx.init(jnp.zeros(2))
    updates, state = tx.update(jnp.zeros(2), state)
    np.testing.assert_array_equal(updates, jnp.zeros(2))
    assert float(state.effective_lr) == 0.0
    updates, state = tx.update(jnp.array([3.0, 4.0]), state)
    assert float(state.effective_lr) == pytest.approx(2.0 / 5.0, rel=1e-6)  # schedule(1) / 5


@pytest.mark.parametrize(("kwargs", "name"),
                         [({"learning_rate": -1.0}, "learning_rate"), ({"b0": -0.1}, "b0")])
def test_bad_hyperparameters_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        adaptlr.adagrad_norm(**kwargs)
