"""Problems shared by every golden-trajectory generator and the tests that read the goldens.

Each problem has float64 NumPy initial parameters (an ordered dict: the order is the order of
the PyTorch parameter list), a JAX loss, and a PyTorch loss written independently of it. The
generator scripts (run with ``.venv-ref/bin/python``) import only NumPy from here and build the
PyTorch loss through :func:`torch_loss`; the tests import only the JAX side.

* ``mlp``: a 6-16-3 tanh MLP with matrix and vector parameters, mean-squared error on a fixed
  data set of 64 points, fed full-batch gradients.
* ``quadratic``: ``0.5 * sum(lam * (x - x_star)**2)`` with curvatures log-spaced over three
  decades (condition number 1000), parameters split into a matrix and a vector.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

STEPS = 200
PROBLEMS = ("mlp", "quadratic")

_rng = np.random.default_rng(20240229)
_X = _rng.standard_normal((64, 6))
_W_TRUE = _rng.standard_normal((6, 3))
_Y = np.tanh(_X @ _W_TRUE) + 0.1 * _rng.standard_normal((64, 3))
_MLP_INIT = OrderedDict(
    w1=_rng.standard_normal((6, 16)) / np.sqrt(6.0),
    b1=np.zeros(16),
    w2=_rng.standard_normal((16, 3)) / np.sqrt(16.0),
    b2=np.zeros(3),
)

_QUAD_DIM = 24
_QUAD_LAM = np.logspace(-3.0, 0.0, _QUAD_DIM)
_QUAD_STAR = _rng.standard_normal(_QUAD_DIM)
_QUAD_INIT = OrderedDict(
    w=np.zeros((4, 5)),
    b=np.zeros(4),
)


def init_params(problem: str) -> OrderedDict[str, np.ndarray]:
    """Fresh float64 copies of the problem's initial parameters."""
    src = {"mlp": _MLP_INIT, "quadratic": _QUAD_INIT}[problem]
    return OrderedDict((k, v.copy()) for k, v in src.items())


def jax_loss(problem: str) -> Callable[[dict[str, Any]], Any]:
    """The loss as a function of a dict of JAX arrays (call under ``jax.enable_x64``)."""
    import jax.numpy as jnp

    if problem == "mlp":
        x, y = jnp.asarray(_X), jnp.asarray(_Y)

        def mlp(p: dict[str, Any]) -> Any:
            # Explicit broadcasts: the test suite runs JAX with rank promotion set to "raise".
            h = jnp.tanh(x @ p["w1"] + p["b1"][None, :])
            return jnp.mean(jnp.square(h @ p["w2"] + p["b2"][None, :] - y))

        return mlp
    lam, star = jnp.asarray(_QUAD_LAM), jnp.asarray(_QUAD_STAR)

    def quadratic(p: dict[str, Any]) -> Any:
        z = jnp.concatenate([p["w"].reshape(-1), p["b"]])
        return 0.5 * jnp.sum(lam * jnp.square(z - star))

    return quadratic


def torch_loss(problem: str) -> Callable[[list[Any]], Any]:
    """The same loss for a list of float64 torch tensors in :func:`init_params` order."""
    import torch

    if problem == "mlp":
        x = torch.tensor(_X, dtype=torch.float64)
        y = torch.tensor(_Y, dtype=torch.float64)

        def mlp(p: list[Any]) -> Any:
            w1, b1, w2, b2 = p
            return torch.mean((torch.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)

        return mlp
    lam = torch.tensor(_QUAD_LAM, dtype=torch.float64)
    star = torch.tensor(_QUAD_STAR, dtype=torch.float64)

    def quadratic(p: list[Any]) -> Any:
        z = torch.cat([p[0].reshape(-1), p[1]])
        return 0.5 * torch.sum(lam * (z - star) ** 2)

    return quadratic


def run_torch(
    problem: str, make_optimizer: Callable[[list[Any]], Any], steps: int = STEPS,
    closure_value: bool = False,
) -> dict[str, np.ndarray]:
    """Run a PyTorch optimizer full-batch; return each parameter's trajectory ``(steps+1, ...)``.

    ``closure_value``: pass a closure returning the loss to ``step`` (loss-value methods).
    """
    import torch

    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in init_params(problem).values()]
    opt = make_optimizer(params)
    loss_fn = torch_loss(problem)
    names = list(init_params(problem))
    traj: dict[str, list[np.ndarray]] = {
        n: [p.detach().numpy().copy()] for n, p in zip(names, params, strict=True)
    }
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        if closure_value:
            opt.step(closure=lambda loss=loss: loss)
        else:
            opt.step()
        for n, p in zip(names, params, strict=True):
            traj[n].append(p.detach().numpy().copy())
    return {n: np.stack(v) for n, v in traj.items()}


