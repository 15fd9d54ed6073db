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
from adaptlr._base import NON_NEGATIVE, check_all, check_real, check_tree_match

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
        if flaw not in ("accepts_complex", "real_part_only"):
            check_real(params, "sgd_like")
        if flaw == "aliased_state":  # one buffer for two state leaves
            zero = jnp.zeros((), jnp.float32)
            return _State(zero, zero)  # type: ignore[arg-type]
        return _State(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))

    def update(updates: Any, state: _State, params: Any = None) -> tuple[Any, _State]:
        if flaw != "no_tree_check":
            check_tree_match(updates, params)
        lr = jnp.asarray(learning_rate, jnp.float32)
        if flaw == "moves_at_zero_lr":
            lr = lr + 1e-3
        if flaw == "fourth_power":  # a statistic that squares squares: inf from |g| = 1e15
            quartic = sum(jnp.sum(jnp.square(jnp.square(g.astype(jnp.float32))))
                          for g in jax.tree.leaves(updates))
            lr = lr * (1.0 + 0.0 * quartic)
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
        if flaw == "real_part_only":  # complex entries stepped along the real axis only
            updates = jax.tree.map(lambda g: jnp.real(g).astype(g.dtype), updates)
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
        ("aliased_state", "state_buffers_distinct"),
        ("no_tree_check", "mismatched_trees"),
        ("accepts_complex", "complex"),
        ("moves_at_zero_lr", "inject_hyperparams"),
        ("fourth_power", "float32"),
        ("fourth_power", "bfloat16"),
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


@pytest.mark.parametrize("support", ["COMPLEX_SPLIT", "COMPLEX_PER_ENTRY"])
def test_complex_check_fails_on_a_real_only_step(broken: Any, monkeypatch: Any,
                                                 support: str) -> None:
    # Listed as supporting complex numbers, but the imaginary parts never move: neither the
    # split trajectory nor the rotated problem is matched.
    spec = broken("real_part_only")
    monkeypatch.setattr(checks, support, getattr(checks, support) | {spec.name})
    with pytest.raises(AssertionError):
        checks.check_complex(spec)


def test_complex_check_passes_for_sgd_listed_as_split(broken: Any, monkeypatch: Any) -> None:
    spec = broken("accepts_complex")  # plain SGD, which does treat z as (a, b)
    monkeypatch.setattr(checks, "COMPLEX_SPLIT", checks.COMPLEX_SPLIT | {spec.name})
    checks.check_complex(spec)


def test_default_subset_names_real_checks_and_covers_every_module() -> None:
    """The default suite's share of the matrix (subset.py): the composition checks it holds
    back exist, every implementation module keeps at least two of them, every composition
    check runs on at least five modules, and the contract checks run on every method."""
    from .subset import COMPOSITION_CHECKS, REPRESENTATIVES, in_default_suite

    assert COMPOSITION_CHECKS <= set(checks.CHECKS), COMPOSITION_CHECKS - set(checks.CHECKS)
    modules = {registry.get(n).factory.__module__ for n in registry.names()}
    assert {registry.get(n).factory.__module__ for n in REPRESENTATIVES} == modules
    for name in REPRESENTATIVES:
        assert sum(in_default_suite(name, c) for c in COMPOSITION_CHECKS) >= 2, name
    for check in COMPOSITION_CHECKS:
        assert sum(in_default_suite(n, check) for n in REPRESENTATIVES) >= 5, check
    light = set(checks.CHECKS) - COMPOSITION_CHECKS
    assert {"complex", "mismatched_trees", "state_buffers_distinct", "no_retrace"} <= light
    assert all(in_default_suite(n, c) for n in registry.names() for c in light)
