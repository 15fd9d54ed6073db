"""Benchmark tasks: data + model + loss + metrics + a default budget, as pure functions.

A :class:`Task` supplies exactly what :func:`adaptlr.sweep.train_sweep` consumes:

* ``init_fn(key) -> params``: fresh parameters (an ``nnx.State`` or an array);
* ``loss_fn(params, batch) -> scalar``: the training loss on one batch;
* ``batch_fn(step, key) -> batch``: a traceable batch sampler reading arrays already on the
  device (no host round trip inside the training loop); ``key`` is the step's own key,
  :func:`adaptlr.sweep.step_key` (``fold_in(data_key, step)``), as everywhere in adaptlr;
* ``eval_fn(params) -> dict[str, scalar]``: held-out metrics (the runner evaluates Schedule-Free
  methods at their evaluation parameters before calling it).

Every task also names its headline ``metric`` and whether larger is better, its default budget
(``steps``, ``eval_every``) and the learning rates around which grids are centred for the
baselines (found by coarse sweeps on this task; see docs/benchmarks.md).

Example:
  >>> from adaptlr.benchmarks import tasks
  >>> task = tasks.get_task("quadratic", steps=10)
  >>> import optax
  >>> result = tasks.train(task, optax.sgd(0.5), seed=0)
  >>> bool(result.losses[-1] < result.losses[0])
  True
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from adaptlr.benchmarks import data, models
from adaptlr.sweep import batch_loss, step_key

__all__ = [
    "Task",
    "TrainResult",
    "eval_params",
    "get_task",
    "task_names",
    "train",
]

PyTree = Any


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """One benchmark problem. All functions are pure and traceable (``jit``/``vmap``/``scan``).

    Compared and hashed by identity, so that it can be a static argument of ``jax.jit``.
    """

    name: str
    description: str
    init_fn: Callable[[jax.Array], PyTree]
    loss_fn: Callable[[PyTree, Any], jax.Array]
    batch_fn: Callable[[jax.Array, jax.Array], Any]
    eval_fn: Callable[[PyTree], dict[str, jax.Array]]
    steps: int
    eval_every: int
    metric: str
    maximize: bool
    #: Centre of the learning-rate grid for methods (by registry name) where the registered
    #: default is far from this task's useful range; other methods use their default.
    learning_rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: What a well-tuned run reaches, with its source (documentation only).
    reference: str = ""
    #: The headline metric of an uninformed predictor (1/classes for accuracy, the unigram
    #: entropy for a language model, the metric at the starting point for a synthetic
    #: problem): a run ending there (within :data:`adaptlr.benchmarks.stats.CHANCE_MARGIN`)
    #: counts as collapsed. ``None``: only divergence counts.
    chance: float | None = None
    #: The smallest difference of the metric that the evaluation resolves (for the convex
    #: suite, float32 rounding of the suboptimality ``f - f*``); 0: not stated. A
    #: time-to-target target of a minimised metric is never set below it
    #: (:func:`adaptlr.benchmarks.compare.task_target`): a target of exactly 0 would ask a run
    #: to reach ``f*`` to the last bit.
    resolution: float = 0.0

    def better(self, a: float, b: float) -> bool:
        """Whether metric value ``a`` is better than ``b``."""
        return a > b if self.maximize else a < b


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _nnx_functions(
    make_model: Callable[[nnx.Rngs], nnx.Module],
) -> tuple[Callable[[jax.Array], PyTree], Callable[[PyTree, jax.Array], jax.Array]]:
    """``init_fn`` and ``apply(params, x)`` for an NNX model, via split/merge."""
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: make_model(nnx.Rngs(0))))

    def init_fn(key: jax.Array) -> PyTree:
        _, state = nnx.split(make_model(nnx.Rngs(params=key)))
        return state

    def apply(params: PyTree, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, params)(x)

    return init_fn, apply


def _sample_rows(n: int, batch_size: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Row indices of one minibatch, drawn uniformly with replacement from ``n`` rows."""

    def indices(step: jax.Array, key: jax.Array) -> jax.Array:
        del step  # the key is already the step's own
        return jax.random.randint(key, (batch_size,), 0, n)

    return indices