def run_jax(problem: str, tx: Any, steps: int = STEPS, pass_value: bool = False,
            jit: bool = True) -> dict[str, np.ndarray]:
    """Run an Optax transformation full-batch in float64; same output layout as :func:`run_torch`.

    Call inside ``with jax.enable_x64(True):``.
    """
    import jax
    import jax.numpy as jnp
    import optax

    params = {k: jnp.asarray(v, jnp.float64) for k, v in init_params(problem).items()}
    loss_fn = jax_loss(problem)
    state = tx.init(params)

    def step(params: Any, state: Any) -> Any:
        value, grads = jax.value_and_grad(loss_fn)(params)
        extra = {"value": value} if pass_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    if jit:
        step = jax.jit(step)
    traj: dict[str, list[np.ndarray]] = {k: [np.asarray(v)] for k, v in params.items()}
    for _ in range(steps):
        params, state = step(params, state)
        for k, v in params.items():
            traj[k].append(np.asarray(v))
    return {k: np.stack(v) for k, v in traj.items()}


def max_relative_error(ours: dict[str, np.ndarray], golden: dict[str, np.ndarray]) -> float:
    """Largest ``|ours - golden| / max(|golden|, 1e-3)`` over all parameters and steps.

    The floor keeps entries that pass through zero from dominating; 1e-3 is far below the
    parameters' scale on both problems, so it does not hide real differences. A non-finite
    value on either side counts as an infinite error (``max`` would silently drop a NaN).
    """
    worst = 0.0
    for name, ref in golden.items():
        err = np.abs(ours[name] - ref) / np.maximum(np.abs(ref), 1e-3)
        if not np.all(np.isfinite(err)):
            return float("inf")
        worst = max(worst, float(np.max(err)))
    return worst


@contextlib.contextmanager
def x64() -> Iterator[None]:
    """float64 JAX for the duration (the goldens are float64)."""
    import jax

    with jax.enable_x64(True):
        yield


def load_golden(path: pathlib.Path, problem: str, prefix: str = "") -> dict[str, np.ndarray]:
    """The arrays stored as ``<prefix><problem>__<param>`` in an ``.npz``, keyed by param."""
    data = np.load(path)
    head = f"{prefix}{problem}__"
    return {k[len(head):]: data[k] for k in data.files if k.startswith(head)}


def run_replay(problem: str, tx: Any, grads: dict[str, np.ndarray],
               steps: int = STEPS) -> dict[str, np.ndarray]:
    """Our iterates when fed a recorded gradient sequence (``grads[name][t]``) instead of our own.

    Separates the optimizer's arithmetic from the gradient's rounding: on chaotic trajectories
    a one-ulp difference in a gradient grows past 1e-10 within 200 steps, so the closed loop
    cannot be compared, but every step's arithmetic can. Call inside :func:`x64`.
    """
    import jax
    import jax.numpy as jnp
    import optax

    params = {k: jnp.asarray(v) for k, v in init_params(problem).items()}
    state = tx.init(params)

    @jax.jit
    def step(params: Any, state: Any, g: Any) -> Any:
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    traj = {k: [np.asarray(v)] for k, v in params.items()}
    for t in range(steps):
        params, state = step(params, state, {k: jnp.asarray(v[t]) for k, v in grads.items()})
        for k, v in params.items():
            traj[k].append(np.asarray(v))
    return {k: np.stack(v) for k, v in traj.items()}
