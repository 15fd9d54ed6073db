"""One process of the two-process sweep test (tests/test_sweep.py starts two of these).

Usage: python sweep_multiprocess_worker.py PROCESS_ID NUM_PROCESSES PORT OUT.npz

Each process exposes 2 CPU devices, joins the others through ``jax.distributed`` with CPU
collectives, runs the same ``train_sweep`` over the global 1-D mesh and writes what it got back.
"""

from __future__ import annotations

import os
import sys


def problem():
    """The sweep both this worker and the single-process test run (same data, same seeds)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(32, 4)).astype(np.float32))
    y = jnp.asarray(rng.normal(size=32).astype(np.float32))

    def loss_fn(w, batch):
        xb, yb = batch
        return jnp.mean((xb @ w - yb) ** 2)

    def batch_fn(step, key):
        index = jax.random.randint(jax.random.fold_in(key, step), (8,), 0, 32)
        return x[index], y[index]

    def make_optimizer(hp):
        return optax.inject_hyperparams(optax.adam)(learning_rate=hp["learning_rate"])

    return dict(
        loss_fn=loss_fn,
        init_fn=lambda key: jax.random.normal(key, (4,)),
        make_optimizer=make_optimizer,
        # 7 configurations on 4 devices: padding is exercised; 1e3 diverges.
        hyperparams={"learning_rate": np.array([1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 1e3], np.float32)},
        seeds=np.arange(7),
        batch_fn=batch_fn,
        steps=20,
        record_every=5,
        eval_fn=lambda params, state: {"loss": jnp.mean((x @ params - y) ** 2)},
        eval_every=10,
        divergence_factor=10.0,
    )


def main() -> None:
    process_id, num_processes, port, out = sys.argv[1:5]
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}",
        num_processes=int(num_processes),
        process_id=int(process_id),
    )
    import numpy as np

    from adaptlr.sweep import train_sweep

    assert jax.process_count() == int(num_processes)
    assert len(jax.devices()) == 2 * int(num_processes)
    result = train_sweep(**problem())
    np.savez(
        out,
        params=np.asarray(result.params),
        losses=np.asarray(result.losses),
        eval_loss=np.asarray(result.eval_metrics["loss"]),
        effective_lr=np.asarray(result.effective_lr),
        diverged=np.asarray(result.diverged),
        diverged_at=np.asarray(result.diverged_at),
        devices=len(jax.devices()),
    )
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
