"""Test configuration: several host devices, strict JAX, warnings as errors (pyproject)."""

import os

# Must happen before JAX initialises its backends: the sharding tests need 8 devices.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
