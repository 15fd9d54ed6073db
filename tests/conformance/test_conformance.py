"""Every registered method against every conformance check (see ``checks.py``)."""

from __future__ import annotations

import inspect
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptlr import registry
from adaptlr._base import SCHEDULE_ARGS, Interval

from . import checks
from .subset import in_default_suite
from .targets import TARGETS

NAMES = registry.names()

# Every method against every check; the pairs outside the default suite (subset.py) are slow.
MATRIX = [
    pytest.param(name, check, id=f"{name}-{check}",
                 marks=() if in_default_suite(name, check) else pytest.mark.slow)
    for name in NAMES for check in sorted(checks.CHECKS)
]


@pytest.mark.parametrize(("name", "check"), MATRIX)
def test_conformance(name: str, check: str) -> None:
    checks.CHECKS[check](registry.get(name))


def test_every_method_has_a_target() -> None:
    missing = [n for n in NAMES if n not in TARGETS]
    assert not missing, f"methods without a conformance target in targets.py: {missing}"
    stale = [n for n in TARGETS if n not in NAMES]
    assert not stale, f"targets for methods that are not registered: {stale}"


def outside(interval: Interval) -> st.SearchStrategy[float]:
    """Values that violate ``interval``: below, above, at an open bound, NaN, non-integers."""
    options: list[st.SearchStrategy[float]] = [st.just(math.nan)]
    # An infinite bound is excluded unless the interval says so (printed "]").
    if interval.upper == math.inf and not interval.upper_closed:
        options.append(st.just(math.inf))
    if interval.lower == -math.inf and not interval.lower_closed:
        options.append(st.just(-math.inf))
    if math.isfinite(interval.lower):
        below = st.floats(max_value=interval.lower, exclude_max=interval.lower_closed,
                          allow_nan=False, allow_infinity=True)
        options.append(below)
    if math.isfinite(interval.upper):
        above = st.floats(min_value=interval.upper, exclude_min=interval.upper_closed,
                          allow_nan=False, allow_infinity=True)
        options.append(above)
    if interval.integer:
        options.append(st.floats(min_value=max(interval.lower, -1e6),
                                 max_value=min(interval.upper, 1e6))
                       .filter(lambda x: not float(x).is_integer()))
    return st.one_of(options)


RANGED = [(n, arg) for n in NAMES for arg in registry.get(n).ranges]


@pytest.mark.parametrize(("name", "arg"), RANGED)
def test_range_violations_raise(name: str, arg: str) -> None:
    spec = registry.get(name)
    interval = spec.ranges[arg]

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(outside(interval))
    def violate(value: float) -> None:
        with pytest.raises(ValueError, match=arg):
            spec.build(**{arg: value})

    violate()


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_inside_documented_ranges(name: str) -> None:
    spec = registry.get(name)
    for arg, interval in spec.ranges.items():
        if arg in spec.defaults and isinstance(spec.defaults[arg], (int, float)):
            assert spec.defaults[arg] in interval, f"default {arg}={spec.defaults[arg]}"


def schedule_args(spec: registry.MethodSpec) -> frozenset[str]:
    """Arguments that take a schedule: the learning rate; for Optax's baselines also the
    weight decay, which Optax itself accepts as a schedule."""
    return SCHEDULE_ARGS | frozenset(registry._SCHEDULED if spec.family == "baseline" else ())


NUMBERS_ONLY = [(n, arg) for n, arg in RANGED if arg not in schedule_args(registry.get(n))]


@pytest.mark.parametrize(("name", "arg"), NUMBERS_ONLY)
def test_numbers_only_arguments_reject_callables(name: str, arg: str) -> None:
    spec = registry.get(name)
    value = spec.defaults.get(arg, 0.5)
    with pytest.raises(TypeError, match=rf"{arg} must be a number.*inject_hyperparams"):
        spec.build(**{arg: lambda count: value})


@pytest.mark.parametrize("name", NAMES)
def test_printed_ranges_mean_what_they_say(name: str) -> None:
    """A bound printed closed is accepted and one printed open is rejected, infinite bounds
    included (``[0, inf)`` rejects ``inf``; ``[1, inf]`` accepts it)."""
    for arg, interval in registry.get(name).ranges.items():
        text = str(interval)
        left = next(c for c in text if c in "[(")
        for bound, closed in ((interval.lower, left == "["), (interval.upper, text[-1] == "]")):
            assert (bound in interval) == closed, f"{arg}: {bound} in {text} is {bound in interval}"
            if math.isfinite(bound) or closed:
                spec = registry.get(name)
                if closed and arg not in ("learning_rate",) and math.isinf(bound):
                    spec.build(**{arg: bound})  # accepted when built, as printed


LEARNING_RATES = [n for n in NAMES
                  if "learning_rate" in inspect.signature(registry.get(n).factory).parameters]


@pytest.mark.parametrize("name", LEARNING_RATES)
def test_learning_rate_zero_is_accepted(name: str) -> None:
    """One rule for every method (CONTRIBUTING.md): ``learning_rate=0`` builds and the state
    stays finite. That it means no step is checked in ``inject_hyperparams``; where it is the
    initial value of a learned rate (hypergradient, delta-bar-delta, ...) the rate starts at 0."""
    spec = registry.get(name)
    tx = spec.build(learning_rate=0.0)
    params = checks.small_params()
    out, state = checks.run(spec, tx, params, steps=2, jit=False)
    checks.assert_finite(out, "params at learning_rate=0")
    checks.assert_finite(state, "state at learning_rate=0")
