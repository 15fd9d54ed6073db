"""Leaf shapes of the parameter trees the update benchmarks time (no JAX or PyTorch import).

Shared by ``update_throughput.py`` (JAX) and ``torch_reference_step.py`` (PyTorch) so that both
sides time exactly the same sizes.
"""

from __future__ import annotations

TREES = ("1M", "16M", "300leaf")


def tree_shapes(kind: str) -> list[tuple[int, ...]]:
    """A few large matrices plus many small vectors, like a real network."""
    if kind == "1M":
        return [(512, 1024), (1024, 384), (256, 256)] + [(1024,)] * 24 + [(256,)] * 40
    if kind == "16M":
        return ([(4096, 2048), (2048, 2048), (2048, 1024), (1024, 1024)]
                + [(2048,)] * 48 + [(1024,)] * 64)
    if kind == "300leaf":
        # 300 leaves of 4096 values (1.2M in all): per-leaf overhead dominates.
        return [(64, 64)] * 100 + [(4096,)] * 200
    raise ValueError(f"tree must be one of {TREES}, got {kind!r}")
