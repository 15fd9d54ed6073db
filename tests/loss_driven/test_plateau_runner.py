"""The plateau controller in the sweep and the runner (``<method>@plateau``)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr.benchmarks import runner
from adaptlr.sweep import train_sweep


def test_train_sweep_feeds_the_metric_at_each_evaluation() -> None:
    # A metric that never improves after the first evaluation: with patience 2 the third bad
    # evaluation (the 4th evaluation, after step 40) cuts the scale by 10.
    ctrl = adaptlr.plateau_controller(factor=0.1, patience=2)
    result = train_sweep(
        lambda p, batch: 0.5 * jnp.sum(p ** 2), lambda key: jnp.ones(3),
        lambda hp: optax.chain(adaptlr.scale_by_learning_rate(0.01), ctrl.transformation),
        {}, np.array([0]), lambda step, key: jnp.zeros(()), 80,
        eval_fn=lambda params, opt_state: {"metric": jnp.asarray(1.0)}, eval_every=10,
        record_every=10, on_eval=lambda state, metrics: ctrl.step(state, metrics["metric"]))
    trace = np.asarray(result.effective_lr)[0]
    # Records at the end of each block of 10 steps; the cut applies from step 41 on.
    np.testing.assert_allclose(trace, [0.01] * 4 + [0.001] * 3 + [1e-4], rtol=1e-6)


def test_runner_plateau_label_rescues_an_unstable_sgd(tmp_path) -> None:
    # SGD at lr 2.02 on the quadratic (largest curvature 1): the top eigen-direction grows by
    # |1 - 2.02| = 1.02 per step, so after the first evaluation (step 25) the evaluated loss
    # rises; the third bad evaluation (step 100) cuts the rate to 0.202, which contracts every
    # direction. Plain SGD at 2.02 diverges.
    path = str(tmp_path / "r.jsonl")
    centre = 1.0  # tasks.quadratic's grid centre for sgd
    records = runner.run("quadratic", ["sgd", "sgd@plateau"], [0], path,
                         factors=[2.02 / centre], progress=False, steps=300)
    by = {r["config"]["method"]: r for r in records}
    assert runner.parse_label("adam@plateau") == ("adam", "plateau")
    assert by["sgd@plateau"]["config"]["schedule"] == "plateau"
    trace = by["sgd@plateau"]["effective_lr"][""]
    assert trace[0] == pytest.approx(2.02) and trace[-1] == pytest.approx(0.202, rel=1e-6)
    assert by["sgd"]["diverged"] and not by["sgd@plateau"]["diverged"]
    assert by["sgd@plateau"]["final"]["loss"] < by["sgd@plateau"]["curves"]["eval"]["loss"][0]
