"""experiments/reference_parity.py without torch: its rows, its objective, its committed results."""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from adaptlr import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rp() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reference_parity", ROOT / "experiments" / "reference_parity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_name_registered_methods_and_pass_the_loss_exactly_to_loss_readers(rp) -> None:
    for label, method in rp.METHODS.items():
        spec = registry.get(method.name)
        # A method that reads the loss must get it on the package side too, and only those.
        assert (method.call in ("closure", "loss", "step_func")) == spec.needs_value, label
        assert method.ref is None or method.ref in rp.METHODS, label
        assert method.shift in (0, 1), label


def test_objective_is_the_cross_entropy_of_the_tasks_models(rp) -> None:
    # NumPy ops (the adaptlr and torch sides pass jax.numpy's and torch's); the expected values
    # are written out independently, with scipy's log-sum-exp.
    rng = np.random.default_rng(0)
    a, h, c = rp.MLP_SIZES
    params = (rng.normal(size=(a, h)), rng.normal(size=h), rng.normal(size=(h, c)),
              rng.normal(size=c))
    x, y = rng.normal(size=(5, a)), rng.integers(0, c, 5)

    def cross_entropy(z, t):
        return np.mean([np.log(np.sum(np.exp(z[i]))) - z[i, t[i]] for i in range(len(t))])

    ops = types.SimpleNamespace(tanh=np.tanh, sum=np.sum, cross_entropy=cross_entropy)
    hidden = np.array([[np.tanh(x[i] @ params[0][:, j] + params[1][j]) for j in range(h)]
                       for i in range(5)])
    logits = hidden @ params[2] + params[3]
    nll = logsumexp(logits, axis=1) - logits[np.arange(5), y]
    np.testing.assert_allclose(rp.objective("digits_mlp", params, x, y, ops), nll.mean(),
                               rtol=1e-12)
    w = rng.normal(size=(a, c))
    ridge = rp.objective("wine", (w,), x, y, ops) - cross_entropy(x @ w, y)
    np.testing.assert_allclose(ridge, 0.5 * rp.L2["wine"] * np.sum(w**2), rtol=1e-12)


def test_committed_results_cover_every_row_and_task(rp) -> None:
    results = json.loads((ROOT / "experiments" / "results" / "reference_parity.json").read_text())
    assert set(results["tasks"]) == set(rp.TASKS)
    text = (ROOT / "experiments" / "results" / "reference_parity.md").read_text()
    for task, res in results["tasks"].items():
        assert [r["method"] for r in res["rows"]] == list(rp.METHODS), task
        assert f"## {task}" in text
        for r in res["rows"]:
            assert r["seeds"] == results["meta"]["seeds"]
            for p in (r["mann_whitney_p"], r["ks_p"]):
                # nan only where fewer than two seeds end finite on both sides
                if r["nonfinite_adaptlr"] + r["nonfinite_package"] == 0:
                    assert 0.0 <= p <= 1.0, (task, r["method"])
                else:
                    assert np.isnan(p) or 0.0 <= p <= 1.0, (task, r["method"])
            assert r["diverged_adaptlr"] >= r["nonfinite_adaptlr"]
            assert r["diverged_package"] >= r["nonfinite_package"]
