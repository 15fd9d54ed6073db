"""The catalogue of methods: one :class:`MethodSpec` per method.

The conformance tests, the CLI, the benchmarks, the docs table and the paper all read this
file, so adding a method is its module plus one entry here. Entries are grouped by family in
the sections below.

Example:
  >>> import adaptlr
  >>> spec = adaptlr.registry.get("adam")
  >>> spec.family
  'baseline'
  >>> tx = spec.build(learning_rate=3e-4)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import optax

from adaptlr._base import NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, Interval, check_all

__all__ = [
    "FAMILIES",
    "MethodSpec",
    "Paper",
    "all_specs",
    "get",
    "names",
    "register",
]

#: Families, in the order the catalogue lists them.
FAMILIES = (
    "baseline",  # Optax's own optimizers, the reference points of every comparison
    "parameter_free",  # learning-rate-free global step sizes: D-Adaptation, Prodigy, DoG, ...
    "polyak",  # step sizes from the loss value: SPS, ALI-G
    "hypergradient",  # step sizes learned by gradient descent on the learning rate
    "adaptive",  # per-parameter adaptive methods Optax lacks: AdaBound, CAME, Adam-mini, ...
    "per_parameter_lr",  # classic per-parameter learning-rate learners: IDBD, Autostep, ...
)


@dataclasses.dataclass(frozen=True)
class Paper:
    """Where a method comes from. ``bibkey`` is its entry in ``paper/paper.bib``."""

    authors: str
    year: int
    title: str
    venue: str
    bibkey: str

    def cite(self) -> str:
        return f"{self.authors} ({self.year}), {self.venue}"


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    Attributes:
      name: public name, also the name of the factory in ``adaptlr`` (or Optax's, for baselines).
      factory: builds the ``GradientTransformation`` from keyword hyperparameters.
      family: one of :data:`FAMILIES`.
      paper: the reference, ``None`` only for baselines whose paper is Optax's own.
      defaults: hyperparameters the registry builds the method with. These are the defaults
        a user would start from; the conformance suite uses them unchanged.
      needs_value: the update takes the loss as ``value=`` (``GradientTransformationExtraArgs``).
      state_bytes_per_param: optimizer-state bytes per float32 parameter on large matrices
        (scalars and per-row/column statistics excluded).
      ranges: the documented valid range of every scalar hyperparameter; the factory raises
        ``ValueError`` outside it.
      learning_rate_arg: name of the learning-rate argument, ``None`` when there is none.
      description: one line for the catalogue.
      reference_impl: the public reference implementation it is checked against, if any.
    """

    name: str
    factory: Callable[..., optax.GradientTransformation]
    family: str
    paper: Paper | None
    defaults: Mapping[str, Any]
    state_bytes_per_param: float
    needs_value: bool = False
    ranges: Mapping[str, Interval] = dataclasses.field(default_factory=dict)
    learning_rate_arg: str | None = "learning_rate"
    description: str = ""
    reference_impl: str | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.learning_rate_arg is not None and self.learning_rate_arg not in self.defaults:
            raise ValueError(
                f"{self.name}: learning_rate_arg {self.learning_rate_arg!r} missing from defaults"
            )
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "ranges", MappingProxyType(dict(self.ranges)))

    def build(self, **overrides: Any) -> optax.GradientTransformation:
        """The transformation with the registered defaults, updated by ``overrides``."""
        return self.factory(**{**self.defaults, **overrides})


_REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the catalogue. Names are unique."""
    if spec.name in _REGISTRY:
        raise ValueError(f"method {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> MethodSpec:
    """The spec registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no method named {name!r}; registered: {', '.join(_REGISTRY)}") from None


def names(family: str | None = None) -> list[str]:
    """Registered names in catalogue order, optionally of one family."""
    return [s.name for s in all_specs() if family is None or s.family == family]


def all_specs() -> list[MethodSpec]:
    """Every spec, grouped by family in :data:`FAMILIES` order, then in registration order."""
    order = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(_REGISTRY.values(), key=lambda s: order[s.family])


