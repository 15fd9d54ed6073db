"""The convex suite: optima checked independently (sklearn, lstsq), exact GD trajectories."""

from __future__ import annotations

import math

import numpy as np
import optax
import pytest

from adaptlr.benchmarks import convex, tasks


def _logistic_grad(p: convex.Problem, w: np.ndarray) -> np.ndarray:
    z = p.x @ w
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    return p.x.T @ (q - np.eye(p.classes)[p.y]) / len(p.y) + convex.L2 * w


@pytest.mark.parametrize("dataset", ["digits", "breast_cancer", "wine"])
def test_logistic_optimum_is_stationary_and_matches_finite_differences(dataset):
    p = convex.load(dataset)
    assert np.abs(_logistic_grad(p, p.w_star)).max() < 1e-12
    # the gradient formula itself, against central differences of the objective
    w = np.random.default_rng(0).normal(scale=0.1, size=p.w_star.shape)
    g = _logistic_grad(p, w)
    for index in [(0, 0), (p.x.shape[1] - 1, p.classes - 1), (3, 1)]:
        e = np.zeros_like(w)
        e[index] = 1e-6
        fd = (convex._logistic(w + e, p.x, p.y, convex.L2)
              - convex._logistic(w - e, p.x, p.y, convex.L2)) / 2e-6
        assert fd == pytest.approx(g[index], abs=1e-8)


def test_logistic_optimum_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    p = convex.load("wine")
    n = len(p.y)
    # sklearn minimises C sum_i CE + ||W||^2 / 2, ours mean CE + l2 ||W||^2 / 2: C = 1/(n l2)
    model = LogisticRegression(C=1.0 / (n * convex.L2), fit_intercept=False, tol=1e-12,
                               max_iter=10_000).fit(p.x, p.y)
    f_sklearn = convex._logistic(model.coef_.T, p.x, p.y, convex.L2)
    assert p.f_star <= f_sklearn + 1e-14
    assert f_sklearn - p.f_star < 1e-9


def test_lstsq_optimum_matches_augmented_lstsq():
    p = convex.load("diabetes")
    n, d = p.x.shape
    a = np.vstack([p.x, math.sqrt(n * convex.L2) * np.eye(d)])
    b = np.concatenate([p.y, np.zeros(d)])
    w = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(p.w_star, w, rtol=1e-10, atol=1e-12)
    assert p.f_zero == pytest.approx(0.5)  # standardised target, predicting 0


def test_chance_is_the_suboptimality_of_zero_weights():
    for name, classes in [("logreg_digits", 10), ("logreg_wine_mb", 3),
                          ("logreg_breast_cancer", 2)]:
        task = tasks.get_task(name)
        p = convex.load(name.split("_", 1)[1].removesuffix("_mb"))
        assert task.chance == pytest.approx(math.log(classes) - p.f_star, rel=1e-12)
        assert not task.maximize and task.metric == "suboptimality"


def test_suboptimality_at_the_optimum_is_float32_rounding():
    import jax.numpy as jnp

    for name in ("logreg_digits", "lstsq_diabetes"):
        task = tasks.get_task(name)
        p = convex.load("digits" if "digits" in name else "diabetes")
        sub = float(task.eval_fn(jnp.asarray(p.w_star, jnp.float32))["suboptimality"])
        assert abs(sub) < 1e-6 * max(1.0, p.f_star)
        # the task's stated resolution covers that rounding, and is a float32 scale
        assert abs(sub) <= task.resolution < 1e-5 * max(1.0, p.f_star)


def test_full_batch_gd_follows_the_float64_trajectory():
    # Least squares: GD at 1/L from w_0 is linear; transcribe it in float64.
    import jax

    task = tasks.get_task("lstsq_diabetes", steps=40, eval_every=10)
    p = convex.load("diabetes")
    n = p.x.shape[0]
    lam = np.linalg.eigvalsh(p.x.T @ p.x / n)[-1] + convex.L2
    lr = 1.0 / lam
    result = tasks.train(task, optax.sgd(lr), seed=3)
    w = np.asarray(task.init_fn(jax.random.split(jax.random.key(3))[0]), np.float64)
    expected = []
    for step in range(1, 41):
        w = w - lr * (p.x.T @ (p.x @ w - p.y) / n + convex.L2 * w)
        if step % 10 == 0:
            f = 0.5 * np.mean((p.x @ w - p.y) ** 2) + 0.5 * convex.L2 * w @ w
            expected.append(f - p.f_star)
    np.testing.assert_allclose(result.evals["suboptimality"], expected, rtol=2e-3, atol=2e-7)
    assert np.all(np.diff(expected) < 0)


def test_minibatch_variant_uses_batches():
    import jax
    import jax.numpy as jnp

    task = tasks.get_task("logreg_wine_mb")
    batch = task.batch_fn(jnp.asarray(0), jax.random.key(0))
    assert batch.shape == (32,) and int(batch.max()) < 178
    full = tasks.get_task("logreg_wine")
    w = full.init_fn(jax.random.key(0))
    assert float(task.loss_fn(w, batch)) != pytest.approx(float(full.loss_fn(w, None)))
    with pytest.raises(ValueError, match="dataset"):
        convex.load("iris")
