"""Flax NNX models of the benchmark tasks.

Training never holds these objects: a task splits a model once into its graph definition and
its parameter state (``nnx.split``) and trains the state with plain ``jax.jit``/``lax.scan``,
merging inside the loss (``nnx.merge``). On this CPU that costs ~0.3 ms less per step than
``nnx.jit`` on the module object (see docs/benchmarks.md), and it lets the sweep ``vmap`` over
parameter states like any other pytree.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["MLP", "CharTransformer", "Conv1DIm2col", "MNIST1DConvNet"]


class MLP(nnx.Module):
    """Fully connected network with ReLU between layers (no activation after the last)."""

    def __init__(self, sizes: Sequence[int], *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = jax.nn.relu(x)
        return x


class Conv1DIm2col(nnx.Module):
    """1-D convolution written as a gather of windows followed by one matrix product.

    The same function as ``nnx.Conv`` with explicit symmetric padding; the kernel has
    ``nnx.Conv``'s layout ``(kernel_size, in_features, out_features)``. Inside ``lax.scan`` on
    XLA:CPU the backward pass of ``lax.conv_general_dilated`` loses its fast form and a 6000-step
    MNIST-1D CNN run becomes several times slower; the im2col form is a dense matmul forwards and
    backwards and keeps its speed in the loop (numbers in docs/benchmarks.md).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        rngs: nnx.Rngs,
    ):
        # LeCun normal over the fan-in ``kernel_size * in_features``, like nnx.Conv.
        init = nnx.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
        self.kernel = nnx.Param(init(rngs.params(), (kernel_size, in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,)))
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x``: ``(batch, length, in_features)`` -> ``(batch, out_length, out_features)``."""
        k, s, p = self.kernel_size, self.stride, self.padding
        x = jnp.pad(x, ((0, 0), (p, p), (0, 0)))
        out_length = (x.shape[1] - k) // s + 1
        index = s * jnp.arange(out_length)[:, None] + jnp.arange(k)[None, :]
        windows = x[:, index, :]  # (batch, out_length, k, in_features)
        windows = windows.reshape(x.shape[0], out_length, k * x.shape[2])
        kernel = self.kernel[...].reshape(k * x.shape[2], -1)
        return windows @ kernel + self.bias[...].reshape(1, 1, -1)


class MNIST1DConvNet(nnx.Module):
    """The MNIST-1D paper's CNN: three 25-channel convolutions (stride 2) and a linear layer.

    Kernel sizes 5, 3, 3 with padding 1, ReLU after each convolution; a length-40 input becomes
    5 positions x 25 channels = 125 features for the final linear layer, as in the paper's
    ``ConvBase``.
    """

    def __init__(self, channels: int = 25, length: int = 40, classes: int = 10, *,
                 rngs: nnx.Rngs):
        self.convs = nnx.List([
            Conv1DIm2col(1, channels, 5, stride=2, padding=1, rngs=rngs),
            Conv1DIm2col(channels, channels, 3, stride=2, padding=1, rngs=rngs),
            Conv1DIm2col(channels, channels, 3, stride=2, padding=1, rngs=rngs),
        ])
        for conv in self.convs:
            length = (length + 2 * conv.padding - conv.kernel_size) // conv.stride + 1
        self.head = nnx.Linear(length * channels, classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x[:, :, None]
        for conv in self.convs:
            h = jax.nn.relu(conv(h))
        return self.head(h.reshape(h.shape[0], -1))


class _Block(nnx.Module):
    def __init__(self, width: int, heads: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(width, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(
            num_heads=heads, in_features=width, decode=False, rngs=rngs
        )
        self.norm2 = nnx.LayerNorm(width, rngs=rngs)
        self.up = nnx.Linear(width, 4 * width, rngs=rngs)
        self.down = nnx.Linear(4 * width, width, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attention(self.norm1(x), mask=mask)
        return x + self.down(jax.nn.gelu(self.up(self.norm2(x))))


class CharTransformer(nnx.Module):
    """A small pre-norm decoder-only Transformer over characters (learned positions)."""

    def __init__(self, vocab: int, context: int, width: int = 64, depth: int = 2,
                 heads: int = 4, *, rngs: nnx.Rngs):
        self.token = nnx.Embed(vocab, width, rngs=rngs)
        self.position = nnx.Embed(context, width, rngs=rngs)
        self.blocks = nnx.List([_Block(width, heads, rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.head = nnx.Linear(width, vocab, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        """``tokens``: ``(batch, length)`` int -> logits ``(batch, length, vocab)``."""
        length = tokens.shape[1]
        x = self.token(tokens) + self.position(jnp.arange(length))[None]
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.norm(x))
