"""How the benchmark training loops are written, measured: scan vs Python loop, conv forms, NNX.

Times one MNIST-1D training run (batch 100, Adam) in four forms, after compilation:

1. MLP, ``lax.scan`` over all steps inside one ``jax.jit`` (what the tasks use);
2. MLP, a Python loop calling a jitted step (``nnx.split`` once, ``nnx.merge`` in the loss);
3. MLP, a Python loop calling ``nnx.jit`` on the model and optimizer objects (``nnx.Optimizer``);
4. CNN with ``lax.conv_general_dilated`` (``nnx.Conv``) vs the im2col form
   (:class:`adaptlr.benchmarks.models.Conv1DIm2col`), both in ``lax.scan`` and in a Python loop.

Reports wall-clock and process CPU seconds (CPU time is less disturbed by other processes on a
shared machine). Writes ``experiments/results/training_loop_timing.md``.

Usage: ``python experiments/training_loop_timing.py [--steps 2000]``.
"""

from __future__ import annotations

import argparse
import os
import time

from _common import RESULTS, write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from adaptlr.benchmarks import data, models

    split = data.mnist1d()
    x, y = jnp.asarray(split.x_train), jnp.asarray(split.y_train)
    steps = args.steps
    tx = optax.adam(1e-2)

    def batch(step):
        index = jax.random.randint(jax.random.fold_in(jax.random.key(0), step), (100,), 0, 4000)
        return x[index], y[index]

    class LaxConvNet(nnx.Module):
        def __init__(self, rngs):
            self.convs = nnx.List([
                nnx.Conv(1, 25, (5,), strides=2, padding=[(1, 1)], rngs=rngs),
                nnx.Conv(25, 25, (3,), strides=2, padding=[(1, 1)], rngs=rngs),
                nnx.Conv(25, 25, (3,), strides=2, padding=[(1, 1)], rngs=rngs)])
            self.head = nnx.Linear(125, 10, rngs=rngs)

        def __call__(self, h):
            h = h[:, :, None]
            for conv in self.convs:
                h = jax.nn.relu(conv(h))
            return self.head(h.reshape(h.shape[0], -1))

    def forms(make):
        graphdef, params = nnx.split(make(nnx.Rngs(0)))

        def loss(p, b):
            logits = nnx.merge(graphdef, p)(b[0])
            return optax.softmax_cross_entropy_with_integer_labels(logits, b[1]).mean()

        def step(carry, t):
            p, s = carry
            g = jax.grad(loss)(p, batch(t))
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        scanned = jax.jit(lambda p, s: jax.lax.scan(step, (p, s), jnp.arange(steps))[0])
        stepped = jax.jit(lambda c, t: step(c, t)[0])

        def run_scan():
            return scanned(params, tx.init(params))

        def run_loop():
            carry = (params, tx.init(params))
            for t in range(steps):
                carry = stepped(carry, t)
            return carry

        return run_scan, run_loop

    def measure(fn):
        jax.block_until_ready(fn())  # compile
        wall, cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        return time.perf_counter() - wall, time.process_time() - cpu

    def nnx_jit_loop(make):
        model = make(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

        @nnx.jit
        def train_step(model, optimizer, t):
            def loss(m):
                b = batch(t)
                return optax.softmax_cross_entropy_with_integer_labels(m(b[0]), b[1]).mean()

            optimizer.update(model, nnx.grad(loss)(model))

        def run():
            for t in range(steps):
                train_step(model, optimizer, t)
            return nnx.state(model)

        return run

    mlp = lambda rngs: models.MLP([40, 100, 100, 10], rngs=rngs)  # noqa: E731
    rows = []
    scan, loop = forms(mlp)
    rows.append(("MLP", "lax.scan, split/merge", *measure(scan)))
    rows.append(("MLP", "Python loop of jax.jit steps, split/merge", *measure(loop)))
    rows.append(("MLP", "Python loop of nnx.jit steps on objects", *measure(nnx_jit_loop(mlp))))
    for name, make in (("CNN im2col", lambda rngs: models.MNIST1DConvNet(rngs=rngs)),
                       ("CNN lax.conv", LaxConvNet)):
        scan, loop = forms(make)
        rows.append((name, "lax.scan", *measure(scan)))
        rows.append((name, "Python loop of jax.jit steps", *measure(loop)))
    lines = [f"# Training-loop timing: MNIST-1D, batch 100, Adam, {steps} steps\n",
             f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} cores\n",
             "| model | loop | wall s | CPU s | ms/step (wall) |", "|---|---|---|---|---|"]
    for model, loop_name, wall, cpu in rows:
        lines.append(f"| {model} | {loop_name} | {wall:.2f} | {cpu:.2f} | "
                     f"{1000 * wall / steps:.3f} |")
    write_text(os.path.join(RESULTS, "training_loop_timing.md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
