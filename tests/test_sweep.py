"""Tests for adaptlr.sweep: sharded/vmapped sweeps against closed forms and sequential runs."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr import sweep as sweep_module
from adaptlr.sweep import evaluation_steps, sweep, train_sweep, use_host_devices

# A diagonal quadratic f(w) = 0.5 * sum(h * w**2): gradient descent with step lr multiplies
# coordinate i by (1 - lr * h_i) at every step, so everything below has a closed form.
H = np.array([1.0, 4.0], np.float32)
W0 = np.array([1.0, -0.5], np.float32)


def quadratic(w, batch):
    del batch
    return 0.5 * jnp.sum(jnp.asarray(H) * w**2)


def init_w0(key):
    del key
    return jnp.asarray(W0)


def sgd_injected(hp):
    return optax.inject_hyperparams(optax.sgd)(learning_rate=hp["learning_rate"])


def no_batch(step, key):
    del step, key
    return None


def closed_form_w(lr, t):
    return W0 * (1.0 - lr * H) ** t


def closed_form_loss(lr, t):
    return 0.5 * np.sum(H * closed_form_w(lr, t) ** 2)


def test_eight_devices_are_visible():
    # conftest forces 8 host devices; the sharding tests below are meaningless without them.
    assert len(jax.devices()) == 8


@pytest.mark.parametrize("k", [1, 5, 8, 13])
def test_sweep_sharded_equals_unsharded_and_python_loop(k):
    def train_one(config):
        x = config["x"]

        # Something with a loop and a nonlinearity, so that the result is not trivially linear.
        def body(c, _):
            return jnp.sin(c) * config["a"] + x, None

        return {"y": jax.lax.scan(body, x, None, length=7)[0], "x2": x * 2}

    rng = np.random.default_rng(0)
    configs = {
        "x": rng.normal(size=(k, 3)).astype(np.float32),
        "a": rng.uniform(size=(k,)).astype(np.float32),
    }
    sharded = sweep(train_one, configs)
    single = sweep(train_one, configs, devices=jax.devices()[:1])
    expected = [jax.jit(train_one)({"x": configs["x"][i], "a": configs["a"][i]}) for i in range(k)]
    assert sharded["y"].shape == (k, 3)
    np.testing.assert_allclose(sharded["y"], single["y"], rtol=1e-6)
    np.testing.assert_allclose(
        sharded["y"], np.stack([e["y"] for e in expected]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(sharded["x2"], configs["x"] * 2)


@pytest.mark.parametrize("vmap_size", ["auto", None, 1, 2, 3, 100])
def test_sweep_loop_and_vmap_inside_a_device_agree(vmap_size):
    # 21 configurations padded to 24 on 8 devices: 3 per device, so vmap_size 2 mixes a vmapped
    # batch and a remainder inside lax.map.
    def train_one(c):
        def body(x, _):
            return jnp.tanh(x * c["a"]) + c["b"], None

        return jax.lax.scan(body, c["b"], None, length=5)[0]

    rng = np.random.default_rng(3)
    configs = {
        "a": rng.normal(size=21).astype(np.float32),
        "b": rng.normal(size=(21, 2)).astype(np.float32),
    }
    out = sweep(train_one, configs, vmap_size=vmap_size)
    expected = np.stack(
        [jax.jit(train_one)({"a": configs["a"][i], "b": configs["b"][i]}) for i in range(21)]
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_default_vmap_size_loops_on_cpu():
    assert sweep_module._default_vmap_size(jax.devices()) == 1


def test_sweep_output_is_sharded_over_all_devices():
    out = sweep(lambda c: c * 2.0, jnp.arange(16.0))
    assert len(out.sharding.device_set) == 8
    np.testing.assert_array_equal(out, np.arange(16.0) * 2)


@pytest.mark.parametrize("chunk_size", [1, 8, 9, 16])
def test_sweep_chunks_give_the_same_result(chunk_size):
    configs = np.linspace(0.0, 1.0, 21).astype(np.float32)
    out = sweep(lambda c: jnp.exp(c) + c**2, configs, chunk_size=chunk_size)
    np.testing.assert_allclose(out, np.exp(configs) + configs**2, rtol=1e-6)


def test_plan_makes_equal_chunks_that_are_multiples_of_the_device_count():
    # 21 configs on 8 devices: 3 per device; at most 16 per chunk -> 2 chunks of 2 per device.
    assert sweep_module._plan(21, 8, 16) == (16, 2)
    assert sweep_module._plan(21, 8, 21) == (24, 1)
    assert sweep_module._plan(21, 8, 1) == (8, 3)  # never below one per device
    assert sweep_module._plan(3, 8, 100) == (8, 1)
    # 100 configs on 4 devices, 10 per device at most -> 25 per device in 3 chunks of 9.
    assert sweep_module._plan(100, 4, 40) == (36, 3)


def test_max_chunk_for_memory():
    # 4 configs per device need 400 B -> 100 B each; 70% of 1000 B free fits 7 per device.
    assert sweep_module._max_chunk_for_memory(400.0, 4, 1000.0, 8) == 56
    # Even one config that does not fit is tried alone (one per device).
    assert sweep_module._max_chunk_for_memory(4000.0, 1, 10.0, 8) == 8


def test_sweep_chunks_automatically_when_memory_is_short(monkeypatch):
    calls = []
    real_plan = sweep_module._plan

    def spy(k, n, max_chunk):
        calls.append(max_chunk)
        return real_plan(k, n, max_chunk)

    monkeypatch.setattr(sweep_module, "_plan", spy)
    monkeypatch.setattr(sweep_module, "_free_bytes_per_device", lambda devices: 1.0)
    configs = np.arange(32, dtype=np.float32)
    out = sweep(lambda c: jnp.full((1000,), c).sum(), configs)
    np.testing.assert_allclose(out, configs * 1000)
    assert calls == [32, 8]  # first the whole sweep, then one configuration per device


def test_sweep_rejects_bad_arguments():
    with pytest.raises(ValueError, match="chunk_size"):
        sweep(lambda c: c, np.zeros(3), chunk_size=0)
    with pytest.raises(ValueError, match="leading"):
        sweep(lambda c: c, {"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="devices"):
        sweep(lambda c: c, np.zeros(3), devices=[])
    for bad in (0, "fast", 1.5):
        with pytest.raises(ValueError, match="vmap_size"):
            sweep(lambda c: c, np.zeros(3), vmap_size=bad)


# --------------------------------------------------------------------------------------------
# train_sweep
# --------------------------------------------------------------------------------------------


def test_train_sweep_matches_closed_form_gradient_descent():
    lrs = np.array([0.05, 0.1, 0.2, 0.3, 0.45], np.float32)  # all stable: lr < 2 / max(H) = 0.5
    steps = 12
    result = train_sweep(
        quadratic, init_w0, sgd_injected, {"learning_rate": lrs}, np.arange(5), no_batch, steps
    )
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(result.params[i], closed_form_w(lr, steps), rtol=1e-4, atol=1e-6)
        # The loss of step t is measured at w_t, before the update.
        np.testing.assert_allclose(
            result.losses[i], [closed_form_loss(lr, t) for t in range(steps)], rtol=1e-4
        )
    np.testing.assert_allclose(result.effective_lr, np.repeat(lrs[:, None], steps, 1))
    assert not result.diverged.any()
    np.testing.assert_array_equal(result.diverged_at, -1)
    assert result.eval_metrics == {}


def test_train_sweep_records_block_means_and_evaluations():
    lrs = np.array([0.1, 0.3], np.float32)
    steps, record_every, eval_every = 10, 2, 4

    def eval_fn(params, opt_state):
        # InjectHyperparamsState counts the updates: it must equal the evaluation step.
        return {"loss": quadratic(params, None), "count": opt_state.count}

    result = train_sweep(
        quadratic,
        init_w0,
        sgd_injected,
        {"learning_rate": lrs},
        np.arange(2),
        no_batch,
        steps,
        eval_fn=eval_fn,
        eval_every=eval_every,
        record_every=record_every,
    )
    marks = evaluation_steps(steps, eval_every)
    assert marks == [4, 8, 10]
    assert result.losses.shape == (2, 5)
    assert result.eval_metrics["loss"].shape == (2, 3)
    for i, lr in enumerate(lrs):
        per_step = np.array([closed_form_loss(lr, t) for t in range(steps)])
        np.testing.assert_allclose(result.losses[i], per_step.reshape(5, 2).mean(1), rtol=1e-4)
        np.testing.assert_allclose(
            result.eval_metrics["loss"][i], [closed_form_loss(lr, t) for t in marks], rtol=1e-4
        )
        np.testing.assert_array_equal(result.eval_metrics["count"][i], marks)


def test_train_sweep_unrecorded_tail_steps_are_still_trained():
    lrs = np.array([0.1], np.float32)
    result = train_sweep(
        quadratic,
        init_w0,
        sgd_injected,
        {"learning_rate": lrs},
        np.arange(1),
        no_batch,
        7,
        record_every=3,
        eval_fn=lambda p, s: {"loss": quadratic(p, None)},
    )
    assert result.losses.shape == (1, 2)
    np.testing.assert_allclose(result.params[0], closed_form_w(0.1, 7), rtol=1e-5)
    np.testing.assert_allclose(
        result.eval_metrics["loss"][0], [closed_form_loss(0.1, 7)], rtol=1e-4
    )


def test_divergence_is_masked_without_touching_other_configurations():
    # lr = 0.6 > 2 / 4: the second coordinate is multiplied by 1 - 0.6 * 4 = -1.4 per step, so
    # the loss is 0.5 * 0.4**(2t) + 0.5 * 1.96**t: 7.4 at t = 4 and 14.5 at t = 5, the first
    # value above 10 * initial loss (1.0). lr = 1e30 gives a finite but huge first update
    # (2e30) and an infinite loss at t = 1.
    lrs = np.array([0.1, 0.6, 0.3, 1e30], np.float32)
    result = train_sweep(
        quadratic,
        init_w0,
        sgd_injected,
        {"learning_rate": lrs},
        np.arange(4),
        no_batch,
        20,
        divergence_factor=10.0,
    )
    losses_06 = [closed_form_loss(0.6, t) for t in range(20)]
    first_bad = next(t for t, v in enumerate(losses_06) if v > 10.0 * losses_06[0])
    assert first_bad == 5
    assert result.diverged.tolist() == [False, True, False, True]
    assert result.diverged_at.tolist() == [-1, 5, -1, 1]
    # Frozen at the parameters that produced the bad loss.
    np.testing.assert_allclose(result.params[1], closed_form_w(0.6, 5), rtol=1e-4)
    assert np.isnan(result.losses[1, 5:]).all()
    np.testing.assert_allclose(result.losses[1, :5], losses_06[:5], rtol=1e-4)
    # The healthy configurations are exactly what they are when run alone.
    alone = train_sweep(
        quadratic,
        init_w0,
        sgd_injected,
        {"learning_rate": lrs[[0, 2]]},
        np.arange(2),
        no_batch,
        20,
        divergence_factor=10.0,
    )
    np.testing.assert_array_equal(np.asarray(result.params)[[0, 2]], alone.params)
    np.testing.assert_array_equal(np.asarray(result.losses)[[0, 2]], alone.losses)


def test_nan_in_one_configuration_does_not_poison_the_rest():
    # The configuration with poison = 1 gets a NaN update from its 4th update (count 3) on.
    def poison_from_step_3(poison):
        def init_fn(params):
            return optax.ScaleByScheduleState(count=jnp.zeros((), jnp.int32))

        def update_fn(updates, state, params=None):
            bad = (poison > 0) & (state.count >= 3)
            updates = jax.tree.map(lambda u: jnp.where(bad, jnp.nan, u), updates)
            return updates, optax.ScaleByScheduleState(count=state.count + 1)

        return optax.GradientTransformation(init_fn, update_fn)

    def make_optimizer(hp):
        return optax.chain(
            poison_from_step_3(hp["poison"]), optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
        )

    result = train_sweep(
        quadratic,
        init_w0,
        make_optimizer,
        {"poison": np.array([0, 1, 0], np.int32)},
        np.arange(3),
        no_batch,
        8,
    )
    assert result.diverged.tolist() == [False, True, False]
    assert result.diverged_at.tolist() == [-1, 3, -1]
    for i in (0, 2):
        np.testing.assert_allclose(result.params[i], closed_form_w(0.1, 8), rtol=1e-5)
        assert np.isfinite(result.losses[i]).all()
    # Frozen before the NaN update reached the parameters: w_3 stays finite.
    np.testing.assert_allclose(result.params[1], closed_form_w(0.1, 3), rtol=1e-5)
    np.testing.assert_allclose(
        result.losses[1, :3], [closed_form_loss(0.1, t) for t in range(3)], rtol=1e-5
    )
    assert np.isnan(result.losses[1, 3:]).all()


def test_train_sweep_matches_sequential_adam_with_data_and_seeds():
    # A least-squares problem with minibatches from dynamic_slice and random init per seed,
    # compared with a plain Python loop over optax.adam for each configuration.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x @ rng.normal(size=5) + 0.1 * rng.normal(size=64)).astype(np.float32)
    batch_size, steps = 16, 15

    def loss_fn(w, batch):
        xb, yb = batch
        return jnp.mean((xb @ w - yb) ** 2), {"unused": 0.0}

    def init_fn(key):
        return jax.random.normal(key, (5,))

    def batch_fn(step, key):
        start = (step * batch_size) % 64
        return (
            jax.lax.dynamic_slice_in_dim(jnp.asarray(x), start, batch_size),
            jax.lax.dynamic_slice_in_dim(jnp.asarray(y), start, batch_size),
        )

    def make_optimizer(hp):
        return optax.inject_hyperparams(optax.adam)(learning_rate=hp["learning_rate"], b1=hp["b1"])

    lrs = np.array([1e-2, 3e-2, 1e-1], np.float32)
    b1s = np.array([0.9, 0.5, 0.0], np.float32)
    seeds = np.array([3, 4, 5])
    result = train_sweep(
        loss_fn, init_fn, make_optimizer, {"learning_rate": lrs, "b1": b1s}, seeds, batch_fn, steps
    )
    for i in range(3):
        init_key, data_key = jax.random.split(jax.random.key(seeds[i]))
        w = init_fn(init_key)
        tx = optax.adam(float(lrs[i]), b1=float(b1s[i]))
        state = tx.init(w)
        losses = []
        for t in range(steps):
            (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(w, batch_fn(t, data_key))
            losses.append(float(loss))
            u, state = tx.update(g, state, w)
            w = optax.apply_updates(w, u)
        np.testing.assert_allclose(result.params[i], w, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.losses[i], losses, rtol=1e-4)
        np.testing.assert_allclose(result.effective_lr[i], lrs[i])


def test_train_sweep_gives_every_step_its_own_batch_key():
    # loss(w, b) = -<w, b> and SGD with learning rate 1 add the batch to w at every step, so
    # the final w is w0 + sum_t b_t with b_t = normal(fold_in(data_key, t)): the natural
    # `lambda step, key: sample(key)` must see a new key, hence a new batch, at every step.
    steps = 4
    result = train_sweep(
        lambda w, b: -jnp.vdot(w, b),
        lambda key: jnp.zeros(3),
        lambda hp: optax.sgd(1.0),
        {},
        np.array([7, 8]),
        lambda step, key: jax.random.normal(key, (3,)),
        steps,
        divergence_factor=float("inf"),  # the loss starts at 0 and is unbounded below
    )
    assert not result.diverged.any()
    for i, seed in enumerate((7, 8)):
        _, data_key = jax.random.split(jax.random.key(seed))
        batches = [np.asarray(jax.random.normal(jax.random.fold_in(data_key, t), (3,)))
                   for t in range(steps)]
        assert not np.allclose(batches[0], batches[1])
        np.testing.assert_allclose(result.params[i], np.sum(batches, axis=0), rtol=1e-5)


def test_step_key_is_fold_in():
    key = jax.random.key(3)
    for step in (0, 5):
        np.testing.assert_array_equal(
            jax.random.key_data(sweep_module.step_key(key, step)),
            jax.random.key_data(jax.random.fold_in(key, step)))


def test_train_sweep_passes_the_loss_to_value_methods():
    # optax.polyak_sgd(scaling=s) is chain(sgd(s), scale_by_polyak): the Polyak step is taken
    # on the already scaled gradient u = -s g, so w <- w - s * min(1, loss / |s g|^2) * g.
    # Compared with a NumPy loop.
    def make_optimizer(hp):
        return optax.polyak_sgd(max_learning_rate=1.0, scaling=hp["scaling"])

    scalings = np.array([0.5, 1.0], np.float32)
    result = train_sweep(
        quadratic,
        init_w0,
        make_optimizer,
        {"scaling": scalings},
        np.arange(2),
        no_batch,
        6,
        needs_value=True,
    )
    for i, s in enumerate(scalings):
        w = W0.astype(np.float64)
        for _ in range(6):
            loss = 0.5 * np.sum(H * w**2)
            g = H * w
            w = w - s * min(1.0, loss / (s**2 * np.sum(g**2))) * g
        np.testing.assert_allclose(result.params[i], w, rtol=1e-4)
    assert result.effective_lr == {}


def test_train_sweep_effective_lr_of_several_records_is_a_dict():
    def make_optimizer(hp):
        return optax.multi_transform(
            {
                "a": optax.inject_hyperparams(optax.sgd)(learning_rate=hp["learning_rate"]),
                "b": optax.inject_hyperparams(optax.sgd)(learning_rate=2 * hp["learning_rate"]),
            },
            {"u": "a", "v": "b"},
        )

    def loss_fn(p, batch):
        return jnp.sum(p["u"] ** 2) + jnp.sum(p["v"] ** 2)

    result = train_sweep(
        loss_fn,
        lambda k: {"u": jnp.ones(2), "v": jnp.ones(3)},
        make_optimizer,
        {"learning_rate": np.array([0.1, 0.2], np.float32)},
        np.arange(2),
        no_batch,
        4,
        record_every=2,
    )
    assert set(result.effective_lr) == {"a", "b"}  # the group names
    np.testing.assert_allclose(result.effective_lr["b"], [[0.2, 0.2], [0.4, 0.4]], rtol=1e-6)


def test_train_sweep_chunked_and_single_device_agree_with_default():
    lrs = np.geomspace(0.01, 0.45, 11).astype(np.float32)
    kwargs = dict(
        loss_fn=quadratic,
        init_fn=init_w0,
        make_optimizer=sgd_injected,
        hyperparams={"learning_rate": lrs},
        seeds=np.arange(11),
        batch_fn=no_batch,
        steps=5,
    )
    default = train_sweep(**kwargs)
    chunked = train_sweep(**kwargs, chunk_size=3)
    single = train_sweep(**kwargs, devices=jax.devices()[:1])
    vectorised = train_sweep(**kwargs, devices=jax.devices()[:1], vmap_size=None)
    for other in (chunked, single, vectorised):
        np.testing.assert_allclose(other.params, default.params, rtol=1e-6)
        np.testing.assert_allclose(other.losses, default.losses, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"record_every": 0}, "record_every"),
        ({"record_every": 6}, "record_every"),
        ({"eval_every": -1}, "eval_every"),
        ({"eval_every": 3, "record_every": 2}, "eval_every"),
        ({"divergence_factor": 1.0}, "divergence_factor"),
        ({"seeds": np.zeros((2, 2), np.int32)}, "seeds"),
        ({"seeds": np.zeros(2, np.float32)}, "seeds"),
        ({"hyperparams": {"learning_rate": np.zeros(3, np.float32)}}, "hyperparams"),
    ],
)
def test_train_sweep_rejects_bad_arguments(kwargs, name):
    args = dict(
        loss_fn=quadratic,
        init_fn=init_w0,
        make_optimizer=sgd_injected,
        hyperparams={"learning_rate": np.array([0.1, 0.2], np.float32)},
        seeds=np.arange(2),
        batch_fn=no_batch,
        steps=5,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        train_sweep(**args)


# --------------------------------------------------------------------------------------------
# use_host_devices
# --------------------------------------------------------------------------------------------


def test_use_host_devices_validates_and_refuses_after_start():
    with pytest.raises(ValueError, match="n must be"):
        use_host_devices(0)
    with pytest.raises(ValueError, match="n must be"):
        use_host_devices(2.0)  # type: ignore[arg-type]
    use_host_devices(8)  # what is already running: nothing to do
    with pytest.raises(RuntimeError, match="already initialised"):
        use_host_devices(3)


def test_use_host_devices_sets_the_flag_before_jax_starts():
    code = (
        "from adaptlr.sweep import use_host_devices\n"
        "use_host_devices(3)\n"
        "import jax\n"
        "print(len(jax.devices()))\n"
    )
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=5",
        "JAX_PLATFORMS": "cpu",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "3"


# --------------------------------------------------------------------------------------------
# Several processes (jax.distributed on localhost, CPU collectives)
# --------------------------------------------------------------------------------------------


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


# Two JAX processes start and compile (about 15 s); the single-process sweeps above cover the
# sharded path in the default suite.
@pytest.mark.slow
def test_two_processes_give_the_single_process_result(tmp_path):
    from tests.sweep_multiprocess_worker import problem

    worker = os.path.join(os.path.dirname(__file__), "sweep_multiprocess_worker.py")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [
        subprocess.Popen(
            [sys.executable, worker, str(i), "2", str(port), str(tmp_path / f"out{i}.npz")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=300)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)

    here = train_sweep(**problem())
    unsharded = train_sweep(**problem(), devices=jax.devices()[:1])
    assert here.diverged.tolist() == [False] * 6 + [True]
    for i in range(2):
        out = np.load(tmp_path / f"out{i}.npz")
        assert int(out["devices"]) == 4  # 2 processes x 2 CPU devices in one mesh
        for reference in (here, unsharded):
            np.testing.assert_allclose(out["params"], reference.params, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(out["losses"], reference.losses, rtol=1e-5)
            np.testing.assert_allclose(out["eval_loss"], reference.eval_metrics["loss"], rtol=1e-5)
            np.testing.assert_allclose(out["effective_lr"], reference.effective_lr, rtol=1e-6)
            np.testing.assert_array_equal(out["diverged"], reference.diverged)
            np.testing.assert_array_equal(out["diverged_at"], reference.diverged_at)


def test_docstring_examples_run():
    import doctest

    import adaptlr.sweep

    failures, tried = doctest.testmod(adaptlr.sweep, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0
