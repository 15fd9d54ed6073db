"""``jnp.arctan2`` against Adam-atan2's own ``atan2`` (``x >= 0``) on XLA:CPU, in one run.

Times both, jitted, on 16M float32 (and float64) values, interleaved, and prints the medians
and their ratio; the accuracy of the polynomial is tested in ``tests/adaptive/test_clipped.py``.

    python benchmarks/atan2_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from adaptlr.adaptive.clipped import _atan2_nonnegative_x


def main() -> int:
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    n = 16 * 1024 * 1024
    for dtype in (np.float32, np.float64):
        y = jnp.asarray(rng.standard_normal(n).astype(dtype))
        x = jnp.abs(jnp.asarray(rng.standard_normal(n).astype(dtype)))
        fns = {"jnp.arctan2": jax.jit(jnp.arctan2), "adaptlr": jax.jit(_atan2_nonnegative_x)}
        times: dict[str, list[float]] = {name: [] for name in fns}
        for f in fns.values():
            f(y, x).block_until_ready()
        for _ in range(10):
            for name, f in fns.items():
                t0 = time.perf_counter()
                f(y, x).block_until_ready()
                times[name].append(time.perf_counter() - t0)
        med = {name: statistics.median(t) for name, t in times.items()}
        print(f"{np.dtype(dtype).name}: jnp.arctan2 {1e3 * med['jnp.arctan2']:.1f} ms, "
              f"adaptlr {1e3 * med['adaptlr']:.1f} ms, "
              f"ratio {med['jnp.arctan2'] / med['adaptlr']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