# --------------------------------------------------------------------------------------------
# Baselines: Optax's own optimizers, built through optax.inject_hyperparams so that their
# learning rate is readable by adaptlr.effective_lr, and with adaptlr's validation in front
# (Optax itself accepts b1=2 silently).
# --------------------------------------------------------------------------------------------

_ADAM_RANGES = {"learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL,
                "eps": NON_NEGATIVE}


def _baseline(
    optax_factory: Callable[..., optax.GradientTransformation],
    ranges: Mapping[str, Interval],
    static: tuple[str, ...] = (),
) -> Callable[..., optax.GradientTransformation]:
    injected = optax.inject_hyperparams(optax_factory, static_args=static)

    def factory(**kwargs: Any) -> optax.GradientTransformation:
        check_all(ranges, **{k: v for k, v in kwargs.items() if k in ranges})
        return injected(**kwargs)

    name = getattr(optax_factory, "__name__", None) or optax_factory.func.__name__  # type: ignore[attr-defined]
    factory.__doc__ = f"``optax.inject_hyperparams(optax.{name})`` with validation."
    factory.__name__ = name
    return factory


def _sgd(learning_rate: Any, momentum: Any = None, nesterov: bool = False) -> Any:
    return optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov)


_sgd.__name__ = "sgd"

