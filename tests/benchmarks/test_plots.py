"""The comparison figures: facets per family, distinct styles, units as in the table,
divergence marks on the failing side, effective learning rates on comparable panels only."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from adaptlr import registry
from adaptlr.benchmarks import plots, summary

STEPS = [10, 20, 30]


def _record(method, value, seed, final, *, metric="test_accuracy", maximize=True,
            diverged=False, lr=1e-3):
    spec = method.split("@")[0]
    defaults = dict(registry.get(spec).defaults)
    arg = registry.get(spec).learning_rate_arg
    return {
        "key": f"{method}-{value}-{seed}",
        "config": {"task": "t", "method": method, "spec": spec, "value": value, "seed": seed,
                   "sweep_arg": arg if value is not None else None, "defaults": defaults},
        "metric": metric, "maximize": maximize, "diverged": diverged,
        "final": None if diverged else {metric: final},
        "curves": {"loss_steps": STEPS, "loss": [1.0, 0.5, 0.25], "eval_steps": STEPS,
                   "eval": {metric: [final / 2, final, final] if not diverged
                            else [None, None, None]}},
        "effective_lr": {"": [lr, lr, lr]},
    }


def _sweep(method, finals, *, metric="test_accuracy", maximize=True, diverge_at=(), lr=1e-3):
    centre = registry.get(method).defaults[registry.get(method).learning_rate_arg]
    out = []
    for factor, final in zip((0.1, 1.0, 10.0), finals, strict=True):
        for seed in (0, 1):
            out.append(_record(method, centre * factor, seed, final + 0.01 * seed,
                               metric=metric, maximize=maximize,
                               diverged=factor in diverge_at and seed == 1, lr=lr))
    return out


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions save, kept open."""
    kept = []

    def save(fig, path_stem, formats):
        kept.append(fig)
        return [f"{path_stem}.{f}" for f in formats]

    monkeypatch.setattr(plots, "_save", save)
    yield kept
    plt.close("all")


def _legend_labels(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _many_methods():
    names = [n for n in registry.names() if registry.get(n).learning_rate_arg][:24]
    records = []
    for i, name in enumerate(names):
        records += _sweep(name, (0.5, 0.6 + 0.01 * i, 0.4))
    return names, records


def test_sensitivity_facets_many_methods_with_distinct_styles(figures):
    names, records = _many_methods()
    rows = summary.summarize(records)
    plots.plot_sensitivity(records, rows, "unused")
    (fig,) = figures
    axes = [ax for ax in fig.axes if ax.get_visible()]
    labels = [label for ax in axes for label in _legend_labels(ax)]
    assert sorted(labels) == sorted(names)  # every method once
    for ax in axes:
        lines = [line for line in ax.get_lines() if line.get_label() in names]
        assert 1 <= len(lines) <= plots.PER_PANEL
        styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in lines}
        assert len(styles) == len(lines)
        family = {registry.get(line.get_label()).family for line in lines}
        assert len(family) == 1  # one family per panel
    assert len(axes) >= math.ceil(len(names) / plots.PER_PANEL)


def test_accuracy_in_percent_as_in_the_table(figures):
    records = _sweep("adam", (0.5, 0.9, 0.4))
    rows = summary.summarize(records)
    plots.plot_sensitivity(records, rows, "unused")
    plots.plot_curves(records, rows, "unused")
    sensitivity, curves = figures
    line = next(line for line in sensitivity.axes[0].get_lines() if line.get_label() == "adam")
    np.testing.assert_allclose(line.get_ydata(), [50.5, 90.5, 40.5])
    assert "(%)" in sensitivity.axes[0].get_ylabel()
    right = curves.axes[1]
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), [45.25, 90.5, 90.5])
    assert right.get_ylabel() == "test_accuracy (%)"
    assert "90.5% +- 0.5%" in summary.format_table(rows, "test_accuracy")


