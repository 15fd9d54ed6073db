"""Test configuration: several host devices, strict JAX, warnings as errors (pyproject)."""

import os

# Must happen before JAX initialises its backends: the sharding tests need 8 devices. Their
# collectives wait for each other inside one process. The Prodigy sharding test deadlocked
# about once in 30 runs (the worker aborted at the collective time limit) while JAX's
# asynchronous dispatch overlapped two sharded steps; the sharded loops now block after each
# step (0 in 60 runs since). The limits stay raised so that a slow machine is not mistaken
# for a deadlock.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_force_host_platform_device_count=8"
    " --xla_cpu_collective_call_terminate_timeout_seconds=600"
    " --xla_cpu_collective_timeout_seconds=600",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

# JAX's persistent compilation cache, shared by the pytest-xdist workers of a run (and kept
# between local runs): many tests compile the same program (one method's step on one problem
# under several checks), and XLA compilation is most of the suite's time. Cached executables
# are keyed by the program, the compile options and the JAX version, so a hit returns the
# executable the miss would have built. ADAPTLR_TEST_COMPILE_CACHE="" turns it off.
_CACHE = os.environ.get(
    "ADAPTLR_TEST_COMPILE_CACHE",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache",
                 "jax-compilation"),
)
if _CACHE:
    os.makedirs(_CACHE, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


# Long tests (tests/long_tests.txt, written by tests/list_long_tests.py from a timing run) run
# with `make test-slow`, not in the default suite, which must stay under 10 minutes on two
# busy cores.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "long_tests.txt")) as _f:
    _LONG = frozenset(line.strip() for line in _f if line.strip() and not line.startswith("#"))


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    for item in items:
        if item.nodeid in _LONG:
            item.add_marker(pytest.mark.slow)
