"""Tests for adaptlr.finder against closed forms and independent NumPy implementations."""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adaptlr import registry
from adaptlr.finder import (
    LRRangeTestResult,
    lr_range_test,
    plot_lr_range_test,
    suggest_learning_rates,
)

# Diagonal quadratic f(w) = 0.5 * sum(h * w**2), largest curvature L = 4: gradient descent
# contracts every coordinate exactly when 0 < lr < 2 / L = 0.5.
H = np.linspace(0.5, 4.0, 8)
L = float(H.max())


def quadratic(w, batch):
    del batch
    return 0.5 * jnp.sum(jnp.asarray(H, jnp.float32) * w**2)


W0 = np.ones(8, np.float32)


def schedule_np(min_lr, max_lr, steps):
    return min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))


def closed_form_losses(lrs):
    """Loss at the start of each step of gradient descent on the quadratic (float64)."""
    w = W0.astype(np.float64)
    out = []
    for lr in lrs:
        out.append(0.5 * np.sum(H * w**2))
        w = w * (1.0 - lr * H)
    return np.array(out)


def smooth_np(losses, beta):
    average, out = 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return np.array(out)


def first_stop_np(smoothed, factor):
    best = np.inf
    for i, s in enumerate(smoothed):
        best = min(best, s)
        if s > factor * best:
            return i
    return None


# fastai's rules written out literally (plain loops), as independent references.
def valley_literal(lrs, losses):
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return lrs[max_start + int(sections) + int(sections / 2)]


