"""Parameter groups: learning-rate multipliers, weight-decay switches and transformations by path.

What PyTorch users get from ``optimizer.param_groups``, in Optax style. A parameter's *path* is
the ``/``-joined key path of its leaf in the parameter tree (dict keys, attribute names, sequence
indices; the trailing ``value`` of a Flax NNX ``Variable`` is dropped), e.g.
``params/Dense_0/kernel`` for Flax Linen or ``layers/0/kernel`` for Flax NNX. Ordered rules map
paths to a group; the first rule that matches a parameter wins, and parameters no rule matches
go to the default group. Each group is a separate Optax transformation, combined with
``optax.multi_transform`` (whose state is keyed by group name, so
:func:`adaptlr.effective_lrs` reports one step size per group, keyed by the group's name).

Example:
  >>> import jax.numpy as jnp, optax, adaptlr
  >>> params = {"encoder": {"kernel": jnp.ones((3, 3)), "bias": jnp.zeros(3)},
  ...           "head": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
  >>> tx = adaptlr.param_groups(
  ...     [adaptlr.group("*bias", weight_decay=False, name="no_decay"),
  ...      adaptlr.group("head/*", lr_scale=10.0, name="head")],
  ...     optax.inject_hyperparams(optax.adamw), learning_rate=1e-3, weight_decay=0.1)
  >>> state = tx.init(params)
  >>> print(adaptlr.describe_groups(params, tx))
  path            shape   group     rule    lr_scale  weight_decay
  --------------  ------  --------  ------  --------  ------------
  encoder/bias    (3,)    no_decay  *bias   1         off
  encoder/kernel  (3, 3)  default   -       1         on
  head/bias       (2,)    no_decay  *bias   1         off
  head/kernel     (3, 2)  head      head/*  10        on
  >>> {k: round(float(v), 6) for k, v in adaptlr.effective_lrs(state).items()}
  {'default': 0.001, 'no_decay': 0.001, 'head': 0.01}
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import jax
import optax

from adaptlr._base import NON_NEGATIVE, Interval, PyTree, check

__all__ = [
    "DEFAULT_GROUP",
    "Rule",
    "describe_groups",
    "group",
    "group_labels",
    "infer_layer",
    "layerwise_lr_decay",
    "param_groups",
    "param_path",
]

#: Name of the group of parameters that no rule matches.
DEFAULT_GROUP = "default"

RANGES: dict[str, Interval] = {
    "lr_scale": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "decay": Interval(0.0, 1.0, lower_closed=False),
    "num_layers": Interval(0.0, float("inf"), integer=True),
}

Matcher = str | re.Pattern[str] | Callable[[str], bool]


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


def _key_name(key: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def param_path(key_path: Sequence[Any]) -> str:
    """The ``/``-joined path of a JAX key path, without the trailing ``value`` of NNX Variables.

    Args:
      key_path: a JAX key path, as from ``jax.tree_util.tree_flatten_with_path``.

    Example:
      >>> import jax, jax.numpy as jnp, adaptlr
      >>> [adaptlr.param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(
      ...     {"layers": [{"kernel": jnp.ones(2)}]})[0]]
      ['layers/0/kernel']
    """
    keys = list(key_path)
    if keys and isinstance(keys[-1], jax.tree_util.GetAttrKey) and keys[-1].name == "value":
        keys = keys[:-1]
    return "/".join(_key_name(k) for k in keys)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rule:
    """One parameter group: which parameters (``match``) and what they get.

    Build rules with :func:`group`. Exactly one of: ``transform`` (a whole transformation for the
    group), or ``lr_scale`` and/or ``weight_decay`` (changes to the default optimizer).

    Attributes:
      match: a glob on the path (``fnmatch``: ``*`` also crosses ``/``; the whole path must
        match), a compiled regular expression (``re.search`` on the path) or a predicate
        ``path -> bool``.
      lr_scale: learning-rate multiplier, ``>= 0``.
      weight_decay: ``False`` switches weight decay off, ``True`` keeps the default's, a number
        ``>= 0`` replaces it.
      transform: the transformation for the whole group (e.g. ``optax.set_to_zero()`` to
        freeze it, or another optimizer).
      name: the group's name (its key in the ``multi_transform`` state); default ``group_<i>``.
      required: raise at init when the rule gets no parameter (almost always a typo).
    """

    match: Matcher
    lr_scale: float | None = None
    weight_decay: bool | float | None = None
    transform: optax.GradientTransformation | None = None
    name: str | None = None
    required: bool = True

    def matches(self, path: str) -> bool:
        """Whether the parameter at ``path`` matches this rule."""
        if isinstance(self.match, re.Pattern):
            return self.match.search(path) is not None
        if isinstance(self.match, str):
            return fnmatch.fnmatchcase(path, self.match)
        return bool(self.match(path))

    def describe(self) -> str:
        """The pattern as written (for messages and tables)."""
        if isinstance(self.match, re.Pattern):
            return f"re:{self.match.pattern}"
        if isinstance(self.match, str):
            return self.match
        return getattr(self.match, "__name__", repr(self.match))


def group(
    match: Matcher,
    *,
    lr_scale: float | None = None,
    weight_decay: bool | float | None = None,
    transform: optax.GradientTransformation | None = None,
    name: str | None = None,
    required: bool = True,
) -> Rule:
    """A :class:`Rule`, validated.

    Args:
      match: glob string (whole path, ``*`` crosses ``/``), compiled regex (``re.search``) or
        predicate on the path.
      lr_scale: learning-rate multiplier in ``[0, inf)``.
      weight_decay: ``False`` (off), ``True`` (the default's) or a value in ``[0, inf)``.
      transform: a whole transformation for the group; excludes ``lr_scale`` and
        ``weight_decay``.
      name: group name; must not be ``"default"``.
      required: raise when the rule matches no parameter.

    Example:
      >>> import re, adaptlr
      >>> rule = adaptlr.group(re.compile(r"(bias|scale)$"), weight_decay=False)
      >>> rule.matches("layers/0/norm/scale"), rule.matches("layers/0/kernel")
      (True, False)
    """
    if not isinstance(match, (str, re.Pattern)) and not callable(match):
        raise TypeError(f"match must be a glob string, a compiled regex or a predicate, "
                        f"got {type(match).__name__}")
    if transform is not None and (lr_scale is not None or weight_decay is not None):
        raise ValueError("transform excludes lr_scale and weight_decay: a rule either replaces "
                         "the transformation or changes the default's hyperparameters")
    if transform is None and lr_scale is None and weight_decay is None:
        raise ValueError("a rule needs lr_scale, weight_decay or transform")
    if transform is not None and not (hasattr(transform, "init") and hasattr(transform, "update")):
        raise TypeError("transform must be an optax.GradientTransformation")
    if lr_scale is not None:
        check("lr_scale", lr_scale, RANGES["lr_scale"])
    if weight_decay is not None and not isinstance(weight_decay, bool):
        check("weight_decay", weight_decay, RANGES["weight_decay"])
    if name is not None and (not isinstance(name, str) or not name or name == DEFAULT_GROUP):
        raise ValueError(f"name must be a non-empty string other than {DEFAULT_GROUP!r}, "
                         f"got {name!r}")
    return Rule(match, lr_scale, weight_decay, transform, name, required)


# --------------------------------------------------------------------------------------------
# The transformation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Groups:
    rules: tuple[Rule, ...]
    names: tuple[str, ...]

    def labels(self, params: PyTree) -> PyTree:
        """The group name of every leaf; raises for a required rule that gets nothing."""
        used: set[int] = set()
        paths: list[str] = []

        def label(key_path: Any, leaf: Any) -> str:
            del leaf
            path = param_path(key_path)
            paths.append(path)
            for i, rule in enumerate(self.rules):
                if rule.matches(path):
                    used.add(i)
                    return self.names[i]
            return DEFAULT_GROUP

        labels = jax.tree_util.tree_map_with_path(label, params)
        for i, rule in enumerate(self.rules):
            if rule.required and i not in used:
                claimed = [p for p in paths if rule.matches(p)]
                why = (f"its parameters {claimed[:3]} were all taken by earlier rules"
                       if claimed else "no parameter path matches it")
                shown = ", ".join(paths[:8]) + (", ..." if len(paths) > 8 else "")
                raise ValueError(
                    f"parameter group rule {rule.describe()!r} (group {self.names[i]!r}) "
                    f"matches no parameter: {why}. Paths look like: {shown}. "
                    "Pass required=False to allow an empty group."
                )
        return labels


# The rules behind every transformation built by param_groups, for describe_groups.
_GROUPS: weakref.WeakKeyDictionary[Callable[..., Any], _Groups] = weakref.WeakKeyDictionary()


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    """Whether ``factory`` takes a keyword ``name`` (``True`` when it cannot be inspected)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _unwrapped(factory: Callable[..., Any]) -> Callable[..., Any]:
    while hasattr(factory, "__wrapped__"):
        factory = factory.__wrapped__
    return factory


def _registry_spec(factory: Callable[..., Any]) -> Any:
    """The registry entry whose factory ``factory`` is (through ``inject_hyperparams``)."""
    from adaptlr import registry  # tools sit above the registry; imported when needed

    target = _unwrapped(factory)
    for name in registry.names():
        spec = registry.get(name)
        if _unwrapped(spec.factory) is target:
            return spec
    return None


_NO_DEFAULT = object()


def _learning_rate_of(
    factory: Callable[..., Any], hyperparams: dict[str, Any]
) -> tuple[str | None, Any]:
    """``(argument name, value)`` of the factory's learning rate, for ``lr_scale`` rules.

    The name is the registry's ``learning_rate_arg`` for a registered method (``max_lr`` for
    SPS), ``learning_rate`` otherwise; ``None`` when the method has none. The value is the one
    passed in ``hyperparams``, else the default in the factory's signature (what the factory
    uses when called without it), else the registry's default; ``_NO_DEFAULT`` when none is
    known.
    """
    spec = _registry_spec(factory)
    name = "learning_rate" if spec is None else spec.learning_rate_arg
    if name is None:
        if "learning_rate" in hyperparams:
            return "learning_rate", hyperparams["learning_rate"]
        return None, _NO_DEFAULT
    if name in hyperparams:
        return name, hyperparams[name]
    try:
        parameter = inspect.signature(factory).parameters.get(name)
    except (TypeError, ValueError):
        parameter = None
    if parameter is not None and parameter.default is not inspect.Parameter.empty:
        return name, parameter.default
    if spec is not None and name in spec.defaults:
        return name, spec.defaults[name]
    return name, _NO_DEFAULT


def _scaled(learning_rate: Any, scale: float) -> Any:
    if callable(learning_rate):
        return lambda count: scale * learning_rate(count)
    return scale * learning_rate


def param_groups(
    rules: Sequence[Rule],
    default: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
    /,
    **hyperparams: Any,
) -> optax.GradientTransformation:
    """Route parameters to groups by path; ``optax.multi_transform`` under the hood.

    ``default`` is either a ready transformation, or an optimizer factory called with
    ``**hyperparams`` (``optax.adamw``, ``adaptlr.prodigy``,
    ``optax.inject_hyperparams(optax.adamw)``, ...). Each rule's group gets:

    * ``transform=tx``: ``tx``;
    * ``lr_scale=m`` / ``weight_decay=w``: with a factory, the factory called with
      ``learning_rate = m * learning_rate`` (a schedule is scaled pointwise) and
      ``weight_decay = w`` (``False`` sets it to 0, ``True`` keeps it). When
      ``learning_rate`` is not among ``hyperparams`` its default is read from the factory's
      signature (e.g. ``adaptlr.prodigy``'s 1.0) or the registry; a registered method whose
      learning rate has another name (``max_lr`` of SPS) has that argument scaled. With a
      ready transformation, or a factory without a learning rate (COCOB), ``lr_scale`` is
      applied as ``optax.scale(m)`` after it (which scales the update, not the step-size
      record that ``effective_lr`` reports).

    Parameters that no rule matches get the default. Rules are tried in order and the first
    match wins. A ``required`` rule that gets no parameter raises ``ValueError`` with its
    pattern when the parameter tree is first seen (``init``).

    Args:
      rules: the :func:`group` rules, in priority order.
      default: the default transformation, or a factory of it.
      **hyperparams: the factory's arguments (only with a factory). ``lr_scale`` needs
        ``learning_rate`` among them only when the factory has no default for it.

    Returns:
      A ``GradientTransformation`` whose state is ``optax.multi_transform``'s, keyed by group
      name (``"default"`` for the rest).

    Example:
      >>> import jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.param_groups([adaptlr.group("frozen/*", transform=optax.set_to_zero())],
      ...                           optax.sgd, learning_rate=0.1)
      >>> params = {"frozen": {"w": jnp.ones(2)}, "w": jnp.ones(2)}
      >>> updates, _ = tx.update(params, tx.init(params))
      >>> updates["frozen"]["w"].tolist(), updates["w"].tolist()
      ([0.0, 0.0], [-0.10000000149011612, -0.10000000149011612])

    References:
      PyTorch ``torch.optim.Optimizer`` parameter groups; ``optax.multi_transform``.
    """
    rules = tuple(rules)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise TypeError(f"rules must be built with adaptlr.group, got {type(rule).__name__}")
    is_ready = hasattr(default, "init") and hasattr(default, "update")
    if is_ready and hyperparams:
        raise ValueError("hyperparameters are only accepted with a factory as default")
    if not is_ready and not callable(default):
        raise TypeError("default must be a GradientTransformation or a factory of one")

    for rule in rules:
        if rule.transform is not None:
            continue
        if is_ready and rule.weight_decay is not None:
            raise ValueError(
                f"rule {rule.describe()!r}: weight_decay needs default to be an optimizer "
                "factory (e.g. param_groups(rules, optax.adamw, learning_rate=..., "
                "weight_decay=...)), not a ready transformation"
            )
    lr_name: str | None = None
    lr_value: Any = _NO_DEFAULT
    if not is_ready and any(r.transform is None and r.lr_scale is not None for r in rules):
        lr_name, lr_value = _learning_rate_of(default, hyperparams)
        if lr_name is not None and lr_value is _NO_DEFAULT:
            raise ValueError(
                f"lr_scale needs the default factory's {lr_name}: "
                f"{getattr(default, '__name__', 'the factory')} has no default for it, so pass "
                f"it, e.g. param_groups(rules, factory, {lr_name}=...)")
        if lr_value is None or isinstance(lr_value, bool):
            raise ValueError(f"lr_scale cannot scale {lr_name}={lr_value!r}: pass a number or "
                             "a schedule")
    takes_weight_decay = not is_ready and _accepts(default, "weight_decay")

    names: list[str] = []
    for i, rule in enumerate(rules):
        name = rule.name or f"group_{i}"
        if name in names:
            raise ValueError(f"group names must be unique, {name!r} appears twice")
        names.append(name)

    def build(rule: Rule | None) -> optax.GradientTransformation:
        if rule is not None and rule.transform is not None:
            return rule.transform
        if is_ready:
            base: optax.GradientTransformation = default  # type: ignore[assignment]
            if rule is not None and rule.lr_scale is not None:
                return optax.chain(base, optax.scale(rule.lr_scale))
            return base
        kwargs = dict(hyperparams)
        scale_after = None
        if rule is not None and rule.lr_scale is not None:
            if lr_name is None:  # no learning rate to scale: scale the update
                scale_after = rule.lr_scale
            else:
                kwargs[lr_name] = _scaled(lr_value, rule.lr_scale)
        if rule is not None and rule.weight_decay is not None:
            if rule.weight_decay is False:
                # An optimizer without a weight_decay argument has none to switch off.
                if takes_weight_decay:
                    kwargs["weight_decay"] = 0.0
            elif rule.weight_decay is not True:
                kwargs["weight_decay"] = rule.weight_decay
        built: optax.GradientTransformation = default(**kwargs)  # type: ignore[operator]
        if scale_after is not None:
            return optax.chain(built, optax.scale(scale_after))
        return built

    transforms = {DEFAULT_GROUP: build(None)}
    for name, rule in zip(names, rules, strict=True):
        transforms[name] = build(rule)
    groups = _Groups(rules, tuple(names))
    tx = optax.multi_transform(transforms, groups.labels)
    _GROUPS[tx.init] = groups
    return tx


def group_labels(params: PyTree, tx: optax.GradientTransformation) -> dict[str, str]:
    """The group name of every parameter path, for a transformation from :func:`param_groups`.

    Args:
      params: the parameter tree (or a tree of the same structure).
      tx: a transformation built by :func:`param_groups`.
    """
    groups = _groups_of(tx)
    labels = groups.labels(params)
    flat = jax.tree_util.tree_flatten_with_path(labels)[0]
    return {param_path(path): label for path, label in flat}


def _groups_of(tx: Any) -> _Groups:
    if isinstance(tx, _Groups):
        return tx
    try:
        return _GROUPS[tx.init]
    except (KeyError, TypeError, AttributeError):
        raise ValueError("tx must be a transformation returned by adaptlr.param_groups") from None


def describe_groups(params: PyTree, tx: optax.GradientTransformation) -> str:
    """A plain-text table: every parameter path, its shape, group, rule and settings.

    ``lr_scale`` and ``weight_decay`` describe the rule's changes to the default (``on`` is
    the default's weight decay, ``off`` none, a number a replacement); a group with its own
    transformation shows ``transform``. Use it to log the grouping before training.

    Args:
      params: the parameter tree (or a tree of the same structure).
      tx: a transformation built by :func:`param_groups`.
    """
    groups = _groups_of(tx)
    by_name = dict(zip(groups.names, groups.rules, strict=True))
    labels = jax.tree_util.tree_flatten_with_path(groups.labels(params))[0]
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    rows = [("path", "shape", "group", "rule", "lr_scale", "weight_decay")]
    for (path, label), (_, leaf) in zip(labels, leaves, strict=True):
        rule = by_name.get(label)
        if rule is not None and rule.transform is not None:
            scale, decay = "transform", "transform"
        else:
            scale = f"{rule.lr_scale:g}" if rule is not None and rule.lr_scale is not None else "1"
            wd = None if rule is None else rule.weight_decay
            decay = ("on" if wd is None or wd is True else "off" if wd is False else f"{wd:g}")
        rows.append((param_path(path), str(tuple(getattr(leaf, "shape", ()))), label,
                     rule.describe() if rule is not None else "-", scale, decay))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Layer-wise learning-rate decay
# --------------------------------------------------------------------------------------------

_BLOCK = re.compile(
    r"(?:^|/)(?:layers?|blocks?|h|encoderblock|decoderblock|block_layers|transformer_blocks?)"
    r"(?:_|/)(\d+)(?:/|$)",
    re.IGNORECASE,
)
_EMBEDDING = re.compile(
    r"(?:^|/)(?:[a-z_]*embed[a-z_]*|wte|wpe|cls(?:_token)?|pos(?:ition)?_?emb[a-z_]*)(?:/|$)",
    re.IGNORECASE,
)


def infer_layer(path: str) -> int | None:
    """Layer index of a parameter from common Flax naming, for :func:`layerwise_lr_decay`.

    * ``0`` for embeddings: a path component containing ``embed`` (``embedding``,
      ``token_embed``, ``pos_embedding``, ``patch_embed``), or ``wte``, ``wpe``, ``cls``,
      ``cls_token``;
    * ``i + 1`` for block ``i``: Linen's ``layers_3``, ``block_3``, ``blocks_3``, ``h_3``,
      ``encoderblock_3``, or NNX's ``layers/3``, ``blocks/3``, ``h/3`` (lists of modules);
    * ``None`` otherwise (the head, final norms): the top, which keeps the full rate.

    Args:
      path: a parameter path as :func:`param_path` writes it.

    Example:
      >>> import adaptlr
      >>> [adaptlr.infer_layer(p) for p in ("params/Embed_0/embedding", "params/layers_2/kernel",
      ...                                   "blocks/0/attn/kernel", "head/kernel")]
      [0, 3, 1, None]
    """
    block = _BLOCK.search(path)
    if block is not None:
        return int(block.group(1)) + 1
    if _EMBEDDING.search(path) is not None:
        return 0
    return None


def layerwise_lr_decay(
    decay: float,
    num_layers: int,
    layer_of: Callable[[str], int | None] = infer_layer,
    *,
    no_weight_decay: Matcher | None = None,
) -> list[Rule]:
    r"""Rules for layer-wise learning-rate decay (BEiT, ELECTRA fine-tuning).

    A parameter in layer :math:`i` (``layer_of(path)``: 0 for the embeddings, ``1..L`` for the
    blocks, ``L + 1`` or ``None`` for the head) gets the multiplier

    .. math:: \mathrm{lr\_scale}_i = \mathrm{decay}^{\,L + 1 - i},

    so the head trains at the full rate and each layer below at ``decay`` times the rate of the
    layer above. Returns one rule per layer ``0..L`` (groups ``layer_0``, ...), to pass to
    :func:`param_groups` (put rules that should take precedence, e.g. frozen parameters,
    before them). Parameters with layer ``None`` or ``L + 1`` stay in the default group
    (except those ``no_weight_decay`` matches, below).
    Layers without parameters are allowed (the rules are not ``required``), but a
    ``layer_of`` that returns an index outside ``[0, L + 1]`` raises at init.

    Because the first matching rule wins, a separate "no weight decay for biases" rule placed
    before these would take the biases out of their layers. Pass ``no_weight_decay`` instead:
    each layer then gets a second group ``layer_<i>_no_decay`` (same multiplier, weight decay
    off) for the parameters it matches, as BEiT does, and the top (the head, final norms:
    layer ``None`` or ``L + 1``) gets ``layer_<L+1>_no_decay`` at the full rate.

    Args:
      decay: per-layer factor in ``(0, 1]`` (BEiT uses 0.65 to 0.9).
      num_layers: :math:`L`, the number of blocks, integer ``>= 0``.
      layer_of: ``path -> layer index or None``; defaults to :func:`infer_layer`.
      no_weight_decay: parameters (same matcher forms as :func:`group`) whose weight decay is
        switched off in every layer, e.g. ``re.compile(r"(bias|scale)$")``.

    Example:
      >>> import adaptlr, optax
      >>> rules = adaptlr.layerwise_lr_decay(0.5, num_layers=2)
      >>> [(r.name, r.lr_scale) for r in rules]
      [('layer_0', 0.125), ('layer_1', 0.25), ('layer_2', 0.5)]
      >>> rules = adaptlr.layerwise_lr_decay(0.5, num_layers=1, no_weight_decay="*bias")
      >>> [(r.name, r.lr_scale, r.weight_decay) for r in rules]  # doctest: +NORMALIZE_WHITESPACE
      [('layer_0_no_decay', 0.25, False), ('layer_0', 0.25, None),
       ('layer_1_no_decay', 0.5, False), ('layer_1', 0.5, None),
       ('layer_2_no_decay', None, False)]

    References:
      Clark et al., "ELECTRA: Pre-training text encoders as discriminators rather than
      generators", ICLR 2020. Bao et al., "BEiT: BERT pre-training of image transformers",
      ICLR 2022.
    """
    check("decay", decay, RANGES["decay"])
    check("num_layers", num_layers, RANGES["num_layers"])
    top = int(num_layers) + 1
    exempt = None if no_weight_decay is None else Rule(no_weight_decay, weight_decay=False)

    def checked_layer(path: str) -> int | None:
        layer = layer_of(path)
        if layer is not None and not 0 <= int(layer) <= top:
            raise ValueError(f"layer_of({path!r}) = {layer} is outside [0, {top}] "
                             f"(num_layers = {num_layers})")
        return layer

    def at(i: int, *, exempt_only: bool) -> Callable[[str], bool]:
        def predicate(path: str) -> bool:
            if exempt_only and (exempt is None or not exempt.matches(path)):
                return False
            return checked_layer(path) == i

        predicate.__name__ = f"layer == {i}" + (" and no decay" if exempt_only else "")
        return predicate

    rules = []
    for i in range(top):
        scale = float(decay) ** (top - i)
        if exempt is not None:
            rules.append(group(at(i, exempt_only=True), lr_scale=scale, weight_decay=False,
                               name=f"layer_{i}_no_decay", required=False))
        rules.append(group(at(i, exempt_only=False), lr_scale=scale, name=f"layer_{i}",
                           required=False))
    if exempt is not None:
        # The top keeps the default's full rate, but its exempt parameters (the head's bias)
        # must lose their weight decay like everyone else's.
        def top_exempt(path: str) -> bool:
            return exempt.matches(path) and checked_layer(path) in (None, top)

        top_exempt.__name__ = f"layer == {top} and no decay"
        rules.append(group(top_exempt, weight_decay=False, name=f"layer_{top}_no_decay",
                           required=False))
    return rules

