"""The learning-rate range test (Smith 2017; fastai's ``lr_find``), as one ``lax.scan``.

Train for ``steps`` steps while the learning rate grows exponentially from ``min_lr`` to
``max_lr``, record the loss of every step, and stop once the smoothed loss exceeds
``divergence_factor`` times the best smoothed loss so far. The curve of loss against learning
rate shows where training starts to make progress and where it blows up; three rules read a
learning rate off it (:func:`suggest_learning_rates`):

* ``"valley"`` (fastai's default, due to ESRI): a point about two thirds of the way along the
  longest decreasing stretch of the smoothed curve;
* ``"steep"``: where the smoothed loss falls fastest per unit of ``log(lr)``;
* ``"minimum"``: one tenth of the learning rate at the lowest smoothed loss.

Everything is pure: the parameters passed in are not modified and nothing needs restoring.
Plotting (:func:`plot_lr_range_test`) imports matplotlib when called.

References:
  Smith, *Cyclical Learning Rates for Training Neural Networks*, WACV 2017.
  fastai, ``fastai.callback.schedule.LRFinder`` and ``Learner.lr_find`` (v2).

Example:
  >>> import jax.numpy as jnp, optax
  >>> from adaptlr.finder import lr_range_test
  >>> # f(w) = 0.5 * 4 * |w|^2: gradient descent is stable for lr < 2 / 4.
  >>> result = lr_range_test(lambda w, batch: 2.0 * jnp.sum(w**2), jnp.ones(3), None,
  ...                        optax.sgd, min_lr=1e-4, max_lr=10.0, steps=100)
  >>> result.diverged, 0.0 < result.suggestions()["valley"] < 0.5
  (True, True)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr._base import PyTree
from adaptlr.sweep import batch_loss, step_key

__all__ = [
    "SUGGESTION_RULES",
    "LRRangeTestResult",
    "lr_range_test",
    "plot_lr_range_test",
    "suggest_learning_rates",
]

#: Names of the suggestion rules, in the order :func:`suggest_learning_rates` returns them.
SUGGESTION_RULES = ("valley", "steep", "minimum")


class LRRangeTestResult(NamedTuple):
    """What :func:`lr_range_test` measured (NumPy arrays, one entry per scheduled step)."""

    learning_rates: np.ndarray  # (steps,) float64: the learning rate of each step
    losses: np.ndarray  # (steps,) float32: loss at the start of each step, NaN after the stop
    smoothed_losses: np.ndarray  # (steps,) float32: debiased moving average, NaN after the stop
    num_steps: int  # steps run, the one that triggered the stop included
    diverged: bool  # stopped early because the loss blew up or was not finite

    def suggestions(self, rules: tuple[str, ...] = SUGGESTION_RULES) -> dict[str, float]:
        """:func:`suggest_learning_rates` of this result."""
        return suggest_learning_rates(self, rules)


def _schedule(min_lr: float, max_lr: float, steps: int) -> Callable[[jax.Array], jax.Array]:
    log_ratio = math.log(max_lr / min_lr)
    denominator = max(steps - 1, 1)

    def schedule(count: jax.Array) -> jax.Array:
        fraction = jnp.minimum(jnp.asarray(count, jnp.float32), denominator) / denominator
        return jnp.asarray(min_lr, jnp.float32) * jnp.exp(log_ratio * fraction)

    return schedule


def _check_positive_finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in (0, inf), got {value!r}")
    value = float(value)
    if not (0.0 < value < math.inf):
        raise ValueError(f"{name} must be in (0, inf), got {value!r}")
    return value


def _data_key(key: Any) -> jax.Array:
    if key is None:
        return jax.random.key(0)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)  # a legacy jax.random.PRNGKey
    raise ValueError(f"key must be a jax.random.key, an integer seed or None, got {key!r}")


def _takes_key(batch_fn: Callable[..., Any]) -> bool:
    """Whether ``batch_fn`` can be called as ``batch_fn(step, key)`` (``True`` if unknown)."""
    try:
        signature = inspect.signature(batch_fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(0, 0)
    except TypeError:
        return False
    return True


def lr_range_test(
    loss_fn: Callable[..., Any],
    params: PyTree,
    batches: Any,
    optimizer_factory: Callable[[Any], optax.GradientTransformation],
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    *,
    smoothing: float = 0.98,
    divergence_factor: float = 4.0,
    needs_value: bool = False,
    key: jax.Array | int | None = None,
    needs_value_fn: bool = False,
) -> LRRangeTestResult:
    r"""Run the learning-rate range test and return the loss curve.

    Step :math:`i = 0, \dots, \text{steps} - 1` uses the learning rate

    .. math:: \eta_i = \eta_{\min} (\eta_{\max} / \eta_{\min})^{i / (\text{steps} - 1)},

    records the loss :math:`\ell_i` at the current parameters, and updates the debiased moving
    average :math:`s_i = a_i / (1 - \beta^{i+1})`, :math:`a_i = \beta a_{i-1} + (1 - \beta)
    \ell_i`. The test stops after step :math:`i` when :math:`s_i > \text{divergence\_factor}
    \cdot \min_{j \le i} s_j` or :math:`\ell_i` is not finite; the remaining steps are skipped
    (``lax.cond``) and recorded as NaN.

    The optimizer is built once as ``optimizer_factory(schedule)``, where ``schedule(count)``
    is :math:`\eta_{\text{count}}`: Optax's optimizers and adaptlr's methods take a schedule as
    their learning rate and evaluate it at their own update count, which starts at 0. For a
    factory that needs a number, let ``optax.inject_hyperparams`` evaluate the schedule:
    ``lambda s: optax.inject_hyperparams(factory)(learning_rate=s)`` (what ``adaptlr lr-find``
    does for every method).

    Args:
      loss_fn: ``(params, batch) -> loss`` or ``(loss, aux)``.
      params: the starting parameters (not modified).
      batches: ``None`` (``loss_fn`` gets ``None``), a pytree of arrays with a leading batch
        axis of length ``n >= 1`` (step ``i`` uses entry ``i % n``), or a traceable
        ``batch_fn(step, key) -> batch`` with the signature of
        :func:`adaptlr.sweep.train_sweep`'s: ``key`` is the step's own key,
        ``adaptlr.sweep.step_key(key, step)`` (``fold_in``), so the same function (e.g. a
        benchmark task's ``batch_fn``) serves both. A one-argument ``step -> batch`` function
        is still accepted and gets no key.
      optimizer_factory: ``learning_rate -> GradientTransformation``, e.g. ``optax.adam`` or
        ``lambda lr: adaptlr.registry.get("adam").build(learning_rate=lr)``.
      min_lr: first learning rate, in (0, inf).
      max_lr: last learning rate, in (min_lr, inf).
      steps: number of scheduled steps, an integer in [2, inf).
      smoothing: :math:`\beta` of the moving average, in [0, 1).
      divergence_factor: stop when the smoothed loss exceeds this multiple of its minimum, in
        (1, inf]; ``inf`` stops only on a non-finite loss.
      needs_value: pass ``value=loss`` to the update (loss-value methods).
      needs_value_fn: also pass ``value_fn=``, the loss of the step's batch as a function of
        the parameters (line searches: ``MethodSpec.needs_value_fn``).
      key: the data key whose per-step keys ``batch_fn`` gets: a ``jax.random.key``, an
        integer seed, or ``None`` for ``jax.random.key(0)``.

    Returns:
      An :class:`LRRangeTestResult`; ``result.suggestions()`` applies the three rules.

    Departures from fastai: the ramp ends exactly at ``max_lr`` (fastai's stops one step short,
    at exponent ``(steps - 1) / steps``), and a non-finite loss stops the test (fastai's
    comparison with NaN never does).
    """
    min_lr = _check_positive_finite("min_lr", min_lr)
    max_lr = _check_positive_finite("max_lr", max_lr)
    if not max_lr > min_lr:
        raise ValueError(f"max_lr must be in (min_lr={min_lr:g}, inf), got {max_lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer in [2, inf), got {steps!r}")
    steps = int(steps)
    if not (isinstance(smoothing, (int, float, np.floating)) and 0.0 <= smoothing < 1.0):
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    factor = float(divergence_factor)
    if not factor > 1.0:
        raise ValueError(f"divergence_factor must be in (1, inf], got {divergence_factor!r}")

    data_key = _data_key(key)
    if batches is None:
        batch_at: Callable[[jax.Array], Any] = lambda step: None  # noqa: E731
    elif callable(batches):
        batch_fn = batches
        if _takes_key(batch_fn):

            def batch_at(step: jax.Array) -> Any:
                return batch_fn(step, step_key(data_key, step))

        else:
            batch_at = batch_fn
    else:
        leaves = jax.tree.leaves(batches)
        if not leaves or any(np.ndim(x) == 0 for x in leaves):
            raise ValueError(
                "batches must be None, a step -> batch function, or a pytree of "
                "arrays with a leading batch axis"
            )
        n_batches = np.shape(leaves[0])[0]
        if n_batches < 1 or any(np.shape(x)[0] != n_batches for x in leaves):
            raise ValueError(
                "batches: every leaf needs the same leading axis of length >= 1, "
                f"got shapes {[np.shape(x) for x in leaves]}"
            )

        def batch_at(step: jax.Array) -> Any:  # type: ignore[misc]
            return jax.tree.map(lambda x: jnp.asarray(x)[step % n_batches], batches)

    schedule = _schedule(min_lr, max_lr, steps)
    tx = optimizer_factory(schedule)
    beta = float(smoothing)

    @jax.jit
    def run(params: PyTree) -> tuple[jax.Array, ...]:
        opt_state = tx.init(params)
        first_batch = batch_at(jnp.zeros((), jnp.int32))
        has_aux = isinstance(jax.eval_shape(loss_fn, params, first_batch), tuple)
        value_and_grad = jax.value_and_grad(loss_fn, has_aux=has_aux)

        def train_step(carry: tuple[Any, ...], step: jax.Array) -> tuple[tuple[Any, ...], Any]:
            params, opt_state, average, best, count, _ = carry
            batch = batch_at(step)
            loss, grads = value_and_grad(params, batch)
            if has_aux:
                loss = loss[0]
            loss = jnp.asarray(loss, jnp.float32)
            average = beta * average + (1.0 - beta) * loss
            smoothed = average / (1.0 - beta ** (step + 1).astype(jnp.float32))
            best = jnp.minimum(best, smoothed)
            keep_going = jnp.isfinite(loss) & ~(smoothed > factor * best)
            extra: dict[str, Any] = {"value": loss} if needs_value else {}
            if needs_value_fn:
                extra["value_fn"] = batch_loss(loss_fn, batch, has_aux)
            updates, opt_state = tx.update(grads, opt_state, params, **extra)
            params = optax.apply_updates(params, updates)
            new_carry = (params, opt_state, average, best, count + 1, keep_going)
            return new_carry, (loss, smoothed)

        def skip(carry: tuple[Any, ...], step: jax.Array) -> tuple[tuple[Any, ...], Any]:
            del step
            nan = jnp.full((), jnp.nan, jnp.float32)
            return carry, (nan, nan)

        def body(carry: tuple[Any, ...], step: jax.Array) -> tuple[tuple[Any, ...], Any]:
            running = carry[-1]
            return jax.lax.cond(running, train_step, skip, carry, step)

        start = (
            params,
            opt_state,
            jnp.zeros((), jnp.float32),
            jnp.full((), jnp.inf, jnp.float32),
            jnp.zeros((), jnp.int32),
            jnp.ones((), bool),
        )
        final, (losses, smoothed) = jax.lax.scan(body, start, jnp.arange(steps))
        return losses, smoothed, final[-2], final[-1]

    losses, smoothed, num_steps, still_running = jax.device_get(run(params))
    learning_rates = min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))
    return LRRangeTestResult(
        learning_rates=learning_rates,
        losses=np.asarray(losses),
        smoothed_losses=np.asarray(smoothed),
        num_steps=int(num_steps),
        diverged=not bool(still_running),
    )


# --------------------------------------------------------------------------------------------
# Suggestions
# --------------------------------------------------------------------------------------------


def _valley(lrs: np.ndarray, losses: np.ndarray) -> float:
    """fastai's ``valley``: two thirds along the longest strictly decreasing subsequence.

    ``lds[i]`` is the length of the longest decreasing subsequence ending at ``i``. fastai
    updates the running best ``(max_start, max_end)`` inside its inner loop, so ``max_start``
    is set from the first value of ``lds[i]`` that beats the previous best; the vectorised
    inner loop below reproduces that exactly.
    """
    n = len(losses)
    lds = np.ones(n, np.int64)
    max_start, max_end = 0, 0
    for i in range(1, n):
        candidates = np.where(losses[:i] > losses[i], lds[:i] + 1, 1)
        running = np.maximum.accumulate(candidates)
        lds[i] = running[-1]
        beats = np.flatnonzero(running > lds[max_end])
        if beats.size:
            max_end = i
            max_start = i - int(running[beats[0]])
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def _steep(lrs: np.ndarray, losses: np.ndarray) -> float:
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def _minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    return float(lrs[int(np.argmin(losses))]) / 10.0


_RULES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "valley": _valley,
    "steep": _steep,
    "minimum": _minimum,
}


def suggest_learning_rates(
    result: LRRangeTestResult, rules: tuple[str, ...] = SUGGESTION_RULES
) -> dict[str, float]:
    """Learning rates read off a range test by fastai's rules.

    As in fastai's ``lr_find``, the rules see the smoothed losses of the steps that ran, minus
    the first ``steps // 10`` and the last 5, cut before the first NaN.

    Args:
      result: what :func:`lr_range_test` returned.
      rules: any of ``"valley"``, ``"steep"``, ``"minimum"``.

    Returns:
      ``{rule: learning_rate}``; NaN for every rule when fewer than 2 usable points remain
      (the test diverged almost at once: lower ``min_lr`` or use more steps).

    Example:
      >>> import numpy as np
      >>> from adaptlr.finder import LRRangeTestResult, suggest_learning_rates
      >>> lrs = np.geomspace(1e-3, 1.0, 40)
      >>> losses = np.concatenate([np.linspace(2.0, 0.5, 30), np.linspace(0.6, 3.0, 10)])
      >>> result = LRRangeTestResult(lrs, losses, losses, 40, True)
      >>> suggest_learning_rates(result)["minimum"] == float(lrs[29]) / 10  # lowest at 29
      True
    """
    for rule in rules:
        if rule not in _RULES:
            raise ValueError(f"rules must be drawn from {SUGGESTION_RULES}, got {rule!r}")
    total = len(result.learning_rates)
    stop = result.num_steps - 5
    lrs = np.asarray(result.learning_rates[total // 10 : max(stop, total // 10)], np.float64)
    losses = np.asarray(result.smoothed_losses[total // 10 : max(stop, total // 10)], np.float64)
    nan = np.flatnonzero(np.isnan(losses))
    if nan.size:
        lrs, losses = lrs[: nan[0]], losses[: nan[0]]
    if len(losses) < 2:
        return {rule: math.nan for rule in rules}
    return {rule: _RULES[rule](lrs, losses) for rule in rules}


def plot_lr_range_test(
    result: LRRangeTestResult,
    ax: Any = None,
    *,
    skip_end: int = 5,
    rules: tuple[str, ...] = SUGGESTION_RULES,
    title: str | None = None,
) -> Any:
    """Plot the smoothed loss against the learning rate (log scale) with the suggestions.

    Each suggestion is a marker on the curve labelled with its rule's name (and, in the
    legend, its value).

    Imports matplotlib. Returns the matplotlib ``Axes``; save with ``ax.figure.savefig(path)``.

    Args:
      result: what :func:`lr_range_test` returned.
      ax: an ``Axes`` to draw into; a new figure when ``None``.
      skip_end: leave out the last steps that ran, an integer in [0, inf) (fastai: 5).
      rules: suggestions to mark (``()`` for none).
      title: optional title.
    """
    if isinstance(skip_end, bool) or not isinstance(skip_end, (int, np.integer)) or skip_end < 0:
        raise ValueError(f"skip_end must be an integer in [0, inf), got {skip_end!r}")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    end = max(result.num_steps - skip_end, 1)
    lrs, smoothed = result.learning_rates[:end], result.smoothed_losses[:end]
    ax.plot(lrs, smoothed, label="smoothed loss")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    finite = np.isfinite(smoothed)
    markers = ("v", "o", "s", "D", "^")
    for index, (rule, lr) in enumerate(result.suggestions(rules).items() if rules else []):
        if math.isnan(lr) or not finite.any():
            continue
        loss_at = np.interp(np.log(lr), np.log(lrs[finite]), smoothed[finite])
        (mark,) = ax.plot([lr], [loss_at], markers[index % len(markers)], markersize=8,
                          label=f"{rule}: {lr:.2e}", zorder=3)
        # The rule's name next to its marker, so that the figure reads without the legend.
        ax.annotate(rule, (lr, loss_at), textcoords="offset points",
                    xytext=(6, 8 + 12 * (index % 2)), fontsize=9, color=mark.get_color(),
                    fontweight="bold")
    ax.legend(loc="best")
    if title:
        ax.set_title(title)
    return ax
