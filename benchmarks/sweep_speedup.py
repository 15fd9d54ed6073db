"""Wall time of a learning-rate sweep through ``adaptlr.sweep`` versus sequential single runs.

The workload is the MNIST-1D MLP of the benchmark tasks (40-100-100-10, ReLU, batch 100)
trained with Adam for ``--steps`` steps, one configuration per learning rate and seed. The
learning rates are log-spaced in [1e-4, 1e-2], where training is not chaotic, so that the
sweep's results can be compared with the sequential runs. Three ways of running K
configurations are timed in one process:

* **sequential**: ``jax.jit(train_one)`` called K times, one run after the other;
* **vmap on one device**: ``sweep(train_one, configs, devices=[one device])``;
* **sweep**: ``sweep(train_one, configs)`` over all devices; on a CPU the script first exposes
  ``--devices`` host devices (default: the number of cores) with ``use_host_devices``.

Each way is compiled once before it is timed (the compile time is printed separately), and the
sweep's results are checked against the sequential runs. The printed ratios are
``sequential time / sweep time``, measured in this run.

Run:  python benchmarks/sweep_speedup.py [--steps 1000] [--k 16 64] [--devices N]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="training steps per run")
    parser.add_argument("--k", type=int, nargs="+", default=[16, 64], help="sweep sizes")
    parser.add_argument(
        "--devices",
        type=int,
        default=os.cpu_count() or 1,
        help="host devices to expose on CPU (default: number of cores)",
    )
    args = parser.parse_args()

    from adaptlr.sweep import use_host_devices

    if os.environ.get("JAX_PLATFORMS", "cpu") == "cpu":
        use_host_devices(args.devices)

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from adaptlr.benchmarks import tasks
    from adaptlr.sweep import sweep

    task = tasks.get_task("mnist1d_mlp", steps=args.steps)
    steps = args.steps

    def train_one(config):
        init_key, data_key = jax.random.split(jax.random.key(config["seed"]))
        params = task.init_fn(init_key)
        tx = optax.inject_hyperparams(optax.adam)(learning_rate=config["learning_rate"])
        opt_state = tx.init(params)
        grad_fn = jax.value_and_grad(task.loss_fn)

        def step(carry, t):
            params, opt_state = carry
            loss, grads = grad_fn(params, task.batch_fn(t, data_key))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        _, losses = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
        return {"final_loss": losses[-1], "mean_loss": jnp.mean(losses)}

    def wall(fn):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        return time.perf_counter() - start, out

    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, {len(jax.devices())} "
        f"device(s), {os.cpu_count()} core(s); MNIST-1D MLP, Adam, {steps} steps per run"
    )
    single = jax.jit(train_one)
    one_device = [jax.devices()[0]]
    rows = []
    for k in args.k:
        configs = {
            "learning_rate": np.geomspace(1e-4, 1e-2, k).astype(np.float32),
            "seed": np.arange(k, dtype=np.int32),
        }

        def config(i, configs=configs):
            return jax.tree.map(lambda x, i=i: x[i], configs)

        compile_seq, _ = wall(lambda: single(config(0)))
        seq_time, seq_out = wall(
            lambda: [jax.block_until_ready(single(config(i))) for i in range(k)]
        )
        compile_vmap, _ = wall(lambda: sweep(train_one, configs, devices=one_device))
        vmap_time, _ = wall(lambda: sweep(train_one, configs, devices=one_device))
        compile_sweep, _ = wall(lambda: sweep(train_one, configs))
        sweep_time, sweep_out = wall(lambda: sweep(train_one, configs))

        # Same runs, up to float rounding in the batched matrix products.
        expected = np.array([float(o["mean_loss"]) for o in seq_out])
        np.testing.assert_allclose(sweep_out["mean_loss"], expected, rtol=1e-3)
        rows.append((k, seq_time, vmap_time, sweep_time))
        print(f"\nK={k}")
        print(
            f"  sequential ({k} runs):     {seq_time:8.2f} s   (first call incl. compile "
            f"{compile_seq:.2f} s)"
        )
        print(
            f"  vmap on one device:        {vmap_time:8.2f} s   (first call incl. compile "
            f"{compile_vmap:.2f} s)   speed-up {seq_time / vmap_time:.2f}x"
        )
        print(
            f"  sweep on {len(jax.devices())} device(s):       {sweep_time:8.2f} s   (first "
            f"call incl. compile {compile_sweep:.2f} s)   speed-up {seq_time / sweep_time:.2f}x"
        )

    print("\nsummary: K, sequential s, vmap-only s, sweep s, sweep speed-up")
    for k, seq_time, vmap_time, sweep_time in rows:
        print(
            f"  {k:4d}  {seq_time:8.2f}  {vmap_time:8.2f}  {sweep_time:8.2f}  "
            f"{seq_time / sweep_time:5.2f}x"
        )


if __name__ == "__main__":
    main()
