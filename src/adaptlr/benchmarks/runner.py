"""Run task x method x learning rate x seed grids, resumably, through the vectorised sweep.

For each (task, method) the runner trains every (grid value, seed) pair that is not yet in the
results file as one :func:`adaptlr.sweep.train_sweep` program (vmapped, sharded over the
devices), then appends one JSON line per run (:mod:`adaptlr.benchmarks.results`). A killed
invocation loses only the (task, method) group in flight; rerunning the same command skips every
recorded run and records each missing one exactly once.

What is swept for a method (:func:`grid_for`):

* its ``learning_rate_arg`` (the learning rate of a tuned method, the multiplier of a
  parameter-free method such as AdaGrad-Norm or Prodigy, ``max_lr`` of SPS), over the task's
  centre for that method (or the registered default) times a grid of factors;
* otherwise its ``d0`` (initial distance estimate), over the default times the factors;
* otherwise nothing: one run per seed with the registered defaults.

A method name ``<registry name>@<schedule>`` is the registered method with its swept value used
as the peak of a schedule over the budget (:data:`SCHEDULES`: ``warmup_cosine``, ``cosine``,
``wsd``, ``linear_to_zero``, ``inverse_sqrt``, ``rex``, ``onecycle``, ``constant``), e.g.
``adam@wsd``. ``<name>_warmup_cosine`` is accepted for ``<name>@warmup_cosine``: 5% linear
warm-up from 0, then cosine decay to 0 (``optax.warmup_cosine_decay_schedule``). A suffix
``:name=value,...`` fixes other hyperparameters, e.g. ``adamw@warmup_cosine:weight_decay=0.2``.

``<registry name>@plateau`` is the method at a constant (swept) learning rate with
reduce-on-plateau control fed the task's headline metric at every evaluation
(:data:`PLATEAU`; ``mode="max"`` for metrics where larger is better), e.g. ``adam@plateau``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax

from adaptlr import registry
from adaptlr.benchmarks import results
from adaptlr.benchmarks.progress import Progress
from adaptlr.benchmarks.tasks import Task, eval_params, get_task
from adaptlr.sweep import evaluation_steps, train_sweep

__all__ = [
    "BASELINE_METHODS",
    "LR_FREE_FAMILIES",
    "SCALE_FACTORS",
    "SCHEDULES",
    "TUNED_FACTORS",
    "Method",
    "default_methods",
    "grid_for",
    "parse_label",
    "parse_overrides",
    "run",
    "validate_factors",
]

#: Multipliers of a tuned method's grid centre: half-decade steps over three decades.
TUNED_FACTORS = tuple(10.0 ** e for e in (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5))
#: Multipliers of a learning-rate-free method's scale (its multiplier or ``d0``).
SCALE_FACTORS = tuple(10.0 ** e for e in (-1.0, -0.5, 0.0, 0.5, 1.0))
#: The tuned baselines of the main comparison.
BASELINE_METHODS = ("sgd_momentum", "adam", "adamw_warmup_cosine")
#: Registry families counted as learning-rate-free in the main comparison.
LR_FREE_FAMILIES = ("parameter_free", "polyak")
_COSINE = "_warmup_cosine"
_MAX_RECORDS = 200


def _warmup(steps: int) -> int:
    return max(1, steps // 20)


def _schedule(name: str, peak: Any, steps: int) -> Any:
    from adaptlr import schedules

    if name == "constant":
        return peak
    if name == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, peak, _warmup(steps), steps, 0.0)
    if name == "cosine":
        return schedules.SCHEDULES["cosine"](peak, steps, warmup_steps=_warmup(steps))
    if name == "wsd":
        return schedules.SCHEDULES["wsd"](peak, steps, warmup_steps=_warmup(steps))
    if name == "linear_to_zero":
        return schedules.SCHEDULES["linear_to_zero"](peak, steps, warmup_steps=_warmup(steps))
    if name == "inverse_sqrt":
        return schedules.SCHEDULES["inverse_sqrt"](peak, _warmup(steps))
    if name == "rex":
        return schedules.SCHEDULES["rex"](peak, steps)
    if name == "onecycle":
        return schedules.SCHEDULES["onecycle"](peak, steps)
    raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")


#: Schedules a method label can name after ``@``; each takes its peak from the swept value and
#: spans the whole budget (warm-up: 5% of the steps where the schedule has one).
SCHEDULES = ("constant", "warmup_cosine", "cosine", "wsd", "linear_to_zero", "inverse_sqrt",
             "rex", "onecycle")

#: ``<name>@plateau``: reduce-on-plateau on the task's metric, evaluated every ``eval_every``
#: steps. PyTorch's and Keras' factor and threshold; patience 2 because the default tasks
#: evaluate only ~20 times (the usual patience of 10 would rarely fire).
PLATEAU: dict[str, Any] = {"factor": 0.1, "patience": 2, "threshold": 1e-4}
_PLATEAU = "plateau"


def _plateau_controller(task: Task) -> Any:
    from adaptlr.loss_driven.plateau import plateau_controller

    return plateau_controller(**PLATEAU, mode="max" if task.maximize else "min")


def parse_overrides(label: str) -> tuple[str, dict[str, float]]:
    """Split ``"adamw@cosine:weight_decay=0.1,b2=0.95"`` into the label and fixed overrides."""
    if ":" not in label:
        return label, {}
    base, text = label.split(":", 1)
    overrides = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"override {item!r} in {label!r} is not NAME=NUMBER")
        overrides[name.strip()] = float(value)
    return base, overrides


def parse_label(label: str) -> tuple[str, str | None]:
    """``(registry name, schedule or None)`` of a method label (overrides ignored)."""
    label, _ = parse_overrides(label)
    if "@" in label:
        name, schedule = label.split("@", 1)
        if schedule not in SCHEDULES and schedule != _PLATEAU:
            raise ValueError(f"unknown schedule {schedule!r} in {label!r}; known: "
                             f"{', '.join(SCHEDULES)}, {_PLATEAU}")
        return name, schedule
    if label.endswith(_COSINE) and label not in registry.names():
        return label[: -len(_COSINE)], "warmup_cosine"
    return label, None


@dataclasses.dataclass(frozen=True)
class Method:
    """One method of a comparison and the grid its swept hyperparameter runs over."""

    label: str  # name in tables and plots; registry name, possibly + "_warmup_cosine"
    spec_name: str  # registry name
    sweep_arg: str | None  # hyperparameter the grid sets; None: registered defaults only
    values: tuple[float, ...]  # grid (one placeholder value when sweep_arg is None)
    centre: float  # the value the grid is built around
    schedule: str | None = None  # "warmup_cosine" or None
    overrides: tuple[tuple[str, float], ...] = ()  # fixed hyperparameters from the label

    @property
    def spec(self) -> registry.MethodSpec:
        return registry.get(self.spec_name)

    @property
    def lr_free(self) -> bool:
        return self.spec.family in LR_FREE_FAMILIES


def _swept_argument(spec: registry.MethodSpec) -> str | None:
    if spec.learning_rate_arg is not None:
        return spec.learning_rate_arg
    if "d0" in spec.defaults:
        return "d0"
    return None


def grid_for(label: str, task: Task, factors: Sequence[float] | None = None) -> Method:
    """The grid of ``label`` (a registry name, optionally + ``_warmup_cosine``) on ``task``.

    ``factors`` default to :data:`SCALE_FACTORS` for learning-rate-free families and
    :data:`TUNED_FACTORS` otherwise.
    """
    spec_name, schedule = parse_label(label)
    overrides = tuple(sorted(parse_overrides(label)[1].items()))
    spec = registry.get(spec_name)
    arg = _swept_argument(spec)
    if schedule is not None and arg is None:
        raise ValueError(f"{spec_name} has no learning rate to schedule")
    if arg is None:
        return Method(label, spec_name, None, (math.nan,), math.nan, schedule, overrides)
    centre = float(task.learning_rates.get(spec_name, spec.defaults[arg]))
    if factors is None:
        factors = SCALE_FACTORS if spec.family in LR_FREE_FAMILIES else TUNED_FACTORS
    values = tuple(float(f"{centre * f:.4g}") for f in factors)
    return Method(label, spec_name, arg, values, centre, schedule, overrides)


def default_methods() -> list[str]:
    """The main comparison: :data:`BASELINE_METHODS` + every registered learning-rate-free one."""
    free = [s.name for s in registry.all_specs() if s.family in LR_FREE_FAMILIES]
    return [*BASELINE_METHODS, *free]


def validate_factors(name: str, factors: Sequence[float] | None) -> None:
    """Raise ``ValueError`` unless ``factors`` (if given) are finite and positive, at least one.

    The runner builds each method with traced hyperparameters, which skips the factories'
    own range checks, so a negative, zero or NaN grid would train and be recorded.
    """
    if factors is None:
        return
    factors = list(factors)
    if not factors:
        raise ValueError(f"{name} is empty; give at least one multiplier")
    for f in factors:
        if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)) \
                or not math.isfinite(f) or f <= 0:
            raise ValueError(f"{name} must hold finite numbers > 0, got {f!r}")


def _check_values(method: Method) -> None:
    """The swept values must be finite and > 0 (learning rates, multipliers, ``d0``).

    Checked as the float32 numbers the sweep trains with (1e-300 would train as 0).
    """
    if method.sweep_arg is None:
        return
    for value in method.values:
        with np.errstate(over="ignore", under="ignore"):
            single = float(np.float32(value))
        if not math.isfinite(single) or single <= 0:
            raise ValueError(
                f"{method.label}: {method.sweep_arg}={value!r} from the grid; swept values must "
                f"be finite and > 0 in float32 (grid centre {method.centre:g})")


def _optimizer_factory(
    method: Method, steps: int, plateau: Any = None
) -> Callable[[Mapping[str, Any]], optax.GradientTransformation]:
    spec = method.spec

    def build(hyperparams: Mapping[str, Any]) -> optax.GradientTransformation:
        fixed = dict(method.overrides)
        if method.sweep_arg is None:
            return spec.build(**fixed)
        value = hyperparams["value"]
        if method.schedule is not None and method.schedule != _PLATEAU:
            if "base_lr" in inspect.signature(spec.factory).parameters:
                # AdaBound's bounds scale by lr_t / base_lr: the peak, as PyTorch's
                # AdaBound(lr=peak) under a scheduler.
                fixed.setdefault("base_lr", value)
            value = _schedule(method.schedule, value, steps)
        return spec.build(**fixed, **{method.sweep_arg: value})

    def make(hyperparams: Mapping[str, Any]) -> optax.GradientTransformation:
        if plateau is None:
            return build(hyperparams)
        return optax.chain(build(hyperparams), plateau.transformation)

    return make


def _record_every(steps: int, eval_every: int) -> int:
    """The largest divisor of ``eval_every`` giving at most ~``_MAX_RECORDS`` loss records."""
    target = max(1, steps // _MAX_RECORDS)
    return max(d for d in range(1, eval_every + 1) if eval_every % d == 0 and d <= target)


def _config(task_name: str, options: Mapping[str, Any], steps: int, method: Method,
            value: float, seed: int) -> dict[str, Any]:
    config = {
        "task": task_name,
        "task_options": dict(options),
        "steps": steps,
        "method": method.label,
        "spec": method.spec_name,
        "schedule": method.schedule,
        "sweep_arg": method.sweep_arg,
        "value": None if method.sweep_arg is None else value,
        "defaults": dict(method.spec.defaults),
        "seed": int(seed),
    }
    if method.overrides:  # only when present, so that older results keep their keys
        config["overrides"] = dict(method.overrides)
    return config


def _train(task: Task, method: Method, values: np.ndarray, seeds: np.ndarray, steps: int,
           record_every: int, devices: Sequence[jax.Device] | None) -> Any:
    def eval_fn(params: Any, opt_state: Any) -> dict[str, jax.Array]:
        return task.eval_fn(eval_params(params, opt_state))

    kwargs: dict[str, Any] = dict(
        eval_fn=eval_fn, eval_every=task.eval_every, record_every=record_every,
        needs_value=method.spec.needs_value, needs_value_fn=method.spec.needs_value_fn,
        devices=devices)
    plateau = _plateau_controller(task) if method.schedule == _PLATEAU else None
    if plateau is not None:
        kwargs["on_eval"] = lambda opt_state, metrics: plateau.step(opt_state,
                                                                    metrics[task.metric])
    make = _optimizer_factory(method, steps, plateau)
    hyperparams = {} if method.sweep_arg is None else {"value": values.astype(np.float32)}
    try:
        return train_sweep(task.loss_fn, task.init_fn, make, hyperparams, seeds,
                           task.batch_fn, steps, **kwargs)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerIntegerConversionError):
        pass
    # The factory needs a concrete hyperparameter (Python-side arithmetic on it): one sweep
    # over seeds per grid value, with the value baked in.
    parts = []
    for value in np.unique(values):
        rows = np.flatnonzero(values == value)

        def make_fixed(hp: Mapping[str, Any], value: float = float(value)) -> Any:
            del hp
            return make({"value": value})

        parts.append((rows, train_sweep(task.loss_fn, task.init_fn, make_fixed, {},
                                        seeds[rows], task.batch_fn, steps, **kwargs)))
    order = np.argsort(np.concatenate([rows for rows, _ in parts]))

    def gather(*xs: Any) -> Any:
        return np.concatenate([np.asarray(x) for x in xs])[order]

    return jax.tree.map(gather, *[r for _, r in parts])


def _records(task: Task, method: Method, configs: list[dict[str, Any]], keys: list[str],
             result: Any, steps: int, record_every: int, wall: float) -> list[dict[str, Any]]:
    eval_steps = evaluation_steps(steps, task.eval_every)
    losses = np.asarray(result.losses)
    metrics = {k: np.asarray(v) for k, v in result.eval_metrics.items()}
    lrs = result.effective_lr
    if isinstance(lrs, dict):
        lr_traces = {k: np.asarray(v) for k, v in lrs.items()}
    else:
        lr_traces = {"": np.asarray(lrs)}
    loss_steps = [(i + 1) * record_every for i in range(losses.shape[1])]
    env = results.versions()
    out = []
    for i, (config, key) in enumerate(zip(configs, keys, strict=True)):
        index, loss_curve = results.subsample(losses[i], _MAX_RECORDS)
        curves = {name: values[i] for name, values in metrics.items()}
        headline = curves.get(task.metric)
        final = {name: v[-1] if len(v) else None for name, v in curves.items()}
        best_at = None
        if headline is not None and np.isfinite(headline).any():
            pick = np.nanargmax if task.maximize else np.nanargmin
            best_at = int(pick(headline))
        out.append({
            "key": key,
            "config": config,
            "metric": task.metric,
            "maximize": task.maximize,
            "final": final,
            "best": {name: v[best_at] for name, v in curves.items()} if best_at is not None
            else None,
            "best_step": eval_steps[best_at] if best_at is not None else None,
            "diverged": bool(np.asarray(result.diverged)[i]),
            "diverged_at": int(np.asarray(result.diverged_at)[i]),
            "curves": {
                "loss_steps": [loss_steps[j] for j in index],
                "loss": loss_curve,  # training loss, mean over each block ending at loss_steps
                "eval_steps": eval_steps,
                "eval": curves,
            },
            "effective_lr": {
                name: results.subsample(trace[i], _MAX_RECORDS)[1]
                for name, trace in lr_traces.items()
            },
            "wall_time_s": wall / len(configs),
            "group_wall_time_s": wall,
            "group_size": len(configs),
            "versions": env,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
    return out


def run(
    task_name: str,
    methods: Iterable[str],
    seeds: Sequence[int],
    results_path: str,
    *,
    task_options: Mapping[str, Any] | None = None,
    steps: int | None = None,
    factors: Sequence[float] | None = None,
    scale_factors: Sequence[float] | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    failures: list[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Train every (method, grid value, seed) of ``task_name`` missing from ``results_path``.

    Args:
      task_name: a name of :func:`adaptlr.benchmarks.tasks.task_names`.
      methods: registry names, optionally suffixed ``_warmup_cosine``.
      seeds: the seeds of each grid point.
      results_path: JSONL file; created if missing, appended to otherwise.
      task_options: keyword options of the task (part of each run's identity).
      steps: budget, default the task's; rounded down to a multiple of its ``eval_every``.
      factors / scale_factors: multipliers of the grid centre for tuned / learning-rate-free
        methods (defaults :data:`TUNED_FACTORS` / :data:`SCALE_FACTORS`).
      devices: forwarded to :func:`adaptlr.sweep.train_sweep`.
      progress: report methods and runs done, elapsed time and an estimate on stderr
        (:class:`adaptlr.benchmarks.progress.Progress`: a status line on a terminal, one line
        per method otherwise).
      failures: when given, a method that raises while building or training is skipped and
        ``(label, error message)`` appended here (the other methods still run); when ``None``
        the error propagates.

    Returns:
      The records this call appended (runs already recorded are not repeated).

    Raises:
      ValueError: before any training, for ``steps`` < 1, no method or seed, a grid factor or
        swept value that is not finite and > 0, or a results file that cannot be written.
      KeyError: an unknown task or method.
    """
    if isinstance(steps, bool) or (steps is not None and (
            not isinstance(steps, (int, np.integer)) or steps < 1)):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty; give at least one method")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    validate_factors("factors", factors)
    validate_factors("scale_factors", scale_factors)
    options = dict(task_options or {})
    task = get_task(task_name, **options)
    steps = task.steps if steps is None else int(steps)
    if steps < task.eval_every:
        task = get_task(task_name, **{**options, "eval_every": steps})
    steps -= steps % task.eval_every
    record_every = _record_every(steps, task.eval_every)
    grids = []
    for label in methods:
        free = registry.get(parse_label(label)[0]).family in LR_FREE_FAMILIES
        method = grid_for(label, task, scale_factors if free else factors)
        _check_values(method)
        grids.append(method)
    # Before any training: a destination that cannot be written would lose the work.
    results.check_writable(results_path)
    done = results.completed_keys(results_path)
    appended: list[dict[str, Any]] = []
    plan = []
    for method in grids:
        pairs = [(v, s) for v in method.values for s in seeds]
        configs = [_config(task_name, options, steps, method, v, s) for v, s in pairs]
        plan.append((method, pairs, configs, [results.run_key(c) for c in configs]))
    bar = Progress(task_name, len(plan), sum(len(p[1]) for p in plan)) if progress else None
    try:
        for method, pairs, configs, keys in plan:
            todo = [i for i, k in enumerate(keys) if k not in done]
            if not todo:
                if bar is not None:
                    bar.finish(method.label, len(keys), trained=False)
                continue
            if bar is not None:
                bar.start(method.label, len(todo))
            values = np.asarray([pairs[i][0] for i in todo], np.float64)
            seed_array = np.asarray([pairs[i][1] for i in todo], np.int32)
            start = time.perf_counter()
            try:
                result = _train(task, method, values, seed_array, steps, record_every, devices)
                jax.block_until_ready(result.losses)
            except Exception as error:  # reported to the caller, who asked to go on
                if failures is None:
                    raise
                failures.append((method.label, f"{type(error).__name__}: {error}"))
                if bar is not None:
                    bar.finish(method.label, len(keys), trained=True, note=", failed")
                continue
            wall = time.perf_counter() - start
            new = _records(task, method, [configs[i] for i in todo],
                           [keys[i] for i in todo], result, steps, record_every, wall)
            # Another process may have recorded some of these runs meanwhile: append skips
            # those under the file lock, so each run is in the file once.
            appended.extend(dict(r) for r in results.append(results_path, new))
            done.update(keys[i] for i in todo)
            if bar is not None:
                bar.finish(method.label, len(keys), trained=True)
    finally:
        if bar is not None:
            bar.close()
    return appended


def effective_steps(task_name: str, steps: int | None = None,
                    task_options: Mapping[str, Any] | None = None) -> int:
    """The budget :func:`run` trains for: ``steps`` (default the task's) rounded down to a
    multiple of the task's ``eval_every`` (or ``steps`` itself when below it)."""
    task = get_task(task_name, **dict(task_options or {}))
    steps = task.steps if steps is None else int(steps)
    if steps < task.eval_every:
        return steps
    return steps - steps % task.eval_every