def test_sensitivity_draws_the_selected_metric(figures):
    records = _sweep("adam", (0.5, 0.9, 0.4))
    for r in records:  # the best evaluation during training differs from the final one
        r["best"] = {"test_accuracy": r["final"]["test_accuracy"] + 0.05}
    rows = summary.summarize(records, selection="best")
    plots.plot_sensitivity(records, rows, "unused", selection="best")
    plots.plot_sensitivity(records, summary.summarize(records), "unused")
    best, final = figures
    ys = {}
    for name, fig in (("best", best), ("final", final)):
        line = next(line for line in fig.axes[0].get_lines() if line.get_label() == "adam")
        ys[name] = line.get_ydata()
    np.testing.assert_allclose(ys["best"], [55.5, 95.5, 45.5])
    np.testing.assert_allclose(ys["final"], [50.5, 90.5, 40.5])
    assert best.axes[0].get_ylabel().startswith("best-during-training")
    with pytest.raises(ValueError, match="selection"):
        plots.plot_sensitivity(records, rows, "unused", selection="median")


@pytest.mark.parametrize("maximize, edge", [(True, 0.0), (False, 1.0)])
def test_divergence_marks_on_the_failing_side(figures, maximize, edge):
    metric = "test_accuracy" if maximize else "test_loss"
    records = _sweep("adam", (0.5, 0.9, 0.4), metric=metric, maximize=maximize,
                     diverge_at=(10.0,))
    plots.plot_sensitivity(records, summary.summarize(records), "unused")
    (fig,) = figures
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(marks) == 1
    x, y = marks[0].get_data()
    np.testing.assert_allclose(x, [1e-2])
    np.testing.assert_allclose(y, [edge])  # in axes coordinates: 0 bottom, 1 top
    # The line itself leaves the diverged value out.
    line = next(line for line in ax.get_lines() if line.get_label() == "adam")
    np.testing.assert_allclose(line.get_xdata(), [1e-4, 1e-3])


def test_effective_lr_keeps_sgd_and_adam_scales_apart(figures):
    records = (_sweep("sgd", (0.5, 0.9, 0.4), lr=0.1) + _sweep("adam", (0.5, 0.9, 0.4))
               + _sweep("dog", (0.5, 0.9, 0.4), lr=0.3)
               + _sweep("prodigy", (0.5, 0.9, 0.4), lr=2e-3))
    plots.plot_effective_lr(records, summary.summarize(records), "unused")
    (fig,) = figures
    panels = {ax.get_title(): sorted(line.get_label() for line in ax.get_lines())
              for ax in fig.axes if ax.get_visible()}
    assert panels == {
        "step sizes on the raw gradient (SGD scale)": ["dog", "sgd"],
        "step sizes on a normalised direction (Adam-type, sign, ...) or other": ["adam",
                                                                            "prodigy"],
    }
    assert "not comparable" in fig._suptitle.get_text()


def test_sgd_scale_methods_are_registered():
    assert plots.SGD_SCALE_METHODS <= set(registry.names())


def test_lr_finder_marks_are_labelled_by_rule():
    import jax.numpy as jnp
    import optax

    from adaptlr import finder

    def loss(w, batch):
        del batch
        return jnp.sum(w**2)

    result = finder.lr_range_test(loss, jnp.ones(3), None, optax.sgd, 1e-4, 10.0, 60)
    ax = finder.plot_lr_range_test(result)
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(r for r, v in result.suggestions().items() if not math.isnan(v))
    assert len(texts) >= 2
    plt.close("all")


def test_schedule_figure_is_slide_sized_with_log_axis(tmp_path):
    import jax.numpy as jnp

    from adaptlr import cli

    steps = 50
    values = [("a", {}, None, np.linspace(1.0, 0.0, steps)),
              ("b", {}, None, np.full(steps, 0.1)), ("c", {}, None, np.geomspace(1, 1e-3, steps))]
    fig = cli._plot_schedules(values, steps, str(tmp_path / "s.png"), log_y=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert tuple(fig.get_size_inches()) == cli.SLIDE_SIZE
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b", "c"]
    assert np.isnan(ax.get_lines()[0].get_ydata()[-1])  # zero not drawn on a log axis
    assert ax.xaxis.label.get_size() >= 14
    del jnp
    plt.close("all")
