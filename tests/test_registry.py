"""The registry: one entry per method, complete metadata, consistent with the public API."""

from __future__ import annotations

import re
from pathlib import Path

import optax
import pytest

import adaptlr
from adaptlr import registry

ROOT = Path(__file__).resolve().parents[1]


def test_baselines_are_registered() -> None:
    baselines = set(registry.names("baseline"))
    assert {"sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", "nadamw", "adagrad",
            "rmsprop", "adafactor", "lion", "lamb"} <= baselines


@pytest.mark.parametrize("name", registry.names())
def test_spec_metadata_is_complete(name: str) -> None:
    spec = registry.get(name)
    assert spec.family in registry.FAMILIES
    assert spec.state_bytes_per_param >= 0
    assert isinstance(spec.build(), optax.GradientTransformation)
    if spec.family != "baseline":
        assert spec.paper is not None, "non-baseline methods cite their paper"
        # The public API exposes every method under its registered name.
        assert getattr(adaptlr, spec.factory.__name__, None) is spec.factory or hasattr(
            adaptlr, name), f"adaptlr has no public {name}"


def test_every_bibkey_is_in_paper_bib() -> None:
    bib = (ROOT / "paper" / "paper.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    missing = sorted({s.paper.bibkey for s in registry.all_specs() if s.paper} - keys)
    assert not missing, f"bib keys missing from paper/paper.bib: {missing}"


def test_register_rejects_duplicates_and_unknown_family() -> None:
    spec = registry.get("adam")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec)
    with pytest.raises(ValueError, match="family must be one of"):
        registry.MethodSpec("x", optax.sgd, "nonsense", None, {"learning_rate": 0.1}, 0.0)
    with pytest.raises(KeyError, match="no method named 'nope'"):
        registry.get("nope")


def test_build_overrides_defaults() -> None:
    spec = registry.get("sgd")
    tx = spec.build(learning_rate=0.5)
    import jax.numpy as jnp

    upd, _ = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    assert float(upd[0]) == -0.5


def test_baseline_is_bit_identical_to_optax() -> None:
    import jax.numpy as jnp
    import numpy as np

    tx, ref = registry.get("adamw").build(), optax.adamw(1e-3, weight_decay=1e-4)
    p = {"w": jnp.linspace(-1.0, 1.0, 7)}
    s, r = tx.init(p), ref.init(p)
    for i in range(3):
        g = {"w": jnp.sin(p["w"] * (i + 1))}
        u1, s = tx.update(g, s, p)
        u2, r = ref.update(g, r, p)
        np.testing.assert_array_equal(np.asarray(u1["w"]), np.asarray(u2["w"]))
    assert float(adaptlr.effective_lr(s)) == pytest.approx(1e-3)


def test_baseline_validation_names_argument() -> None:
    with pytest.raises(ValueError, match=r"b1 must be in \[0, 1\)"):
        registry.get("adam").build(b1=1.0)
