"""Tasks: pure pieces with the right shapes, closed forms where there are some, and learning."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from adaptlr.benchmarks import models, tasks


# The transformer compiles for about 10 s; its causality test below stays in the default suite.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n == "char_transformer" else n
    for n in tasks.task_names()])
def test_task_pieces_are_consistent_and_vmap_over_seeds(name):
    # The Transformer at its default size only costs compile time here: shrink it.
    small = {"char_transformer": {"width": 16, "context": 16}}.get(name, {})
    task = tasks.get_task(name, **small)
    keys = jax.random.split(jax.random.key(0), 2)
    both = jax.vmap(task.init_fn)(keys)
    assert any(not np.array_equal(leaf[0], leaf[1]) for leaf in jax.tree.leaves(both))
    params = jax.tree.map(lambda leaf: leaf[0], both)
    batch = task.batch_fn(jnp.asarray(3), jax.random.key(1))
    loss = jax.jit(task.loss_fn)(params, batch)
    assert loss.shape == () and np.isfinite(loss)
    metrics = jax.jit(task.eval_fn)(params)
    assert task.metric in metrics
    assert all(np.shape(v) == () and np.isfinite(v) for v in metrics.values())
    assert task.steps % task.eval_every == 0


def test_quadratic_gradient_descent_matches_closed_form():
    task = tasks.get_task("quadratic", dim=5, condition_number=10.0, steps=4, eval_every=4)
    lr = 0.7
    result = tasks.train(task, optax.sgd(lr), seed=3)
    x0 = np.asarray(task.init_fn(jax.random.split(jax.random.key(3))[0]), np.float64)
    a = np.asarray(jax.jacfwd(jax.grad(task.loss_fn))(jnp.zeros(5), None), np.float64)
    np.testing.assert_allclose(np.linalg.eigvalsh(a), np.logspace(-1, 0, 5), rtol=1e-4)
    x = x0
    for _ in range(4):
        x = x - lr * a @ x
    np.testing.assert_allclose(result.params, x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.evals["loss"][-1], 0.5 * x @ a @ x, rtol=1e-4)


def test_noisy_quadratic_gradient_noise_has_covariance_h_over_batch():
    task = tasks.get_task("noisy_quadratic", dim=4, batch_size=8)
    x = jnp.asarray([1.0, -2.0, 0.5, 3.0])
    key = jax.random.key(0)
    grads = jax.vmap(lambda s: jax.grad(task.loss_fn)(
        x, task.batch_fn(s, jax.random.fold_in(key, s))))(jnp.arange(20000))
    h = 1.0 / np.arange(1, 5)
    np.testing.assert_allclose(grads.mean(0), h * np.asarray(x), atol=0.02)
    np.testing.assert_allclose(grads.var(0), h / 8, rtol=0.05)


def test_rosenbrock_minimum():
    task = tasks.get_task("rosenbrock", dim=3)
    assert float(task.loss_fn(jnp.ones(3), None)) == 0.0
    assert float(task.loss_fn(jnp.asarray([-1.2, 1.0, -1.2]), None)) > 0


def test_im2col_convolution_equals_lax_convolution():
    conv = models.Conv1DIm2col(3, 4, 5, stride=2, padding=1, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 17, 3))
    expected = jax.lax.conv_general_dilated(
        x, conv.kernel[...], (2,), [(1, 1)], dimension_numbers=("NWC", "WIO", "NWC"))
    np.testing.assert_allclose(conv(x), expected + conv.bias[...].reshape(1, 1, -1), atol=1e-5)


def test_mnist1d_cnn_has_the_papers_parameter_count():
    # ConvBase in the MNIST-1D repository: 25*5+25 + 2*(25*25*3+25) + 125*10+10 = 5,210.
    _, state = nnx.split(models.MNIST1DConvNet(rngs=nnx.Rngs(0)))
    assert sum(x.size for x in jax.tree.leaves(state)) == 5210


def test_char_transformer_is_causal():
    model = models.CharTransformer(10, 8, width=16, depth=1, heads=2, rngs=nnx.Rngs(0))
    tokens = jnp.asarray([[1, 2, 3, 4, 5, 6, 7, 8]]) % 10
    changed = tokens.at[0, 5].set(0)
    graphdef, state = nnx.split(model)
    apply = jax.jit(lambda t: nnx.merge(graphdef, state)(t))
    a, b = apply(tokens), apply(changed)
    np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-6)
    assert not np.allclose(a[0, 5:], b[0, 5:])


@pytest.mark.parametrize("name", ["digits_logreg", "mnist1d_mlp"])
def test_classifiers_learn_beyond_chance(name):
    task = tasks.get_task(name, steps=200, eval_every=100)
    result = tasks.train(task, optax.adam(task.learning_rates["adam"]), seed=0)
    assert result.evals["test_accuracy"][-1] > 0.4
    assert result.losses[-20:].mean() < result.losses[:20].mean()


def test_train_passes_loss_value_when_needed():
    seen = []

    def update(updates, state, params=None, *, value):
        seen.append(value)
        return jax.tree.map(lambda g: -0.1 * g, updates), state

    tx = optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), update)
    task = tasks.get_task("quadratic", dim=3, steps=2, eval_every=2)
    tasks.train(task, tx, needs_value=True)
    assert len(seen) == 1  # traced once inside scan


def test_unknown_task_lists_available():
    with pytest.raises(KeyError, match="mnist1d_mlp"):
        tasks.get_task("imagenet")
