"""Reading and replaying the adaptive methods' golden trajectories (see the generator)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.reference_problems import init_params, max_relative_error, run_jax

# No JAX import at module level: the generator (run with PyTorch, without JAX) imports this.

GOLDENS = Path(__file__).resolve().parent / "goldens"

#: Steps whose parameters the golden files store (step 0 is the initial point): every step up
#: to 10, then every 10th up to 200. Errors accumulate, so the later points see every step.
SAVED_STEPS = np.r_[0:11, 20:201:10]

#: The faithfulness bar of the project (CONTRIBUTING.md).
TOLERANCE = 1e-10


def golden(method: str, setting: str, problem: str) -> dict[str, np.ndarray]:
    with np.load(GOLDENS / f"{method}.npz") as data:
        return {name: data[f"{setting}__{problem}__{name}"] for name in init_params(problem)}


def replay_error(method: str, setting: str, problem: str,
                 make_tx: Callable[[], Any]) -> float:
    """Largest relative deviation of adaptlr (float64) from the golden trajectory."""
    import jax

    # The shared MLP loss broadcasts its bias vectors, which tests/conftest.py's strict
    # rank promotion would reject.
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"):
        ours = run_jax(problem, make_tx())
    ours = {name: traj[SAVED_STEPS] for name, traj in ours.items()}
    return max_relative_error(ours, golden(method, setting, problem))
