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

jax.config.update("jax_numpy_rank_promotion", "raise")