def _classification(
    name: str,
    description: str,
    split: data.Split,
    make_model: Callable[[nnx.Rngs], nnx.Module],
    *,
    batch_size: int,
    steps: int,
    eval_every: int,
    learning_rates: Mapping[str, float],
    reference: str = "",
) -> Task:
    init_fn, apply = _nnx_functions(make_model)
    x_train, y_train = jnp.asarray(split.x_train), jnp.asarray(split.y_train)
    x_test, y_test = jnp.asarray(split.x_test), jnp.asarray(split.y_test)
    rows = _sample_rows(len(split.y_train), batch_size)

    def batch_fn(step: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        index = rows(step, key)
        return x_train[index], y_train[index]

    def loss_fn(params: PyTree, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        return optax.softmax_cross_entropy_with_integer_labels(apply(params, x), y).mean()

    def eval_fn(params: PyTree) -> dict[str, jax.Array]:
        logits = apply(params, x_test)
        train_logits = apply(params, x_train)
        return {
            "test_accuracy": jnp.mean(jnp.argmax(logits, -1) == y_test),
            "test_loss": optax.softmax_cross_entropy_with_integer_labels(logits, y_test).mean(),
            "train_loss": optax.softmax_cross_entropy_with_integer_labels(
                train_logits, y_train).mean(),
        }

    classes = int(max(np.max(split.y_train), np.max(split.y_test))) + 1
    return Task(name, description, init_fn, loss_fn, batch_fn, eval_fn, steps, eval_every,
                "test_accuracy", True, learning_rates, reference, chance=1.0 / classes)


# --------------------------------------------------------------------------------------------
# Synthetic problems
# --------------------------------------------------------------------------------------------


def quadratic(*, dim: int = 100, condition_number: float = 1e3, steps: int = 500,
              eval_every: int = 25) -> Task:
    """``f(x) = x^T A x / 2`` with eigenvalues log-spaced in ``[1/condition_number, 1]``.

    ``A = Q diag(lambda) Q^T`` with a fixed random rotation ``Q`` (so that per-coordinate methods
    get no help from axis alignment); the minimum is ``0`` at ``x = 0``. Deterministic gradients;
    parameters start at a unit-norm Gaussian direction drawn from the seed.
    """
    if condition_number < 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number}")
    eigenvalues = np.logspace(-np.log10(condition_number), 0.0, dim)
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, dim)))
    a = jnp.asarray((q * eigenvalues) @ q.T, jnp.float32)

    def init_fn(key: jax.Array) -> jax.Array:
        x = jax.random.normal(key, (dim,))
        return x / jnp.linalg.norm(x)

    def loss_fn(params: jax.Array, batch: Any) -> jax.Array:
        del batch
        return 0.5 * params @ (a @ params)

    def eval_fn(params: jax.Array) -> dict[str, jax.Array]:
        return {"loss": loss_fn(params, None), "distance": jnp.linalg.norm(params)}

    return Task(
        "quadratic", f"ill-conditioned quadratic, dim {dim}, condition number {condition_number:g}",
        init_fn, loss_fn, lambda step, key: jnp.zeros(()), eval_fn, steps, eval_every,
        "loss", False,
        {"sgd": 1.0, "sgd_momentum": 0.3, "sgd_nesterov": 0.3, "adam": 0.03, "adamw": 0.03},
        "0 at the optimum; gradient descent with 1/L needs ~condition_number steps per digit",
        # E[x^T A x / 2] over a uniformly random unit-norm start: trace(A) / (2 dim)
        chance=float(eigenvalues.mean() / 2.0),
    )


def rosenbrock(*, dim: int = 2, steps: int = 2000, eval_every: int = 50) -> Task:
    """The Rosenbrock function ``sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2`` from (-1.2, 1, ...).

    The seed perturbs the classic starting point by ``N(0, 0.01^2)`` so that seeds differ.
    """
    start = jnp.asarray(np.resize(np.array([-1.2, 1.0]), dim), jnp.float32)

    def init_fn(key: jax.Array) -> jax.Array:
        return start + 0.01 * jax.random.normal(key, (dim,))

    def loss_fn(params: jax.Array, batch: Any) -> jax.Array:
        del batch
        x, y = params[:-1], params[1:]
        return jnp.sum(100.0 * (y - x**2) ** 2 + (1.0 - x) ** 2)

    def eval_fn(params: jax.Array) -> dict[str, jax.Array]:
        return {"loss": loss_fn(params, None),
                "distance": jnp.linalg.norm(params - jnp.ones_like(params))}

    return Task(
        "rosenbrock", f"Rosenbrock function in {dim} dimensions", init_fn, loss_fn,
        lambda step, key: jnp.zeros(()), eval_fn, steps, eval_every, "loss", False,
        {"sgd": 1e-3, "sgd_momentum": 3e-4, "sgd_nesterov": 3e-4, "adam": 1e-2, "adamw": 1e-2},
        "0 at (1, ..., 1)",
        chance=float(loss_fn(start, None)),  # the classic starting point
    )


