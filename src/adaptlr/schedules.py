"""Learning-rate schedules that Optax lacks, as plain ``step -> value`` functions.

Every factory here returns a function of the step count that Optax accepts wherever it takes a
schedule (``optax.adam(learning_rate=adaptlr.wsd_schedule(...))``, ``optax.inject_hyperparams``,
:func:`adaptlr.scale_by_learning_rate`). The functions are pure ``jnp`` code: they trace under
``jit``, vectorise under ``vmap`` over steps, and also over *hyperparameters* — the numeric
arguments (values, step counts, factors) may be traced arrays, e.g.
``jax.vmap(lambda peak: wsd_schedule(peak, 1000)(step))(peaks)``. Only structural arguments
(shape names, ``milestones``, ``cycle_mult``, ``num_cycles``, ``decay_floor``, ``three_phase``,
``chebyshev_schedule``'s ``total_steps``) must be concrete.

Conventions shared by all schedules:

* The step is the number of updates already applied, so the first update uses ``schedule(0)``
  (Optax's convention). PyTorch's ``torch.optim.lr_scheduler`` counts the same way: the value at
  step ``i`` is the learning rate after ``i`` calls of ``scheduler.step()``.
* Values are computed in the default float dtype (float32, or float64 under ``jax.enable_x64``).
  Powers of a concrete per-step or per-cycle factor use its float64 logarithm, and positions in
  short cycles use integer arithmetic for integer steps, so that float32 values stay within
  float32 rounding of the peak over 10^8 steps.
* Arguments are validated when the schedule is built (concrete values only; see
  :data:`RANGES`): a wrong value raises ``ValueError`` naming the argument and the valid range.
* Phase endpoints are exact: a warmup ends at exactly ``peak_value``, a decay at exactly its
  end value, and every schedule stays at its final value after its last step.

Shapes of a ramp from ``a`` to ``b`` with progress ``p`` in ``[0, 1]``:

* ``"linear"``: ``a + (b - a) p``
* ``"cosine"``: ``b + (a - b) (1 + cos(pi p)) / 2``
* ``"sqrt"``: ``a + (b - a) sqrt(p)`` (as a decay this is the "1-sqrt" cool-down of Hägele et al.)
* ``"square"``: ``a + (b - a) p^2`` (as a decay, ``pytorch_optimizer``'s "1-square" cool-down)
* ``"exponential"``: ``a^(1-p) b^p`` (geometric interpolation; needs ``a, b > 0`` to be useful)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    UNIT_INTERVAL,
    Interval,
    ScalarOrSchedule,
    check,
    check_all,
    check_choice,
    is_checkable,
)
from adaptlr._docstrings import args_from

__all__ = [
    "RANGES",
    "SCHEDULES",
    "Schedule",
    "chebyshev_schedule",
    "cosine_schedule",
    "cosine_with_restarts",
    "cyclic_schedule",
    "inverse_sqrt_schedule",
    "linear_to_zero",
    "multistep_schedule",
    "onecycle_schedule",
    "plot",
    "polynomial_to_zero",
    "rex_schedule",
    "untuned_warmup",
    "warmup",
    "wsd_schedule",
]

Schedule = Callable[[Any], jax.Array]

_STEPS = Interval(0.0, math.inf, integer=True)
_POSITIVE_STEPS = Interval(1.0, math.inf, integer=True)

#: Valid range of every numeric argument of the schedules in this module.
RANGES: dict[str, Interval] = {
    "peak_value": NON_NEGATIVE,
    "init_value": NON_NEGATIVE,
    "end_value": NON_NEGATIVE,
    "base_value": NON_NEGATIVE,
    "max_value": NON_NEGATIVE,
    "total_steps": _POSITIVE_STEPS,
    "warmup_steps": _STEPS,
    "decay_steps": _STEPS,
    "decay_fraction": PROBABILITY,
    "timescale": POSITIVE,
    "step_size_up": _POSITIVE_STEPS,
    "step_size_down": _POSITIVE_STEPS,
    "gamma": POSITIVE,
    "milestones": _STEPS,
    "power": POSITIVE,
    "steps": _STEPS,
    "start_factor": PROBABILITY,
    "b2": UNIT_INTERVAL,
    "cycle_steps": _POSITIVE_STEPS,
    "cycle_mult": Interval(1.0, math.inf),
    "cycle_warmup_steps": _STEPS,
    "num_cycles": _POSITIVE_STEPS,
    "cycle_decay": Interval(0.0, 1.0, lower_closed=False),
    "min_ratio": PROBABILITY,
    "pct_start": PROBABILITY,
    "div_factor": POSITIVE,
    "condition_number": Interval(1.0, math.inf),
    "final_div_factor": POSITIVE,
}

SHAPES = ("linear", "cosine", "sqrt", "square", "exponential")
WARMUP_SHAPES = ("linear", "cosine", "exponential")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _dtype() -> Any:
    return jnp.result_type(float)


def _as_float(x: Any) -> jax.Array:
    return jnp.asarray(x).astype(_dtype())


def _concrete(x: Any) -> float | None:
    """``x`` as a Python float when it is a concrete number, else ``None``."""
    if not is_checkable(x):
        return None
    return float(np.asarray(x))


def _progress(t: jax.Array, start: Any, length: Any) -> jax.Array:
    """``clip((t - start) / length, 0, 1)``; a zero ``length`` jumps from 0 to 1 at ``start``."""
    start, length = _as_float(start), _as_float(length)
    safe = jnp.where(length > 0, length, jnp.ones_like(length))
    ramp = jnp.clip((t - start) / safe, 0.0, 1.0)
    # Decide the ends by comparison: XLA may divide by multiplying with the reciprocal, which
    # leaves T * (1/T) one ulp short of 1 and the end value one ulp off.
    ramp = jnp.where(t >= start + length, 1.0, jnp.where(t <= start, 0.0, ramp))
    return jnp.where(length > 0, ramp, (t >= start).astype(t.dtype))


def _interpolate(shape: str, a: jax.Array, b: jax.Array, p: jax.Array) -> jax.Array:
    """Ramp from ``a`` (at ``p = 0``) to ``b`` (at ``p = 1``), exact at both ends."""
    if shape == "linear":
        mid = a + (b - a) * p
    elif shape == "cosine":
        mid = b + (a - b) * 0.5 * (1.0 + jnp.cos(jnp.pi * p))
    elif shape == "sqrt":
        mid = a + (b - a) * jnp.sqrt(p)
    elif shape == "square":
        mid = a + (b - a) * (p * p)
    elif shape == "exponential":
        mid = jnp.power(a, 1.0 - p) * jnp.power(b, p)
    else:  # pragma: no cover - callers validate the shape
        raise ValueError(f"unknown shape {shape!r}")
    return jnp.where(p <= 0, a, jnp.where(p >= 1, b, mid))


def _steps_le(names: Sequence[str], values: Sequence[Any], total_name: str, total: Any) -> None:
    """Raise unless ``sum(values) <= total`` (checked only when everything is concrete)."""
    concrete = [_concrete(v) for v in values]
    limit = _concrete(total)
    if limit is None or any(c is None for c in concrete):
        return
    if sum(c for c in concrete if c is not None) > limit:
        joined = " + ".join(names)
        raise ValueError(
            f"{joined} must be <= {total_name} = {limit:g}, got "
            + " + ".join(f"{c:g}" for c in concrete if c is not None)
        )


def _positive_for_exponential(name: str, value: Any, what: str) -> None:
    concrete = _concrete(value)
    if concrete is not None and concrete <= 0:
        raise ValueError(
            f"{name} must be > 0 for {what}='exponential' (geometric interpolation), got {value!r}"
        )


def _concrete_log(x: Any) -> float | None:
    """``log(x)`` in float64 when ``x`` is a concrete positive number, else ``None``."""
    value = _concrete(x)
    return math.log(value) if value is not None and value > 0 else None


def _power_of(base: Any, log_base: float | None, exponent: jax.Array) -> jax.Array:
    """``base ** exponent`` for a possibly large ``exponent`` (a step or cycle count).

    With a concrete ``base`` its logarithm ``log_base`` was taken in float64, so the power
    is ``exp(exponent * log_base)`` with one float32 rounding of the logarithm (relative
    error 6e-8 of the exponent's size) instead of ``base`` rounded to float32 and raised to
    the power (relative error ``exponent`` times the rounding of ``base``).
    """
    if log_base is None:
        return jnp.power(_as_float(base), exponent)
    return jnp.exp(exponent * _as_float(log_base))


def _is_integer_step(step: Any) -> bool:
    return bool(jnp.issubdtype(jnp.asarray(step).dtype, jnp.integer))


def _concrete_int_sum(*values: Any) -> int | None:
    """``sum(values)`` as a Python int when every value is a concrete integer, else ``None``."""
    concrete = [_concrete(v) for v in values]
    if any(c is None or not float(c).is_integer() for c in concrete):
        return None
    return int(sum(int(c) for c in concrete if c is not None))


def _named(fn: Schedule, name: str) -> Schedule:
    fn.__name__ = name
    fn.__qualname__ = name
    return fn


# --------------------------------------------------------------------------------------------
# Warmup-stable-decay
# --------------------------------------------------------------------------------------------


def wsd_schedule(
    peak_value: Any,
    total_steps: Any,
    *,
    warmup_steps: Any = 0,
    decay_steps: Any = None,
    decay_fraction: Any = 0.2,
    decay_shape: str = "linear",
    warmup_shape: str = "linear",
    init_value: Any = 0.0,
    end_value: Any = 0.0,
) -> Schedule:
    r"""Warmup-stable-decay ("trapezoidal") schedule.

    With :math:`W` warmup steps, :math:`D` decay steps and :math:`T` total steps:

    .. math::
        \eta_t = \begin{cases}
          \mathrm{ramp}_{w}(\eta_{init}, \eta_{peak}, t / W) & t < W \\
          \eta_{peak} & W \le t < T - D \\
          \mathrm{ramp}_{d}(\eta_{peak}, \eta_{end}, (t - T + D) / D) & T - D \le t \le T \\
          \eta_{end} & t > T
        \end{cases}

    where :math:`\mathrm{ramp}` is one of the shapes in the module docstring. The cool-down
    shapes: ``"linear"`` (Hägele et al.'s default), ``"cosine"``, ``"sqrt"`` (their "1-sqrt",
    :math:`\eta_{peak} (1 - \sqrt{p})` to zero, the best of their cool-downs), ``"square"``
    (``pytorch_optimizer``'s "1-square", :math:`\eta_{peak} (1 - p^2)`, which stays high
    longer) and
    ``"exponential"`` (geometric from ``peak_value`` to ``end_value``, the exponential decay of
    MiniCPM with the half-life chosen so that the decay ends at ``end_value``). The schedule is
    continuous at every phase boundary, constant in the stable phase, non-decreasing in the warmup
    and non-increasing in the decay.

    Args:
      peak_value: the stable value, ``>= 0``.
      total_steps: the step at which the decay ends at ``end_value``; integer ``>= 1``.
      warmup_steps: integer ``>= 0``.
      decay_steps: length of the cool-down, integer ``>= 0``; ``None`` uses
        ``round(decay_fraction * total_steps)``. ``warmup_steps + decay_steps <= total_steps``.
      decay_fraction: fraction of ``total_steps`` spent cooling down when ``decay_steps`` is
        ``None``, in ``[0, 1]`` (MiniCPM and Hägele et al. use about 0.1 to 0.2).
      decay_shape: ``"linear"``, ``"cosine"``, ``"sqrt"``, ``"square"`` or ``"exponential"``.
      warmup_shape: ``"linear"``, ``"cosine"`` or ``"exponential"``.
      init_value: value at step 0, ``>= 0`` (``> 0`` for an exponential warmup).
      end_value: value at ``total_steps`` and after, ``>= 0`` (``> 0`` for an exponential
        cool-down).

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.wsd_schedule(1.0, 100, warmup_steps=10, decay_steps=20)
      >>> [round(float(sched(t)), 3) for t in (0, 5, 10, 50, 80, 90, 100, 150)]
      [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]

    References:
      Hu et al., "MiniCPM: Unveiling the potential of small language models with scalable
      training strategies", 2024. Hägele et al., "Scaling laws and compute-optimal training
      beyond fixed training durations", NeurIPS 2024.
    """
    check_all(RANGES, peak_value=peak_value, total_steps=total_steps, warmup_steps=warmup_steps,
              decay_fraction=decay_fraction, init_value=init_value, end_value=end_value)
    check_choice("decay_shape", decay_shape, SHAPES)
    check_choice("warmup_shape", warmup_shape, WARMUP_SHAPES)
    if decay_steps is None:
        decay_steps = jnp.round(_as_float(decay_fraction) * _as_float(total_steps))
        if _concrete(total_steps) is not None and _concrete(decay_fraction) is not None:
            decay_steps = round(float(decay_fraction) * float(total_steps))
    check("decay_steps", decay_steps, RANGES["decay_steps"])
    _steps_le(("warmup_steps", "decay_steps"), (warmup_steps, decay_steps), "total_steps",
              total_steps)
    if decay_shape == "exponential":
        _positive_for_exponential("end_value", end_value, "decay_shape")
    if warmup_shape == "exponential":
        _positive_for_exponential("init_value", init_value, "warmup_shape")

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        peak, init, end = _as_float(peak_value), _as_float(init_value), _as_float(end_value)
        total, decay = _as_float(total_steps), _as_float(decay_steps)
        warm = _interpolate(warmup_shape, init, peak, _progress(t, 0.0, warmup_steps))
        cool = _interpolate(decay_shape, peak, end, _progress(t, total - decay, decay))
        return jnp.where(t < _as_float(warmup_steps), warm, cool)

    return _named(schedule, "wsd_schedule")


# --------------------------------------------------------------------------------------------
# Inverse square root
# --------------------------------------------------------------------------------------------


def inverse_sqrt_schedule(
    peak_value: Any,
    warmup_steps: Any = 0,
    *,
    timescale: Any = None,
    warmup_shape: str = "linear",
    init_value: Any = 0.0,
) -> Schedule:
    r"""Inverse-square-root decay after an optional warmup ("Noam", T5's "rsqrt").

    With :math:`W` warmup steps and timescale :math:`\tau` (default :math:`\tau = W`):

    .. math::
        \eta_t = \eta_{peak} \sqrt{\frac{\tau}{t - W + \tau}} \quad (t \ge W),

    preceded for :math:`t < W` by a linear ramp from ``init_value`` (``warmup_shape="linear"``)
    or by the constant :math:`\eta_{peak}` (``"constant"``). Special cases:

    * Vaswani et al.'s "Noam" rate :math:`d^{-1/2} \min(n^{-1/2}, n W^{-3/2})` is
      ``inverse_sqrt_schedule(d**-0.5 * W**-0.5, W)`` evaluated at :math:`t = n` (the paper's
      ``step_num`` starts at 1, so its first update uses ``schedule(1)``; ours uses
      ``schedule(0) = 0`` unless you shift the step).
    * T5's ``rsqrt`` rate :math:`1/\sqrt{\max(t, W)}` is
      ``inverse_sqrt_schedule(W**-0.5, W, warmup_shape="constant")``.
    * Without warmup, ``inverse_sqrt_schedule(peak, 0, timescale=tau)`` is
      :math:`\eta_{peak} / \sqrt{1 + t/\tau}`.

    The schedule is continuous at :math:`t = W`, where it equals ``peak_value``, and
    non-increasing after it.

    Args:
      peak_value: value at the end of the warmup, ``>= 0``.
      warmup_steps: integer ``>= 0``.
      timescale: :math:`\tau > 0`; defaults to ``warmup_steps`` and is required when
        ``warmup_steps`` is 0.
      warmup_shape: ``"linear"`` or ``"constant"``.
      init_value: start of a linear warmup, ``>= 0``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.inverse_sqrt_schedule(1.0, 100)
      >>> [round(float(sched(t)), 3) for t in (0, 50, 100, 400)]
      [0.0, 0.5, 1.0, 0.5]

    References:
      Vaswani et al., "Attention is all you need", NeurIPS 2017 (section 5.3). Raffel et al.,
      "Exploring the limits of transfer learning with a unified text-to-text transformer",
      JMLR 2020 (section 3.1.2).
    """
    check_all(RANGES, peak_value=peak_value, warmup_steps=warmup_steps, init_value=init_value)
    check_choice("warmup_shape", warmup_shape, ("linear", "constant"))
    if timescale is None:
        if _concrete(warmup_steps) == 0:
            raise ValueError(
                "timescale must be given (a number in (0, inf)) when warmup_steps is 0"
            )
        timescale = warmup_steps
    else:
        check("timescale", timescale, RANGES["timescale"])

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        peak, init = _as_float(peak_value), _as_float(init_value)
        warm_len, tau = _as_float(warmup_steps), _as_float(timescale)
        safe_tau = jnp.where(tau > 0, tau, jnp.ones_like(tau))
        decay = peak * jnp.sqrt(safe_tau / (jnp.maximum(t - warm_len, 0.0) + safe_tau))
        if warmup_shape == "linear":
            warm = _interpolate("linear", init, peak, _progress(t, 0.0, warm_len))
        else:
            warm = peak
        return jnp.where(t < warm_len, warm, decay)

    return _named(schedule, "inverse_sqrt_schedule")


# --------------------------------------------------------------------------------------------
# Cyclical learning rates
# --------------------------------------------------------------------------------------------


def cyclic_schedule(
    base_value: Any,
    max_value: Any,
    step_size_up: Any = 2000,
    step_size_down: Any = None,
    *,
    mode: str = "triangular",
    gamma: Any = 1.0,
) -> Schedule:
    r"""Cyclical learning rate (Smith, 2017): triangular, triangular2 or exp_range.

    With cycle length :math:`L = u + d` (``step_size_up + step_size_down``),
    cycle number :math:`c = \lfloor 1 + t/L \rfloor` and position :math:`x = 1 + t/L - c`
    in :math:`[0, 1)`:

    .. math::
        s = \begin{cases} x / r & x \le r \\ (x - 1)/(r - 1) & x > r \end{cases},
        \qquad r = u / L, \qquad
        \eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\, s\, a_t,

    with amplitude :math:`a_t = 1` (``"triangular"``), :math:`2^{1-c}` (``"triangular2"``,
    halved every cycle) or :math:`\gamma^t` (``"exp_range"``). This is
    ``torch.optim.lr_scheduler.CyclicLR`` (``scale_mode`` as PyTorch's default for each mode)
    and matches it step for step; the value is ``base_value`` at the start of every cycle and
    ``max_value`` (times the amplitude) after ``step_size_up`` steps of it.

    Args:
      base_value: lower bound of the cycle, ``>= 0``.
      max_value: upper bound, ``>= 0``.
      step_size_up: steps from ``base_value`` to the top, integer ``>= 1`` (PyTorch's default
        2000).
      step_size_down: steps back down, integer ``>= 1``; defaults to ``step_size_up``.
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
      gamma: decay per step of ``"exp_range"``, ``> 0``. A concrete ``gamma`` enters as its
        float64 logarithm, so that :math:`\gamma^t` does not drift in float32 over long runs
        (``docs/schedules.md``, "Long horizons"); a traced one is rounded first.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.cyclic_schedule(0.1, 1.0, 4, mode="triangular2")
      >>> [round(float(sched(t)), 3) for t in (0, 2, 4, 8, 12)]
      [0.1, 0.55, 1.0, 0.1, 0.55]

    References:
      Smith, "Cyclical learning rates for training neural networks", WACV 2017.
    """
    if step_size_down is None:
        step_size_down = step_size_up
    check_all(RANGES, base_value=base_value, max_value=max_value, step_size_up=step_size_up,
              step_size_down=step_size_down, gamma=gamma)
    check_choice("mode", mode, ("triangular", "triangular2", "exp_range"))

    # gamma ** t as exp(t log gamma) with the logarithm taken in float64 when gamma is
    # concrete: rounding gamma to float32 first (0.99994 is off by 1.6e-9) makes the power
    # drift by t times that relative error (1.3e-4 after 20,000 steps).
    log_gamma = _concrete_log(gamma)
    period = _concrete_int_sum(step_size_up, step_size_down)

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        up, down = _as_float(step_size_up), _as_float(step_size_down)
        length = up + down
        ratio = up / length
        if period is not None and _is_integer_step(step):
            # Integer steps and a concrete period: cycle and position in exact integer
            # arithmetic, so that the position stays exact past 2**24 steps (float32).
            index = jnp.asarray(step) // period
            cycle = index.astype(t.dtype) + 1.0
            pos = (jnp.asarray(step) - index * period).astype(t.dtype)
        else:
            # PyTorch's CyclicLR: cycle = floor(1 + t / length), x = 1 + t / length - cycle.
            # XLA may compute t / length as t * (1 / length), which puts a cycle start one
            # ulp short of the boundary (x just below 1 instead of 0); the position inside
            # the cycle is therefore taken in steps, where the subtraction is exact, and
            # corrected by one cycle.
            cycle = jnp.floor(1.0 + t / length)
            pos = t - (cycle - 1.0) * length
            wrap = jnp.where(pos >= length, 1.0, jnp.where(pos < 0.0, -1.0, 0.0))
            cycle = cycle + wrap
            pos = pos - wrap * length
        x = pos / length
        scale = jnp.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        if mode == "triangular":
            amplitude = jnp.ones_like(t)
        elif mode == "triangular2":
            amplitude = 1.0 / jnp.power(2.0, cycle - 1.0)
        else:
            amplitude = _power_of(gamma, log_gamma, t)
        base, top = _as_float(base_value), _as_float(max_value)
        return base + (top - base) * scale * amplitude

    return _named(schedule, "cyclic_schedule")


# --------------------------------------------------------------------------------------------
# Step decay, REX, polynomial decay to zero
# --------------------------------------------------------------------------------------------


def multistep_schedule(init_value: Any, milestones: Sequence[int], gamma: Any = 0.1) -> Schedule:
    r"""Multiply by ``gamma`` at each milestone: :math:`\eta_t = \eta_0 \gamma^{|\{m : m \le t\}|}`.

    ``torch.optim.lr_scheduler.MultiStepLR``: milestones may come in any order and a repeated
    milestone applies ``gamma`` once per occurrence, as in PyTorch. Piecewise constant and, for
    ``gamma <= 1``, non-increasing. ``optax.piecewise_constant_schedule`` with the same boundaries
    and every scale ``gamma`` gives the same values; this one takes a (possibly traced) ``gamma``
    and validates its arguments.

    Args:
      init_value: value before the first milestone, ``>= 0``.
      milestones: steps at which ``gamma`` is applied, integers ``>= 0`` (concrete).
      gamma: factor per milestone, ``> 0``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.multistep_schedule(1.0, [3, 6], gamma=0.5)
      >>> [float(sched(t)) for t in (0, 2, 3, 5, 6, 100)]
      [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]

    References:
      He et al., "Deep residual learning for image recognition", CVPR 2016 (the classic
      step schedule).
    """
    check_all(RANGES, init_value=init_value, gamma=gamma)
    milestones = tuple(milestones)
    for m in milestones:
        check("milestones", m, RANGES["milestones"])
    marks = np.asarray(sorted(int(m) for m in milestones), dtype=np.int64)

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        passed = jnp.sum(t[..., None] >= jnp.asarray(marks, _dtype()), axis=-1)
        return _as_float(init_value) * jnp.power(_as_float(gamma), passed.astype(_dtype()))

    return _named(schedule, "multistep_schedule")


def rex_schedule(peak_value: Any, total_steps: Any, *, end_value: Any = 0.0) -> Schedule:
    r"""REX ("reflected exponential") decay of Chen, Wolfe and Kyrillidis.

    With progress :math:`z = \min(t, T)/T`:

    .. math::
        \eta_t = \eta_{end} + (\eta_{peak} - \eta_{end}) \frac{1 - z}{1/2 + (1 - z)/2}.

    Starts at ``peak_value``, ends at exactly ``end_value`` at ``total_steps``, non-increasing,
    and stays high longer than linear decay (it is concave in :math:`t`). For a warmup, wrap it:
    ``warmup(rex_schedule(peak, T - W), W, mode="prepend")``.

    Args:
      peak_value: value at step 0, ``>= 0``.
      total_steps: integer ``>= 1``.
      end_value: value at ``total_steps`` and after, ``>= 0``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.rex_schedule(1.0, 100)
      >>> [round(float(sched(t)), 4) for t in (0, 50, 100)]
      [1.0, 0.6667, 0.0]

    References:
      Chen, Wolfe and Kyrillidis, "REX: Revisiting budgeted training with an improved
      schedule", MLSys 2022.
    """
    check_all(RANGES, peak_value=peak_value, total_steps=total_steps, end_value=end_value)

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        z = _progress(t, 0.0, total_steps)
        remaining = 1.0 - z
        factor = remaining / (0.5 + 0.5 * remaining)
        peak, end = _as_float(peak_value), _as_float(end_value)
        return jnp.where(z >= 1, end, end + (peak - end) * factor)

    return _named(schedule, "rex_schedule")


def polynomial_to_zero(
    peak_value: Any, total_steps: Any, *, power: Any = 1.0, warmup_steps: Any = 0
) -> Schedule:
    r"""Polynomial decay to zero, optionally after a linear warmup.

    .. math::
        \eta_t = \eta_{peak} \left(1 - \frac{\min(t, T) - W}{T - W}\right)^{p} \quad (t \ge W),

    and a linear ramp from 0 to :math:`\eta_{peak}` for :math:`t < W`. Without warmup this is
    ``torch.optim.lr_scheduler.PolynomialLR(total_iters=T, power=p)`` and
    ``optax.polynomial_schedule(peak, 0, p, T)``; ``power=1`` is linear decay to zero
    (:func:`linear_to_zero`). Exactly 0 at ``total_steps`` and after; non-increasing after the
    warmup.

    Args:
      peak_value: value at the end of the warmup (at step 0 without warmup), ``>= 0``.
      total_steps: step at which the value reaches 0, integer ``>= 1``.
      power: exponent :math:`p > 0`.
      warmup_steps: integer, ``0 <= warmup_steps < total_steps``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.polynomial_to_zero(1.0, 10, power=2.0)
      >>> [round(float(sched(t)), 3) for t in (0, 5, 10, 20)]
      [1.0, 0.25, 0.0, 0.0]

    References:
      Bergsma et al., "Straight to zero: Why linearly decaying the learning rate to zero works
      best for LLMs", ICLR 2025.
    """
    check_all(RANGES, peak_value=peak_value, total_steps=total_steps, power=power,
              warmup_steps=warmup_steps)
    total, warm = _concrete(total_steps), _concrete(warmup_steps)
    if total is not None and warm is not None and warm >= total:
        raise ValueError(f"warmup_steps must be < total_steps = {total:g}, got {warm:g}")

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        peak, warm_len = _as_float(peak_value), _as_float(warmup_steps)
        ramp = _interpolate("linear", jnp.zeros_like(peak), peak, _progress(t, 0.0, warm_len))
        z = _progress(t, warm_len, _as_float(total_steps) - warm_len)
        decay = jnp.where(z >= 1, 0.0, peak * jnp.power(1.0 - z, _as_float(power)))
        return jnp.where(t < warm_len, ramp, decay)

    return _named(schedule, "polynomial_to_zero")


@args_from(polynomial_to_zero)
def linear_to_zero(peak_value: Any, total_steps: Any, *, warmup_steps: Any = 0) -> Schedule:
    """Linear decay to zero after an optional linear warmup: :func:`polynomial_to_zero` with
    ``power=1``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.linear_to_zero(1.0, 110, warmup_steps=10)
      >>> [round(float(sched(t)), 3) for t in (0, 5, 10, 60, 110)]
      [0.0, 0.5, 1.0, 0.5, 0.0]

    References:
      Bergsma et al., "Straight to zero: Why linearly decaying the learning rate to zero works
      best for LLMs", ICLR 2025.
    """
    sched = polynomial_to_zero(peak_value, total_steps, power=1.0, warmup_steps=warmup_steps)
    return _named(sched, "linear_to_zero")


# --------------------------------------------------------------------------------------------
# Warmup wrappers
# --------------------------------------------------------------------------------------------


def warmup(
    schedule: ScalarOrSchedule,
    steps: Any,
    shape: str = "linear",
    *,
    start_factor: Any = 0.0,
    mode: str = "multiply",
) -> Schedule:
    r"""Add a warmup of ``steps`` steps in front of any schedule (or constant).

    With the ramp factor :math:`\omega_t = \mathrm{ramp}(s, 1, \min(t, W)/W)` going from
    ``start_factor`` :math:`s` to 1 in the given shape:

    * ``mode="multiply"``: :math:`\eta_t = \omega_t\, \mathrm{schedule}(t)`. The wrapped schedule
      runs on the global step, as with PyTorch's ``LinearLR`` chained to another scheduler, or
      Ma & Yarats' warmup factor. Equal to the schedule from step ``W`` on.
    * ``mode="prepend"``: :math:`\eta_t = \omega_t\, \mathrm{schedule}(0)` for :math:`t < W` and
      :math:`\mathrm{schedule}(t - W)` after, as with PyTorch's ``SequentialLR([LinearLR, ...],
      milestones=[W])`` or ``optax.join_schedules``. Continuous at :math:`t = W`.

    ``warmup(lr, W, start_factor=s)`` of a constant is PyTorch's ``LinearLR(start_factor=s,
    end_factor=1, total_iters=W)``. The warmup is non-decreasing for a non-negative constant.

    Args:
      schedule: the schedule (``step -> value``) or a constant value.
      steps: warmup length :math:`W`, integer ``>= 0`` (0 returns the schedule's values).
      shape: ``"linear"``, ``"cosine"`` (half-cosine, zero slope at both ends) or
        ``"exponential"`` (geometric growth from ``start_factor``, which must then be ``> 0``).
      start_factor: :math:`\omega_0`, in ``[0, 1]``.
      mode: ``"multiply"`` or ``"prepend"``.

    Example:
      >>> import adaptlr, optax
      >>> sched = adaptlr.warmup(optax.cosine_decay_schedule(1.0, 100), 10, mode="prepend")
      >>> [round(float(sched(t)), 3) for t in (0, 5, 10, 60, 110)]
      [0.0, 0.5, 1.0, 0.5, 0.0]

    References:
      Goyal et al., "Accurate, large minibatch SGD: Training ImageNet in 1 hour", 2017
      (gradual linear warmup).
    """
    check_all(RANGES, steps=steps, start_factor=start_factor)
    check_choice("shape", shape, WARMUP_SHAPES)
    check_choice("mode", mode, ("multiply", "prepend"))
    if shape == "exponential":
        _positive_for_exponential("start_factor", start_factor, "shape")
    if not callable(schedule):
        check("schedule", schedule, NON_NEGATIVE)

    def wrapped(step: Any) -> jax.Array:
        t = _as_float(step)
        start = _as_float(start_factor)
        factor = _interpolate(shape, start, jnp.ones_like(start), _progress(t, 0.0, steps))
        if not callable(schedule):
            return factor * _as_float(schedule)
        if mode == "multiply":
            return factor * _as_float(schedule(step))
        warm_len = _as_float(steps)
        after = _as_float(schedule(jnp.maximum(jnp.asarray(step) - steps, 0)))
        first = _as_float(schedule(jnp.zeros_like(jnp.asarray(step))))
        return jnp.where(t < warm_len, factor * first, after)

    return _named(wrapped, "warmup")


def untuned_warmup(schedule: ScalarOrSchedule, b2: Any = 0.999, *,
                   shape: str = "exponential") -> Schedule:
    r"""Ma & Yarats' untuned warmup for Adam: a warmup factor derived from ``b2`` alone.

    With :math:`n = t + 1` (the paper's Adam step, which starts at 1):

    * ``"exponential"``: :math:`\omega_n = 1 - \exp(-(1 - \beta_2)\, n)` (time constant
      :math:`1/(1 - \beta_2)`);
    * ``"linear"``: :math:`\omega_n = \min(1, (1 - \beta_2)\, n / 2)` (warmup period
      :math:`2/(1 - \beta_2)`),

    and :math:`\eta_t = \omega_{t+1}\, \mathrm{schedule}(t)`. With ``b2 = 0.999`` the linear
    warmup lasts 2000 steps. Non-decreasing factor in ``(0, 1]``.

    Args:
      schedule: the schedule or a constant value.
      b2: Adam's second-moment decay :math:`\beta_2`, in ``[0, 1)``.
      shape: ``"exponential"`` or ``"linear"``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.untuned_warmup(1.0, b2=0.99, shape="linear")
      >>> [round(float(sched(t)), 3) for t in (0, 99, 199, 500)]
      [0.005, 0.5, 1.0, 1.0]

    References:
      Ma and Yarats, "On the adequacy of untuned warmup for adaptive optimization", AAAI 2021.
    """
    check_all(RANGES, b2=b2)
    check_choice("shape", shape, ("exponential", "linear"))
    if not callable(schedule):
        check("schedule", schedule, NON_NEGATIVE)

    # 1 - b2 in float64 when b2 is concrete: in float32, 1 - 0.999 is off by 1e-5 relative.
    concrete_rate = None if _concrete(b2) is None else 1.0 - float(b2)

    def wrapped(step: Any) -> jax.Array:
        n = _as_float(step) + 1.0
        rate = _as_float(concrete_rate) if concrete_rate is not None else 1.0 - _as_float(b2)
        if shape == "exponential":
            factor = -jnp.expm1(-rate * n)
        else:
            factor = jnp.minimum(1.0, 0.5 * rate * n)
        value = schedule(step) if callable(schedule) else schedule
        return factor * _as_float(value)

    return _named(wrapped, "untuned_warmup")


# --------------------------------------------------------------------------------------------
# Cosine schedules
# --------------------------------------------------------------------------------------------


def cosine_schedule(
    peak_value: Any,
    total_steps: Any,
    *,
    warmup_steps: Any = 0,
    min_ratio: Any = 0.0,
    init_value: Any = 0.0,
) -> Schedule:
    r"""Linear warmup, then cosine decay to ``min_ratio * peak_value``.

    .. math::
        \eta_t = \eta_{min} + (\eta_{peak} - \eta_{min})\,
                 \tfrac12\left(1 + \cos\frac{\pi (\min(t, T) - W)}{T - W}\right) \quad (t \ge W),

    with :math:`\eta_{min} = \rho\, \eta_{peak}` and a linear ramp from ``init_value`` for
    :math:`t < W`. The same values as ``optax.warmup_cosine_decay_schedule(init_value, peak,
    W, T, end_value=rho * peak)`` (``total_steps`` includes the warmup, as Optax's
    ``decay_steps`` does), but the floor is a ratio of the peak, so sweeping the peak keeps
    the shape; endpoints are exact and all arguments may be traced. Also PyTorch's
    ``SequentialLR([LinearLR, CosineAnnealingLR(T_max=T - W, eta_min=rho * peak)],
    milestones=[W])``.

    Args:
      peak_value: ``>= 0``.
      total_steps: end of the decay, integer ``>= 1``.
      warmup_steps: integer, ``0 <= warmup_steps < total_steps``.
      min_ratio: :math:`\rho`, final value as a fraction of the peak, in ``[0, 1]``.
      init_value: start of the warmup, ``>= 0``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.cosine_schedule(1.0, 110, warmup_steps=10, min_ratio=0.1)
      >>> [round(float(sched(t)), 3) for t in (0, 10, 60, 110, 200)]
      [0.0, 1.0, 0.55, 0.1, 0.1]

    References:
      Loshchilov and Hutter, "SGDR: Stochastic gradient descent with warm restarts", ICLR 2017.
    """
    check_all(RANGES, peak_value=peak_value, total_steps=total_steps, warmup_steps=warmup_steps,
              min_ratio=min_ratio, init_value=init_value)
    total, warm = _concrete(total_steps), _concrete(warmup_steps)
    if total is not None and warm is not None and warm >= total:
        raise ValueError(f"warmup_steps must be < total_steps = {total:g}, got {warm:g}")

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        peak, init = _as_float(peak_value), _as_float(init_value)
        floor = _as_float(min_ratio) * peak
        warm_len = _as_float(warmup_steps)
        ramp = _interpolate("linear", init, peak, _progress(t, 0.0, warm_len))
        p = _progress(t, warm_len, _as_float(total_steps) - warm_len)
        return jnp.where(t < warm_len, ramp, _interpolate("cosine", peak, floor, p))

    return _named(schedule, "cosine_schedule")


def _find_cycle(
    s: jax.Array, first: jax.Array, warm: jax.Array, mult: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Cycle ``n`` containing ``s >= 0``, the step at which it starts and its post-warm-up
    length ``D_n`` (``D_0 = first``, ``D_{n+1} = max(1, floor(m D_n))``; every cycle is
    ``warm + D_n`` long).

    ``s``, ``first`` and ``warm`` share a dtype: int32 for integer steps with concrete
    lengths (exact at any step), float otherwise. The lengths grow geometrically, so the loop
    runs ``O(log_m(s / D_0))`` times; once ``floor(m D) = D`` (always with ``m = 1``) they stay
    put and the remaining whole cycles are skipped by one division.
    """
    integer_mult = float(mult).is_integer()
    if jnp.issubdtype(s.dtype, jnp.integer):
        # Cap D before multiplying so that int32 cannot overflow (such a cycle ends past s).
        cap = jnp.asarray((2**31 - 1) // math.ceil(mult) - 1, s.dtype)

        def grow(d: jax.Array) -> jax.Array:
            d = jnp.minimum(d, cap)
            if integer_mult:
                return d * int(mult)
            return jnp.maximum(jnp.floor(d.astype(_dtype()) * mult).astype(s.dtype), 1)
    else:

        def grow(d: jax.Array) -> jax.Array:
            return jnp.maximum(jnp.floor(d * mult), 1.0)

    def cond(carry: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        _, start, d = carry
        return (start + warm + d <= s) & (grow(d) != d)

    def body(
        carry: tuple[jax.Array, jax.Array, jax.Array],
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        n, start, d = carry
        return n + 1, start + warm + d, grow(d)

    zero = jnp.zeros_like(s)
    n, start, d = jax.lax.while_loop(cond, body, (zero, zero, first + zero))
    # Lengths no longer change: skip the whole cycles left before s.
    length = warm + d
    skip = jnp.maximum((s - start) // length, 0)
    return n + skip, start + skip * length, d


def cosine_with_restarts(
    peak_value: Any,
    cycle_steps: Any,
    *,
    cycle_mult: float = 1,
    min_ratio: Any = 0.0,
    cycle_decay: Any = 1.0,
    decay_floor: bool = True,
    cycle_warmup_steps: Any = 0,
    num_cycles: int | None = None,
    warmup_steps: Any = 0,
    init_value: Any = 0.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (SGDR), with optional warm-ups and per-cycle decay.

    After an optional linear warm-up of :math:`W` steps (``warmup_steps``, from
    ``init_value``), with :math:`s = t - W`, cycle :math:`n` lasts :math:`T_n = V + D_n`
    steps: a linear warm-up of :math:`V` steps (``cycle_warmup_steps``) followed by a cosine
    of :math:`D_n` steps, with :math:`D_0 = T_0 - V` (``cycle_steps`` :math:`T_0`) and
    :math:`D_{n+1} = \max(1, \lfloor m D_n \rfloor)` (``cycle_mult`` :math:`m`; exactly
    :math:`D_0 m^n` for an integer :math:`m`). At position :math:`q` in cycle :math:`n`,

    .. math::
        \eta_t = \begin{cases}
          \ell_n + (h_n - \ell_n)\, q / V & q < V \\
          \ell_n + (h_n - \ell_n)\tfrac12\left(1 + \cos\frac{\pi (q - V)}{D_n}\right) & q \ge V
        \end{cases},\qquad h_n = \delta^n \eta_{peak},

    with per-cycle decay :math:`\delta` (``cycle_decay``) and floor :math:`\ell_n = \delta^n
    \rho\, \eta_{peak}` (``decay_floor=True``: the whole cycle shrinks) or :math:`\ell_n = \rho\,
    \eta_{peak}` (``decay_floor=False``: only the peak decays, as ``pytorch_optimizer``'s
    ``CosineAnnealingWarmupRestarts``). After ``num_cycles`` cycles the value stays at the
    last cycle's floor :math:`\ell_{K-1}`.

    Matches, step for step: ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0,
    T_mult, eta_min=rho * peak)`` with no warm-ups and no decay; ``pytorch_optimizer``'s
    ``CosineAnnealingWarmupRestarts(first_cycle_steps=T_0, cycle_mult=m, max_lr=peak,
    min_lr=rho * peak, warmup_steps=V, gamma=delta)`` with ``decay_floor=False`` (except at
    step 0 when ``V = 0``, where that scheduler starts at ``min_lr``). Non-increasing within
    each cycle's cosine; jumps back up at each restart. ``optax.sgdr_schedule`` builds a
    finite list of cycles; this one runs forever (or for ``num_cycles``) and its numeric
    arguments may be traced.

    Args:
      peak_value: value at the top of the first cycle, ``>= 0``.
      cycle_steps: :math:`T_0`, length of the first cycle (its warm-up included), integer
        ``>= 1`` and ``> cycle_warmup_steps``.
      cycle_mult: :math:`m`, growth factor of the cosine part of the cycles, a number
        ``>= 1`` (concrete; ``pytorch_optimizer`` allows non-integers, PyTorch does not).
      min_ratio: :math:`\rho` in ``[0, 1]``.
      cycle_decay: :math:`\delta` in ``(0, 1]``.
      decay_floor: whether :math:`\delta^n` also scales the floor (structural).
      cycle_warmup_steps: :math:`V`, linear warm-up from the floor at the start of every
        cycle, integer ``>= 0``.
      num_cycles: number of cycles before holding at the floor, integer ``>= 1``, or
        ``None`` (forever); concrete.
      warmup_steps: :math:`W`, linear warm-up from ``init_value`` to ``peak_value`` before
        the first cycle, integer ``>= 0``.
      init_value: ``>= 0``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.cosine_with_restarts(1.0, 10, cycle_mult=2)
      >>> [round(float(sched(t)), 3) for t in (0, 5, 10, 20, 30)]
      [1.0, 0.5, 1.0, 0.5, 1.0]
      >>> sched = adaptlr.cosine_with_restarts(1.0, 10, cycle_warmup_steps=2, cycle_decay=0.5,
      ...                                      min_ratio=0.2, decay_floor=False)
      >>> [round(float(sched(t)), 3) for t in (0, 1, 2, 10, 12, 20)]
      [0.2, 0.6, 1.0, 0.2, 0.5, 0.2]

    References:
      Loshchilov and Hutter, "SGDR: Stochastic gradient descent with warm restarts", ICLR 2017.
    """
    check_all(RANGES, peak_value=peak_value, cycle_steps=cycle_steps, cycle_mult=cycle_mult,
              min_ratio=min_ratio, cycle_decay=cycle_decay, warmup_steps=warmup_steps,
              init_value=init_value, cycle_warmup_steps=cycle_warmup_steps)
    if not is_checkable(cycle_mult):
        raise ValueError("cycle_mult must be a concrete number >= 1 (it is structural)")
    if num_cycles is not None:
        check("num_cycles", num_cycles, _POSITIVE_STEPS)
        if not is_checkable(num_cycles):
            raise ValueError("num_cycles must be a concrete integer >= 1 or None")
    first, cycle_warm = _concrete(cycle_steps), _concrete(cycle_warmup_steps)
    if first is not None and cycle_warm is not None and cycle_warm >= first:
        raise ValueError(
            f"cycle_warmup_steps must be < cycle_steps = {first:g}, got {cycle_warm:g}")
    mult = float(cycle_mult)
    log_decay = _concrete_log(cycle_decay)
    concrete_lengths = all(
        _concrete(v) is not None and float(_concrete(v) or 0).is_integer()
        for v in (cycle_steps, cycle_warmup_steps, warmup_steps))

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        peak, init = _as_float(peak_value), _as_float(init_value)
        warm_len = _as_float(warmup_steps)
        ramp = _interpolate("linear", init, peak, _progress(t, 0.0, warm_len))
        if concrete_lengths and _is_integer_step(step):
            # Exact integer cycle arithmetic (int32) at any step.
            idx = jnp.asarray(step).astype(jnp.int32)
            s = jnp.maximum(idx - int(warmup_steps), 0)
            first_d = jnp.asarray(int(cycle_steps) - int(cycle_warmup_steps), jnp.int32)
            v = jnp.asarray(int(cycle_warmup_steps), jnp.int32)
        else:
            s = jnp.maximum(t - warm_len, 0.0)
            v = _as_float(cycle_warmup_steps)
            first_d = _as_float(cycle_steps) - v
        n, start, d = _find_cycle(s, first_d, v, mult)
        n = n.astype(t.dtype)
        q = (s - start).astype(t.dtype)
        v, d = v.astype(t.dtype), d.astype(t.dtype)
        factor = _power_of(cycle_decay, log_decay, n)
        top = factor * peak
        bottom = _as_float(min_ratio) * peak
        if decay_floor:
            bottom = factor * bottom
        safe_v = jnp.where(v > 0, v, jnp.ones_like(v))
        rising = bottom + (top - bottom) * q / safe_v
        # Same operation order as PyTorch's CosineAnnealingWarmRestarts.get_lr.
        falling = bottom + (top - bottom) * (1.0 + jnp.cos(jnp.pi * (q - v) / d)) / 2.0
        value = jnp.where(q < v, rising, falling)
        if num_cycles is not None:
            last = float(num_cycles) - 1.0
            final = _as_float(min_ratio) * peak * (
                _power_of(cycle_decay, log_decay, jnp.asarray(last, t.dtype))
                if decay_floor else 1.0)
            value = jnp.where(n > last, final, value)
        return jnp.where(t < warm_len, ramp, value)

    return _named(schedule, "cosine_with_restarts")


def _fractal_permutation(size: int) -> np.ndarray:
    """Agarwal et al.'s fractal order of ``size`` Chebyshev nodes (0-based).

    ``sigma_1 = [0]`` and ``sigma_{2k} = interleave(sigma_k, 2k - 1 - sigma_k)``, built up to
    the next power of two and restricted to the indices below ``size``.
    """
    perm = np.zeros(1, dtype=np.int64)
    while len(perm) < size:
        perm = np.stack([perm, 2 * len(perm) - 1 - perm], axis=1).reshape(-1)
    return perm[perm < size]


def chebyshev_schedule(
    base_value: Any, total_steps: int, *, condition_number: Any = 20.0
) -> Schedule:
    r"""Fractal Chebyshev step sizes (Agarwal, Goel and Zhang, 2021), repeated every
    ``total_steps`` steps.

    With :math:`T` steps, condition number :math:`\kappa` (curvatures normalised to
    :math:`[1/\kappa, 1]`), :math:`c = (1 + 1/\kappa)/2`, :math:`r = (1 - 1/\kappa)/2` and the
    fractal permutation :math:`\sigma` of :math:`0, \dots, T - 1`,

    .. math::
        \eta_t = \frac{\eta_{base}}{c - r \cos\bigl(\pi (\sigma(t \bmod T) + \tfrac12) / T\bigr)},

    the reciprocals of the Chebyshev nodes of :math:`[1/\kappa, 1]`, between about
    :math:`\eta_{base}` and :math:`\kappa\, \eta_{base}`. On a quadratic with curvatures in
    that interval, :math:`T` steps of gradient descent with these step sizes (in any order)
    shrink the error by the Chebyshev polynomial's factor, about :math:`2 e^{-2T/\sqrt\kappa}`:
    accelerated, without momentum. The fractal order (:math:`\sigma_1 = (0)`,
    :math:`\sigma_{2k} = ` interleave :math:`(\sigma_k, 2k - 1 - \sigma_k)`) keeps the partial
    products bounded so that the large steps do not blow up in floating point. For :math:`T`
    not a power of two the permutation of the next power of two is restricted to the indices
    below :math:`T`.

    ``chebyshev_schedule(1.0, T)`` equals ``pytorch_optimizer``'s
    ``get_chebyshev_perm_steps(T)`` (its ``small_m=0.05``, ``big_m=1``) for :math:`T` a power of
    two; see ``docs/schedules.md`` for how its ``get_chebyshev_schedule`` differs.

    Args:
      base_value: :math:`\eta_{base}`, the step size :math:`1/M` for the largest curvature,
        ``>= 0``.
      total_steps: :math:`T`, the number of nodes and the period, integer ``>= 1`` (concrete:
        the schedule keeps a table of :math:`T` cosines).
      condition_number: :math:`\kappa = M/m`, ``>= 1``.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.chebyshev_schedule(1.0, 4, condition_number=10.0)
      >>> [round(float(sched(t)), 3) for t in range(5)]
      [7.449, 1.035, 2.647, 1.385, 7.449]

    References:
      Agarwal, Goel and Zhang, "Acceleration via fractal learning rate schedules", ICML 2021.
    """
    check_all(RANGES, base_value=base_value, total_steps=total_steps,
              condition_number=condition_number)
    if not is_checkable(total_steps):
        raise ValueError("total_steps must be a concrete integer >= 1 (it sizes a table)")
    size = int(total_steps)
    cosines = np.cos(np.pi * (_fractal_permutation(size) + 0.5) / size)

    def schedule(step: Any) -> jax.Array:
        if _is_integer_step(step):
            index = jnp.asarray(step) % size
        else:
            index = jnp.floor(_as_float(step)) % size
        cosine = jnp.asarray(cosines, _dtype())[index.astype(jnp.int32)]
        kappa = _as_float(condition_number)
        low = 1.0 / kappa
        return _as_float(base_value) / ((1.0 + low) / 2.0 - (1.0 - low) / 2.0 * cosine)

    return _named(schedule, "chebyshev_schedule")


def onecycle_schedule(
    max_value: Any,
    total_steps: Any,
    *,
    pct_start: Any = 0.3,
    div_factor: Any = 25.0,
    final_div_factor: Any = 1e4,
    anneal: str = "cosine",
    three_phase: bool = False,
) -> Schedule:
    r"""The one-cycle policy, step for step as ``torch.optim.lr_scheduler.OneCycleLR``.

    From :math:`\eta_0 = \eta_{max}/\mathrm{div}` up to :math:`\eta_{max}` at step
    :math:`e_1 = p T - 1`, then down to :math:`\eta_0 / \mathrm{final\_div}` at step
    :math:`T - 1`, each phase a cosine (``anneal="cosine"``, :math:`b + (a - b)(1 + \cos \pi
    x)/2`) or linear ramp in the phase's progress :math:`x`. With ``three_phase=True`` it goes
    up until :math:`p T - 1`, back to :math:`\eta_0` at :math:`2 p T - 2`, then down to the
    minimum at :math:`T - 1` (fast.ai's original variant). Held at the minimum after
    :math:`T - 1` (PyTorch extrapolates the last phase at step :math:`T` and raises after it).

    Differences from ``optax.cosine_onecycle_schedule(T, max, pct_start, ...)``: Optax reaches
    the peak at step ``int(p T)`` and the minimum at step ``T``; PyTorch and this schedule reach
    them one step earlier (``p T - 1``, ``T - 1``, not rounded), so that the last of ``T``
    updates uses the minimum. Optax has no three-phase variant; its linear version is
    ``optax.linear_onecycle_schedule`` with other phase boundaries.

    Args:
      max_value: peak value, ``>= 0``.
      total_steps: :math:`T`, integer ``>= 1``.
      pct_start: :math:`p`, fraction of the steps spent going up, in ``[0, 1]``; the phases
        must have positive lengths (``1 < p T``, and ``p T < T`` or ``2 p T - 1 < T`` for three
        phases).
      div_factor: ``> 0``.
      final_div_factor: ``> 0``.
      anneal: ``"cosine"`` or ``"linear"``.
      three_phase: structural flag.

    Example:
      >>> import adaptlr
      >>> sched = adaptlr.onecycle_schedule(1.0, 100, pct_start=0.25, div_factor=10.0)
      >>> [round(float(sched(t)), 4) for t in (0, 24, 99)]
      [0.1, 1.0, 0.0]

    References:
      Smith and Topin, "Super-convergence: Very fast training of neural networks using large
      learning rates", 2019. Smith, "A disciplined approach to neural network
      hyper-parameters: Part 1", 2018.
    """
    check_all(RANGES, max_value=max_value, total_steps=total_steps, pct_start=pct_start,
              div_factor=div_factor, final_div_factor=final_div_factor)
    check_choice("anneal", anneal, ("cosine", "linear"))
    total, pct = _concrete(total_steps), _concrete(pct_start)
    if total is not None and pct is not None:
        ends = [pct * total - 1.0, total - 1.0]
        if three_phase:
            ends = [pct * total - 1.0, 2.0 * pct * total - 2.0, total - 1.0]
        starts = [0.0, *ends[:-1]]
        if any(e <= s for s, e in zip(starts, ends, strict=True)):
            raise ValueError(
                f"pct_start must leave every phase a positive length with total_steps = "
                f"{total:g} (need 1 < pct_start * total_steps"
                + (" and 2 * pct_start * total_steps - 1 < total_steps)" if three_phase
                   else " < total_steps)")
                + f", got pct_start = {pct:g}"
            )
    shape = "cosine" if anneal == "cosine" else "linear"

    def schedule(step: Any) -> jax.Array:
        t = _as_float(step)
        top = _as_float(max_value)
        bottom = top / _as_float(div_factor)
        floor = bottom / _as_float(final_div_factor)
        n_steps = _as_float(total_steps)
        e1 = _as_float(pct_start) * n_steps - 1.0
        points: list[tuple[Any, Any, jax.Array, jax.Array]]
        if three_phase:
            e2 = 2.0 * _as_float(pct_start) * n_steps - 2.0
            points = [(0.0, e1, bottom, top), (e1, e2, top, bottom), (e2, n_steps - 1.0,
                                                                      bottom, floor)]
        else:
            points = [(0.0, e1, bottom, top), (e1, n_steps - 1.0, top, floor)]
        value = _interpolate(shape, points[-1][2], points[-1][3],
                             _progress(t, points[-1][0], points[-1][1] - points[-1][0]))
        for begin, end, a, b in reversed(points[:-1]):
            phase = _interpolate(shape, a, b, _progress(t, begin, end - begin))
            value = jnp.where(t <= end, phase, value)
        return value

    return _named(schedule, "onecycle_schedule")


# --------------------------------------------------------------------------------------------
# Catalogue and plotting
# --------------------------------------------------------------------------------------------

#: The schedules by name, for the CLI and :func:`plot`. Wrappers (``warmup``,
#: ``untuned_warmup``) take a schedule and are not listed.
SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "wsd": wsd_schedule,
    "inverse_sqrt": inverse_sqrt_schedule,
    "cyclic": cyclic_schedule,
    "multistep": multistep_schedule,
    "rex": rex_schedule,
    "polynomial_to_zero": polynomial_to_zero,
    "linear_to_zero": linear_to_zero,
    "cosine": cosine_schedule,
    "cosine_with_restarts": cosine_with_restarts,
    "chebyshev": chebyshev_schedule,
    "onecycle": onecycle_schedule,
}


def _resolve_schedule(schedule: str | Schedule, kwargs: dict[str, Any]) -> Schedule:
    if callable(schedule):
        if kwargs:
            raise ValueError("keyword arguments are only accepted with a schedule name")
        return schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, got {schedule!r}")
    return SCHEDULES[schedule](**kwargs)


def plot(
    schedule: str | Schedule,
    steps: int,
    *,
    path: str | None = None,
    ax: Any = None,
    label: str | None = None,
    **kwargs: Any,
) -> Any:
    """Draw ``schedule`` over ``steps`` steps with matplotlib (imported only here).

    Args:
      schedule: a schedule function, or a name from :data:`SCHEDULES` built with ``kwargs``.
      steps: number of steps to draw, integer ``>= 1``.
      path: save the figure there (PNG, PDF, ... by extension) when given.
      ax: draw into this matplotlib axes instead of a new figure.
      label: legend label (defaults to the schedule's name).
      **kwargs: arguments of the named schedule.

    Returns:
      The matplotlib ``Figure``.

    Example:
      >>> import adaptlr
      >>> fig = adaptlr.schedules.plot("wsd", 100, peak_value=1.0, total_steps=100)
    """
    check("steps", steps, _POSITIVE_STEPS)
    sched = _resolve_schedule(schedule, kwargs)
    import matplotlib.pyplot as plt

    values = np.asarray(jax.vmap(sched)(jnp.arange(int(steps))))
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    name = label or (schedule if isinstance(schedule, str) else getattr(sched, "__name__", ""))
    ax.plot(np.arange(int(steps)), values, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if name:
        ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
