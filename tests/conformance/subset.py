"""Which (method, check) pairs the default suite runs; ``make test-slow`` runs the rest.

The full matrix (every registered method against every check) takes longer than the default
suite may (10 minutes on two busy cores). It is split by cost, not by importance:

- every method runs the *contract* checks: the ones that are cheap and find the bugs a new
  method usually has (ranges, complex parameters, mismatched trees, donated buffers,
  retracing, zero gradients, float32, the two problems, the effective learning rate, state
  bytes);
- the *composition* checks (vmap, sharding, Optax wrappers, checkpoints, other dtypes, odd
  trees), which each compile several programs, run in the default suite on a Latin-square
  cover: the first registered method of each implementation module (methods of one module
  share the code these checks exercise) takes every ``STRIDE``-th composition check, shifted
  by the module's position, so that every module meets about 15 / ``STRIDE`` of them and
  every composition check meets about one module in ``STRIDE``. Every other pair is marked
  ``slow``: ``make test-slow`` runs the whole matrix.
"""

from __future__ import annotations

from adaptlr import registry

COMPOSITION_CHECKS = frozenset({
    "apply_if_finite", "bfloat16", "checkpoint_roundtrip", "float16", "float64",
    "inject_hyperparams", "jit_matches_eager", "masked", "multi_steps", "multi_transform",
    "odd_trees", "sharded_matches_unsharded", "vmap_matches_separate_runs",
    # Not compositions, but covered for every method by others in the default suite: the
    # quadratic measures progress, float32's contract runs 50 zero gradients.
    "rosenbrock", "zero_gradients",
})


#: One composition check in ``STRIDE`` per representative method in the default suite.
STRIDE = 4


def representatives() -> tuple[str, ...]:
    """The first registered method of each implementation module (the module of its factory;
    Optax's baselines share the registry's wrapper and count as one module), in order."""
    first: dict[str, str] = {}
    for name in registry.names():
        module = getattr(registry.get(name).factory, "__module__", name)
        first.setdefault(module, name)
    return tuple(first.values())


REPRESENTATIVES = representatives()
_POSITION = {name: i for i, name in enumerate(REPRESENTATIVES)}
_CHECK_POSITION = {check: j for j, check in enumerate(sorted(COMPOSITION_CHECKS))}


def in_default_suite(name: str, check: str) -> bool:
    if check not in COMPOSITION_CHECKS:
        return True
    if name not in _POSITION:
        return False
    return (_POSITION[name] + _CHECK_POSITION[check]) % STRIDE == 0