def steep_literal(lrs, losses):
    best, best_i = math.inf, 0
    for i in range(len(losses) - 1):
        slope = (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        if slope < best:
            best, best_i = slope, i
    return lrs[best_i]


def test_records_the_closed_form_loss_curve_smoothing_and_stop():
    min_lr, max_lr, steps = 1e-4, 10.0, 100
    result = lr_range_test(quadratic, jnp.asarray(W0), None, optax.sgd, min_lr, max_lr, steps)
    lrs = schedule_np(min_lr, max_lr, steps)
    np.testing.assert_allclose(result.learning_rates, lrs, rtol=1e-12)
    expected = closed_form_losses(lrs)
    smoothed = smooth_np(expected, 0.98)
    stop = first_stop_np(smoothed, 4.0)
    assert stop is not None
    assert result.diverged and result.num_steps == stop + 1
    np.testing.assert_allclose(result.losses[: stop + 1], expected[: stop + 1], rtol=2e-4)
    np.testing.assert_allclose(result.smoothed_losses[: stop + 1], smoothed[: stop + 1], rtol=2e-4)
    assert np.isnan(result.losses[stop + 1 :]).all()
    assert np.isnan(result.smoothed_losses[stop + 1 :]).all()
    # Below 2/L every coordinate contracts, the loss falls and so does its smoothed value:
    # the test can only stop once the ramp has passed the stability limit.
    assert lrs[stop] > 2.0 / L


@pytest.mark.parametrize("rule", ["valley", "steep", "minimum"])
def test_suggestions_lie_in_the_stable_range_of_the_quadratic(rule):
    result = lr_range_test(quadratic, jnp.asarray(W0), None, optax.sgd, 1e-5, 100.0, 200)
    lr = result.suggestions()[rule]
    assert 0.0 < lr < 2.0 / L


@pytest.mark.parametrize("rule", ["valley", "steep", "minimum"])
def test_suggestions_lie_in_the_stable_range_for_minibatch_least_squares(rule):
    # f(w) = mean((x w - y)^2) / 2 over the full data has Hessian X^T X / n; its largest
    # eigenvalue L bounds the stable step of full-batch gradient descent by 2 / L.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 10)) * np.linspace(0.3, 2.0, 10)
    y = x @ rng.normal(size=10) + 0.05 * rng.normal(size=512)
    curvature = float(np.linalg.eigvalsh(x.T @ x / len(x)).max())
    batches = (x.reshape(16, 32, 10).astype(np.float32), y.reshape(16, 32).astype(np.float32))

    def loss_fn(w, batch):
        xb, yb = batch
        return 0.5 * jnp.mean((xb @ w - yb) ** 2)

    result = lr_range_test(loss_fn, jnp.zeros(10), batches, optax.sgd, 1e-5, 100.0, 200)
    assert 0.0 < result.suggestions()[rule] < 2.0 / curvature


def test_valley_matches_fastai_loops_on_random_curves():
    rng = np.random.default_rng(1)
    for trial in range(30):
        n = int(rng.integers(2, 80))
        lrs = np.geomspace(1e-5, 1.0, n)
        if trial % 2:
            losses = np.cumsum(rng.normal(size=n))  # random walk: many short valleys
        else:
            losses = (np.log(lrs) + 6) ** 2 + 0.5 * rng.normal(size=n)
        result = LRRangeTestResult(lrs, losses, losses, n, False)
        got = suggest_learning_rates(result, ("valley", "steep", "minimum"))
        window = slice(n // 10, max(n - 5, n // 10))
        w_lrs, w_losses = lrs[window], losses[window]
        if len(w_losses) < 2:
            assert all(math.isnan(v) for v in got.values())
            continue
        assert got["valley"] == valley_literal(w_lrs, w_losses)
        assert got["steep"] == steep_literal(w_lrs, w_losses)
        assert got["minimum"] == w_lrs[int(np.argmin(w_losses))] / 10


def test_suggestion_rules_on_a_hand_made_curve():
    # Flat at 2, a linear fall from point 15 to 34 with a cliff of 0.5 between 24 and 25, then
    # a rise. log(lr) is evenly spaced, so the steepest slope is the largest drop: 24 -> 25.
    lrs = np.geomspace(1e-4, 1.0, 50)
    losses = np.full(50, 2.0)
    losses[15:35] = np.linspace(2.0, 0.2, 20)
    losses[25:35] -= 0.5
    losses[35:] = np.linspace(0.3, 5.0, 15)
    result = LRRangeTestResult(lrs, losses, losses, 50, True)
    suggestions = result.suggestions()
    assert suggestions["steep"] == lrs[24]
    assert suggestions["minimum"] == lrs[34] / 10


def test_suggestions_skip_edges_and_stop_at_nan():
    lrs = np.geomspace(1e-4, 1.0, 40)
    losses = np.linspace(3.0, 1.0, 40)
    losses[0] = -100.0  # inside the first 10%: ignored
    losses[30] = np.nan
    result = LRRangeTestResult(lrs, losses, losses, 40, True)
    assert result.suggestions(("minimum",))["minimum"] == lrs[29] / 10
    # Too few points left: NaN rather than a made-up value.
    short = LRRangeTestResult(lrs[:6], losses[1:7], losses[1:7], 6, True)
    assert all(math.isnan(v) for v in short.suggestions().values())
    with pytest.raises(ValueError, match="rules"):
        result.suggestions(("slide",))


def test_batches_cycle_and_callables_see_the_step():
    def loss_of_batch(w, batch):
        return jnp.sum(w) * 0.0 + batch

    batches = np.array([3.0, 1.0, 2.0], np.float32)
    result = lr_range_test(
        loss_of_batch, jnp.zeros(2), batches, optax.sgd, 1e-3, 1.0, 7, divergence_factor=math.inf
    )
    np.testing.assert_array_equal(result.losses, [3, 1, 2, 3, 1, 2, 3])
    assert not result.diverged and result.num_steps == 7

    result = lr_range_test(
        loss_of_batch,
        jnp.zeros(2),
        lambda step: 1.0 + step,
        optax.sgd,
        1e-3,
        1.0,
        5,
        divergence_factor=math.inf,
    )
    np.testing.assert_array_equal(result.losses, [1, 2, 3, 4, 5])


def test_batch_functions_take_step_and_key_like_train_sweep():
    # The (step, key) -> batch signature of train_sweep: step t gets fold_in(key, t), so a
    # sampler that only reads the key draws a new batch every step. The loss is the batch's
    # sum (plus 100 to stay positive), so the recorded losses are the batches themselves.
    from adaptlr.sweep import train_sweep

    def sample(step, key):
        del step
        return jax.random.normal(key, (2,))

    def loss_fn(w, batch):
        return 100.0 + jnp.sum(batch) + 0.0 * jnp.sum(w)

    key = jax.random.key(11)
    expected = [100.0 + float(jnp.sum(jax.random.normal(jax.random.fold_in(key, t), (2,))))
                for t in range(6)]
    assert len(set(expected)) == 6
    for data_key in (key, 11):  # a key or an integer seed
        result = lr_range_test(loss_fn, jnp.zeros(2), sample, optax.sgd, 1e-3, 1.0, 6,
                               divergence_factor=math.inf, key=data_key)
        np.testing.assert_allclose(result.losses, expected, rtol=1e-6)
    # The same function in train_sweep: its data key is split from the seed.
    sweep = train_sweep(loss_fn, lambda k: jnp.zeros(2), lambda hp: optax.sgd(0.1), {},
                        np.array([5]), sample, 6, divergence_factor=math.inf)
    _, sweep_key = jax.random.split(jax.random.key(5))
    result = lr_range_test(loss_fn, jnp.zeros(2), sample, optax.sgd, 1e-3, 1.0, 6,
                           divergence_factor=math.inf, key=sweep_key)
    np.testing.assert_allclose(sweep.losses[0], result.losses, rtol=1e-6)


def test_rejects_a_key_that_is_not_a_key():
    with pytest.raises(ValueError, match="key"):
        lr_range_test(quadratic, jnp.ones(8), None, optax.sgd, key="seed")


def test_non_finite_loss_stops_the_test():
    def loss_fn(w, step):
        return jnp.where(step >= 4, jnp.nan, jnp.sum(w**2))

    result = lr_range_test(
        loss_fn,
        jnp.ones(2),
        lambda step: step,
        optax.sgd,
        1e-3,
        1e-2,
        10,
        divergence_factor=math.inf,
    )
    assert result.diverged and result.num_steps == 5
    assert np.isfinite(result.losses[:4]).all() and np.isnan(result.losses[4:]).all()


def test_loss_value_methods_and_aux_outputs():
    # optax.polyak_sgd(scaling=s_i): w <- w - s_i * min(1, loss / |s_i g|^2) * g.
    steps = 12

    def loss_fn(w, batch):
        return quadratic(w, batch), {"aux": 1.0}

    result = lr_range_test(
        loss_fn,
        jnp.asarray(W0),
        None,
        lambda lr: optax.polyak_sgd(scaling=lr),
        1e-2,
        1.0,
        steps,
        needs_value=True,
        divergence_factor=math.inf,
    )
    w = W0.astype(np.float64)
    expected = []
    for s in schedule_np(1e-2, 1.0, steps):
        loss = 0.5 * np.sum(H * w**2)
        expected.append(loss)
        g = H * w
        w = w - s * min(1.0, loss / (s**2 * np.sum(g**2))) * g
    np.testing.assert_allclose(result.losses, expected, rtol=1e-4)


def test_registry_methods_and_purity():
    params = {"w": jnp.ones(8)}
    before = jax.tree.map(np.array, params)

    def loss_fn(p, batch):
        return quadratic(p["w"], batch)

    result = lr_range_test(
        loss_fn,
        params,
        None,
        lambda lr: registry.get("adam").build(learning_rate=lr),
        1e-5,
        10.0,
        100,
    )
    assert result.num_steps >= 2
    assert all(np.isfinite(v) for v in result.suggestions().values())
    np.testing.assert_array_equal(params["w"], before["w"])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"min_lr": 0.0}, "min_lr"),
        ({"min_lr": -1.0}, "min_lr"),
        ({"max_lr": 1e-5}, "max_lr"),
        ({"max_lr": math.inf}, "max_lr"),
        ({"steps": 1}, "steps"),
        ({"smoothing": 1.0}, "smoothing"),
        ({"smoothing": -0.1}, "smoothing"),
        ({"divergence_factor": 1.0}, "divergence_factor"),
        ({"batches": np.float32(1.0)}, "batches"),
        ({"batches": (np.zeros(3), np.zeros(4))}, "batches"),
    ],
)
def test_rejects_bad_arguments(kwargs, name):
    args = dict(
        loss_fn=quadratic,
        params=jnp.asarray(W0),
        batches=None,
        optimizer_factory=optax.sgd,
        min_lr=1e-4,
        max_lr=1.0,
        steps=10,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        lr_range_test(**args)


def test_plot_draws_the_curve_and_the_suggestions(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    result = lr_range_test(quadratic, jnp.asarray(W0), None, optax.sgd, 1e-4, 10.0, 100)
    ax = plot_lr_range_test(result, title="quadratic")
    lines = ax.get_lines()
    assert len(lines) == 1 + 3  # the curve and one marker per rule
    x, _ = lines[0].get_data()
    np.testing.assert_allclose(x, result.learning_rates[: result.num_steps - 5])
    path = tmp_path / "lr_find.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="skip_end"):
        plot_lr_range_test(result, skip_end=-1)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_import_adaptlr_does_not_import_plotting_or_data_packages():
    code = (
        "import sys, adaptlr, adaptlr.finder, adaptlr.sweep, adaptlr.introspect\n"
        "bad = [m for m in ('matplotlib', 'flax', 'mnist1d', 'sklearn') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


def test_cli_lr_find_on_the_quadratic_task(capsys, tmp_path):
    # The benchmark quadratic has Hessian eigenvalues log-spaced in [1e-3, 1]: L = 1, so the
    # suggestions for SGD must lie in (0, 2).
    from adaptlr import cli

    path = tmp_path / "lr.png"
    code = cli.main(
        [
            "lr-find",
            "--task",
            "quadratic",
            "--optimizer",
            "sgd",
            "--steps",
            "80",
            "--min-lr",
            "1e-5",
            "--max-lr",
            "100",
            "--plot",
            str(path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    suggestions = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("valley", "steep", "minimum"):
            suggestions[parts[0]] = float(parts[1])
    assert set(suggestions) == {"valley", "steep", "minimum"}
    assert all(0.0 < lr < 2.0 for lr in suggestions.values())
    assert "diverged after" in out
    assert path.stat().st_size > 0
    import matplotlib.pyplot as plt

    plt.close("all")


def test_cli_lr_find_works_for_methods_without_schedule_support(capsys):
    # SPS takes a plain number as its step-size cap; the CLI feeds the ramp through
    # optax.inject_hyperparams, so the range test still runs (and it needs the loss value).
    from adaptlr import cli

    spec = registry.get("sps")
    assert spec.needs_value
    assert cli.main(["lr-find", "--task", "quadratic", "--optimizer", "sps", "--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert "valley" in out and "minimum" in out


def test_cli_lr_find_reports_unknown_names(capsys):
    from adaptlr import cli

    assert cli.main(["lr-find", "--task", "quadratic", "--optimizer", "no_such"]) == 2
    assert "no_such" in capsys.readouterr().err
    assert cli.main(["lr-find", "--task", "no_such_task", "--optimizer", "sgd"]) == 2
    assert "no_such_task" in capsys.readouterr().err


def test_docstring_examples_run():
    import doctest

    import adaptlr.finder

    failures, tried = doctest.testmod(adaptlr.finder, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0
