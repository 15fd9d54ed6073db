"""The convex suite: regularised logistic and least-squares regression on scikit-learn's data.

Learning-rate-free methods come with guarantees for convex problems, and their papers report
convex results (D-Adaptation and Prodigy on LIBSVM logistic regression, DoG on convex
problems), so the suite measures what the guarantees are about: the **suboptimality**
``f(w_T) - f*`` of the training objective, with ``f*`` computed to high precision in float64
(Newton's method for the logistic losses, a direct solve for least squares).

Problems (features standardised to zero mean and unit variance, plus a bias column; every
sample is used, there is no test split because the objective itself is the metric):

* ``logreg_digits`` (1797 x 64, 10 classes), ``logreg_breast_cancer`` (569 x 30, 2 classes),
  ``logreg_wine`` (178 x 13, 3 classes): multinomial logistic regression,
  ``f(W) = mean_i CE(softmax(W x_i), y_i) + l2 / 2 ||W||^2`` with ``l2 = 1e-3`` (a finite,
  unique optimum even where the classes are separable);
* ``lstsq_diabetes`` (442 x 10): ``f(w) = ||X w - y||^2 / (2 n) + l2 / 2 ||w||^2`` with the
  target standardised and ``l2 = 1e-3``.

Each is registered twice: full batch (the name above, deterministic gradients) and minibatch
(``<name>_mb``, batch 32 drawn with replacement). Parameters start at ``N(0, 0.01^2)`` drawn
from the seed, so that full-batch seeds differ only by their start. The task's ``chance`` is
the suboptimality of the zero weights (uniform class probabilities; predicting the mean).

The metric is evaluated in float32: suboptimalities below about ``1e-7 f*`` are rounding.

Example:
  >>> from adaptlr.benchmarks import tasks
  >>> task = tasks.get_task("lstsq_diabetes", steps=50)
  >>> import optax
  >>> result = tasks.train(task, optax.sgd(0.1), seed=0)
  >>> bool(result.evals["suboptimality"][-1] < task.chance)
  True
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr.benchmarks.tasks import Task

__all__ = ["L2", "TASKS", "Problem", "load", "logistic_optimum", "lstsq_optimum"]

#: Ridge coefficient of every problem of the suite.
L2 = 1e-3
_MINIBATCH = 32
_DATASETS = ("digits", "breast_cancer", "wine", "diabetes")


@dataclasses.dataclass(frozen=True)
class Problem:
    """A standardised data set with its float64 optimum."""

    name: str
    x: np.ndarray  # (n, d + 1) float64, last column the bias
    y: np.ndarray  # int labels (logistic) or float targets (least squares)
    classes: int  # 0 for least squares
    w_star: np.ndarray  # float64 optimum, (d + 1, classes) or (d + 1,)
    f_star: float
    f_zero: float  # objective at w = 0


def _standardise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def _logistic(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float) -> float:
    z = x @ w
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean() + 0.5 * l2 * np.sum(w * w))


def logistic_optimum(x: np.ndarray, y: np.ndarray, classes: int, l2: float = L2,
                     tol: float = 1e-13, max_iter: int = 100) -> np.ndarray:
    """Minimiser of the ridge-regularised multinomial logistic loss by damped Newton, float64.

    Stops when the gradient's max-norm is below ``tol`` (quadratic convergence gets there in a
    few steps once close); the full ``(d C) x (d C)`` Hessian is formed, fine at these sizes.
    """
    n, d = x.shape
    onehot = np.eye(classes)[y]
    w = np.zeros((d, classes))
    for _ in range(max_iter):
        z = x @ w
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = x.T @ (p - onehot) / n + l2 * w
        if np.abs(grad).max() < tol:
            break
        # H[(a, c), (b, e)] = mean_i x_ia x_ib (p_ic [c = e] - p_ic p_ie) + l2 [a = b][c = e]
        h = np.empty((d, classes, d, classes))
        for c in range(classes):
            for e in range(c, classes):
                weight = (p[:, c] * (c == e)) - p[:, c] * p[:, e]
                block = (x * weight[:, None]).T @ x / n
                h[:, c, :, e] = block
                h[:, e, :, c] = block.T
        h = h.reshape(d * classes, d * classes) + l2 * np.eye(d * classes)
        step = np.linalg.solve(h, grad.reshape(-1)).reshape(d, classes)
        f0, t = _logistic(w, x, y, l2), 1.0
        while _logistic(w - t * step, x, y, l2) > f0 - 0.25 * t * np.sum(grad * step) \
                and t > 1e-10:
            t *= 0.5
        w = w - t * step
    return w


def lstsq_optimum(x: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Minimiser of ``||X w - y||^2 / (2 n) + l2 ||w||^2 / 2``, by the normal equations.

    ``(X^T X / n + l2 I) w = X^T y / n``, solved in float64.
    """
    n, d = x.shape
    return np.linalg.solve(x.T @ x / n + l2 * np.eye(d), x.T @ y / n)


@functools.cache
def load(dataset: str) -> Problem:
    """The standardised data set and its optimum (cached; Newton takes about a second)."""
    from sklearn import datasets
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    if dataset not in _DATASETS:
        raise ValueError(f"dataset must be one of {_DATASETS}, got {dataset!r}")
    # Small dense solves: one BLAS thread is ~20x faster than several on a busy machine.
    with threadpool_limits(1):
        return _load(datasets, dataset)


