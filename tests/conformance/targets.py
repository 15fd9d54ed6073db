"""Per-method progress targets for the conformance suite's two problems.

Each registered method, built with its registered defaults (nothing tuned here), runs ``steps``
full-batch steps on the ill-conditioned quadratic and on Rosenbrock (``problems.py``); the final
loss divided by the initial loss must be below ``quadratic`` and ``rosenbrock``. ``why`` says
where the numbers come from: the tolerance is set from what the method's maths gives with those
defaults (step size, number of steps), never widened to make a failing method pass. A method
that does nothing scores 1.0; one with the wrong sign or a broken step diverges.

Every registered method must have an entry (a test checks this).
"""

from __future__ import annotations

from typing import NamedTuple


class Target(NamedTuple):
    steps: int
    quadratic: float  # bound on f(x_T) / f(x_0) on the quadratic
    rosenbrock: float  # bound on f(x_T) / f(x_0) on Rosenbrock
    why: str


TARGETS: dict[str, Target] = {
    # --- baseline ---
    # --- parameter_free ---
    # --- polyak / hypergradient / per_parameter_lr ---
    # --- adaptive ---
}