def noisy_quadratic(*, dim: int = 1000, batch_size: int = 32, steps: int = 1000,
                    eval_every: int = 50) -> Task:
    """The noisy quadratic model of Zhang et al. (NeurIPS 2019).

    A diagonal quadratic with curvatures ``h_i = 1/i`` whose stochastic gradients have noise
    covariance ``H / batch_size`` (the paper's ``C = H`` choice). Each batch is a random centre
    ``c ~ N(0, (H batch_size)^-1)``: the batch loss ``sum h_i (x_i - c_i)^2 / 2`` has gradient
    ``H x - H c``, whose noise ``H c`` has exactly that covariance. Evaluation reports the
    expected risk ``sum h_i x_i^2 / 2`` (without the irreducible constant). Parameters start at
    ``x_i = 1`` plus a small seed-dependent perturbation.
    """
    h = jnp.asarray(1.0 / np.arange(1, dim + 1), jnp.float32)
    noise_scale = 1.0 / jnp.sqrt(h * batch_size)

    def init_fn(key: jax.Array) -> jax.Array:
        return jnp.ones((dim,)) + 0.01 * jax.random.normal(key, (dim,))

    def batch_fn(step: jax.Array, key: jax.Array) -> jax.Array:
        del step
        return noise_scale * jax.random.normal(key, (dim,))

    def loss_fn(params: jax.Array, centre: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(h * (params - centre) ** 2)

    def eval_fn(params: jax.Array) -> dict[str, jax.Array]:
        return {"loss": 0.5 * jnp.sum(h * params**2)}

    return Task(
        "noisy_quadratic",
        f"noisy quadratic model (Zhang et al. 2019), dim {dim}, batch size {batch_size}",
        init_fn, loss_fn, batch_fn, eval_fn, steps, eval_every, "loss", False,
        {"sgd": 0.5, "sgd_momentum": 0.1, "sgd_nesterov": 0.1, "adam": 1e-2, "adamw": 1e-2},
        "expected risk 0 at x = 0; stochastic methods plateau at a level set by the step size",
        chance=float(0.5 * np.sum(1.0 / np.arange(1, dim + 1))),  # the risk at x = 1
    )


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------

_CLASSIFIER_LRS = {"sgd": 0.1, "sgd_momentum": 0.03, "sgd_nesterov": 0.03, "adam": 3e-3,
                   "adamw": 3e-3, "nadamw": 3e-3}


def digits_logreg(*, batch_size: int = 64, steps: int = 1000, eval_every: int = 50) -> Task:
    """Multinomial logistic regression on scikit-learn's 8x8 digits (1438 train / 359 test)."""
    return _classification(
        "digits_logreg", "logistic regression on scikit-learn digits", data.digits(),
        lambda rngs: nnx.Linear(64, 10, rngs=rngs), batch_size=batch_size, steps=steps,
        eval_every=eval_every, learning_rates={**_CLASSIFIER_LRS, "sgd": 0.3},
        reference="~96% test accuracy",
    )


def digits_mlp(*, batch_size: int = 64, steps: int = 1000, eval_every: int = 50) -> Task:
    """MLP 64-128-10 (ReLU) on scikit-learn's 8x8 digits."""
    return _classification(
        "digits_mlp", "MLP 64-128-10 on scikit-learn digits", data.digits(),
        lambda rngs: models.MLP([64, 128, 10], rngs=rngs), batch_size=batch_size, steps=steps,
        eval_every=eval_every, learning_rates=_CLASSIFIER_LRS, reference="~97-98% test accuracy",
    )


def mnist1d_mlp(*, batch_size: int = 100, steps: int = 6000, eval_every: int = 250) -> Task:
    """The MNIST-1D paper's MLP (40-100-100-10, ReLU), batch 100, 6000 steps as in the paper."""
    return _classification(
        "mnist1d_mlp", "MNIST-1D, the paper's MLP 40-100-100-10", data.mnist1d(),
        lambda rngs: models.MLP([40, 100, 100, 10], rngs=rngs), batch_size=batch_size,
        steps=steps, eval_every=eval_every,
        learning_rates={**_CLASSIFIER_LRS, "adam": 1e-2, "adamw": 1e-2, "sgd_momentum": 0.1},
        reference="68% test accuracy (Greydanus 2020, Table 1)",
    )


def mnist1d_cnn(*, batch_size: int = 100, steps: int = 6000, eval_every: int = 250) -> Task:
    """The MNIST-1D paper's CNN (3 x 25-channel strided convolutions + linear), batch 100."""
    return _classification(
        "mnist1d_cnn", "MNIST-1D, the paper's CNN", data.mnist1d(),
        lambda rngs: models.MNIST1DConvNet(rngs=rngs), batch_size=batch_size, steps=steps,
        eval_every=eval_every,
        learning_rates={**_CLASSIFIER_LRS, "adam": 1e-2, "adamw": 1e-2, "sgd_momentum": 0.1},
        reference="94% test accuracy (Greydanus 2020, Table 1)",
    )


# --------------------------------------------------------------------------------------------
# Character-level language model
# --------------------------------------------------------------------------------------------


def char_transformer(*, context: int = 64, batch_size: int = 16, width: int = 64,
                     depth: int = 2, steps: int = 1000, eval_every: int = 100) -> Task:
    """A 2-layer character Transformer on *The Tempest* (first 90% train, last 10% test).

    Batches are random windows of ``context + 1`` characters; the metric is the test loss in
    bits per character on 64 fixed windows.
    """
    text = data.tempest()
    vocab = sorted(set(text))
    lookup = np.zeros(128, np.int32)
    lookup[[ord(c) for c in vocab]] = np.arange(len(vocab))
    tokens = lookup[np.frombuffer(text.encode("ascii"), np.uint8)]
    cut = int(0.9 * len(tokens))
    train_tokens, test_tokens = jnp.asarray(tokens[:cut]), jnp.asarray(tokens[cut:])
    n_eval = 64
    starts = np.linspace(0, len(test_tokens) - context - 2, n_eval).astype(np.int32)
    test_windows = jnp.asarray(np.stack([tokens[cut + s: cut + s + context + 1] for s in starts]))
    init_fn, apply = _nnx_functions(
        lambda rngs: models.CharTransformer(len(vocab), context, width, depth, rngs=rngs))
    offsets = jnp.arange(context + 1)

    def batch_fn(step: jax.Array, key: jax.Array) -> jax.Array:
        del step
        begin = jax.random.randint(key, (batch_size, 1), 0,
                                   len(train_tokens) - context - 1)
        return train_tokens[begin + offsets.reshape(1, -1)]

    def loss_fn(params: PyTree, windows: jax.Array) -> jax.Array:
        logits = apply(params, windows[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()

    def eval_fn(params: PyTree) -> dict[str, jax.Array]:
        nats = loss_fn(params, test_windows)
        return {"test_bits_per_char": nats / jnp.log(2.0), "test_loss": nats}

    return Task(
        "char_transformer",
        f"{depth}-layer character Transformer (width {width}, context {context}) on The Tempest",
        init_fn, loss_fn, batch_fn, eval_fn, steps, eval_every, "test_bits_per_char", False,
        {"sgd": 0.3, "sgd_momentum": 0.1, "sgd_nesterov": 0.1, "adam": 3e-3, "adamw": 3e-3},
        "the text's unigram entropy is 4.85 bits/char (70 symbols); Adam 3e-3 reached 2.57 "
        "bits/char in 1000 steps (seed 0, measured here)",
        chance=_unigram_bits(tokens[:cut], len(vocab)),
    )


def _unigram_bits(tokens: np.ndarray, vocab: int) -> float:
    """Entropy in bits of the symbol frequencies: the loss of a model that ignores context."""
    p = np.bincount(tokens, minlength=vocab) / len(tokens)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


_TASKS: dict[str, Callable[..., Task]] = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "noisy_quadratic": noisy_quadratic,
    "digits_logreg": digits_logreg,
    "digits_mlp": digits_mlp,
    "mnist1d_mlp": mnist1d_mlp,
    "mnist1d_cnn": mnist1d_cnn,
    "char_transformer": char_transformer,
}


# --- the convex suite (adaptlr.benchmarks.convex): logistic / least squares on sklearn data ---
from adaptlr.benchmarks import convex as _convex  # noqa: E402

_TASKS.update(_convex.TASKS)


def task_names() -> list[str]:
    """Names of the default tasks, cheapest first."""
    return list(_TASKS)


def get_task(name: str, **overrides: Any) -> Task:
    """Build the task ``name``; ``overrides`` are its keyword options (``steps=``, ...)."""
    try:
        builder = _TASKS[name]
    except KeyError:
        raise KeyError(f"no task named {name!r}; available: {', '.join(_TASKS)}") from None
    return builder(**overrides)


# --------------------------------------------------------------------------------------------
# One training run (the sweep runs many at once; this is the single-run reference loop)
# --------------------------------------------------------------------------------------------


def eval_params(params: PyTree, opt_state: PyTree) -> PyTree:
    """The parameters to evaluate: Schedule-Free's averaged iterate when the method has one.

    Uses ``adaptlr.schedule_free_eval_params`` when adaptlr provides it and it recognises the
    state; every other method is evaluated at its parameters.
    """
    import adaptlr

    convert = getattr(adaptlr, "schedule_free_eval_params", None)
    if convert is None:
        return params
    try:
        return convert(opt_state, params)
    except (TypeError, ValueError, AttributeError):
        return params


class TrainResult(NamedTuple):
    """One run of :func:`train`: final state, the loss per step and metrics per evaluation."""

    params: PyTree
    opt_state: PyTree
    losses: np.ndarray  # (steps,)
    evals: dict[str, np.ndarray]  # name -> (steps // eval_every,)


@functools.partial(jax.jit, static_argnames=("task", "tx", "steps", "eval_every", "needs_value",
                                             "needs_value_fn"))
def _train(task: Task, tx: optax.GradientTransformation, key: jax.Array, steps: int,
           eval_every: int, needs_value: bool, needs_value_fn: bool = False) -> tuple[Any, ...]:
    init_key, data_key = jax.random.split(key)
    params = task.init_fn(init_key)
    opt_state = tx.init(params)
    grad_fn = jax.value_and_grad(task.loss_fn)

    def step_fn(carry: tuple[Any, Any], step: jax.Array) -> tuple[tuple[Any, Any], jax.Array]:
        params, opt_state = carry
        batch = task.batch_fn(step, step_key(data_key, step))
        loss, grads = grad_fn(params, batch)
        extra: dict[str, Any] = {"value": loss} if needs_value else {}
        if needs_value_fn:  # line searches: the loss of this batch at trial points
            extra["value_fn"] = batch_loss(task.loss_fn, batch)
        updates, opt_state = tx.update(grads, opt_state, params, **extra)
        return (optax.apply_updates(params, updates), opt_state), loss

    def chunk(carry: tuple[Any, Any], start: jax.Array) -> tuple[tuple[Any, Any], Any]:
        carry, losses = jax.lax.scan(step_fn, carry, start + jnp.arange(eval_every))
        metrics = task.eval_fn(eval_params(*carry))
        return carry, (losses, metrics)

    starts = eval_every * jnp.arange(steps // eval_every)
    (params, opt_state), (losses, metrics) = jax.lax.scan(chunk, (params, opt_state), starts)
    return params, opt_state, losses.reshape(-1), metrics


def train(task: Task, tx: optax.GradientTransformation, seed: int = 0, *,
          steps: int | None = None, eval_every: int | None = None,
          needs_value: bool = False, needs_value_fn: bool = False) -> TrainResult:
    """Train ``task`` with ``tx`` for ``steps`` (default: the task's budget) inside ``lax.scan``.

    ``steps`` is rounded down to a multiple of ``eval_every``.
    """
    steps = task.steps if steps is None else steps
    eval_every = min(task.eval_every if eval_every is None else eval_every, steps)
    params, opt_state, losses, metrics = _train(
        task, tx, jax.random.key(seed), steps, eval_every, needs_value, needs_value_fn)
    return TrainResult(params, opt_state, np.asarray(losses),
                       {k: np.asarray(v) for k, v in metrics.items()})
