"""Wall time of a learning-rate sweep through ``adaptlr.sweep`` versus sequential single runs.

The workload is the MNIST-1D MLP of the benchmark tasks (40-100-100-10, ReLU, batch 100)
trained with Adam for ``--steps`` steps, one configuration per learning rate and seed. The
learning rates are log-spaced in [1e-4, 1e-2], where training is not chaotic, so that the
sweep's results can be compared with the sequential runs. Three ways of running K
configurations are timed in one process:

* **sequential**: ``jax.jit(train_one)`` called K times, one run after the other;
* **vmap on one device**: ``sweep(train_one, configs, devices=[one device], vmap_size=None)``,
  all K configurations vectorised in one program;
* **sweep**: ``sweep(train_one, configs)`` with its defaults, over all devices; on a CPU the
  script first exposes ``--devices`` host devices (default: the number of cores) with
  ``use_host_devices``, and each device loops over its share.

Each way is compiled once before it is timed (the first call, compile included, is printed
separately), then timed ``--repeat`` times, interleaved with the other ways, keeping the best
wall time; the results are checked against the sequential runs. The printed ratios are
``sequential time / time``, measured in this run; "cores used" is the process's CPU time over
the wall time. Timings on a machine shared with other work are noisy: the load average is
printed at the start and the end.

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
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats (best is kept)")
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
            loss, grads = grad_fn(params, task.batch_fn(t, jax.random.fold_in(data_key, t)))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        _, losses = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
        return {"final_loss": losses[-1], "mean_loss": jnp.mean(losses)}

    def measure(fn):
        """(wall seconds, CPU seconds of this process, result) of one call."""
        cpu, start = time.process_time(), time.perf_counter()
        out = jax.block_until_ready(fn())
        return time.perf_counter() - start, time.process_time() - cpu, out

    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, {len(jax.devices())} "
        f"device(s), {os.cpu_count()} core(s); MNIST-1D MLP, Adam, {steps} steps per run; "
        f"load average {os.getloadavg()[0]:.1f}"
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

        ways = {
            f"sequential ({k} runs)": lambda k=k: [
                jax.block_until_ready(single(config(i))) for i in range(k)
            ],
            "vmap on one device": lambda configs=configs: sweep(
                train_one, configs, devices=one_device, vmap_size=None
            ),
            f"sweep on {len(jax.devices())} device(s)": lambda configs=configs: sweep(
                train_one, configs
            ),
        }
        print(f"\nK={k}")
        first = {name: measure(run)[0] for name, run in ways.items()}  # compiles
        times: dict[str, float] = {}
        cpus: dict[str, float] = {}
        outputs = {}
        # Interleaved repeats, best wall time of each: the least disturbed by other work.
        for _ in range(args.repeat):
            for name, run in ways.items():
                wall, cpu, outputs[name] = measure(run)
                if wall < times.get(name, float("inf")):
                    times[name], cpus[name] = wall, cpu
        base = next(iter(times.values()))
        for name in ways:
            wall, cpu = times[name], cpus[name]
            print(
                f"  {name:<24} {wall:8.2f} s  cpu {cpu:7.2f} s  cores used {cpu / wall:4.2f}  "
                f"speed-up {base / wall:5.2f}x   (first call, compile included: "
                f"{first[name]:.2f} s)"
            )
        sequential, vmapped, swept = times.values()
        # The same K runs: equal up to float rounding, which a thousand steps amplify to about
        # 1e-2 at the largest learning rates (batched matrix products round differently). A
        # mix-up of configurations would show as differences of order 1.
        expected = np.array([float(o["mean_loss"]) for o in next(iter(outputs.values()))])
        for name in list(ways)[1:]:
            got = np.asarray(outputs[name]["mean_loss"])
            worst = float(np.max(np.abs(got - expected) / np.abs(expected)))
            print(
                f"  {name}: largest relative difference of the mean loss from sequential "
                f"{worst:.1e}"
            )
            assert worst < 5e-2, f"{name} does not reproduce the sequential runs"
        rows.append((k, sequential, vmapped, swept))

    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    print("summary: K, sequential s, vmap-only s, sweep s, vmap-only speed-up, sweep speed-up")
    for k, sequential, vmapped, swept in rows:
        print(
            f"  {k:4d}  {sequential:8.2f}  {vmapped:8.2f}  {swept:8.2f}  "
            f"{sequential / vmapped:5.2f}x  {sequential / swept:5.2f}x"
        )


if __name__ == "__main__":
    main()
