"""Golden trajectories for NGN-M, NGN-D, NGN-MD and NGN-MDv1: the paper's update rules in
NumPy, and the authors' NGN-MDv1 code.

Islamov, Ajroldi, Orvieto and Lucchi, "Enhancing Optimizer Stability: Momentum Adaptation of
The NGN Step-size" (NeurIPS 2025, arXiv:2508.15071). Transcriptions (float64, written
independently of ``adaptlr``: no JAX, no adaptlr import):

* NGN-M (Algorithm 1), in the paper's two-point form with x_{-1} = x_0:
  gamma_k = c / (1 + c / (2 f(x_k)) |g_k|^2),
  x_{k+1} = x_k - (1 - beta) gamma_k g_k + beta (x_k - x_{k-1}).
* NGN-D (Algorithm 3): gamma_{k,j} = c / (1 + c / (2 f(x_k)) g_{k,j}^2),
  x_{k+1} = x_k - gamma_k * g_k.
* NGN-MD (NGN-D's steps in NGN-M's two-point form; Algorithm 2's NGN-MDv2 without its
  RMSprop preconditioner):
  x_{k+1} = x_k - (1 - beta) gamma_k * g_k + beta (x_k - x_{k-1}).
* NGN-MDv1 (Algorithm 2, version 1, with the decoupled weight decay of Appendix G):
  see :func:`run_mdv1`.

The authors' group publishes ``NGN_MDv1`` (PyTorch) in github.com/armanbolatov/plainLM,
``optim/NGNMDv1.py``; there is no public code for NGN-M, NGN-D or NGN-MDv2. Run

    .venv-ref/bin/python tests/loss_driven/generate_ngn_variant_goldens.py --authors DIR

with DIR a checkout of that repository (kept outside this one; only its ``optim/NGNMDv1.py``
is imported): the NGN-MDv1 goldens without weight decay are then the authors' trajectories,
and every setting is checked against the transcription (to 1e-10; with weight decay, against
the transcription with the decay left out of the first step, as the authors' code does).
Without ``--authors`` (NumPy only) all goldens come from the transcriptions.

Problems: the shared ``quadratic`` of ``tests/reference_problems.py`` (its gradient written
here in closed form) and a small least-squares problem with a non-zero minimum (so that
f never reaches 0 and the NGN steps stay away from their f = 0 limit), 200 full-batch steps.
Writes ``tests/loss_driven/goldens/ngn_variants.npz`` and ``.../ngn_mdv1.npz`` with keys
``<setting>__<problem>__<param>`` (iterates, shape (steps + 1, ...)) and
``<setting>__<problem>__gamma`` (NGN-M and NGN-MDv1: gamma_k; NGN-D/MD: the mean of
gamma_{k,j}).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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


# --------------------------------------------------------------------------------------------
# NGN-MDv1 (Algorithm 2, version 1) with the decoupled weight decay of Appendix G
# --------------------------------------------------------------------------------------------

OUT_MDV1 = Path(__file__).resolve().parent / "goldens" / "ngn_mdv1.npz"

#: setting -> (c, b1, b2, eps, weight_decay). Ours/the code's defaults first.
MDV1_SETTINGS: dict[str, tuple[float, float, float, float, float]] = {
    "mdv1_default": (1e-3, 0.9, 0.999, 1e-8, 0.0),
    "mdv1_c1": (1.0, 0.9, 0.999, 1e-8, 0.0),
    "mdv1_c01": (0.1, 0.8, 0.99, 1e-6, 0.0),
    "mdv1_b1_zero": (1.0, 0.0, 0.9, 1e-8, 0.0),
    "mdv1_wd": (0.1, 0.9, 0.999, 1e-8, 0.1),
    "mdv1_wd_large": (0.5, 0.8, 0.99, 1e-6, 0.02),
}


def run_mdv1(problem: str, c: float, b1: float, b2: float, eps: float, wd: float,
             steps: int = STEPS, decay_from_step: int = 0) -> dict:
    """Algorithm 2, NGN-MDv1, in its two-point form with x_{-1} = x_0 and v_{-1} = 0:

    v_k = b2 v_{k-1} + (1 - b2) g_k^2,  D_k = eps + sqrt(v_k / (1 - b2^(k+1))),
    gamma_k = c / (1 + c / (2 f(x_k)) sum_j g_kj^2 / D_kj),
    x_{k+1} = x_k - (1 - b1) gamma_k g_k / D_k + b1 (x_k - x_{k-1}) - c wd x_k.

    ``decay_from_step=1`` leaves the decay out of the first step, as the authors' code does
    (used only to check that code; the goldens decay at every step).
    """
    x = init(problem)
    x_prev = {k: v.copy() for k, v in x.items()}
    v = {k: np.zeros_like(a) for k, a in x.items()}
    traj = {k: [a.copy()] for k, a in x.items()}
    gammas = []
    for k_step in range(steps):
        f, g = loss_and_grad(problem, x)
        v = {k: b2 * v[k] + (1.0 - b2) * g[k] ** 2 for k in x}
        d = {k: eps + np.sqrt(v[k] / (1.0 - b2 ** (k_step + 1))) for k in x}
        sq = sum(float(np.sum(g[k] ** 2 / d[k])) for k in x)
        gamma = c / (1.0 + c / (2.0 * f) * sq)
        gammas.append(gamma)
        lam = wd if k_step >= decay_from_step else 0.0
        new = {k: x[k] - (1.0 - b1) * gamma * g[k] / d[k] + b1 * (x[k] - x_prev[k])
               - c * lam * x[k] for k in x}
        x_prev, x = x, new
        for k, a in x.items():
            traj[k].append(a.copy())
    out = {k: np.stack(a) for k, a in traj.items()}
    out["gamma"] = np.asarray(gammas)
    return out


def run_authors_mdv1(repo: str, problem: str, c: float, b1: float, b2: float, eps: float,
                     wd: float, steps: int = STEPS) -> dict:
    """The authors' ``NGN_MDv1`` (``optim/NGNMDv1.py`` of a plainLM checkout), float64."""
    import torch

    sys.path.insert(0, repo)
    from optim.NGNMDv1 import NGN_MDv1  # the authors' class, imported from their checkout

    params = {k: torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))
              for k, a in init(problem).items()}
    opt = NGN_MDv1(list(params.values()), lr=c, betas=(b1, b2), eps=eps, weight_decay=wd)
    if problem == "quadratic":
        lam = torch.tensor(_QUAD_LAM, dtype=torch.float64)
        star = torch.tensor(_QUAD_STAR, dtype=torch.float64)
    a_mat = torch.tensor(_A, dtype=torch.float64)
    y = torch.tensor(_Y, dtype=torch.float64)

    def loss_fn() -> Any:
        if problem == "quadratic":
            z = torch.cat([params["w"].reshape(-1), params["b"]])
            return 0.5 * torch.sum(lam * (z - star) ** 2)
        return 0.5 * torch.mean((a_mat @ params["w"] - y) ** 2)

    traj = {k: [p.detach().numpy().copy()] for k, p in params.items()}
    gammas = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step(loss=loss.detach())
        gammas.append(float(opt.diagnostics["optim/lr_eff"]))
        for k, p in params.items():
            traj[k].append(p.detach().numpy().copy())
    out = {k: np.stack(a) for k, a in traj.items()}
    out["gamma"] = np.asarray(gammas)
    return out


