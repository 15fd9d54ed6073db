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
import inspect
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    Interval,
    check,
    check_tree_match,
    record_learning_rate,
)

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
    "polyak",  # step sizes from the loss value: SPS, ALI-G, SPS_safe
    "loss_driven",  # other step sizes read from the loss value: reduce-on-plateau, MoMo, NGN
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
      needs_value_fn: the update also takes ``value_fn=``, the loss as a function of the
        parameters (of the same mini-batch as the gradient), which it evaluates at trial
        points (line searches; Optax's convention for its own line searches).
      state_bytes_per_param: optimizer-state bytes per float32 parameter on large matrices
        (scalars and per-row/column statistics excluded).
      readonly_state_bytes_per_param: the part of that state an update reads but never
        writes (a copy of the initial point, as in Prodigy or DoG); it sets the minimal bytes
        an update moves: ``12 + 2 * (state - readonly) + readonly``.
      ranges: the documented valid range of every scalar hyperparameter; the factory raises
        ``ValueError`` outside it.
      learning_rate_arg: name of the learning-rate argument, ``None`` when there is none.
      description: one line for the catalogue.
      reference_impl: the public reference implementation it is checked against, if any.
      defaults_note: where a registered default differs from the authors' documented default
        (their package's or paper's): which one and why. Empty when none differs; listed in
        ``docs/methods.md``.
    """

    name: str
    factory: Callable[..., optax.GradientTransformation]
    family: str
    paper: Paper | None
    defaults: Mapping[str, Any]
    state_bytes_per_param: float
    needs_value: bool = False
    needs_value_fn: bool = False
    ranges: Mapping[str, Interval] = dataclasses.field(default_factory=dict)
    learning_rate_arg: str | None = "learning_rate"
    description: str = ""
    reference_impl: str | None = None
    readonly_state_bytes_per_param: float = 0.0
    defaults_note: str = ""

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
# Baselines: Optax's own optimizers, with adaptlr's validation in front (Optax itself accepts
# b1=2 silently) and a pass-through that records the learning rate for adaptlr.effective_lr.
# --------------------------------------------------------------------------------------------

_ADAM_RANGES = {"learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL,
                "eps": NON_NEGATIVE, "eps_root": NON_NEGATIVE}
_ADAMW_RANGES = {**_ADAM_RANGES, "weight_decay": NON_NEGATIVE}
_SGD_RANGES = {"learning_rate": NON_NEGATIVE, "momentum": UNIT_INTERVAL}
_ADAGRAD_RANGES = {"learning_rate": NON_NEGATIVE, "initial_accumulator_value": NON_NEGATIVE,
                   "eps": NON_NEGATIVE}
_RMSPROP_RANGES = {"learning_rate": NON_NEGATIVE, "decay": UNIT_INTERVAL, "eps": NON_NEGATIVE,
                   "initial_scale": NON_NEGATIVE, "momentum": UNIT_INTERVAL}
_ADAFACTOR_RANGES = {
    "learning_rate": NON_NEGATIVE,
    "min_dim_size_to_factor": Interval(0, math.inf, integer=True),
    "decay_rate": Interval(0.0, math.inf, lower_closed=False),
    "decay_offset": NON_NEGATIVE,
    "clipping_threshold": POSITIVE,
    "momentum": UNIT_INTERVAL,
    "weight_decay_rate": NON_NEGATIVE,
    "eps": POSITIVE,
}
_LION_RANGES = {"learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL,
                "weight_decay": NON_NEGATIVE}

# Arguments of Optax's factories that are not numbers, and how each is checked.
_FLAGS = ("nesterov", "eps_in_sqrt", "centered", "bias_correction",
          "multiply_by_parameter_scale", "factored")
_DTYPES = ("accumulator_dtype", "mu_dtype", "dtype_momentum")
_MASKS = ("mask", "weight_decay_mask")
# Numbers that Optax lets be ``None`` (off), and numbers it takes as a schedule as well.
_OPTIONAL = ("momentum", "clipping_threshold", "weight_decay_rate")
_SCHEDULED = ("learning_rate", "weight_decay", "weight_decay_rate")


def _check_option(name: str, value: Any) -> None:
    """Validate one non-numeric argument of an Optax factory (see :data:`_FLAGS` etc.)."""
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    elif name in _DTYPES:
        if value is not None:
            try:
                dtype = jnp.dtype(value)
            except TypeError:
                raise TypeError(f"{name} must be a floating dtype or None, got {value!r}") \
                    from None
            if not jnp.issubdtype(dtype, jnp.floating):
                raise TypeError(f"{name} must be a floating dtype or None, got {value!r}")
    elif name in _MASKS:
        if value is None or callable(value):
            return
        bad = [leaf for leaf in jax.tree.leaves(value) if not isinstance(leaf, (bool, np.bool_))]
        if bad:
            raise TypeError(f"{name} must be None, a predicate params -> tree of bools, or a "
                            f"tree of bools, got a tree with leaf {bad[0]!r}")
    else:  # pragma: no cover - guarded by _baseline's coverage check
        raise KeyError(name)


def _baseline(
    optax_factory: Callable[..., optax.GradientTransformation],
    ranges: Mapping[str, Interval],
) -> Callable[..., optax.GradientTransformation]:
    """Optax's optimizer, validated, followed by a pass-through that records the learning rate.

    Every argument of the Optax factory is checked when the optimizer is built: numbers
    against ``ranges`` (NaN, out-of-range values and callables for numbers-only arguments
    raise), flags must be ``bool``, dtypes floating, masks trees of bools or predicates.
    Building the wrapper fails if an argument of the factory is not covered, so a new Optax
    argument cannot slip through unchecked. ``update`` checks that the gradients have the
    parameters' tree structure and shapes. The arithmetic is Optax's, bit for bit:
    :func:`adaptlr.record_learning_rate` does not touch the updates.
    """
    signature = inspect.signature(optax_factory)
    uncovered = [k for k in signature.parameters
                 if k not in ranges and k not in (*_FLAGS, *_DTYPES, *_MASKS)]
    if uncovered:
        raise TypeError(f"no validation for argument(s) {uncovered} of {optax_factory}")

    def factory(*args: Any, **kwargs: Any) -> optax.GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        for k, v in bound.arguments.items():
            if k in ranges:
                check(k, v, ranges[k], allow_none=k in _OPTIONAL,
                      allow_schedule=k in _SCHEDULED)
            else:
                _check_option(k, v)
        lr = bound.arguments["learning_rate"]
        tx = optax.with_extra_args_support(optax_factory(*args, **kwargs))

        def update_fn(updates: Any, state: Any, params: Any = None, **extra: Any) -> Any:
            check_tree_match(updates, params)
            return tx.update(updates, state, params, **extra)

        checked = optax.GradientTransformationExtraArgs(tx.init, update_fn)
        return optax.chain(checked, record_learning_rate(lr))

    name = getattr(optax_factory, "__name__", None) or optax_factory.func.__name__  # type: ignore[attr-defined]
    factory.__doc__ = f"``optax.{name}`` with validation and a learning-rate record."
    factory.__name__ = name
    # optax.inject_hyperparams binds arguments by signature: expose the wrapped one.
    factory.__signature__ = signature  # type: ignore[attr-defined]
    return factory


def _sgd(learning_rate: Any, momentum: Any = None, nesterov: bool = False,
         accumulator_dtype: Any = None) -> Any:
    return optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov,
                     accumulator_dtype=accumulator_dtype)


_sgd.__name__ = "sgd"

_BASELINES = [
    MethodSpec(
        "sgd", _baseline(_sgd, _SGD_RANGES), "baseline",
        Paper("Robbins and Monro", 1951, "A stochastic approximation method",
              "Annals of Mathematical Statistics", "robbins1951stochastic"),
        {"learning_rate": 1e-3}, 0.0, ranges=_SGD_RANGES,
        description="plain stochastic gradient descent",
    ),
    MethodSpec(
        "sgd_momentum",
        _baseline(_sgd, _SGD_RANGES),
        "baseline",
        Paper("Polyak", 1964, "Some methods of speeding up the convergence of iteration methods",
              "USSR Computational Mathematics and Mathematical Physics", "polyak1964some"),
        {"learning_rate": 1e-3, "momentum": 0.9}, 4.0,
        ranges=_SGD_RANGES,
        description="SGD with heavy-ball momentum",
    ),
    MethodSpec(
        "sgd_nesterov",
        _baseline(_sgd, _SGD_RANGES),
        "baseline",
        Paper("Sutskever, Martens, Dahl and Hinton", 2013,
              "On the importance of initialization and momentum in deep learning", "ICML",
              "sutskever2013importance"),
        {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True}, 4.0,
        ranges=_SGD_RANGES,
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
        "adamw", _baseline(optax.adamw, _ADAMW_RANGES),
        "baseline",
        Paper("Loshchilov and Hutter", 2019, "Decoupled weight decay regularization", "ICLR",
              "loshchilov2019decoupled"),
        {"learning_rate": 1e-3, "weight_decay": 1e-4}, 8.0,
        ranges=_ADAMW_RANGES,
        description="Adam with decoupled weight decay",
    ),
    MethodSpec(
        "nadamw", _baseline(optax.nadamw, _ADAMW_RANGES),
        "baseline",
        Paper("Dozat", 2016, "Incorporating Nesterov momentum into Adam", "ICLR Workshop",
              "dozat2016incorporating"),
        {"learning_rate": 1e-3, "weight_decay": 1e-4}, 8.0,
        ranges=_ADAMW_RANGES,
        description="Nesterov Adam with decoupled weight decay",
    ),
    MethodSpec(
        "adagrad",
        _baseline(optax.adagrad, _ADAGRAD_RANGES),
        "baseline",
        Paper("Duchi, Hazan and Singer", 2011,
              "Adaptive subgradient methods for online learning and stochastic optimization",
              "JMLR", "duchi2011adaptive"),
        {"learning_rate": 0.1}, 4.0,
        ranges=_ADAGRAD_RANGES,
        description="AdaGrad",
    ),
    MethodSpec(
        "rmsprop",
        _baseline(optax.rmsprop, _RMSPROP_RANGES),
        "baseline",
        Paper("Tieleman and Hinton", 2012, "Lecture 6.5 - RMSProp", "COURSERA",
              "tieleman2012rmsprop"),
        {"learning_rate": 1e-3}, 4.0,
        ranges=_RMSPROP_RANGES,
        description="RMSProp",
    ),
    MethodSpec(
        "adafactor",
        _baseline(optax.adafactor, _ADAFACTOR_RANGES),
        "baseline",
        Paper("Shazeer and Stern", 2018,
              "Adafactor: Adaptive learning rates with sublinear memory cost", "ICML",
              "shazeer2018adafactor"),
        {"learning_rate": 1e-2}, 0.0,
        ranges=_ADAFACTOR_RANGES,
        description="Adafactor (factored second moments)",
    ),
    MethodSpec(
        "lion",
        _baseline(optax.lion, _LION_RANGES),
        "baseline",
        Paper("Chen et al.", 2023, "Symbolic discovery of optimization algorithms", "NeurIPS",
              "chen2023symbolic"),
        {"learning_rate": 1e-4}, 4.0,
        ranges=_LION_RANGES,
        description="Lion (sign momentum)",
    ),
    MethodSpec(
        "lamb", _baseline(optax.lamb, _ADAMW_RANGES),
        "baseline",
        Paper("You et al.", 2020,
              "Large batch optimization for deep learning: Training BERT in 76 minutes",
              "ICLR", "you2020large"),
        {"learning_rate": 1e-3}, 8.0,
        ranges=_ADAMW_RANGES,
        description="LAMB (layer-wise trust ratio on Adam)",
    ),
]

for _spec in _BASELINES:
    register(_spec)

# --------------------------------------------------------------------------------------------
# parameter_free: D-Adaptation, Prodigy, DoG family, Mechanic, COCOB, Schedule-Free
# --------------------------------------------------------------------------------------------

# --- parameter_free: D-Adaptation ---
from adaptlr.parameter_free import dadaptation as _dadapt  # noqa: E402

_DEFAZIO = Paper("Defazio and Mishchenko", 2023, "Learning-rate-free learning by D-Adaptation",
                 "ICML", "defazio2023learning")
_DADAPTATION = [
    MethodSpec(
        # Momentum 0.9 as in the paper's SGD experiments; at the package's momentum 0 the
        # step d / ||g_0|| outgrows 2/L on smooth problems (tests/conformance/targets.py).
        "dadapt_sgd", _dadapt.dadapt_sgd, "parameter_free", _DEFAZIO,
        {"learning_rate": 1.0, "momentum": 0.9}, 8.0, ranges=_dadapt.SGD_RANGES,
        readonly_state_bytes_per_param=4.0,  # x_0
        description="D-Adapted SGD: dual averaging with a growing distance estimate",
        reference_impl="dadaptation 3.2 (DAdaptSGD)",
        defaults_note="momentum 0.9 (package: 0): the paper's SGD experiments use 0.9; at 0 "
                      "the package's own runs diverge on smooth problems",
    ),
    MethodSpec(
        "dadapt_adagrad", _dadapt.dadapt_adagrad, "parameter_free", _DEFAZIO,
        {"learning_rate": 1.0}, 12.0, ranges=_dadapt.ADAGRAD_RANGES,
        readonly_state_bytes_per_param=4.0,  # x_0
        description="D-Adapted AdaGrad: diagonal dual averaging with a distance estimate",
        reference_impl="dadaptation 3.2 (DAdaptAdaGrad)",
    ),
    MethodSpec(
        "dadapt_adam", _dadapt.dadapt_adam, "parameter_free", _DEFAZIO, {"learning_rate": 1.0},
        12.0, ranges=_dadapt.ADAM_RANGES,
        description="D-Adapted Adam: Adam with its step size from a distance estimate",
        reference_impl="dadaptation 3.2 (DAdaptAdam)",
    ),
    MethodSpec(
        "dadapt_adan", _dadapt.dadapt_adan, "parameter_free", _DEFAZIO, {"learning_rate": 1.0},
        20.0, ranges=_dadapt.ADAN_RANGES,
        description="D-Adapted Adan (the authors' package only, not in the paper)",
        reference_impl="dadaptation 3.2 (DAdaptAdan)",
    ),
    MethodSpec(
        "dadapt_lion", _dadapt.dadapt_lion, "parameter_free", _DEFAZIO, {"learning_rate": 1.0},
        8.0, ranges=_dadapt.LION_RANGES,
        description="D-Adapted Lion (the authors' package only, not in the paper)",
        reference_impl="dadaptation 3.2 (DAdaptLion)",
    ),
]

for _spec in _DADAPTATION:
    register(_spec)
# --- end D-Adaptation ---

# --- parameter_free: Prodigy, Schedule-Free ---
from adaptlr.parameter_free import prodigy as _prodigy  # noqa: E402
from adaptlr.parameter_free import schedule_free as _sf  # noqa: E402

_SCHEDULE_FREE_PAPER = Paper("Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky", 2024,
                             "The road less scheduled", "NeurIPS", "defazio2024road")
_SF_COMMON = ("learning_rate", "b1", "weight_decay", "r", "weight_lr_power")
_PRODIGY_SCHEDULE_FREE = [
    MethodSpec(
        "prodigy", _prodigy.prodigy, "parameter_free",
        Paper("Mishchenko and Defazio", 2024,
              "Prodigy: An expeditiously adaptive parameter-free learner", "ICML",
              "mishchenko2024prodigy"),
        {"learning_rate": 1.0}, 16.0, ranges=_prodigy.RANGES,
        readonly_state_bytes_per_param=4.0,  # x_0
        description="Prodigy: Adam scaled by a fast-growing D-Adaptation distance estimate",
        reference_impl="prodigyopt 1.1.2 (Prodigy)",
    ),
    MethodSpec(
        "schedule_free_sgd", _sf.schedule_free_sgd, "parameter_free", _SCHEDULE_FREE_PAPER,
        # The authors' default (schedulefree.SGDScheduleFree, lr=1.0, momentum 0.9). It
        # diverges on Rosenbrock like any SGD above 2/L; the conformance suite runs that one
        # problem at 1e-3 (tests/conformance/targets.py, PROBLEM_OVERRIDES).
        {"learning_rate": 1.0}, 4.0,
        ranges={k: _sf.RANGES[k] for k in (*_SF_COMMON, "warmup_steps")},
        description="Schedule-Free SGD: interpolated and averaged iterates, no schedule",
        reference_impl="schedulefree 1.4.1 (SGDScheduleFree)",
    ),
    MethodSpec(
        "schedule_free_adamw", _sf.schedule_free_adamw, "parameter_free", _SCHEDULE_FREE_PAPER,
        {"learning_rate": 0.0025}, 8.0,
        ranges={k: _sf.RANGES[k] for k in (*_SF_COMMON, "b2", "eps", "warmup_steps")},
        description="Schedule-Free AdamW: Adam-normalised steps, averaged, no schedule",
        reference_impl="schedulefree 1.4.1 (AdamWScheduleFree)",
    ),
    MethodSpec(
        "schedule_free_radam", _sf.schedule_free_radam, "parameter_free", _SCHEDULE_FREE_PAPER,
        {"learning_rate": 0.0025}, 8.0,
        ranges={k: _sf.RANGES[k] for k in (*_SF_COMMON, "b2", "eps")},
        description="Schedule-Free RAdam: RAdam's rectification as the warmup",
        reference_impl="schedulefree 1.4.1 (RAdamScheduleFree)",
    ),
]

for _spec in _PRODIGY_SCHEDULE_FREE:
    register(_spec)
# --- end Prodigy, Schedule-Free ---

# --- parameter_free: DoG family, Mechanic, COCOB ---
from adaptlr.parameter_free import cocob as _cocob  # noqa: E402
from adaptlr.parameter_free import dog as _dog  # noqa: E402
from adaptlr.parameter_free import mechanic as _mechanic  # noqa: E402

_IVGI = Paper("Ivgi, Hinder and Carmon", 2023,
              "DoG is SGD's best friend: A parameter-free dynamic step size schedule", "ICML",
              "ivgi2023dog")
_CUTKOSKY = Paper("Cutkosky, Defazio and Mehta", 2023, "Mechanic: A learning rate tuner",
                  "NeurIPS", "cutkosky2023mechanic")
_DOG_MECHANIC_COCOB = [
    MethodSpec(
        "dog", _dog.dog, "parameter_free", _IVGI, {"learning_rate": 1.0}, 4.0,
        ranges=_dog.RANGES, readonly_state_bytes_per_param=4.0,  # x_0
        description="DoG: SGD with step size max distance travelled / root summed grad norms",
        reference_impl="dog-optimizer 1.0.3 (DoG)",
    ),
    MethodSpec(
        "ldog", _dog.ldog, "parameter_free", _IVGI, {"learning_rate": 1.0}, 4.0,
        ranges=_dog.RANGES, readonly_state_bytes_per_param=4.0,  # x_0
        description="L-DoG: DoG's step size for every parameter leaf (layer) separately",
        reference_impl="dog-optimizer 1.0.3 (LDoG)",
    ),
    MethodSpec(
        "dowg", _dog.dowg, "parameter_free",
        Paper("Khaled, Mishchenko and Jin", 2023,
              "DoWG unleashed: An efficient universal parameter-free gradient descent method",
              "NeurIPS", "khaled2023dowg"),
        {"learning_rate": 1.0}, 4.0, ranges=_dog.DOWG_RANGES,
        readonly_state_bytes_per_param=4.0,  # x_0
        description="DoWG: DoG with gradients weighted by the squared distance estimate",
        reference_impl="none by the authors (checked against the paper's equations in NumPy)",
    ),
    MethodSpec(
        "mechanic_sgd", _mechanic.mechanic_sgd, "parameter_free", _CUTKOSKY,
        {"learning_rate": 1.0}, 4.0, ranges=_mechanic.MECHANIC_SGD_RANGES,
        readonly_state_bytes_per_param=4.0,  # x_ref
        description="Mechanic's learned scale around SGD (mechanize any optimizer)",
        reference_impl="mechanic-pytorch 0.0.1 (mechanize(torch.optim.SGD))",
    ),
    MethodSpec(
        "mechanic_adam", _mechanic.mechanic_adam, "parameter_free", _CUTKOSKY,
        {"learning_rate": 1.0}, 12.0, ranges=_mechanic.MECHANIC_ADAM_RANGES,
        readonly_state_bytes_per_param=4.0,  # x_ref
        description="Mechanic's learned scale around Adam(W)",
        reference_impl="mechanic-pytorch 0.0.1 (mechanize(torch.optim.Adam))",
    ),
    MethodSpec(
        "cocob", _cocob.cocob, "parameter_free",
        Paper("Orabona and Tommasi", 2017,
              "Training deep networks without learning rates through coin betting", "NeurIPS",
              "orabona2017training"),
        {"alpha": 100.0, "eps": 1e-8}, 20.0, ranges=_cocob.RANGES, learning_rate_arg=None,
        readonly_state_bytes_per_param=4.0,  # w_1
        description="COCOB-Backprop: per-parameter coin betting, no learning rate",
        reference_impl="parameterfree 0.0.1 (COCOB, Orabona's package)",
    ),
]

for _spec in _DOG_MECHANIC_COCOB:
    register(_spec)
# --- end DoG family, Mechanic, COCOB ---

# --------------------------------------------------------------------------------------------
# polyak, hypergradient, per_parameter_lr: SPS, ALI-G, hypergradient descent, AdaGrad-Norm,
# delta-bar-delta, IDBD, Autostep
# --------------------------------------------------------------------------------------------

from adaptlr.adaptive import step_size_adaptation as _ssa  # noqa: E402
from adaptlr.parameter_free import adagrad_norm as _agn  # noqa: E402
from adaptlr.parameter_free import hypergradient as _hd  # noqa: E402
from adaptlr.parameter_free import polyak as _polyak  # noqa: E402

_BAYDIN = Paper("Baydin, Cornish, Martinez Rubio, Schmidt and Wood", 2018,
                "Online learning rate adaptation with hypergradient descent", "ICLR",
                "baydin2018online")
_POLYAK_HYPERGRADIENT_PER_PARAMETER = [
    MethodSpec(
        "sps", _polyak.sps, "polyak",
        Paper("Loizou, Vaswani, Laradji and Lacoste-Julien", 2021,
              "Stochastic Polyak step-size for SGD: An adaptive learning rate for fast "
              "convergence", "AISTATS", "loizou2021stochastic"),
        {"c": 0.5, "max_lr": 1.0, "f_star": 0.0, "eps": 0.0}, 0.0, needs_value=True,
        ranges=_polyak.SPS_RANGES, learning_rate_arg="max_lr",
        description="stochastic Polyak step size, bounded (SPS_max)",
        defaults_note="max_lr 1.0 (optax.polyak_sgd's bound; the authors' code grows its bound "
                      "by the smooth_iter heuristic instead) and eps 0 (the paper's; their "
                      "code: 1e-8)",
        reference_impl="optax.polyak_sgd (reparametrised) and the paper's equations; the "
                       "authors' IssamLaradji/sps is not packaged",
    ),
    MethodSpec(
        "alig", _polyak.alig, "polyak",
        Paper("Berrada, Zisserman and Kumar", 2020,
              "Training neural networks for and by interpolation", "ICML",
              "berrada2020training"),
        {"max_lr": 0.1, "momentum": 0.0, "eps": 1e-5}, 0.0, needs_value=True,
        ranges=_polyak.ALIG_RANGES, learning_rate_arg="max_lr",
        description="ALI-G: capped Polyak step with optimal value 0",
        defaults_note="max_lr 0.1 (the authors' README example; the package default None "
                      "leaves the step uncapped)",
        reference_impl="pytorch_optimizer.AliG (oval-group/ali-g is not packaged)",
    ),
    MethodSpec(
        "hypergradient_sgd", _hd.hypergradient_sgd, "hypergradient", _BAYDIN,
        {"learning_rate": 1e-3, "meta_learning_rate": 1e-7}, 4.0,
        ranges=_hd.SGD_RANGES, learning_rate_arg=None,
        description="SGD-HD: SGD with the learning rate learned by hypergradient descent",
        reference_impl="gbaydin/hypergradient-descent (not packaged; paper equations)",
    ),
    MethodSpec(
        "hypergradient_adam", _hd.hypergradient_adam, "hypergradient", _BAYDIN,
        {"learning_rate": 1e-3, "meta_learning_rate": 1e-7}, 12.0,
        ranges=_hd.ADAM_RANGES, learning_rate_arg=None,
        description="Adam-HD: Adam with the learning rate learned by hypergradient descent",
        reference_impl="gbaydin/hypergradient-descent (not packaged; paper equations)",
    ),
    MethodSpec(
        "adagrad_norm", _agn.adagrad_norm, "parameter_free",
        Paper("Ward, Wu and Bottou", 2020,
              "AdaGrad stepsizes: Sharp convergence over nonconvex landscapes", "JMLR",
              "ward2020adagrad"),
        {"learning_rate": 1.0, "b0": 1e-2}, 0.0, ranges=_agn.RANGES,
        description="AdaGrad-Norm: one AdaGrad step size from the sum of squared gradient norms",
    ),
    MethodSpec(
        "delta_bar_delta", _ssa.delta_bar_delta, "per_parameter_lr",
        Paper("Jacobs", 1988, "Increased rates of convergence through learning rate adaptation",
              "Neural Networks", "jacobs1988increased"),
        {"learning_rate": 1e-3, "kappa": 1e-4, "phi": 0.1, "b1": 0.7}, 8.0,
        ranges=_ssa.DELTA_BAR_DELTA_RANGES, learning_rate_arg=None,
        description="delta-bar-delta: per-parameter rates grown on sign agreement",
    ),
    MethodSpec(
        "idbd", _ssa.idbd, "per_parameter_lr",
        Paper("Sutton", 1992,
              "Adapting bias by gradient descent: An incremental version of delta-bar-delta",
              "AAAI", "sutton1992adapting"),
        {"learning_rate": 1e-3, "meta_learning_rate": 1e-2}, 8.0,
        ranges=_ssa.IDBD_RANGES, learning_rate_arg=None,
        description="IDBD: per-parameter log step sizes learned by meta-gradient descent",
    ),
    MethodSpec(
        "autostep", _ssa.autostep, "per_parameter_lr",
        Paper("Mahmood, Sutton, Degris and Pilarski", 2012, "Tuning-free step-size adaptation",
              "ICASSP", "mahmood2012tuning"),
        {"learning_rate": 0.1, "meta_learning_rate": 1e-2, "tau": 1e4}, 12.0,
        ranges=_ssa.AUTOSTEP_RANGES, learning_rate_arg=None,
        description="Autostep: IDBD with normalised meta-steps and a bounded effective step",
    ),
]

for _spec in _POLYAK_HYPERGRADIENT_PER_PARAMETER:
    register(_spec)

# --------------------------------------------------------------------------------------------
# loss_driven: reduce-on-plateau, MoMo (the Polyak steps SPS and ALI-G are family "polyak")
# --------------------------------------------------------------------------------------------

from adaptlr.loss_driven import momo as _momo  # noqa: E402
from adaptlr.loss_driven import ngn as _ngn  # noqa: E402
from adaptlr.loss_driven import plateau as _plateau  # noqa: E402
from adaptlr.parameter_free import polyak_variants as _polyak_variants  # noqa: E402

_SCHAIPP = Paper("Schaipp, Ohana, Eickenberg, Defazio and Gower", 2024,
                 "MoMo: Momentum models for adaptive learning rates", "ICML", "schaipp2024momo")

_SPS_SAFE = Paper("Oikonomou and Loizou", 2025,
                  "Safeguarded stochastic Polyak step sizes for non-smooth optimization",
                  "arXiv:2512.02342 (package sps-safe 1.0.0)", "oikonomou2025safeguarded")
_LOSS_DRIVEN = [
    # family "polyak" (its home is adaptlr/parameter_free/): safeguarded Polyak steps
    MethodSpec(
        "sps_safe", _polyak_variants.sps_safe, "polyak", _SPS_SAFE,
        {"f_star": 0.0, "safeguard": 1.0}, 0.0, needs_value=True,
        ranges=_polyak_variants.SPS_SAFE_RANGES, learning_rate_arg=None,
        description="SPS_safe: Polyak step with the squared gradient norm floored at M",
        reference_impl="sps-safe 1.0.0 (SPS_safe)",
    ),
    MethodSpec(
        "ima_sps_safe", _polyak_variants.ima_sps_safe, "polyak", _SPS_SAFE,
        {"f_star": 0.0, "averaging": 1.0, "safeguard": 1.0}, 4.0, needs_value=True,
        ranges=_polyak_variants.IMA_SPS_SAFE_RANGES, learning_rate_arg=None,
        description="IMA-SPS_safe: safeguarded Polyak step with iterate-averaging momentum",
        reference_impl="sps-safe 1.0.0 (IMA_SPS_safe)",
    ),
    MethodSpec(
        "decsps", _polyak_variants.decsps, "polyak",
        Paper("Orvieto, Lacoste-Julien and Loizou", 2022,
              "Dynamics of SGD with stochastic Polyak stepsizes: Truly adaptive variants and "
              "convergence to exact solution", "NeurIPS", "orvieto2022dynamics"),
        {"c0": 1.0, "max_lr": 1.0, "f_star": 0.0}, 0.0, needs_value=True,
        # max_lr is gamma_{-1}: it enters only the first step (later steps are bounded
        # through the stored gamma_{k-1}), so it is not a learning rate to inject or sweep.
        ranges=_polyak_variants.DECSPS_RANGES, learning_rate_arg=None,
        description="DecSPS: Polyak step made non-increasing by c_k = c0 sqrt(k + 1)",
        reference_impl="none packaged (the paper's equation in NumPy)",
    ),
    MethodSpec(
        "adasps", _polyak_variants.adasps, "polyak",
        Paper("Jiang and Stich", 2023,
              "Adaptive SGD with Polyak stepsize and line-search: Robust convergence and "
              "variance reduction", "NeurIPS", "jiang2023adaptive"),
        {"c": 1.0, "f_star": 0.0}, 0.0, needs_value=True,
        ranges=_polyak_variants.ADASPS_RANGES, learning_rate_arg=None,
        description="AdaSPS: Polyak step over the root of summed gaps, non-increasing",
        reference_impl="none packaged (the paper's equation in NumPy)",
    ),
    # family "loss_driven"
    MethodSpec(
        "ngn", _ngn.ngn, "loss_driven",
        Paper("Orvieto and Xiao", 2024,
              "An adaptive stochastic gradient method with non-negative Gauss-Newton "
              "stepsizes", "arXiv", "orvieto2024adaptive"),
        {"learning_rate": 1.0}, 0.0, needs_value=True, ranges=_ngn.RANGES,
        description="NGN: step sigma / (1 + sigma |g|^2 / (2 f)) for non-negative losses",
        reference_impl="none packaged (the paper's step in NumPy; the authors' README snippet)",
    ),
    MethodSpec(
        "reduce_on_plateau", _plateau.reduce_on_plateau, "loss_driven",
        Paper("Paszke et al.", 2019,
              "PyTorch: An imperative style, high-performance deep learning library",
              "NeurIPS", "paszke2019pytorch"),
        {"learning_rate": 1e-3}, 0.0, needs_value=True,
        ranges={k: _plateau.RANGES[k] for k in (
            "learning_rate", "factor", "patience", "threshold", "cooldown", "min_lr", "eps",
            "accumulation_size")},
        description="SGD with the learning rate cut by a factor when the loss plateaus",
        reference_impl="torch.optim.lr_scheduler.ReduceLROnPlateau (PyTorch 2.13.0)",
    ),
    MethodSpec(
        "momo", _momo.momo, "loss_driven", _SCHAIPP, {"learning_rate": 1.0}, 4.0,
        needs_value=True, ranges=_momo.MOMO_RANGES,
        description="MoMo: SGD with momentum and a truncated-model (Polyak-like) step size",
        reference_impl="momo-opt 0.1.0 (Momo, authors)",
    ),
    MethodSpec(
        "momo_adam", _momo.momo_adam, "loss_driven", _SCHAIPP, {"learning_rate": 1e-2}, 8.0,
        needs_value=True, ranges=_momo.MOMO_ADAM_RANGES,
        description="MoMo-Adam: Adam's direction with MoMo's model-based step size",
        reference_impl="momo-opt 0.1.0 (MomoAdam, authors)",
    ),
]

for _spec in _LOSS_DRIVEN:
    register(_spec)

# --------------------------------------------------------------------------------------------
# adaptive: AdaBound, AMSBound, AdaMod, PAdam, QHAdam, Adam-mini, StableAdamW, Adam-atan2,
# CAME, cautious
# --------------------------------------------------------------------------------------------

from adaptlr.adaptive import adam_mini as _adam_mini  # noqa: E402
from adaptlr.adaptive import bounded as _bounded  # noqa: E402
from adaptlr.adaptive import came as _came  # noqa: E402
from adaptlr.adaptive import cautious as _cautious  # noqa: E402
from adaptlr.adaptive import clipped as _clipped  # noqa: E402
from adaptlr.adaptive import partial as _partial  # noqa: E402

_ADABOUND_PAPER = Paper("Luo, Xiong, Liu and Sun", 2019,
                        "Adaptive gradient methods with dynamic bound of learning rate", "ICLR",
                        "luo2019adaptive")
_ADAPTIVE = [
    MethodSpec(
        "adabound", _bounded.adabound, "adaptive", _ADABOUND_PAPER,
        {"learning_rate": 1e-3, "final_lr": 0.1}, 8.0, ranges=_bounded.ADABOUND_RANGES,
        description="AdaBound: Adam with step sizes clipped by bounds converging to SGD",
        reference_impl="adabound 0.0.5 (authors)",
    ),
    MethodSpec(
        "amsbound", _bounded.amsbound, "adaptive", _ADABOUND_PAPER,
        {"learning_rate": 1e-3, "final_lr": 0.1}, 12.0, ranges=_bounded.ADABOUND_RANGES,
        description="AMSBound: AdaBound on AMSGrad's running maximum of v",
        reference_impl="adabound 0.0.5 (authors)",
    ),
    MethodSpec(
        "adaboundw", _bounded.adaboundw, "adaptive", _ADABOUND_PAPER,
        {"learning_rate": 1e-3, "final_lr": 0.1, "weight_decay": 1e-4}, 8.0,
        ranges=_bounded.ADABOUND_RANGES,
        description="AdaBoundW: AdaBound with decoupled weight decay",
        reference_impl="Luolc/AdaBound AdaBoundW (authors, 2e928c3); pytorch_optimizer 4.1.0 "
                       "AdaBound (decoupled)",
    ),
    MethodSpec(
        "adamod", _bounded.adamod, "adaptive",
        Paper("Ding, Ren, Luo and Sun", 2019,
              "An adaptive and momental bound method for stochastic learning", "arXiv",
              "ding2019adaptive"),
        {"learning_rate": 1e-3, "b3": 0.999}, 12.0, ranges=_bounded.ADAMOD_RANGES,
        description="AdaMod: Adam step sizes capped by their exponential moving average",
        reference_impl="adamod 0.0.3 (authors)",
    ),
    MethodSpec(
        "padam", _partial.padam, "adaptive",
        Paper("Chen, Zhou, Tang, Yang, Cao and Gu", 2020,
              "Closing the generalization gap of adaptive gradient methods in training deep "
              "neural networks", "IJCAI", "chen2020closing"),
        {"learning_rate": 0.1, "partial": 0.125}, 12.0, ranges=_partial.PADAM_RANGES,
        description="PAdam: AMSGrad with the denominator raised to a partial power 2p",
        reference_impl="pytorch_optimizer 4.1.0 PAdam; uclaml/Padam equations (amsgrad)",
    ),
    MethodSpec(
        "qhadam", _partial.qhadam, "adaptive",
        Paper("Ma and Yarats", 2019, "Quasi-hyperbolic momentum and Adam for deep learning",
              "ICLR", "ma2019quasi"),
        {"learning_rate": 1e-3, "b1": 0.995, "b2": 0.999, "nu1": 0.7, "nu2": 1.0}, 8.0,
        ranges=_partial.QHADAM_RANGES,
        description="QHAdam: quasi-hyperbolic Adam (moments averaged with the gradient)",
        reference_impl="qhoptim 1.1.0 (authors)",
    ),
    MethodSpec(
        "adam_mini", _adam_mini.adam_mini, "adaptive",
        Paper("Zhang et al.", 2025, "Adam-mini: Use fewer learning rates to gain more", "ICLR",
              "zhang2025adammini"),
        {"learning_rate": 1e-3}, 4.0, ranges=_adam_mini.RANGES,
        description="Adam-mini: one second moment per head / neuron / token / tensor block",
        reference_impl="adam_mini 1.1.1 (authors)",
    ),
    MethodSpec(
        "stable_adamw", _clipped.stable_adamw, "adaptive",
        Paper("Wortsman, Dettmers, Zettlemoyer, Morcos, Farhadi and Schmidt", 2023,
              "Stable and low-precision training for large-scale vision-language models",
              "NeurIPS", "wortsman2023stable"),
        {"learning_rate": 1e-3, "weight_decay": 1e-2}, 8.0, ranges=_clipped.STABLE_ADAMW_RANGES,
        description="StableAdamW: AdamW with AdaFactor-style per-tensor update clipping",
        reference_impl="pytorch_optimizer 4.1.0 StableAdamW",
    ),
    MethodSpec(
        "adam_atan2", _clipped.adam_atan2, "adaptive",
        Paper("Everett et al.", 2024,
              "Scaling exponents across parameterizations and optimizers", "ICML",
              "everett2024scaling"),
        {"learning_rate": 1e-3}, 8.0, ranges=_clipped.ADAM_ATAN2_RANGES,
        description="Adam-atan2: epsilon-free Adam with atan2 in place of the division",
        reference_impl="adam-atan2-pytorch 0.4.1",
    ),
    MethodSpec(
        "came", _came.came, "adaptive",
        Paper("Luo et al.", 2023,
              "CAME: Confidence-guided adaptive memory efficient optimization", "ACL",
              "luo2023came"),
        {"learning_rate": 2e-4}, 4.0, ranges=_came.RANGES,
        description="CAME: factored second moments and confidence-scaled momentum",
        reference_impl="came-pytorch 0.1.3 (authors)",
    ),
    MethodSpec(
        "cautious_adamw", _cautious.cautious_adamw, "adaptive",
        Paper("Liang, Chen, Liu and Liu", 2024,
              "Cautious optimizers: Improving training with one line of code", "arXiv",
              "liang2024cautious"),
        {"learning_rate": 1e-3, "weight_decay": 1e-4}, 8.0, ranges=_cautious.RANGES,
        description="C-AdamW: AdamW with update components opposing the gradient masked",
        reference_impl="C-Optim c_adamw.py (authors, 2c0517c); pytorch_optimizer 4.1.0 "
                       "cautious Lion (first rule)",
    ),
]

for _spec in _ADAPTIVE:
    register(_spec)

# --- adaptive / parameter_free: MADGRAD, ADOPT, SGD-SaI, AdamG, Kate, TRAC (issue 18) ---
from adaptlr.adaptive import adopt as _adopt  # noqa: E402
from adaptlr.adaptive import kate as _kate  # noqa: E402
from adaptlr.adaptive import madgrad as _madgrad  # noqa: E402
from adaptlr.adaptive import sgd_sai as _sgd_sai  # noqa: E402
from adaptlr.parameter_free import adamg as _adamg  # noqa: E402
from adaptlr.parameter_free import trac as _trac  # noqa: E402

_RECENT = [
    MethodSpec(
        "madgrad", _madgrad.madgrad, "adaptive",
        Paper("Defazio and Jelassi", 2022,
              "Adaptivity without compromise: A momentumized, adaptive, dual averaged "
              "gradient method for stochastic optimization", "JMLR", "defazio2022adaptivity"),
        {"learning_rate": 1e-2, "momentum": 0.9}, 12.0, ranges=_madgrad.RANGES,
        readonly_state_bytes_per_param=4.0,  # x_0
        description="MADGRAD: dual averaging with cube-root adaptivity and iterate momentum",
        reference_impl="madgrad 1.3 (authors)",
    ),
    MethodSpec(
        "adopt", _adopt.adopt, "adaptive",
        Paper("Taniguchi et al.", 2024,
              "ADOPT: Modified Adam can converge with any beta2 with the optimal rate",
              "NeurIPS", "taniguchi2024adopt"),
        {"learning_rate": 1e-3}, 8.0, ranges=_adopt.RANGES,
        description="ADOPT: momentum of gradients normalised by the previous second moment",
        reference_impl="pytorch_optimizer 4.1.0 ADOPT (as iShohei220/adopt)",
    ),
    MethodSpec(
        "sgd_sai", _sgd_sai.sgd_sai, "adaptive",
        Paper("Xu, Xiang, Cai and Wen", 2024,
              "No more Adam: Learning rate scaling at initialization is all you need", "arXiv",
              "xu2024nomore"),
        {"learning_rate": 1e-2}, 4.0, ranges=_sgd_sai.RANGES,
        description="SGD-SaI: momentum SGD, per-tensor step sizes from the first gradient's SNR",
        reference_impl="sgd-sai 1.0.3 (authors)",
    ),
    MethodSpec(
        "adamg", _adamg.adamg, "parameter_free",
        Paper("Pang, Yu, Hoang and Zhou", 2024, "Towards stability of parameter-free optimization",
              "arXiv",
              "pan2024towards"),
        # learning_rate only caps the step min(lr, 1/sqrt t): at its default 1 the cap 1/sqrt t
        # decides from the second step on, so it is not registered as a learning rate.
        {"learning_rate": 1.0}, 12.0, ranges=_adamg.RANGES, learning_rate_arg=None,
        description="AdamG: Adam with the golden-step-size numerator p v^q, step min(1, 1/sqrt t)",
        reference_impl="pytorch_optimizer 4.1.0 AdamG (no package by the authors)",
    ),
    MethodSpec(
        "kate", _kate.kate, "adaptive",
        Paper("Choudhury et al.", 2024,
              "Remove that square root: A new efficient scale-invariant version of AdaGrad",
              "NeurIPS", "choudhury2024remove"),
        {"learning_rate": 1e-3}, 8.0, ranges=_kate.RANGES,
        description="KATE: scale-invariant AdaGrad, dividing by sum g^2 without the square root",
        reference_impl="pytorch_optimizer 4.1.0 Kate",
    ),
    MethodSpec(
        "trac_adam", _trac.trac_adam, "parameter_free",
        Paper("Muppidi, Zhang and Yang", 2024,
              "Fast TRAC: A parameter-free optimizer for lifelong reinforcement learning",
              "NeurIPS", "muppidi2024fast"),
        {"learning_rate": 1.0}, 12.0, ranges=_trac.TRAC_ADAM_RANGES,
        readonly_state_bytes_per_param=4.0,  # x_ref
        description="TRAC around Adam: erfi online tuners scale the iterates from x_ref",
        reference_impl="trac-optimizer 0.0.2 (authors; start_trac around torch.optim.Adam)",
    ),
]

for _spec in _RECENT:
    register(_spec)
# --- end MADGRAD, ADOPT, SGD-SaI, AdamG, Kate, TRAC ---

# --- wngn ---
# NGN-M, NGN-D, NGN-MD (Islamov, Ajroldi, Orvieto and Lucchi, 2025): NGN's momentum and
# diagonal variants, family "loss_driven" next to "ngn".
_ISLAMOV = Paper("Islamov, Ajroldi, Orvieto and Lucchi", 2025,
                 "Enhancing optimizer stability: Momentum adaptation of the NGN step-size",
                 "NeurIPS", "islamov2025enhancing")
for _spec in [
    MethodSpec(
        "ngn_m", _ngn.ngn_m, "loss_driven", _ISLAMOV, {"learning_rate": 1.0, "momentum": 0.9},
        4.0, needs_value=True, ranges=_ngn.NGN_M_RANGES,
        description="NGN-M: heavy-ball momentum with the NGN step c / (1 + c |g|^2 / (2 f))",
        reference_impl="none packaged (Algorithm 1 of the paper in NumPy)",
    ),
    MethodSpec(
        "ngn_d", _ngn.ngn_d, "loss_driven", _ISLAMOV, {"learning_rate": 1e-3}, 0.0,
        needs_value=True, ranges=_ngn.NGN_D_RANGES,
        description="NGN-D: one NGN step c / (1 + c g_j^2 / (2 f)) per coordinate",
        reference_impl="none public (Algorithm 3 of the paper in NumPy)",
    ),
    MethodSpec(
        "ngn_md", _ngn.ngn_md, "loss_driven", _ISLAMOV,
        {"learning_rate": 1e-2, "momentum": 0.9}, 4.0, needs_value=True,
        ranges=_ngn.NGN_MD_RANGES,
        description="NGN-MD: NGN-D's coordinate steps inside NGN-M's heavy-ball momentum "
                    "(NGN-MDv2 without its RMSprop preconditioner)",
        reference_impl="none public (NGN-D + heavy ball in NumPy; for the RMSprop one see "
                       "ngn_mdv1)",
    ),
]:
    register(_spec)
# --- end wngn ---
# --- wsls ---
# Stochastic line searches (issue 17): they backtrack on the mini-batch loss, so update takes
# value_fn= as well as value=.
from adaptlr.loss_driven import sls as _sls  # noqa: E402

_LINE_SEARCHES = [
    MethodSpec(
        "sls", _sls.sls, "loss_driven",
        Paper("Vaswani, Mishkin, Laradji, Schmidt, Gidel and Lacoste-Julien", 2019,
              "Painless stochastic gradient: Interpolation, line-search, and convergence rates",
              "NeurIPS", "vaswani2019painless"),
        {"learning_rate": 10.0, "init_step_size": 1.0, "c": 0.1, "beta_b": 0.9, "gamma": 2.0,
         "reset_option": 1, "n_batches_per_epoch": 500}, 0.0,
        needs_value=True, needs_value_fn=True,
        ranges=_sls.SLS_RANGES,
        description="SLS: SGD with a stochastic Armijo line search, step grown per epoch",
        reference_impl="sls (IssamLaradji/sls, authors; Armijo variant, NumPy transcription)",
        defaults_note="learning_rate (a cap on the step) 10 where the factory's default is inf "
                      "(the package has no cap in its Armijo variant): 10 is the package's "
                      "eta_max of its Goldstein variant, and a finite cap makes the learning "
                      "rate a live hyperparameter for inject_hyperparams and sweeps",
    ),
    MethodSpec(
        "adasls", _sls.adasls, "loss_driven",
        Paper("Jiang and Stich", 2023,
              "Adaptive SGD with Polyak stepsize and line-search: Robust convergence and "
              "variance reduction", "NeurIPS", "jiang2023adaptive"),
        {"learning_rate": 10.0, "c": 1.0, "rho": 0.5, "beta": 0.8}, 0.0,
        needs_value=True, needs_value_fn=True, ranges=_sls.ADASLS_RANGES,
        description="AdaSLS: Armijo step over the root of summed searched steps, non-increasing",
        reference_impl="none packaged (the paper's equations in NumPy)",
    ),
]

for _spec in _LINE_SEARCHES:
    register(_spec)
# --- end wsls ---
# --- wsfplus ---
from adaptlr import weight_decay as _weight_decay  # noqa: E402
from adaptlr.parameter_free import schedule_free as _sf_wsfplus  # noqa: E402
from adaptlr.parameter_free import schedule_free_plus as _sf_plus  # noqa: E402

_WSFPLUS = [
    MethodSpec(
        "adamc", _weight_decay.adamc, "adaptive",
        Paper("Defazio", 2025, "Why gradients rapidly increase near the end of training",
              "arXiv", "defazio2025gradients"),
        {"learning_rate": 1e-3, "weight_decay": 1e-4}, 8.0,
        ranges={k: _weight_decay.RANGES[k] for k in
                ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay",
                 "max_learning_rate")},
        description="AdamC: AdamW whose decay follows the schedule, lambda lr_t^2 / lr_max",
        reference_impl="pytorch_optimizer 4.1.0 (AdamC, normalized group; goldens at eps 0)",
        defaults_note="weight_decay 1e-4 is Optax AdamW's: the paper gives no default and "
                      "pytorch_optimizer's AdamC defaults to 0 (plain Adam)",
    ),
    MethodSpec(
        "refined_schedule_free_adamw", _sf_wsfplus.refined_schedule_free_adamw,
        "parameter_free",
        Paper("Song, Baek, Ahn and Yun", 2025,
              "Through the river: Understanding the benefit of schedule-free methods for "
              "language model training", "arXiv", "song2025river"),
        {"learning_rate": 0.0025, "decoupling_c": 20.0}, 8.0,
        ranges={k: _sf_wsfplus.RANGES[k] for k in
                ("learning_rate", "b1", "b2", "eps", "weight_decay", "warmup_steps", "r",
                 "weight_lr_power", "decoupling_c")},
        description="Refined Schedule-Free AdamW: averaging weight min(1, c (1-b1) C)",
        reference_impl="pytorch_optimizer 4.1.0 (ScheduleFreeAdamW, decoupling_c)",
        defaults_note="decoupling_c 20 chosen here (2 / (1 - b1): half plain Schedule-Free's "
                      "averaging window): the paper tunes C and pytorch_optimizer's default 0 "
                      "switches the refinement off; other defaults are Schedule-Free AdamW's",
    ),
    MethodSpec(
        "schedule_free_plus", _sf_plus.schedule_free_plus, "parameter_free",
        Paper("Defazio", 2026,
              "ScheduleFree+: Scaling learning-rate-free & schedule-free learning to large "
              "language models", "arXiv", "defazio2026schedulefreeplus"),
        {"learning_rate": 1.0}, 12.0, needs_value=True, ranges=_sf_plus.RANGES,
        description="ScheduleFree+: Schedule-Free AdamC with a Polyak step from the loss",
        reference_impl="schedule_free main 43e5c2d (AdamCScheduleFreePlusPaper, authors)",
        defaults_note="c_warmup 1 where the reference's signature has 0.9 (the same for "
                      "integer steps; its docstring says 0)",
    ),
]

for _spec in _WSFPLUS:
    register(_spec)
# --- end wsfplus ---
# --- wppsf ---
from adaptlr.parameter_free import prodigy_plus_schedule_free as _ppsf  # noqa: E402

register(MethodSpec(
    "prodigy_plus_schedule_free", _ppsf.prodigy_plus_schedule_free, "parameter_free",
    Paper("Booker", 2025, "prodigy-plus-schedule-free: Prodigy and Schedule-Free, together at "
          "last", "software (Python package)", "booker2025prodigyplus"),
    # The package's defaults (lr 1, betas (0.9, 0.99), d0 1e-6, d_limiter, factored,
    # StableAdamW). State on a large matrix: z (4 B) + s and p0 on every 11th entry (8/11 B);
    # the factored second moment is per row and column.
    {"learning_rate": 1.0}, 4.0 + 8.0 / 11.0, ranges=_ppsf.RANGES,
    readonly_state_bytes_per_param=4.0 / 11.0,  # p0, every 11th entry
    description="ProdigyPlusScheduleFree: Schedule-Free Adam stepped by Prodigy's d "
                "(factored, StableAdamW, d limiter)",
    reference_impl="prodigy-plus-schedule-free 2.0.1 (ProdigyPlusScheduleFree)",
))
# --- end wppsf ---
# --- ngn ---
# NGN-MDv1 (Islamov, Ajroldi, Orvieto and Lucchi, 2025, Algorithm 2 version 1, with the
# decoupled weight decay of Appendix G), checked against the authors' NGN_MDv1.
register(MethodSpec(
    "ngn_mdv1", _ngn.ngn_mdv1, "loss_driven", _ISLAMOV,
    {"learning_rate": 1.0, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.0}, 8.0,
    needs_value=True, ranges=_ngn.NGN_MDV1_RANGES,
    description="NGN-MDv1: heavy ball on D^-1 g (RMSprop D) scaled by the NGN step "
                "c / (1 + c |g|^2_{D^-1} / (2 f))",
    reference_impl="NGN_MDv1 in armanbolatov/plainLM optim/NGNMDv1.py (authors' group; "
                   "PyTorch goldens)",
))
# --- end ngn ---
