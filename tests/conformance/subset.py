"""Which (method, check) pairs the default suite runs; ``make test-slow`` runs the rest.

The full matrix (every registered method against every check) takes longer than the default
suite may (10 minutes on two busy cores). It is split by cost, not by importance:

- every method runs the *contract* checks: the ones that are cheap and find the bugs a new
  method usually has (ranges, complex parameters, mismatched trees, donated buffers,
  retracing, zero gradients, float32, the two problems, the effective learning rate, state
  bytes);
- the *composition* checks (vmap, sharding, Optax wrappers, checkpoints, other dtypes, odd
  trees), which each compile several programs, run in the default suite for one
  representative per implementation module, the first registered method of its module:
  methods of one module share the code these checks exercise. Every other pair is marked
  ``slow``.
"""

from __future__ import annotations

from adaptlr import registry

COMPOSITION_CHECKS = frozenset({
    "apply_if_finite", "bfloat16", "checkpoint_roundtrip", "float16", "float64",
    "inject_hyperparams", "jit_matches_eager", "masked", "multi_steps", "multi_transform",
    "odd_trees", "sharded_matches_unsharded", "vmap_matches_separate_runs",
})


def representatives() -> frozenset[str]:
    """The first registered method of each implementation module (the module of its factory;
    Optax's baselines share the registry's wrapper and count as one module)."""
    first: dict[str, str] = {}
    for name in registry.names():
        module = getattr(registry.get(name).factory, "__module__", name)
        first.setdefault(module, name)
    return frozenset(first.values())


REPRESENTATIVES = representatives()


def in_default_suite(name: str, check: str) -> bool:
    return check not in COMPOSITION_CHECKS or name in REPRESENTATIVES
