"""Adam-mini against the authors' package, and its default partition rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr.adaptive.adam_mini import (
    Block,
    adam_mini,
    adam_mini_partition,
    path_names,
    scale_by_adam_mini,
)
from tests.adaptive._golden import TOLERANCE, replay_error

# The generator names the reference problems' parameters so that the authors' rules cut them
# as below (PyTorch rows are our axis 0 here, since the problems use x @ w):
#   mlp:  w1 "mlp.fc1.weight" one block per row; b1 "mlp.fc1.bias" and b2 "lm_head.bias"
#         Adam; w2 "ln_f.weight" one block. No decay on the last three ("bias", "ln").
#   quadratic: w "q_proj.weight" heads of 10 entries (2 rows each); b "norm.weight" one block,
#         not decayed.
GOLDEN_BLOCKS = {
    "w1": Block(keep=(0,)), "b1": Block.element(1), "w2": Block.tensor(),
    "b2": Block.element(1), "w": Block(keep=(0,), heads=(0, 2)), "b": Block.tensor(),
}
GOLDEN_DECAY = {"w1": True, "b1": False, "w2": False, "b2": False, "w": True, "b": False}


def _golden_partition(path: str, shape: tuple[int, ...]) -> Block:
    return GOLDEN_BLOCKS[path]


def _golden_mask(params):
    return {k: GOLDEN_DECAY[k] for k in params}


CASES = [
    ("default", lambda: adam_mini(partition=_golden_partition, mask=_golden_mask)),
    ("custom", lambda: adam_mini(learning_rate=1e-2, b1=0.8, b2=0.99, weight_decay=0.1,
                                 eps=1e-6, partition=_golden_partition, mask=_golden_mask)),
]


@pytest.mark.parametrize("problem", ["mlp", "quadratic"])
@pytest.mark.parametrize(("setting", "make_tx"), CASES, ids=[s for s, _ in CASES])
def test_matches_reference_trajectory(setting, make_tx, problem):
    assert replay_error("adam_mini", setting, problem, make_tx) <= TOLERANCE


@pytest.mark.parametrize(("name", "value"), [("b1", 1.0), ("b2", -0.1), ("eps", -1.0),
                                             ("weight_decay", -1.0), ("num_heads", 0),
                                             ("num_heads", 2.5)])
def test_bad_hyperparameters_raise(name, value):
    with pytest.raises(ValueError, match=name):
        adam_mini(**{name: value})


def _transformer_params():
    d, heads, ff, vocab = 8, 2, 16, 11
    z = jnp.zeros
    return {
        "embed": {"embedding": z((vocab, d))},
        "block": {
            "attn": {"query": {"kernel": z((d, d)), "bias": z((d,))},
                     "key": {"kernel": z((d, heads, d // heads))},
                     "value": {"kernel": z((d, heads, d // heads))},
                     "out": {"kernel": z((heads, d // heads, d))}},
            "mlp": {"Dense_0": {"kernel": z((d, ff))}, "Dense_1": {"kernel": z((ff, d))}},
            "LayerNorm_0": {"scale": z((d,))},
        },
        "lm_head": {"kernel": z((d, vocab))},
    }


def test_default_partition_of_a_flax_transformer():
    params = _transformer_params()
    blocks = jax.tree.map(lambda name, p: adam_mini_partition(name, p.shape, num_heads=2),
                          path_names(params), params)
    attn = blocks["block"]["attn"]
    assert blocks["embed"]["embedding"] == Block(keep=(0,))  # one per token
    assert attn["query"]["kernel"] == Block(keep=(1,), heads=(1, 2))  # one per head
    assert attn["query"]["bias"] == Block.element(1)
    assert attn["key"]["kernel"] == Block(keep=(1,))  # DenseGeneral head axis
    assert attn["value"]["kernel"] == Block(keep=(1, 2))  # one per output neuron
    assert attn["out"]["kernel"] == Block(keep=(2,))
    assert blocks["block"]["mlp"]["Dense_0"]["kernel"] == Block(keep=(1,))
    assert blocks["block"]["LayerNorm_0"]["scale"] == Block.tensor()
    assert blocks["lm_head"]["kernel"] == Block(keep=(1,))  # one per token (output axis)
    state = scale_by_adam_mini(num_heads=2).init(params)
    shapes = jax.tree.map(lambda v: v.shape, state.nu)
    assert shapes["block"]["attn"]["query"]["kernel"] == (1, 2, 1)
    assert shapes["block"]["attn"]["value"]["kernel"] == (1, 2, 4)
    assert shapes["embed"]["embedding"] == (11, 1)
    assert shapes["block"]["LayerNorm_0"]["scale"] == (1,)


def test_query_kernel_needs_num_heads():
    with pytest.raises(ValueError, match="num_heads"):
        scale_by_adam_mini().init({"attn": {"query": {"kernel": jnp.zeros((4, 4))}}})
    with pytest.raises(ValueError, match="num_heads"):
        scale_by_adam_mini(num_heads=3).init({"attn": {"query": {"kernel": jnp.zeros((4, 4))}}})


def test_one_step_per_head_matches_numpy():
    # Step 1 from zero state: v_B = (1 - b2) mean_B g^2, m = (1 - b1) g, and the step size
    # lr / (1 - b1) / (sqrt(v_B / (1 - b2)) + eps) = lr / (1 - b1) / (rms_B(g) + eps).
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    rng = np.random.default_rng(0)
    g = rng.standard_normal((3, 6))
    tx = scale_by_adam_mini(lr, b1, b2, eps, num_heads=2)
    with jax.enable_x64(True):
        params = {"attn": {"query": {"kernel": jnp.zeros((3, 6), jnp.float64)}}}
        updates, state = tx.update({"attn": {"query": {"kernel": jnp.asarray(g)}}},
                                   tx.init(params))
    heads = g.reshape(3, 2, 3)  # last axis split into 2 heads of 3 columns
    rms = np.sqrt(np.mean(heads**2, axis=(0, 2), keepdims=True))
    eta = lr / (1 - b1) / (rms + eps)
    expected = (eta * (1 - b1) * heads).reshape(3, 6)
    np.testing.assert_allclose(np.asarray(updates["attn"]["query"]["kernel"]), expected,
                               rtol=1e-13)
    # The record is the leaf's mean step size (float32); the two heads are equal-sized.
    record = state.effective_lr["attn"]["query"]["kernel"]
    assert record.shape == () and record.dtype == jnp.float32
    np.testing.assert_allclose(float(record), np.mean(eta), rtol=1e-6)


def test_default_mask_skips_norms_and_biases():
    params = {"mlp": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
              "LayerNorm_0": {"scale": jnp.ones(2)}}
    tx = adam_mini(learning_rate=0.1, weight_decay=0.5)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    # Zero gradients: the update is the decay alone, -lr * wd * theta, where it applies.
    np.testing.assert_allclose(np.asarray(updates["mlp"]["kernel"]), -0.05)
    np.testing.assert_array_equal(np.asarray(updates["mlp"]["bias"]), 0.0)
    np.testing.assert_array_equal(np.asarray(updates["LayerNorm_0"]["scale"]), 0.0)


def test_element_blocks_everywhere_is_adam():
    # With one block per entry, Adam-mini is Adam with eps added to sqrt(v_hat) (Optax's Adam).
    tx = adam_mini(learning_rate=1e-2, partition=lambda path, shape: Block.element(len(shape)))
    reference = optax.adam(1e-2)
    with jax.enable_x64(True):
        def run(tx):
            params = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
            state = tx.init(params)
            for _ in range(30):
                grads = jax.tree.map(lambda x: x - jnp.arange(x.size).reshape(x.shape), params)
                updates, state = tx.update(grads, state, params)
                params = optax.apply_updates(params, updates)
            return params

        ours, theirs = run(tx), run(reference)
    for k in ours:
        np.testing.assert_allclose(np.asarray(ours[k]), np.asarray(theirs[k]), rtol=1e-12)
