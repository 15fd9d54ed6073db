"""TRAC: a parameter-free scale for any optimizer, for lifelong and non-stationary training.

TRAC (Muppidi, Zhang and Yang, 2024) runs the base optimizer's iterates ``y`` from a reference
point and plays them at ``x = x_ref + S y``, where the scale ``S`` sums several discounted
"erfi" online tuners (Zhang and Cutkosky's parameter-free one-dimensional learners). It has the
structure of Mechanic (:func:`adaptlr.mechanize`) with a different tuner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adaptlr._base import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    PyTree,
    ScalarOrSchedule,
    check,
    check_all,
    check_real,
    check_tree_match,
    in_float32_for_float16,
    own_copy,
    resolve,
    scalar_dtype,
    tree_vdot,
)

__all__ = ["DEFAULT_BETAS", "RANGES", "TRAC_ADAM_RANGES", "TracState", "erfi",
           "reference_erfi", "trac", "trac_adam"]

RANGES = {
    "learning_rate": NON_NEGATIVE,  # multiplies the base optimizer's updates
    "s_init": POSITIVE,  # the reference's s_prev
    "eps": NON_NEGATIVE,
}

#: The reference's discount factors, ``1 - 10^-k`` for ``k = 1..6``.
DEFAULT_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)

# The reference starts the discounted gradient sum sigma at 1e-8 (not 0, and not tied to eps):
# with sigma = 0 the first tuner output would be erfi(0) = 0 and the iterates would never
# leave x_ref.
_INITIAL_SIGMA = 1e-8

# erfi by its Taylor series below this argument (all terms positive: no cancellation) and by
# its asymptotic series above it, where the series' smallest term is ~exp(-x^2) < 3e-16.
_ERFI_SWITCH = 6.0
_TAYLOR_TERMS = 130
_ASYMPTOTIC_TERMS = 30


class TracState(NamedTuple):
    """State of :func:`trac`. The per-beta fields have shape ``(len(betas),)``."""

    base_state: Any  # the base optimizer's state
    count: jax.Array  # type: ignore[assignment]  # shape=(), int32: updates applied so far
    reference: PyTree  # x_ref, the parameters given to init (parameter dtype)
    scale: jax.Array  # s_t, one per beta (scalar dtype)
    variance: jax.Array  # discounted sum of h^2 (scalar dtype)
    sigma: jax.Array  # discounted sum of -h (scalar dtype)
    effective_lr: jax.Array  # shape=(), scalar dtype: learning_rate * max(sum(s), 0)


def erfi(x: jax.Array) -> jax.Array:
    """The imaginary error function ``erfi(x) = -i erf(i x)`` of a real array, elementwise.

    ``2/sqrt(pi) * sum_n x^(2n+1) / (n! (2n+1))`` for ``|x| < 6`` and
    ``exp(x^2) / (x sqrt(pi)) * sum_k (2k-1)!! / (2x^2)^k`` above; both to a few ulp in
    float64 (checked against ``scipy.special.erfi`` in the tests). Overflows to ``+-inf``
    like ``exp(x^2)``.

    Args:
      x: a real array (float32 or float64).

    Returns:
      ``erfi(x)`` in ``x``'s dtype.
    """
    x = jnp.asarray(x)
    a = jnp.abs(x)
    small = jnp.minimum(a, _ERFI_SWITCH)
    x2 = small * small
    term = small
    total = small
    for n in range(1, _TAYLOR_TERMS):
        # term_n = x^(2n+1) / n!, added as term_n / (2n+1)
        term = term * x2 / n
        total = total + term / (2 * n + 1)
    taylor = total * (2 / math.sqrt(math.pi))
    large = jnp.maximum(a, _ERFI_SWITCH)
    inv = 1 / (2 * large * large)
    series = jnp.ones_like(large)
    term = jnp.ones_like(large)
    for k in range(1, _ASYMPTOTIC_TERMS):
        term = term * (2 * k - 1) * inv
        series = series + term
    asymptotic = jnp.exp(large * large) / (large * math.sqrt(math.pi)) * series
    return jnp.sign(x) * jnp.where(a < _ERFI_SWITCH, taylor, asymptotic)


def _weideman_coefficients(n: int) -> tuple[float, np.ndarray]:
    """``L`` and the polynomial coefficients (highest degree first) of the ``trac-optimizer``
    package's Faddeeva approximation with ``n`` terms (Weideman 1994, as the package builds
    them: its ``ERF_1994(128)``)."""
    m = 2 * n
    k = np.linspace(-m + 1, m - 1, 2 * m - 1)
    big_l = np.sqrt(n / np.sqrt(2.0))
    t = big_l * np.tan(k * np.pi / m / 2)
    f = np.exp(-t * t) * (big_l * big_l + t * t)
    a = np.fft.fft(np.fft.fftshift(f)).real / (2 * m)
    return float(big_l), np.ascontiguousarray(np.flipud(a[1:n + 1]))


_WEIDEMAN_L, _WEIDEMAN_COEFFICIENTS = _weideman_coefficients(128)


def reference_erfi(x: jax.Array) -> jax.Array:
    """``erfi`` as the ``trac-optimizer`` package computes it (the goldens' tuner).

    The package evaluates ``erf(i x)`` from Weideman's rational approximation of the Faddeeva
    function ``w``: ``erfi(x) = -sign(x) exp(x^2) Im w(-|x|)``. As the package builds its
    coefficients, the result is off the true ``erfi`` by up to ~0.9% (relative) for arguments
    near 0.5-1 (measured against mpmath), which changes TRAC's scale by as much; :func:`trac`
    uses it by default so as to follow the package, and :func:`erfi` with
    ``exact_erfi=True``.

    Args:
      x: a real array (float32 or float64).

    Returns:
      The package's ``erfi(x)`` in ``x``'s dtype.
    """
    x = jnp.asarray(x)
    cdtype = jnp.complex128 if x.dtype == jnp.float64 else jnp.complex64
    a = jnp.abs(x).astype(cdtype)
    big_l = jnp.asarray(_WEIDEMAN_L, cdtype)
    # w(z) at z = -|x|: Z = (L + i z) / (L - i z), w = 2 P(Z) / (L - i z)^2 + 1/(sqrt(pi) (L - i z))
    below = big_l + 1j * a
    z_map = (big_l - 1j * a) / below
    poly = jnp.zeros_like(z_map)
    coefficients = _WEIDEMAN_COEFFICIENTS.astype(np.complex128)
    for c in coefficients[:-1]:
        poly = (poly + c.astype(cdtype)) * z_map
    poly = poly + coefficients[-1].astype(cdtype)
    w = 2 * poly / (below * below) + (1 / math.sqrt(math.pi)) / below
    out = 1 - jnp.exp(jnp.log(w) + (a * a))
    return (jnp.imag(out) * jnp.sign(x)).astype(x.dtype)


def trac(
    base_optimizer: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule = 1.0,
    s_init: float = 1e-8,
    eps: float = 1e-8,
    *,
    betas: Sequence[float] = DEFAULT_BETAS,
    exact_erfi: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""Wrap any Optax optimizer in TRAC, which learns a scale for its iterates.

    With :math:`u_t` = ``learning_rate`` times the base optimizer's update at :math:`x_t`,
    :math:`x_\mathrm{ref}` the parameters given to ``init``, :math:`S_t = \sum_i s_{t,i}`
    over the :math:`n` betas (:math:`s_1 = 0`, :math:`v_0 = 0`, :math:`\sigma_0 = 10^{-8}`):

    .. math::

      y_t &= \frac{x_t - x_\mathrm{ref}}{S_t + \epsilon},\qquad
      h_t = \langle y_t, g_t\rangle,\qquad y_{t+1} = y_t + u_t,\\
      v_t &= \beta^2 v_{t-1} + h_t^2,\qquad \sigma_t = \beta\sigma_{t-1} - h_t,\\
      s_{t+1} &= \frac{s_\mathrm{init}}{\operatorname{erfi}(1/\sqrt2)}\,
        \operatorname{erfi}\Bigl(\frac{\sigma_t}{\sqrt2\sqrt{v_t} + \epsilon}\Bigr),\qquad
      x_{t+1} = x_\mathrm{ref} + \max(S_{t+1}, 0)\, y_{t+1},

    per beta (elementwise in :math:`\beta`). The output is :math:`x_{t+1} - x_t` (the base
    optimizer carries the sign). ``effective_lr`` records ``learning_rate``
    :math:`\cdot\max(S_{t+1}, 0)`.

    Args:
      base_optimizer: any ``optax.GradientTransformation`` (its updates are added to the
        parameters, e.g. ``optax.adam(1e-3)``); extra ``update`` arguments such as
        ``value=`` are forwarded to it.
      learning_rate: in ``[0, inf)``, float or schedule, multiplying the base updates (1:
        none; the base's own learning rate works the same).
      s_init: :math:`s_\mathrm{init}` in ``(0, inf)`` (the reference's ``s_prev``), the
        scale of the tuners' initial output.
      eps: :math:`\epsilon` in ``[0, inf)``.
      betas: the :math:`n` discount factors, each in ``[0, 1)`` (keyword).
      exact_erfi: compute :math:`\operatorname{erfi}` to a few ulp (:func:`erfi`) instead of
        by the package's approximation (:func:`reference_erfi`, the default, up to ~0.9% off)
        (keyword).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, adaptlr
      >>> tx = adaptlr.trac(optax.adam(1e-3))
      >>> params = jnp.array([1.0, -2.0])
      >>> state = tx.init(params)
      >>> for _ in range(3):
      ...     grads = jax.grad(lambda p: jnp.sum(p ** 2))(params)
      ...     updates, state = tx.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> bool(adaptlr.effective_lr(state) > 0)
      True

    References:
      Muppidi, Zhang and Yang, *Fast TRAC: A Parameter-Free Optimizer for Lifelong
      Reinforcement Learning*, NeurIPS 2024 (arXiv:2405.16642). Reference code: the authors'
      ``trac-optimizer`` package (0.0.2, ``start_trac`` around a PyTorch optimizer), which
      the goldens come from.

    Departures:
      :math:`x_\mathrm{ref}` is taken from ``init`` (the reference takes the parameters at
      the first step: the same when ``init`` sees the initial parameters). The reference
      computes ``erfi`` through Weideman's complex Faddeeva approximation with 128 terms,
      whose coefficients as the package builds them leave an error of up to ~0.9% (for
      arguments 0.5-1, e.g. :math:`\operatorname{erfi}(1/\sqrt2)`, the normaliser of every
      step); adaptlr reproduces that approximation by default (:func:`reference_erfi`, the
      goldens follow the package to 1e-10) and offers the exact function with
      ``exact_erfi=True``. The paper's tuner is the exact erfi. The reference raises on NaN;
      adaptlr does not check. The update is
      returned as :math:`(x_\mathrm{ref} - x_t) + S y` rather than overwriting the
      parameters (the same to rounding). ``learning_rate`` is an addition (default 1:
      none). The authors' experimental JAX port (``trac_optimizer.experimental.jax``) omits
      the clamp :math:`\max(S, 0)` and keeps the tuners in float32; adaptlr follows the
      PyTorch package.
    """
    check_all(RANGES, learning_rate=learning_rate, s_init=s_init, eps=eps)
    betas = tuple(betas)
    if not betas:
        raise ValueError("betas must hold at least one value in [0, 1), got ()")
    for beta in betas:
        check("betas", beta, UNIT_INTERVAL)
    n = len(betas)
    base = optax.with_extra_args_support(base_optimizer)

    def init_fn(params: PyTree) -> TracState:
        check_real(params, "TRAC")
        dtype = scalar_dtype(params)
        return TracState(
            base_state=base.init(params),
            count=jnp.zeros((), jnp.int32),
            reference=own_copy(params),
            scale=jnp.zeros((n,), dtype),
            variance=jnp.zeros((n,), dtype),
            sigma=jnp.full((n,), _INITIAL_SIGMA, dtype),
            effective_lr=jnp.zeros((), dtype),
        )

    def update_fn(
        updates: PyTree, state: TracState, params: PyTree = None, **extra_args: Any
    ) -> tuple[PyTree, TracState]:
        check_tree_match(updates, params)
        if params is None:
            raise ValueError("trac needs the current parameters: update(g, state, params)")
        base_updates, base_state = base.update(updates, state.base_state, params, **extra_args)
        dtype = state.scale.dtype
        lr = jnp.asarray(resolve(learning_rate, state.count), dtype)

        def work(x: jax.Array) -> jax.Array:
            return x.astype(jnp.promote_types(x.dtype, dtype))

        den = jnp.sum(state.scale) + eps
        den_safe, mask = jnp.where(den > 0, den, 1), (den > 0).astype(dtype)
        def offset(x: jax.Array, x0: jax.Array, den: jax.Array, on: jax.Array) -> jax.Array:
            return (work(x) - work(x0)) / den * on

        y = jax.tree.map(lambda x, x0: offset(x, x0, den_safe, mask), params, state.reference)
        # h recomputes y per leaf from its inputs behind a barrier: XLA:CPU's reduction fusion
        # would otherwise share y (or the scalars' broadcasts, between leaves of one shape)
        # with the update pass and write it out in full.
        y_seen = jax.tree.map(
            lambda x, x0: offset(*jax.lax.optimization_barrier((x, x0, den_safe, mask))),
            params, state.reference)
        h = tree_vdot(y_seen, jax.tree.map(work, updates)).astype(dtype)
        b = jnp.asarray(betas, dtype)
        variance = b * b * state.variance + h * h
        sigma = b * state.sigma - h
        ratio = sigma / (math.sqrt(2.0) * jnp.sqrt(variance) + eps)
        ratio = jnp.where(jnp.isfinite(ratio), ratio, jnp.zeros_like(ratio))
        erfi_fn = erfi if exact_erfi else reference_erfi
        unit = erfi_fn(jnp.asarray(1 / math.sqrt(2.0), dtype))
        scale = s_init / unit * erfi_fn(ratio)
        applied = jnp.maximum(jnp.sum(scale), 0)
        new_updates = jax.tree.map(
            lambda x, x0, yy, u: ((work(x0) - work(x)) + (yy + lr * work(u)) * applied
                                  ).astype(x.dtype),
            params, state.reference, y, base_updates)
        return new_updates, TracState(
            base_state=base_state, count=optax.safe_increment(state.count),
            reference=state.reference, scale=scale, variance=variance, sigma=sigma,
            effective_lr=lr * applied)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


#: Ranges of :func:`trac_adam`'s hyperparameters.
TRAC_ADAM_RANGES = {
    "learning_rate": NON_NEGATIVE, "b1": UNIT_INTERVAL, "b2": UNIT_INTERVAL,
    "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE, "s_init": POSITIVE,
}


def trac_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    s_init: float = 1e-8,
    *,
    betas: Sequence[float] = DEFAULT_BETAS,
    exact_erfi: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""TRAC around Adam(W), as the paper runs it: :func:`trac` of ``optax.adamw``.

    The base update is :math:`-\,\text{learning\_rate}\,(\hat m_t/(\sqrt{\hat v_t}+\epsilon)
    + \text{weight\_decay}\; x_t)`; TRAC learns the scale of the iterates, see :func:`trac`.

    Args:
      learning_rate: in ``[0, inf)``, float or schedule, the base Adam's learning rate
        (default 1: TRAC finds the scale; at 1e-3 the first moves, ``S * 1e-3 ~ 1e-10``, are
        lost to float32 rounding for parameters of size ~1, and TRAC never leaves them).
      b1: Adam's :math:`\beta_1` in ``[0, 1)``.
      b2: Adam's :math:`\beta_2` in ``[0, 1)``.
      eps: Adam's :math:`\epsilon` in ``[0, inf)`` (TRAC's own stays at ``1e-8``).
      weight_decay: the base's decoupled weight decay in ``[0, inf)`` (AdamW).
      s_init: in ``(0, inf)``, see :func:`trac`.
      betas: the tuners' discount factors (keyword), see :func:`trac`.
      exact_erfi: the exact erfi instead of the package's approximation (keyword), see
        :func:`trac`.

    Example:
      >>> import jax.numpy as jnp, adaptlr
      >>> state = adaptlr.trac_adam(learning_rate=1e-3).init(jnp.ones(3))

    References:
      Muppidi, Zhang and Yang, NeurIPS 2024 (see :func:`trac`).

    Departures:
      Those of :func:`trac`. For float16 parameters the base Adam keeps its moments in
      float32 (Optax's would divide 0 by an ``eps`` that is 0 in float16).
    """
    check_all(TRAC_ADAM_RANGES, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps,
              weight_decay=weight_decay, s_init=s_init)
    # float16 leaves run Adam on float32 copies: Optax's Adam divides 0 by an eps that
    # underflows to 0 in float16 after zero gradients (other dtypes are unchanged).
    base = in_float32_for_float16(
        optax.adamw(1.0, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    return trac(base, learning_rate, s_init, betas=betas, exact_erfi=exact_erfi)