_BASELINES = [
    MethodSpec(
        "sgd", _baseline(_sgd, {"learning_rate": NON_NEGATIVE}), "baseline",
        Paper("Robbins and Monro", 1951, "A stochastic approximation method",
              "Annals of Mathematical Statistics", "robbins1951stochastic"),
        {"learning_rate": 0.01}, 0.0, ranges={"learning_rate": NON_NEGATIVE},
        description="plain stochastic gradient descent",
    ),
    MethodSpec(
        "sgd_momentum",
        _baseline(_sgd, {"learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL}, ("nesterov",)),
        "baseline",
        Paper("Polyak", 1964, "Some methods of speeding up the convergence of iteration methods",
              "USSR Computational Mathematics and Mathematical Physics", "polyak1964some"),
        {"learning_rate": 0.01, "momentum": 0.9}, 4.0,
        ranges={"learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL},
        description="SGD with heavy-ball momentum",
    ),
    MethodSpec(
        "sgd_nesterov",
        _baseline(_sgd, {"learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL}, ("nesterov",)),
        "baseline",
        Paper("Sutskever, Martens, Dahl and Hinton", 2013,
              "On the importance of initialization and momentum in deep learning", "ICML",
              "sutskever2013importance"),
        {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}, 4.0,
        ranges={"learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL},
        description="SGD with Nesterov momentum",
    ),
    MethodSpec(
        "adam", _baseline(optax.adam, _ADAM_RANGES), "baseline",
        Paper("Kingma and Ba", 2015, "Adam: A method for stochastic optimization", "ICLR",
              "kingma2015adam"),
        {"learning_rate": 1e-3}, 8.0, ranges=_ADAM_RANGES,
        description="Adam",
    ),
    MethodSpec(
        "adamw", _baseline(optax.adamw, {**_ADAM_RANGES, "weight_decay": NON_NEGATIVE}),
        "baseline",
        Paper("Loshchilov and Hutter", 2019, "Decoupled weight decay regularization", "ICLR",
              "loshchilov2019decoupled"),
        {"learning_rate": 1e-3, "weight_decay": 1e-4}, 8.0,
        ranges={**_ADAM_RANGES, "weight_decay": NON_NEGATIVE},
        description="Adam with decoupled weight decay",
    ),
    MethodSpec(
        "nadamw", _baseline(optax.nadamw, {**_ADAM_RANGES, "weight_decay": NON_NEGATIVE}),
        "baseline",
        Paper("Dozat", 2016, "Incorporating Nesterov momentum into Adam", "ICLR Workshop",
              "dozat2016incorporating"),
        {"learning_rate": 1e-3, "weight_decay": 1e-4}, 8.0,
        ranges={**_ADAM_RANGES, "weight_decay": NON_NEGATIVE},
        description="Nesterov Adam with decoupled weight decay",
    ),
    MethodSpec(
        "adagrad",
        _baseline(optax.adagrad, {"learning_rate": NON_NEGATIVE,
                                  "initial_accumulator_value": NON_NEGATIVE,
                                  "eps": NON_NEGATIVE}),
        "baseline",
        Paper("Duchi, Hazan and Singer", 2011,
              "Adaptive subgradient methods for online learning and stochastic optimization",
              "JMLR", "duchi2011adaptive"),
        {"learning_rate": 0.1}, 4.0,
        ranges={"learning_rate": NON_NEGATIVE, "initial_accumulator_value": NON_NEGATIVE,
                "eps": NON_NEGATIVE},
        description="AdaGrad",
    ),
    MethodSpec(
        "rmsprop",
        _baseline(optax.rmsprop, {"learning_rate": NON_NEGATIVE, "decay": UNIT_INTERVAL,
                                  "eps": NON_NEGATIVE}),
        "baseline",
        Paper("Tieleman and Hinton", 2012, "Lecture 6.5 - RMSProp", "COURSERA",
              "tieleman2012rmsprop"),
        {"learning_rate": 1e-3}, 4.0,
        ranges={"learning_rate": NON_NEGATIVE, "decay": UNIT_INTERVAL, "eps": NON_NEGATIVE},
        description="RMSProp",
    ),
    MethodSpec(
        "adafactor",
        _baseline(optax.adafactor, {"learning_rate": NON_NEGATIVE,
                                    "decay_rate": Interval(0.0, math.inf, lower_closed=False),
                                    "clipping_threshold": POSITIVE},
                  ("multiply_by_parameter_scale", "factored", "min_dim_size_to_factor")),
        "baseline",
        Paper("Shazeer and Stern", 2018,
              "Adafactor: Adaptive learning rates with sublinear memory cost", "ICML",
              "shazeer2018adafactor"),
        {"learning_rate": 1e-2}, 0.0,
        ranges={"learning_rate": NON_NEGATIVE,
                "decay_rate": Interval(0.0, math.inf, lower_closed=False),
                "clipping_threshold": POSITIVE},
        description="Adafactor (factored second moments)",
    ),
    MethodSpec(
        "lion",
        _baseline(optax.lion, {"learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL,
                               "b2": UNIT_INTERVAL, "weight_decay": NON_NEGATIVE}),
        "baseline",
        Paper("Chen et al.", 2023, "Symbolic discovery of optimization algorithms", "NeurIPS",
              "chen2023symbolic"),
        {"learning_rate": 1e-4}, 4.0,
        ranges={"learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL,
                "weight_decay": NON_NEGATIVE},
        description="Lion (sign momentum)",
    ),
    MethodSpec(
        "lamb", _baseline(optax.lamb, {**_ADAM_RANGES, "weight_decay": NON_NEGATIVE}),
        "baseline",
        Paper("You et al.", 2020,
              "Large batch optimization for deep learning: Training BERT in 76 minutes",
              "ICLR", "you2020large"),
        {"learning_rate": 1e-3}, 8.0,
        ranges={**_ADAM_RANGES, "weight_decay": NON_NEGATIVE},
        description="LAMB (layer-wise trust ratio on Adam)",
    ),
]

for _spec in _BASELINES:
    register(_spec)

# --------------------------------------------------------------------------------------------
# parameter_free: D-Adaptation, Prodigy, DoG family, Mechanic, COCOB, Schedule-Free
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# polyak, hypergradient, per_parameter_lr: SPS, ALI-G, hypergradient descent, AdaGrad-Norm,
# delta-bar-delta, IDBD, Autostep
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# adaptive: AdaBound, AMSBound, AdaMod, PAdam, QHAdam, Adam-mini, StableAdamW, Adam-atan2,
# CAME, cautious
# --------------------------------------------------------------------------------------------
