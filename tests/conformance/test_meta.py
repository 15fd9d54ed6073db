"""The conformance suite catches broken methods: each check fails on a method built to break it.

Each broken transform below is registered under a temporary name (and removed afterwards), so
the checks see it exactly as they see a real registry entry.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import pytest

from adaptlr import registry
from adaptlr._base import NON_NEGATIVE, check_all

from . import checks, problems
from .targets import TARGETS, Target


class _State(NamedTuple):
    count: jax.Array
    effective_lr: jax.Array


def _sgd_like(
    learning_rate: float = 1e-3, *, flaw: str = "none"
) -> optax.GradientTransformation:
    """SGD that records its step size, with one deliberate flaw."""
    check_all({"learning_rate": NON_NEGATIVE}, learning_rate=learning_rate)

    def init(params: Any) -> _State:
        return _State(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))

    def update(updates: Any, state: _State, params: Any = None) -> tuple[Any, _State]:
        lr = jnp.asarray(learning_rate, jnp.float32)
        count = state.count + 1
        if flaw == "nan_on_zero":  # normalises by the gradient norm without a guard
            norm = jnp.sqrt(sum(jnp.sum(g.astype(jnp.float32) ** 2)
                                for g in jax.tree.leaves(updates)))
            lr = lr / norm * norm
        if flaw == "ascent":
            lr = -lr
        if flaw == "eager_differs":  # Python-side state that only changes outside tracing
            lr = lr * (1.0 + 0.1 * float(not isinstance(count, jax.core.Tracer)))
        if flaw == "dtype_drift":
            count = count.astype(jnp.float32)
        if flaw == "reads_param_key":  # assumes the whole parameter tree is always present
            lr = lr + 0.0 * jnp.sum(params["b"])
        out = jax.tree.map(lambda g: (-lr * g).astype(g.dtype), updates)
        if flaw == "stale_record":
            return out, _State(count, state.effective_lr)
        return out, _State(count, lr)

    return optax.GradientTransformation(init, update)


@pytest.fixture
def broken() -> Iterator[Any]:
    added: list[str] = []

    def make(flaw: str, **spec_kwargs: Any) -> registry.MethodSpec:
        name = f"_broken_{flaw}"
        spec = registry.MethodSpec(
            name, functools.partial(_sgd_like, flaw=flaw), "baseline", None,
            {"learning_rate": 1e-3}, 0.0, ranges={"learning_rate": NON_NEGATIVE},
            **spec_kwargs)
        registry.register(spec)
        # Gradient descent with lr 1e-3: the closed form (plus float32 rounding slack) on the
        # quadratic; on Rosenbrock any descent method leaves the start's loss of 24.2 behind.
        TARGETS[name] = Target(500, 1.01 * problems.gd_quadratic_ratio(1e-3, 500), 0.9,
                               "gradient descent, closed form")
        added.append(name)
        return spec

    yield make
    for name in added:
        registry._REGISTRY.pop(name, None)
        TARGETS.pop(name, None)


def test_a_correct_method_passes_the_checks_used_below(broken: Any) -> None:
    spec = broken("none")
    for check in sorted(checks.CHECKS):
        checks.CHECKS[check](spec)


@pytest.mark.parametrize(
    ("flaw", "check"),
    [
        ("nan_on_zero", "zero_gradients"),
        ("ascent", "quadratic"),
        ("ascent", "rosenbrock"),
        ("eager_differs", "jit_matches_eager"),
        ("dtype_drift", "float32"),
        ("dtype_drift", "no_retrace"),
        ("stale_record", "effective_lr_reported"),
        ("reads_param_key", "masked"),
        ("reads_param_key", "multi_transform"),
        ("reads_param_key", "odd_trees"),
    ],
)
def test_check_fails_on_broken_method(broken: Any, flaw: str, check: str) -> None:
    spec = broken(flaw)
    with pytest.raises((AssertionError, KeyError, TypeError)):
        checks.CHECKS[check](spec)


def test_range_check_fails_without_validation() -> None:
    spec = registry.MethodSpec("_unvalidated", lambda learning_rate: optax.sgd(learning_rate),
                               "baseline", None, {"learning_rate": 0.1}, 0.0,
                               ranges={"learning_rate": NON_NEGATIVE})
    with pytest.raises(pytest.fail.Exception):
        with pytest.raises(ValueError, match="learning_rate"):
            spec.build(learning_rate=-1.0)


def test_state_bytes_check_fails_on_wrong_declaration(broken: Any) -> None:
    spec = broken("none")
    wrong = registry.MethodSpec(spec.name + "_bytes", spec.factory, "baseline", None,
                                spec.defaults, 8.0)
    with pytest.raises(AssertionError, match="declares"):
        checks.check_state_bytes(wrong)
