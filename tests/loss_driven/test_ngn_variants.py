"""NGN-M, NGN-D and NGN-MD against a NumPy transcription of the paper's equations
(``generate_ngn_variant_goldens.py``), plus properties that tie them to NGN."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from tests.loss_driven.generate_ngn_variant_goldens import (
    _A,
    _Y,
    LSQ_INIT,
    PROBLEMS,
    SETTINGS,
    init,
)
from tests.reference_problems import _QUAD_LAM, _QUAD_STAR, STEPS, x64

GOLDENS = Path(__file__).parent / "goldens" / "ngn_variants.npz"
FACTORIES = {"m": adaptlr.ngn_m, "d": adaptlr.ngn_d, "md": adaptlr.ngn_md}


def _jax_loss(problem: str):  # type: ignore[no-untyped-def]
    if problem == "quadratic":
        lam, star = jnp.asarray(_QUAD_LAM), jnp.asarray(_QUAD_STAR)

        def quadratic(p):  # type: ignore[no-untyped-def]
            z = jnp.concatenate([p["w"].reshape(-1), p["b"]])
            return 0.5 * jnp.sum(lam * jnp.square(z - star))

        return quadratic
    a, y = jnp.asarray(_A), jnp.asarray(_Y)

    def lsq(p):  # type: ignore[no-untyped-def]
        return 0.5 * jnp.mean(jnp.square(a @ p["w"] - y))

    return lsq


def _run(problem: str, tx: optax.GradientTransformation, steps: int = STEPS) -> dict:
    loss = _jax_loss(problem)
    params = {k: jnp.asarray(v) for k, v in init(problem).items()}
    state = tx.init(params)

    @jax.jit
    def step(params, state):  # type: ignore[no-untyped-def]
        value, grad = jax.value_and_grad(loss)(params)
        updates, state = tx.update(grad, state, params, value=value)
        return optax.apply_updates(params, updates), state

    traj = {k: [np.asarray(v)] for k, v in params.items()}
    gammas = []
    for _ in range(steps):
        params, state = step(params, state)
        for k, v in params.items():
            traj[k].append(np.asarray(v))
        # NGN-M/NGN-D: the raw record (float64 here); NGN-MD: per-leaf float32 means,
        # weighted by leaf size through effective_lr (float32).
        raw = state[0].effective_lr
        gammas.append(adaptlr.effective_lr(state, params) if isinstance(raw, dict) else raw)
    out = {k: np.stack(v) for k, v in traj.items()}
    out["gamma"] = np.asarray(gammas, np.float64)
    return out


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_matches_the_papers_equations(setting: str, problem: str) -> None:
    method, c, beta = SETTINGS[setting]
    golden = np.load(GOLDENS)
    head = f"{setting}__{problem}__"
    kwargs = {"learning_rate": c} if method == "d" else {"learning_rate": c, "momentum": beta}
    with x64():
        ours = _run(problem, FACTORIES[method](**kwargs))
    for name in init(problem):
        np.testing.assert_allclose(ours[name], golden[head + name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    # The record: NGN-M's gamma_k and NGN-D's mean of gamma_{k,j} are float64 scalars here;
    # NGN-MD's per-leaf means are float32 (CONTRIBUTING's per-parameter record).
    rtol = 1e-6 if method == "md" else 1e-10
    np.testing.assert_allclose(ours["gamma"], golden[head + "gamma"], rtol=rtol)


def test_ngn_m_with_momentum_zero_is_ngn() -> None:
    with x64():
        for problem in PROBLEMS:
            a = _run(problem, adaptlr.ngn_m(2.0, momentum=0.0), steps=50)
            b = _run(problem, adaptlr.ngn(2.0), steps=50)
            for k in a:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-13, atol=1e-15)


def test_ngn_md_with_momentum_zero_is_ngn_d() -> None:
    with x64():
        a = _run("quadratic", adaptlr.ngn_md(1.0, momentum=0.0), steps=50)
        b = _run("quadratic", adaptlr.ngn_d(1.0), steps=50)
    for k in a:
        rtol = 1e-6 if k == "gamma" else 1e-13  # ngn_md's record is per-leaf float32
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-15)


def test_ngn_d_on_one_coordinate_is_ngn() -> None:
    # With a single coordinate, the diagonal of the Gauss-Newton matrix is the matrix.
    x = {"w": jnp.asarray([3.0])}
    loss = lambda p: jnp.sum(jnp.cosh(p["w"]))  # noqa: E731
    for tx_a, tx_b in [(adaptlr.ngn_d(5.0), adaptlr.ngn(5.0)),
                       (adaptlr.ngn_md(5.0, 0.7), adaptlr.ngn_m(5.0, 0.7))]:
        pa, pb = x, x
        sa, sb = tx_a.init(x), tx_b.init(x)
        for _ in range(20):
            va, ga = jax.value_and_grad(loss)(pa)
            vb, gb = jax.value_and_grad(loss)(pb)
            ua, sa = tx_a.update(ga, sa, pa, value=va)
            ub, sb = tx_b.update(gb, sb, pb, value=vb)
            pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
        np.testing.assert_allclose(pa["w"], pb["w"], rtol=1e-5)


@pytest.mark.parametrize("factory", [adaptlr.ngn_m, adaptlr.ngn_d, adaptlr.ngn_md])
def test_steps_bounded_by_c(factory) -> None:  # type: ignore[no-untyped-def]
    # gamma_k (NGN-M) and every gamma_{k,j} (NGN-D/MD) lie in [0, c]; for NGN-D also
    # gamma_{k,j} >= NGN's global gamma_k.
    c = 4.0
    rng = np.random.default_rng(0)
    tx = factory(c) if factory is adaptlr.ngn_d else factory(c, momentum=0.5)
    x = {"a": jnp.asarray(rng.standard_normal((3, 4)), jnp.float32),
         "b": jnp.asarray(rng.standard_normal(5), jnp.float32)}
    state = tx.init(x)
    for value in [10.0, 1.0, 1e-3, 0.0]:
        g = jax.tree.map(lambda v: 3.0 * v, x)
        _, state = tx.update(g, state, x, value=value)
        lrs = np.asarray(jax.tree.leaves(adaptlr.effective_lrs(state, x, by="path")
                                         if factory is adaptlr.ngn_md else
                                         adaptlr.effective_lr(state)))
        assert np.all(lrs >= 0) and np.all(lrs <= c * (1 + 1e-6))


def test_diagonal_steps_are_the_coordinate_formula() -> None:
    tx = adaptlr.scale_by_ngn_d(2.0)
    g = jnp.asarray([0.0, 1.0, -3.0])
    u, state = tx.update(g, tx.init(g), g, value=1.5)
    expected = 2.0 / (1.0 + 2.0 * np.asarray(g) ** 2 / 3.0)
    np.testing.assert_allclose(np.asarray(u), expected * np.asarray(g), rtol=1e-6)
    assert float(adaptlr.effective_lr(state)) == pytest.approx(expected.mean(), rel=1e-6)


@pytest.mark.parametrize("factory", [adaptlr.ngn_m, adaptlr.ngn_d, adaptlr.ngn_md])
def test_loss_edge_cases_never_nan(factory) -> None:  # type: ignore[no-untyped-def]
    x = jnp.array([1.0, -2.0])
    tx = factory(1.0)
    state = tx.init(x)
    for value in [0.0, -1.0, jnp.nan, jnp.inf, 2.5, 3e38]:
        updates, state = tx.update(x, state, x, value=value)
        assert np.all(np.isfinite(np.asarray(updates)))
    updates, _ = tx.update(jnp.zeros(2), tx.init(x), x, value=0.0)
    assert not np.any(np.asarray(updates))


@pytest.mark.parametrize("factory", [adaptlr.ngn, adaptlr.ngn_m, adaptlr.ngn_d, adaptlr.ngn_md,
                                     adaptlr.ngn_mdv1])
@pytest.mark.parametrize("jit", [False, True])
def test_extreme_finite_inputs_never_nan(factory, jit: bool) -> None:  # type: ignore[no-untyped-def]
    # float32: a loss of 3e38 (2 f overflows), |g|^2 overflowing, tiny and subnormal losses.
    x = jnp.array([1.0, -2.0])
    for lr in [1.0, 0.0]:
        tx = factory(lr)
        update = jax.jit(tx.update) if jit else tx.update
        for g in [x, jnp.array([3e38, -3e38]), jnp.array([3e38, 0.0]), 1e-30 * x, 0.0 * x]:
            for value in [3e38, 1e38, 1.0, 1e-40, 0.0]:
                state = tx.init(x)
                for _ in range(2):
                    updates, state = update(g, state, x, value=value)
                    assert np.all(np.isfinite(np.asarray(updates))), (lr, g, value)


@pytest.mark.parametrize("factory", [adaptlr.ngn_m, adaptlr.ngn_d, adaptlr.ngn_md])
def test_bad_input_raises(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="learning_rate"):
        factory(-1.0)
    if factory is not adaptlr.ngn_d:
        with pytest.raises(ValueError, match="momentum"):
            factory(1.0, momentum=1.0)
    tx = factory()
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(x, tx.init(x), x)
    with pytest.raises(ValueError, match="complex"):
        tx.init(jnp.ones(2, jnp.complex64))


def test_lsq_init_is_what_the_generator_uses() -> None:
    np.testing.assert_array_equal(init("lsq")["w"], LSQ_INIT["w"])
