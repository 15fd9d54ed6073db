"""Golden trajectories for SLS and AdaSLS: NumPy transcriptions of the published algorithms.

Run with either environment (NumPy only):

    .venv-ref/bin/python tests/loss_driven/generate_sls_goldens.py [--check-authors DIR]

SLS follows the authors' ``sls`` package (github.com/IssamLaradji/sls, ``sls/sls.py`` and
``sls/utils.py``, Armijo variant), which is the paper's Algorithm 1 (SGD + Armijo) with the
reset rule of its Algorithm 2 numbered as in the package (0 keep, 1 grow by
``gamma ** (1 / n_batches_per_epoch)``, 2 restart from ``init_step_size``), a first search
that already starts from the reset step, no search below a gradient norm of 1e-8, and a step
of 1e-6 after 100 failed trials. ``learning_rate`` (adaptlr's cap on every trial) is ``inf``
except in the "capped" setting. With ``--check-authors DIR`` (a checkout of the authors'
repository; needs PyTorch 2.13.0 of ``.venv-ref``) the script also runs their ``Sls`` class
on the same problems in float64 and checks that the transcription agrees to 1e-12.

AdaSLS transcribes Jiang and Stich (NeurIPS 2023): every step backtracks from
``gamma_max`` by ``beta`` until ``f(x - g g) <= f(x) - rho g |g|^2`` and takes
``eta_t = min(gamma_t / (c sqrt(sum_{s<=t} gamma_s |g_s|^2)), eta_{t-1})``, ``eta_{-1} = inf``.

The problems: a least-squares and a logistic-regression finite sum (32 samples, 5 features),
mini-batches of 8 drawn without replacement in a fixed order (4 per epoch), 40 steps, float64.
Each ``.npz`` holds the data, the batch indices, the parameter trajectory, the step sizes and
the number of loss evaluations per step.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "goldens"
N, D, BATCH, STEPS = 32, 5, 8, 40


def make_problem(kind: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    w_true = rng.normal(size=D)
    if kind == "lstsq":  # interpolation: y = X w* exactly
        y = x @ w_true
    else:  # logistic labels in {0, 1} (not separable in general)
        y = (rng.uniform(size=N) < 1.0 / (1.0 + np.exp(-x @ w_true))).astype(np.float64)
    order = np.concatenate([rng.permutation(N) for _ in range(STEPS * BATCH // N + 1)])
    batches = order[: STEPS * BATCH].reshape(STEPS, BATCH)
    w0 = 0.5 * rng.normal(size=D)
    return {"x": x, "y": y, "batches": batches, "w0": w0}


def loss_and_grad(kind: str, w: np.ndarray, x: np.ndarray, y: np.ndarray,
                  ) -> tuple[float, np.ndarray]:
    z = x @ w
    if kind == "lstsq":
        r = z - y
        return 0.5 * float(np.mean(r * r)), x.T @ r / len(y)
    # mean of log(1 + e^z) - y z, written stably.
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    p = 1.0 / (1.0 + np.exp(-z))
    return loss, x.T @ (p - y) / len(y)


def run_sls(kind: str, data: dict[str, np.ndarray], *, learning_rate: float = math.inf,
            init_step_size: float = 1.0, c: float = 0.1, beta_b: float = 0.9,
            gamma: float = 2.0, reset_option: int = 1, n_batches_per_epoch: int = 4,
            max_backtracking_steps: int = 100) -> dict[str, np.ndarray]:
    w = data["w0"].copy()
    step_size = init_step_size
    traj, steps, evals = [w.copy()], [], []
    for idx in data["batches"]:
        xb, yb = data["x"][idx], data["y"][idx]
        loss, g = loss_and_grad(kind, w, xb, yb)
        if reset_option == 0:
            eta = step_size
        elif reset_option == 1:
            eta = step_size * gamma ** (1.0 / n_batches_per_epoch)
        else:
            eta = init_step_size
        reset = eta
        eta = min(eta, learning_rate)
        sq = float(g @ g)
        applied, n_eval = 0.0, 0
        if math.sqrt(sq) >= 1e-8 and eta > 0:
            found = False
            for _ in range(max_backtracking_steps):
                n_eval += 1
                trial, _ = loss_and_grad(kind, w - eta * g, xb, yb)
                if trial <= loss - eta * c * sq:
                    found = True
                    break
                eta = eta * beta_b
            applied = eta if found else min(1e-6, learning_rate)
            step_size = eta
        else:
            step_size = reset
        w = w - applied * g
        traj.append(w.copy())
        steps.append(applied)
        evals.append(n_eval)
    return {"params": np.array(traj), "step": np.array(steps), "evaluations": np.array(evals)}


def run_adasls(kind: str, data: dict[str, np.ndarray], *, learning_rate: float = 10.0,
               c: float = 1.0, rho: float = 0.5, beta: float = 0.8,
               max_backtracking_steps: int = 100) -> dict[str, np.ndarray]:
    w = data["w0"].copy()
    total, previous = 0.0, math.inf
    traj, steps, evals, searched = [w.copy()], [], [], []
    for idx in data["batches"]:
        xb, yb = data["x"][idx], data["y"][idx]
        loss, g = loss_and_grad(kind, w, xb, yb)
        sq = float(g @ g)
        gam, n_eval = learning_rate, 0
        if sq > 0 and gam > 0:
            for _ in range(max_backtracking_steps):
                n_eval += 1
                trial, _ = loss_and_grad(kind, w - gam * g, xb, yb)
                if trial <= loss - rho * gam * sq:
                    break
                gam = beta * gam
            else:  # never accepted: the step after the last rejection (adaptlr's rule)
                pass
        total += gam * sq
        ratio = gam / (c * math.sqrt(total)) if total > 0 else math.inf
        eta = min(ratio, previous)
        if not math.isfinite(eta):
            eta = 0.0
        else:
            previous = eta
        w = w - eta * g
        traj.append(w.copy())
        steps.append(eta)
        evals.append(n_eval)
        searched.append(gam)
    return {"params": np.array(traj), "step": np.array(steps), "evaluations": np.array(evals),
            "line_search_step": np.array(searched)}


#: name -> (runner, keyword arguments)
SETTINGS: dict[str, tuple[Any, dict[str, Any]]] = {
    "sls_reset1": (run_sls, {}),
    "sls_reset0": (run_sls, {"reset_option": 0, "init_step_size": 4.0}),
    "sls_reset2": (run_sls, {"reset_option": 2, "init_step_size": 2.0, "c": 0.3,
                             "beta_b": 0.7}),
    "sls_capped": (run_sls, {"learning_rate": 0.3, "gamma": 4.0}),
    "adasls_default": (run_adasls, {}),
    "adasls_small": (run_adasls, {"learning_rate": 1.0, "c": 0.5, "rho": 0.1, "beta": 0.9}),
}
PROBLEMS = {"lstsq": 0, "logreg": 1}


def check_against_authors(repo: str) -> None:
    """The authors' ``Sls`` (Armijo) against :func:`run_sls`, float64, on both problems."""
    import torch

    sys.path.insert(0, repo)
    from sls.sls import Sls  # the authors' class, imported from their checkout

    torch.set_default_dtype(torch.float64)
    for kind, seed in PROBLEMS.items():
        data = make_problem(kind, seed)
        for name, (runner, kwargs) in SETTINGS.items():
            if runner is not run_sls or "learning_rate" in kwargs:
                continue  # AdaSLS has no package; the cap is adaptlr's
            ours = run_sls(kind, data, **kwargs)
            w = torch.tensor(data["w0"], requires_grad=True)
            opt = Sls([w], n_batches_per_epoch=4, **{k: v for k, v in kwargs.items()})
            traj = [w.detach().numpy().copy()]
            for idx in data["batches"]:
                xb = torch.tensor(data["x"][idx])
                yb = torch.tensor(data["y"][idx])

                def closure(xb: Any = xb, yb: Any = yb) -> Any:
                    z = xb @ w
                    if kind == "lstsq":
                        return 0.5 * torch.mean((z - yb) ** 2)
                    return torch.mean(torch.logaddexp(torch.zeros_like(z), z) - yb * z)

                opt.zero_grad()
                opt.step(closure)
                traj.append(w.detach().numpy().copy())
            err = float(np.max(np.abs(np.array(traj) - ours["params"])))
            print(f"authors' Sls vs transcription, {name} {kind}: max |diff| {err:.2e}")
            assert err < 1e-12, (name, kind, err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-authors", metavar="DIR", default=None,
                        help="a checkout of github.com/IssamLaradji/sls to check against")
    args = parser.parse_args()
    if args.check_authors:
        check_against_authors(args.check_authors)
    OUT.mkdir(exist_ok=True)
    for kind, seed in PROBLEMS.items():
        data = make_problem(kind, seed)
        for name, (runner, kwargs) in SETTINGS.items():
            out = runner(kind, data, **kwargs)
            path = OUT / f"{name}_{kind}.npz"
            np.savez(path, **data, **out)
            print(f"{path.name}: steps {out['step'][:3]}..., evaluations "
                  f"{int(out['evaluations'].sum())}")


if __name__ == "__main__":
    main()
