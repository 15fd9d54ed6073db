"""The registry's Optax baselines validate every argument of Optax's factory when built."""

from __future__ import annotations

import inspect
import math

import jax.numpy as jnp
import optax
import pytest

from adaptlr import registry

BASELINES = registry.names("baseline")


@pytest.mark.parametrize(
    ("name", "arg", "value"),
    [
        # The holes found by the robustness probe (issue 14, item 6).
        ("sgd_momentum", "momentum", math.nan),
        ("sgd_momentum", "momentum", 1.5),
        ("sgd_momentum", "momentum", -1.0),
        ("sgd", "momentum", 1.5),
        ("rmsprop", "momentum", math.nan),
        ("rmsprop", "momentum", 1.5),
        ("rmsprop", "momentum", -1.0),
        ("adafactor", "eps", math.nan),
        ("adamw", "weight_decay", math.inf),
        ("adam", "learning_rate", math.inf),
        ("adam", "eps_root", -1.0),
        ("rmsprop", "initial_scale", -1.0),
        ("adafactor", "decay_offset", math.nan),
        ("adafactor", "min_dim_size_to_factor", 1.5),
        ("adafactor", "weight_decay_rate", -0.1),
    ],
)
def test_nonsense_numbers_raise_value_error(name: str, arg: str, value: float) -> None:
    with pytest.raises(ValueError, match=arg):
        registry.get(name).build(**{arg: value})


@pytest.mark.parametrize(
    ("name", "arg", "value", "message"),
    [
        ("sgd_nesterov", "nesterov", 1, "nesterov must be True or False"),
        ("rmsprop", "centered", "yes", "centered must be True or False"),
        ("adafactor", "factored", None, "factored must be True or False"),
        ("adam", "mu_dtype", "int32", "mu_dtype must be a floating dtype"),
        ("sgd_momentum", "accumulator_dtype", "not a dtype", "accumulator_dtype must be"),
        ("adamw", "mask", {"w": 1.0}, "mask must be None, a predicate"),
        ("lion", "b1", lambda count: 0.9, "b1 must be a number"),
    ],
)
def test_non_numeric_arguments_are_checked(name: str, arg: str, value: object,
                                           message: str) -> None:
    with pytest.raises(TypeError, match=message):
        registry.get(name).build(**{arg: value})


def test_valid_options_and_schedules_still_build() -> None:
    schedule = optax.linear_schedule(1e-3, 0.0, 100)
    registry.get("adamw").build(learning_rate=schedule, weight_decay=schedule,
                                mask={"w": True}, mu_dtype=jnp.bfloat16)
    registry.get("adafactor").build(clipping_threshold=None, momentum=None,
                                    weight_decay_rate=schedule)
    registry.get("rmsprop").build(momentum=None, centered=True, nesterov=False)
    registry.get("sgd").build(momentum=None, accumulator_dtype=None)


@pytest.mark.parametrize("name", BASELINES)
def test_every_argument_of_the_optax_factory_is_covered(name: str) -> None:
    # The wrapper exposes Optax's signature; each argument either has a published range or
    # is one of the checked non-numeric kinds (flag, dtype, mask).
    spec = registry.get(name)
    kinds = (*registry._FLAGS, *registry._DTYPES, *registry._MASKS)
    for arg in inspect.signature(spec.factory).parameters:
        assert arg in spec.ranges or arg in kinds, f"{name}: {arg} is not validated"


def test_baseline_wrapper_refuses_an_unchecked_argument() -> None:
    def factory(learning_rate: float, novel: float = 0.0) -> optax.GradientTransformation:
        return optax.sgd(learning_rate)

    with pytest.raises(TypeError, match=r"no validation for argument\(s\) \['novel'\]"):
        registry._baseline(factory, {"learning_rate": registry.NON_NEGATIVE})
