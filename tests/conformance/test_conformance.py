"""Every registered method against every conformance check (see ``checks.py``)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptlr import registry
from adaptlr._base import Interval

from . import checks
from .targets import TARGETS

NAMES = registry.names()


@pytest.mark.parametrize("check", sorted(checks.CHECKS))
@pytest.mark.parametrize("name", NAMES)
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
