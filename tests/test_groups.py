"""Tests for ``adaptlr.groups`` with real Flax models (NNX and Linen).

Reference numbers: each group's update is compared with the same Optax optimizer built by hand
with that group's hyperparameters and applied to that group's parameters alone (Adam, AdamW
and SGD are per-leaf, so this is exact), and with closed forms (``-lr * m * g`` for SGD).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from flax import nnx

import adaptlr
from adaptlr import groups as G

# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class LinenNet(nn.Module):
    """Embedding, two named blocks, a final norm and a head (Linen naming)."""

    @nn.compact
    def __call__(self, tokens):
        h = nn.Embed(11, 8, name="embed")(tokens)
        for i in range(2):
            h = h + jnp.tanh(nn.Dense(8, name=f"layers_{i}")(h))
        h = nn.LayerNorm(name="final_norm")(h)
        return jnp.sum(nn.Dense(3, name="head")(h) ** 2)


class NNXNet(nnx.Module):
    """The same architecture in NNX (blocks in an ``nnx.List``)."""

    def __init__(self, rngs):
        self.embed = nnx.Embed(11, 8, rngs=rngs)
        self.layers = nnx.List([nnx.Linear(8, 8, rngs=rngs) for _ in range(2)])
        self.final_norm = nnx.LayerNorm(8, rngs=rngs)
        self.head = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, tokens):
        h = self.embed(tokens)
        for layer in self.layers:
            h = h + jnp.tanh(layer(h))
        return jnp.sum(self.head(self.final_norm(h)) ** 2)


TOKENS = jnp.asarray([1, 4, 7, 2])


def linen_setup():
    model = LinenNet()
    params = model.init(jax.random.key(0), TOKENS)
    grads = jax.grad(lambda p: model.apply(p, TOKENS))(params)
    return params, grads


def paths(tree):
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {adaptlr.param_path(p): leaf for p, leaf in flat}


# --------------------------------------------------------------------------------------------
# Routing and numerics (Linen)
# --------------------------------------------------------------------------------------------


def test_linen_paths_and_labels():
    params, _ = linen_setup()
    tx = adaptlr.param_groups(
        [adaptlr.group("*/bias", weight_decay=False, name="no_decay"),
         adaptlr.group(re.compile(r"^params/head/"), lr_scale=10.0, name="head"),
         adaptlr.group("params/embed/*", transform=optax.set_to_zero(), name="frozen")],
        optax.adamw, learning_rate=1e-2, weight_decay=0.1)
    labels = adaptlr.group_labels(params, tx)
    assert labels == {
        "params/embed/embedding": "frozen",
        "params/final_norm/bias": "no_decay",
        "params/final_norm/scale": "default",
        "params/head/bias": "no_decay",  # first match wins
        "params/head/kernel": "head",
        "params/layers_0/bias": "no_decay",
        "params/layers_0/kernel": "default",
        "params/layers_1/bias": "no_decay",
        "params/layers_1/kernel": "default",
    }


def test_linen_updates_match_per_group_optimizers():
    params, _ = linen_setup()
    lr, wd = 1e-2, 0.1
    tx = adaptlr.param_groups(
        [adaptlr.group("*/bias", weight_decay=False, name="no_decay"),
         adaptlr.group("params/head/*", lr_scale=10.0, weight_decay=0.5, name="head"),
         adaptlr.group("params/embed/*", transform=optax.set_to_zero(), name="frozen")],
        optax.adamw, learning_rate=lr, weight_decay=wd)
    state = tx.init(params)
    update = jax.jit(tx.update)
    p = params
    reference = {
        "no_decay": optax.adamw(lr, weight_decay=0.0),
        "head": optax.adamw(10 * lr, weight_decay=0.5),
        "default": optax.adamw(lr, weight_decay=wd),
    }
    labels = adaptlr.group_labels(params, tx)
    ref_params = paths(params)
    ref_states = {k: reference[v].init(ref_params[k]) for k, v in labels.items() if v != "frozen"}
    for _ in range(3):
        g = jax.grad(lambda q: LinenNet().apply(q, TOKENS))(p)
        updates, state = update(g, state, p)
        flat_g, flat_u = paths(g), paths(updates)
        for path, label in labels.items():
            if label == "frozen":
                np.testing.assert_array_equal(flat_u[path], 0.0)
                continue
            ref_u, ref_states[path] = reference[label].update(
                flat_g[path], ref_states[path], ref_params[path])
            np.testing.assert_allclose(flat_u[path], ref_u, rtol=1e-6, atol=1e-9)
            ref_params[path] = ref_params[path] + ref_u
        p = optax.apply_updates(p, updates)


def test_sgd_lr_scale_closed_form_and_ready_transformation_default():
    params, grads = linen_setup()
    rules = [adaptlr.group("params/head/*", lr_scale=0.25, name="head")]
    for tx in (adaptlr.param_groups(rules, optax.sgd, learning_rate=0.2),
               adaptlr.param_groups(rules, optax.sgd(0.2))):
        updates, _ = tx.update(grads, tx.init(params))
        for path, u in paths(updates).items():
            scale = 0.25 if path.startswith("params/head/") else 1.0
            np.testing.assert_allclose(u, -0.2 * scale * paths(grads)[path], rtol=1e-6)


# --------------------------------------------------------------------------------------------
# NNX, schedules per group, effective_lr per group
# --------------------------------------------------------------------------------------------


def test_nnx_optimizer_with_groups_schedules_and_effective_lr():
    model = NNXNet(nnx.Rngs(0))
    sched = adaptlr.wsd_schedule(0.1, 6, warmup_steps=2, decay_steps=2)
    tx = adaptlr.param_groups(
        [adaptlr.group("embed/*", transform=optax.set_to_zero(), name="frozen"),
         adaptlr.group("head/*", lr_scale=3.0, name="head")],
        optax.inject_hyperparams(optax.sgd), learning_rate=sched)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    frozen = np.asarray(model.embed.embedding[...])

    @nnx.jit
    def train_step(model, optimizer):
        grads = nnx.grad(lambda m: m(TOKENS))(model)
        optimizer.update(model, grads)
        return grads

    for step in range(6):
        head_before = np.asarray(model.head.kernel[...])
        block_before = np.asarray(model.layers[1].kernel[...])
        grads = train_step(model, optimizer)
        lr = float(sched(step))
        np.testing.assert_allclose(np.asarray(model.head.kernel[...]),
                                   head_before - 3.0 * lr * np.asarray(grads.head.kernel[...]),
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(
            np.asarray(model.layers[1].kernel[...]),
            block_before - lr * np.asarray(grads.layers[1].kernel[...]), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(np.asarray(model.embed.embedding[...]), frozen)
        raw = adaptlr.effective_lrs(optimizer.opt_state)
        assert not any(isinstance(v, nnx.Variable) for v in raw.values())  # plain arrays
        records = {k: float(v) for k, v in raw.items()}
        # inject_hyperparams records the rate this update used: the group's scaled schedule.
        nxt = lr
        head_keys = [k for k in records if "/head/" in f"/{k}/"]
        default_keys = [k for k in records if "/default/" in f"/{k}/"]
        assert len(head_keys) == 1 and len(default_keys) == 1
        assert records[head_keys[0]] == pytest.approx(3.0 * nxt, rel=1e-6)
        assert records[default_keys[0]] == pytest.approx(nxt, rel=1e-6)


def test_effective_lr_keys_carry_group_names_with_adaptlr_records():
    params, grads = linen_setup()
    base = lambda learning_rate: optax.chain(  # noqa: E731
        optax.scale_by_adam(), adaptlr.scale_by_learning_rate(learning_rate))
    tx = adaptlr.param_groups([adaptlr.group("params/head/*", lr_scale=0.5, name="head")],
                              base, learning_rate=adaptlr.cosine_schedule(1e-2, 10))
    state = tx.init(params)
    _, state = tx.update(grads, state, params)
    records = adaptlr.effective_lrs(state)
    assert set(records) == {"default", "head"}
    assert float(records["head"]) == pytest.approx(0.5e-2)
    assert float(records["default"]) == pytest.approx(1e-2)
    by_path = adaptlr.effective_lrs(state, by="path")  # paths from Adam's moments
    assert by_path["params/head/kernel"] == pytest.approx(0.5e-2)
    assert by_path["params/layers_1/bias"] == pytest.approx(1e-2)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_rule_that_matches_nothing_raises_at_init_with_its_pattern():
    params, _ = linen_setup()
    tx = adaptlr.param_groups([adaptlr.group("params/haed/*", lr_scale=2.0)],
                              optax.sgd, learning_rate=0.1)
    with pytest.raises(ValueError, match=re.escape("'params/haed/*'")):
        tx.init(params)


def test_rule_shadowed_by_earlier_rules_raises_and_required_false_allows_it():
    params, _ = linen_setup()
    rules = [adaptlr.group("*", lr_scale=1.0, name="all"),
             adaptlr.group("*/bias", weight_decay=False, name="bias")]
    with pytest.raises(ValueError, match="taken by earlier rules"):
        adaptlr.param_groups(rules, optax.adamw, learning_rate=0.1).init(params)
    rules[1] = adaptlr.group("*/bias", weight_decay=False, name="bias", required=False)
    adaptlr.param_groups(rules, optax.adamw, learning_rate=0.1).init(params)


@pytest.mark.parametrize("kwargs,argument", [
    (dict(lr_scale=-1.0), "lr_scale"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(lr_scale=1.0, transform=optax.identity()), "transform"),
    (dict(), "lr_scale, weight_decay or transform"),
    (dict(lr_scale=1.0, name="default"), "name"),
])
def test_group_validation(kwargs, argument):
    with pytest.raises(ValueError, match=re.escape(argument)):
        adaptlr.group("*", **kwargs)


def test_param_groups_validation():
    with pytest.raises(ValueError, match="unique"):
        adaptlr.param_groups([adaptlr.group("a", lr_scale=1.0, name="x"),
                              adaptlr.group("b", lr_scale=1.0, name="x")], optax.sgd(0.1))
    with pytest.raises(ValueError, match="weight_decay needs default to be an optimizer factory"):
        adaptlr.param_groups([adaptlr.group("a", weight_decay=False)], optax.adamw(0.1))
    with pytest.raises(ValueError, match="lr_scale needs the default factory's learning_rate"):
        adaptlr.param_groups([adaptlr.group("a", lr_scale=2.0)], optax.adamw)
    with pytest.raises(ValueError, match="only accepted with a factory"):
        adaptlr.param_groups([], optax.sgd(0.1), learning_rate=0.1)
    with pytest.raises(ValueError, match="param_groups"):
        adaptlr.describe_groups({"w": jnp.ones(2)}, optax.sgd(0.1))


# --------------------------------------------------------------------------------------------
# describe_groups, layer-wise decay
# --------------------------------------------------------------------------------------------


def test_describe_groups_table():
    params, _ = linen_setup()
    tx = adaptlr.param_groups(
        [adaptlr.group("*/bias", weight_decay=False, name="no_decay"),
         adaptlr.group("params/head/*", lr_scale=10.0, name="head"),
         adaptlr.group("params/embed/*", transform=optax.set_to_zero(), name="frozen")],
        optax.adamw, learning_rate=1e-3, weight_decay=0.1)
    table = adaptlr.describe_groups(params, tx)
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:]}
    assert len(rows) == 9
    assert rows["params/embed/embedding"][1:] == ["(11,", "8)", "frozen", "params/embed/*",
                                                  "transform", "transform"]
    assert rows["params/head/kernel"][-4:] == ["head", "params/head/*", "10", "on"]
    assert rows["params/layers_0/bias"][-4:] == ["no_decay", "*/bias", "1", "off"]
    assert rows["params/final_norm/scale"][-4:] == ["default", "-", "1", "on"]


@pytest.mark.parametrize("path,layer", [
    ("params/embed/embedding", 0),
    ("params/Embed_0/embedding", 0),
    ("wte/embedding", 0),
    ("params/layers_0/kernel", 1),
    ("params/encoderblock_11/MlpBlock_0/Dense_0/kernel", 12),
    ("layers/1/kernel", 2),
    ("blocks/3/attn/qkv/kernel", 4),
    ("h_5/mlp/kernel", 6),
    ("params/head/kernel", None),
    ("params/final_norm/scale", None),
])
def test_infer_layer(path, layer):
    assert adaptlr.infer_layer(path) == layer


@pytest.mark.parametrize("setup", ["linen", "nnx"])
def test_layerwise_lr_decay_scales(setup):
    decay, num_layers, lr = 0.6, 2, 0.1
    if setup == "linen":
        params, grads = linen_setup()
    else:
        model = NNXNet(nnx.Rngs(1))
        params = nnx.state(model, nnx.Param)
        grads = nnx.grad(lambda m: m(TOKENS))(model)
    tx = adaptlr.param_groups(
        adaptlr.layerwise_lr_decay(decay, num_layers, no_weight_decay=re.compile(r"bias$")),
        optax.sgd, learning_rate=lr)
    updates, _ = tx.update(grads, tx.init(params))
    flat_u, flat_g = paths(updates), paths(grads)
    labels = adaptlr.group_labels(params, tx)
    for path, u in flat_u.items():
        # BEiT: layer i of L gets decay ** (L + 1 - i); embeddings are layer 0, the head L + 1.
        layer = adaptlr.infer_layer(path)
        exponent = 0 if layer is None else num_layers + 1 - layer
        np.testing.assert_allclose(u, -lr * decay**exponent * flat_g[path], rtol=1e-6,
                                   err_msg=path)
        if path.endswith("bias"):
            # The head's bias (layer None: the top, L + 1) is exempt from weight decay too.
            top = num_layers + 1
            assert labels[path] == f"layer_{top if layer is None else layer}_no_decay"


def test_layerwise_weight_decay_exemption_applies_in_every_layer():
    params, grads = linen_setup()
    # Linen's biases start at zero, where weight decay is invisible: shift every parameter.
    params = jax.tree.map(lambda p: p + 0.5, params)
    tx = adaptlr.param_groups(
        adaptlr.layerwise_lr_decay(0.5, 2, no_weight_decay="*/bias"),
        optax.adamw, learning_rate=0.1, weight_decay=0.3)
    updates, _ = tx.update(grads, tx.init(params), params)
    for path, u in paths(updates).items():
        layer = adaptlr.infer_layer(path)
        scale = 1.0 if layer is None else 0.5 ** (3 - layer)
        wd = 0.0 if path.endswith("/bias") else 0.3  # the head's bias too
        ref_tx = optax.adamw(0.1 * scale, weight_decay=wd)
        ref, _ = ref_tx.update(paths(grads)[path], ref_tx.init(paths(params)[path]),
                               paths(params)[path])
        np.testing.assert_allclose(u, ref, rtol=1e-6, atol=1e-9, err_msg=path)


def head_and_body():
    params = {"body": {"w": jnp.array([1.0, -2.0, 0.5])}, "head": {"w": jnp.array([0.3, 4.0])}}
    grads = {"body": {"w": jnp.array([0.2, -0.1, 0.4])}, "head": {"w": jnp.array([-0.5, 0.1])}}
    return params, grads


def run_alone(tx, params, grads, steps=3):
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_lr_scale_with_a_learning_rate_free_method_reads_its_default():
    # prodigy's learning_rate defaults to 1.0: the head group is prodigy(learning_rate=0.1)
    # on the head alone (Prodigy's d is estimated per group), the rest prodigy() as is.
    params, grads = head_and_body()
    tx = adaptlr.param_groups([adaptlr.group("head/*", lr_scale=0.1, name="head")],
                              adaptlr.prodigy)
    grouped = run_alone(tx, params, grads)
    head = run_alone(adaptlr.prodigy(learning_rate=0.1), params["head"], grads["head"])
    body = run_alone(adaptlr.prodigy(), params["body"], grads["body"])
    np.testing.assert_allclose(grouped["head"]["w"], head["w"], rtol=1e-6)
    np.testing.assert_allclose(grouped["body"]["w"], body["w"], rtol=1e-6)
    # The same through inject_hyperparams (the signature is read through the wrapper).
    tx = adaptlr.param_groups([adaptlr.group("head/*", lr_scale=0.1, name="head")],
                              optax.inject_hyperparams(adaptlr.prodigy))
    np.testing.assert_allclose(run_alone(tx, params, grads)["head"]["w"], head["w"], rtol=1e-6)


def test_lr_scale_uses_the_registered_learning_rate_argument_or_scales_the_update():
    params, grads = head_and_body()
    # SPS's learning rate is max_lr (default 1.0): the head gets max_lr = 0.25.
    tx = adaptlr.param_groups([adaptlr.group("head/*", lr_scale=0.25, name="head")], adaptlr.sps)
    state = tx.init(params)
    loss = jnp.asarray(5.0)
    updates, _ = tx.update(grads, state, params, value=loss)
    reference = adaptlr.sps(max_lr=0.25)
    expected, _ = reference.update(grads["head"], reference.init(params["head"]), params["head"],
                                   value=loss)
    np.testing.assert_allclose(updates["head"]["w"], expected["w"], rtol=1e-6)
    # COCOB has no learning rate: lr_scale scales its update.
    tx = adaptlr.param_groups([adaptlr.group("head/*", lr_scale=0.5, name="head")], adaptlr.cocob)
    updates, _ = tx.update(grads, tx.init(params), params)
    reference = adaptlr.cocob()
    expected, _ = reference.update(grads["head"], reference.init(params["head"]), params["head"])
    np.testing.assert_allclose(updates["head"]["w"], 0.5 * expected["w"], rtol=1e-6)


def test_layerwise_validation():
    with pytest.raises(ValueError, match="decay"):
        adaptlr.layerwise_lr_decay(0.0, 2)
    with pytest.raises(ValueError, match="decay"):
        adaptlr.layerwise_lr_decay(1.5, 2)
    with pytest.raises(ValueError, match="num_layers"):
        adaptlr.layerwise_lr_decay(0.5, -1)
    rules = adaptlr.layerwise_lr_decay(0.5, 0)  # the Linen net has two blocks
    params, _ = linen_setup()
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        adaptlr.param_groups(rules, optax.sgd, learning_rate=0.1).init(params)


def test_import_adaptlr_does_not_import_flax():
    import subprocess
    import sys

    code = "import sys, adaptlr; assert 'flax' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "ok"
    assert G.DEFAULT_GROUP == "default"


def test_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(G, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0


def test_groups_page_examples_run_and_print_what_the_page_shows():
    import contextlib
    import io
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "groups.md"
    text = page.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 4
    shown = re.search(r"prints\n\n```\n(.*?)```", text, flags=re.S)
    assert shown is not None
    for i, block in enumerate(blocks):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"{page}#{i}", "exec"), {})
        if i == 0:  # the describe_groups table under the first example
            assert out.getvalue() == shown.group(1)