def _load(datasets: Any, dataset: str) -> Problem:
    if dataset not in _DATASETS:
        raise ValueError(f"dataset must be one of {_DATASETS}, got {dataset!r}")
    raw = getattr(datasets, f"load_{dataset}")()
    x = _standardise(raw.data)
    if dataset == "diabetes":
        y = (raw.target - raw.target.mean()) / raw.target.std()
        w = lstsq_optimum(x, y)
        f = lambda v: float(0.5 * np.mean((x @ v - y) ** 2) + 0.5 * L2 * v @ v)  # noqa: E731
        return Problem(dataset, x, y, 0, w, f(w), f(np.zeros_like(w)))
    y = np.asarray(raw.target, np.int64)
    classes = int(y.max()) + 1
    w = logistic_optimum(x, y, classes)
    return Problem(dataset, x, y, classes, w, _logistic(w, x, y, L2),
                   _logistic(np.zeros_like(w), x, y, L2))


def _task(dataset: str, batch_size: int | None, steps: int, eval_every: int) -> Task:
    p = load(dataset)
    x = jnp.asarray(p.x, jnp.float32)
    least_squares = p.classes == 0
    y = jnp.asarray(p.y, jnp.float32 if least_squares else jnp.int32)
    shape = p.w_star.shape
    n = len(p.y)

    def objective(w: jax.Array, xb: jax.Array, yb: jax.Array) -> jax.Array:
        if least_squares:
            data = 0.5 * jnp.mean((xb @ w - yb) ** 2)
        else:
            data = optax.softmax_cross_entropy_with_integer_labels(xb @ w, yb).mean()
        return data + 0.5 * L2 * jnp.sum(w * w)

    def init_fn(key: jax.Array) -> jax.Array:
        return 0.01 * jax.random.normal(key, shape)

    def full_batch(step: jax.Array, key: jax.Array) -> Any:
        return jnp.zeros(())

    def full_loss(w: jax.Array, batch: Any) -> jax.Array:
        return objective(w, x, y)

    def minibatch(step: jax.Array, key: jax.Array) -> Any:
        return jax.random.randint(jax.random.fold_in(key, step), (batch_size or 1,), 0, n)

    def minibatch_loss(w: jax.Array, index: Any) -> jax.Array:
        return objective(w, x[index], y[index])

    batch_fn, loss_fn = (full_batch, full_loss) if batch_size is None else (
        minibatch, minibatch_loss)

    f_star = jnp.float32(p.f_star)

    def eval_fn(w: jax.Array) -> dict[str, jax.Array]:
        f = objective(w, x, y)
        return {"suboptimality": f - f_star, "objective": f,
                "distance": jnp.linalg.norm(w - jnp.asarray(p.w_star, jnp.float32))}

    # Smoothness: lambda_max(X^T X / n) for least squares, half of it for the multinomial
    # logistic loss (its Hessian is below (1/2) X^T X / n per class block), plus l2.
    lam = float(np.linalg.eigvalsh(p.x.T @ p.x / n)[-1])
    smooth = (lam if least_squares else 0.5 * lam) + L2
    kind = "least squares" if least_squares else "logistic regression"
    name = f"{'lstsq' if least_squares else 'logreg'}_{dataset}" + (
        "" if batch_size is None else "_mb")
    batching = "full batch" if batch_size is None else f"minibatch {batch_size}"
    return Task(
        name, f"ridge {kind} on scikit-learn {dataset} ({n} x {shape[0] - 1}), {batching}",
        init_fn, loss_fn, batch_fn, eval_fn, steps, eval_every, "suboptimality", False,
        {"sgd": 1.0 / smooth, "sgd_momentum": 0.1 / smooth, "sgd_nesterov": 0.1 / smooth,
         "adam": 1e-2, "adamw": 1e-2},
        f"f* = {p.f_star:.10g} (float64 {'solve' if least_squares else 'Newton'}); "
        f"L = {smooth:.4g}",
        chance=p.f_zero - p.f_star,
        # f and f* are float32 near |f*|: differences below a few units in the last place
        # are rounding (the suboptimality of the float64 optimum itself is ~1 ulp).
        resolution=float(16 * np.spacing(np.float32(abs(p.f_star)))),
    )


def _builder(dataset: str, minibatch: bool) -> Callable[..., Task]:
    def build(*, batch_size: int | None = _MINIBATCH if minibatch else None, steps: int = 1000,
              eval_every: int = 50) -> Task:
        return _task(dataset, batch_size, steps, eval_every)

    build.__doc__ = (f"Ridge {'least squares' if dataset == 'diabetes' else 'logistic'} "
                     f"regression on {dataset}, {'minibatch' if minibatch else 'full batch'}.")
    return build


#: The suite's task builders, by task name (registered in :mod:`adaptlr.benchmarks.tasks`).
TASKS: dict[str, Callable[..., Task]] = {}
for _d in _DATASETS:
    _stem = f"{'lstsq' if _d == 'diabetes' else 'logreg'}_{_d}"
    TASKS[_stem] = _builder(_d, False)
    TASKS[f"{_stem}_mb"] = _builder(_d, True)
