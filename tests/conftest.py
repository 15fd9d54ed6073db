"""Test configuration: several host devices, strict JAX, warnings as errors (pyproject)."""

import os

# Must happen before JAX initialises its backends: the sharding tests need 8 devices. Their
# collectives wait for each other inside one process. A worker aborted once in the Prodigy
# sharding test on an overloaded 2-core machine, with no XLA message; a wait past XLA:CPU's
# collective time limit is the likely cause (not confirmed), so the limits are 10 minutes.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_force_host_platform_device_count=8"
    " --xla_cpu_collective_call_terminate_timeout_seconds=600"
    " --xla_cpu_collective_timeout_seconds=600",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