def max_error(a: dict, b: dict, key: str, problem: str) -> float:
    """Largest difference of ``a[key]`` and ``b[key]`` relative to max(1, |b|); for gamma,
    only over steps with f(x_k) > 1e-12: where f and |g|^2 both vanish, gamma_k is a ratio
    of rounding errors and no longer moves the iterates."""
    x, y = a[key], b[key]
    if key == "gamma":
        names = [k for k in b if k != "gamma"]
        f = np.array([loss_and_grad(problem, {k: b[k][i] for k in names})[0]
                      for i in range(len(y))])
        x, y = x[f > 1e-12], y[f > 1e-12]
    scale = np.maximum(1.0, np.abs(y))
    return float(np.max(np.abs(x - y) / scale)) if len(y) else 0.0


def mdv1_goldens(authors: str | None) -> dict[str, np.ndarray]:
    """Goldens for NGN-MDv1. Without weight decay they are the authors' trajectories when
    ``authors`` is given (the transcription otherwise; the two agree to 1e-10, checked
    here); with weight decay they are the transcription's, which decays at every step, and
    the authors' code is checked against the transcription with the decay left out of the
    first step, as that code does."""
    arrays: dict[str, np.ndarray] = {}
    for name, (c, b1, b2, eps, wd) in MDV1_SETTINGS.items():
        for problem in PROBLEMS:
            ours = run_mdv1(problem, c, b1, b2, eps, wd)
            golden = ours
            if authors is not None:
                theirs = run_authors_mdv1(authors, problem, c, b1, b2, eps, wd)
                ref = ours if wd == 0 else run_mdv1(problem, c, b1, b2, eps, wd,
                                                    decay_from_step=1)
                for k in ref:
                    err = max_error(theirs, ref, k, problem)
                    print(f"authors' NGN_MDv1 vs transcription, {name} {problem} {k}: "
                          f"{err:.1e}")
                    assert err < 1e-10, (name, problem, k, err)
                if wd == 0:
                    golden = theirs
            for k, a in golden.items():
                arrays[f"{name}__{problem}__{k}"] = a
            f0, _ = loss_and_grad(problem, init(problem))
            fT, _ = loss_and_grad(problem, {k: golden[k][-1] for k in init(problem)})
            print(f"{name} {problem}: f_0 = {f0:.4g}, f_T = {fT:.4g}")
    arrays["source"] = np.asarray("authors' NGN_MDv1 (wd = 0), transcription (wd > 0)"
                                  if authors else "transcription")
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors", metavar="DIR", default=None,
                        help="a checkout of github.com/armanbolatov/plainLM (its "
                             "optim/NGNMDv1.py); runs the authors' NGN_MDv1 with PyTorch and "
                             "takes the NGN-MDv1 goldens from it")
    args = parser.parse_args()
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
    np.savez(OUT_MDV1, **mdv1_goldens(args.authors))
    print(f"wrote {OUT_MDV1}")


if __name__ == "__main__":
    main()
