"""Golden trajectories for NGN-M, NGN-D and NGN-MD: the paper's update rules in NumPy.

Islamov, Ajroldi, Orvieto and Lucchi, "Enhancing Optimizer Stability: Momentum Adaptation of
The NGN Step-size" (NeurIPS 2025, arXiv:2508.15071). The authors' PyTorch code is in the
paper's supplementary material, not in a public package, so the goldens come from this
transcription (float64, written independently of ``adaptlr``: no JAX, no adaptlr import):

* NGN-M (Algorithm 1), in the paper's two-point form with x_{-1} = x_0:
  gamma_k = c / (1 + c / (2 f(x_k)) |g_k|^2),
  x_{k+1} = x_k - (1 - beta) gamma_k g_k + beta (x_k - x_{k-1}).
* NGN-D: gamma_{k,j} = c / (1 + c / (2 f(x_k)) g_{k,j}^2),  x_{k+1} = x_k - gamma_k * g_k.
* NGN-MD (diagonal steps in NGN-M's two-point form):
  x_{k+1} = x_k - (1 - beta) gamma_k * g_k + beta (x_k - x_{k-1}).

Run with either environment (NumPy only):

    python tests/loss_driven/generate_ngn_variant_goldens.py

Problem: the shared ``quadratic`` of ``tests/reference_problems.py`` (its gradient written
here in closed form) and a small least-squares problem with a non-zero minimum (so that
f never reaches 0 and the NGN steps stay away from their f = 0 limit), 200 full-batch steps.
Writes ``tests/loss_driven/goldens/ngn_variants.npz`` with keys
``<setting>__<problem>__<param>`` (iterates, shape (steps + 1, ...)) and
``<setting>__<problem>__gamma`` (NGN-M: gamma_k; NGN-D/MD: the mean of gamma_{k,j}).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.reference_problems import (  # noqa: E402
    _QUAD_LAM,
    _QUAD_STAR,
    STEPS,
    init_params,
)

OUT = Path(__file__).resolve().parent / "goldens" / "ngn_variants.npz"

#: setting -> (method, c, beta). Defaults first, then two non-default settings each.
SETTINGS: dict[str, tuple[str, float, float]] = {
    "ngn_m_default": ("m", 1.0, 0.9),
    "ngn_m_large_c": ("m", 5.0, 0.5),
    "ngn_m_small_c": ("m", 0.1, 0.99),
    "ngn_d_default": ("d", 1e-3, 0.0),
    "ngn_d_c1": ("d", 1.0, 0.0),
    "ngn_d_c3": ("d", 3.0, 0.0),
    "ngn_md_default": ("md", 1e-2, 0.9),
    "ngn_md_c1": ("md", 1.0, 0.8),
    "ngn_md_c01": ("md", 0.1, 0.0),
}

_RNG = np.random.default_rng(17)
_A = _RNG.standard_normal((12, 5)) / np.sqrt(5.0)
_Y = _RNG.standard_normal(12)
LSQ_INIT = {"w": _RNG.standard_normal((5,))}

PROBLEMS = ("quadratic", "lsq")


def loss_and_grad(problem: str, p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    if problem == "quadratic":
        z = np.concatenate([p["w"].reshape(-1), p["b"]])
        r = z - _QUAD_STAR
        gz = _QUAD_LAM * r
        return 0.5 * float(np.sum(_QUAD_LAM * r * r)), {"w": gz[:20].reshape(4, 5), "b": gz[20:]}
    r = _A @ p["w"] - _Y
    return 0.5 * float(np.mean(r * r)), {"w": _A.T @ r / len(_Y)}


def init(problem: str) -> dict[str, np.ndarray]:
    if problem == "quadratic":
        return {k: np.array(v, np.float64) for k, v in init_params("quadratic").items()}
    return {k: v.copy() for k, v in LSQ_INIT.items()}


def run(problem: str, method: str, c: float, beta: float, steps: int = STEPS) -> dict:
    x = init(problem)
    x_prev = {k: v.copy() for k, v in x.items()}  # x_{-1} = x_0
    traj = {k: [v.copy()] for k, v in x.items()}
    gammas = []
    for _ in range(steps):
        f, g = loss_and_grad(problem, x)
        if method == "m":
            sq = sum(float(np.sum(v * v)) for v in g.values())
            gamma = c / (1.0 + c / (2.0 * f) * sq)
            step = {k: gamma * g[k] for k in g}
            gammas.append(gamma)
        else:
            gam = {k: c / (1.0 + c / (2.0 * f) * g[k] ** 2) for k in g}
            step = {k: gam[k] * g[k] for k in g}
            n = sum(v.size for v in gam.values())
            gammas.append(sum(float(np.sum(v)) for v in gam.values()) / n)
        b = 0.0 if method == "d" else beta
        new = {k: x[k] - (1.0 - b) * step[k] + b * (x[k] - x_prev[k]) for k in x}
        x_prev, x = x, new
        for k, v in x.items():
            traj[k].append(v.copy())
    out = {k: np.stack(v) for k, v in traj.items()}
    out["gamma"] = np.asarray(gammas)
    return out


def main() -> None:
    arrays = {}
    for name, (method, c, beta) in SETTINGS.items():
        for problem in PROBLEMS:
            for k, v in run(problem, method, c, beta).items():
                arrays[f"{name}__{problem}__{k}"] = v
            f0, _ = loss_and_grad(problem, init(problem))
            last = {k: arrays[f"{name}__{problem}__{k}"][-1] for k in init(problem)}
            fT, _ = loss_and_grad(problem, last)
            print(f"{name} {problem}: f_0 = {f0:.4g}, f_T = {fT:.4g}")
    OUT.parent.mkdir(exist_ok=True)
    np.savez(OUT, **arrays)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
