"""Train many configurations as one program: vmapped, sharded over devices, chunked by memory.

A learning-rate sweep is K trainings that differ only in a few numbers. :func:`sweep` turns any
``train_one(config) -> result`` into one program over the leading axis of ``configs``: the
configuration axis is split over a 1-D device mesh with :func:`jax.shard_map`, and each device
trains its share vectorised with ``jax.vmap`` (GPU, TPU) or one after another in a ``lax.map``
loop (CPU, where the parallelism comes from the devices; see ``vmap_size``). :func:`train_sweep`
builds ``train_one`` for the usual case, a training loop written as ``lax.scan``.

Public API::

    class SweepResult(NamedTuple):
        params           # final parameters, leading axis K
        losses           # (K, steps // record_every) float32 mean training loss of each block
        eval_metrics     # {name: (K, n_evals)} float32, eval_fn every eval_every steps and at end
        effective_lr     # (K, steps // record_every) float32, or {group: (K, R)} for several groups
        diverged         # (K,) bool
        diverged_at      # (K,) int32 step at which the configuration diverged, -1 if it did not

    train_sweep(loss_fn, init_fn, make_optimizer, hyperparams, seeds, batch_fn, steps, *,
                eval_fn=None, eval_every=0, record_every=1, needs_value=False,
                divergence_factor=1e3, devices=None, chunk_size=None,
                vmap_size="auto") -> SweepResult
    sweep(train_one, configs, *, devices=None, chunk_size=None, vmap_size="auto")
        -> train_one's results with leading axis K
    evaluation_steps(steps, eval_every, has_eval=True) -> list[int]   # when eval_fn ran
    step_key(data_key, step) -> key  # the key batch_fn(step, key) gets at each step
    use_host_devices(n)              # expose n CPU devices; call before JAX starts

**Devices.** ``devices`` defaults to ``jax.devices()``: every device of every process. K need
not be a multiple of the device count: the configuration axis is padded by repeating the last
configuration and the padding is dropped from the result. On a CPU, XLA shows one device by
default and a tiny model gains nothing from ``vmap`` alone (batched small matrix products cost
more CPU time than the same products one by one); :func:`use_host_devices` exposes the cores as
separate devices so that the configurations run in parallel on all of them, each device looping
over its share. On a GPU the whole share of a device is one vmapped program, which is where
batching pays: K small models fill the GPU about as fast as one.

**Memory.** With ``chunk_size=None`` the whole (padded) sweep is compiled once and XLA's memory
analysis of that program is compared with the memory free on each device (``memory_stats`` on
accelerators, ``MemAvailable`` shared by the host devices on CPU). When it does not fit, the
configuration axis is processed in equal chunks small enough to fit, one after another.
Compiled programs are kept (the last eight) so that calling :func:`sweep` again with the same
``train_one`` object, devices and shapes does not compile again.

**Processes.** After ``jax.distributed.initialize`` the mesh spans the devices of all
processes. Every process must call with the same arguments; inputs are placed with
``jax.make_array_from_callback`` and the results are all-gathered, so every process returns the
full result.

**Divergence.** In :func:`train_sweep` a configuration whose loss or update is not finite, or
whose loss exceeds ``divergence_factor * |initial loss|``, is frozen at that step: its
parameters and optimizer state stop changing (they are the ones that produced the bad loss or
update, so they are finite unless the initial parameters were not), its
recorded losses and evaluation metrics are NaN from that step on, and ``diverged_at`` says when.
Configurations never interact, so one divergence cannot disturb another.

Example:
  >>> import jax, jax.numpy as jnp, optax
  >>> from adaptlr.sweep import train_sweep
  >>> result = train_sweep(
  ...     loss_fn=lambda w, batch: 0.5 * jnp.sum(w**2),
  ...     init_fn=lambda key: jnp.ones(2),
  ...     make_optimizer=lambda hp: optax.inject_hyperparams(optax.sgd)(hp["learning_rate"]),
  ...     hyperparams={"learning_rate": jnp.array([0.1, 0.5, 3.0])},
  ...     seeds=jnp.arange(3),
  ...     batch_fn=lambda step, key: None,
  ...     steps=10,
  ... )
  >>> [round(float(x), 4) for x in result.params[:2, 0]]   # (1 - lr)**10
  [0.3487, 0.001]
  >>> result.diverged.tolist(), int(result.diverged_at[2])   # loss 4**t > 1e3 at t = 5
  ([False, False, True], 5)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from adaptlr._base import PyTree
from adaptlr.introspect import effective_lr_scalars

__all__ = [
    "SweepResult",
    "batch_loss",
    "evaluation_steps",
    "step_key",
    "sweep",
    "train_sweep",
    "use_host_devices",
]

_AXIS = "config"
_FLAG = "--xla_force_host_platform_device_count"
#: Fraction of the free memory a chunk may plan to use (XLA's estimate is not exact).
_MEMORY_FRACTION = 0.7
#: Compiled sweep programs, keyed by (train_one, devices, input structure and shapes).
_COMPILED: dict[Any, Any] = {}
_COMPILED_CACHE_SIZE = 8


class SweepResult(NamedTuple):
    """What :func:`train_sweep` returns; every field has the configuration axis K first."""

    params: PyTree  # leaves (K, ...): final parameters (frozen at divergence)
    losses: jax.Array  # (K, steps // record_every) float32: mean training loss of each block
    eval_metrics: dict[str, jax.Array]  # each (K, n_evals) float32, see evaluation_steps
    effective_lr: jax.Array | dict[str, jax.Array]  # (K, steps // record_every) float32
    diverged: jax.Array  # (K,) bool
    diverged_at: jax.Array  # (K,) int32: step of divergence, -1 if none


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------


def use_host_devices(n: int) -> None:
    """Expose ``n`` CPU devices to JAX (``--xla_force_host_platform_device_count``).

    XLA's CPU backend presents the whole machine as one device and runs a small model on about
    one core. With ``n`` host devices (typically the number of cores), :func:`sweep` places a
    share of the configurations on each and they run in parallel. The flag is read when JAX
    starts its backends, so call this at the top of a script, before any JAX computation.

    Args:
      n: number of host devices, an integer in [1, inf).

    Raises:
      ValueError: ``n`` is not a positive integer.
      RuntimeError: JAX's backends are already running with a different number of CPU devices.

    Example:
      >>> from adaptlr.sweep import use_host_devices
      >>> use_host_devices(0)
      Traceback (most recent call last):
      ...
      ValueError: n must be an integer in [1, inf), got 0
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer in [1, inf), got {n!r}")
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        have = len(jax.devices("cpu"))
        if have == n:
            return
        raise RuntimeError(
            f"JAX is already initialised with {have} CPU device(s); call "
            f"use_host_devices({n}) before the first JAX computation, or set "
            f"XLA_FLAGS={_FLAG}={n} in the environment"
        )
    flags = re.sub(rf"{_FLAG}=\S*", "", os.environ.get("XLA_FLAGS", "")).split()
    os.environ["XLA_FLAGS"] = " ".join([*flags, f"{_FLAG}={int(n)}"])


def _leading_size(configs: PyTree) -> int:
    leaves = jax.tree.leaves(configs)
    if not leaves:
        raise ValueError("configs must hold at least one array with a leading configuration axis")
    sizes = {np.shape(x)[0] if np.ndim(x) else -1 for x in leaves}
    if -1 in sizes or len(sizes) != 1:
        raise ValueError(
            "every leaf of configs must have the same leading (configuration) axis, got "
            f"shapes {[np.shape(x) for x in leaves]}"
        )
    k = sizes.pop()
    if k < 1:
        raise ValueError(f"configs must hold at least one configuration, got K={k}")
    return int(k)


def _plan(k: int, n_devices: int, max_chunk: int) -> tuple[int, int]:
    """(chunk, n_chunks): equal chunks, multiples of ``n_devices``, at most ``max_chunk``
    rounded up to a multiple of ``n_devices``."""
    per_device = math.ceil(k / n_devices)
    max_per_device = max(1, math.ceil(max_chunk / n_devices))
    n_chunks = math.ceil(per_device / max_per_device)
    chunk_per_device = math.ceil(per_device / n_chunks)
    return chunk_per_device * n_devices, n_chunks


def _free_bytes_per_device(devices: Sequence[jax.Device]) -> float | None:
    device = devices[0]
    try:
        stats = device.memory_stats()
    except Exception:  # some backends do not implement it
        stats = None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    if device.platform == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        local = [d for d in devices if d.process_index == device.process_index]
                        return float(line.split()[1]) * 1024 / max(1, len(local))
        except OSError:
            return None
    return None


def _program_bytes(compiled: Any) -> float | None:
    try:
        stats = compiled.memory_analysis()
    except Exception:
        return None
    if stats is None:
        return None
    return float(
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )


def _max_chunk_for_memory(
    program_bytes: float, configs_per_device: int, free_bytes: float, n_devices: int
) -> int:
    """Largest multiple of ``n_devices`` configurations whose program fits in ``free_bytes``."""
    per_config = program_bytes / configs_per_device
    fit = int((_MEMORY_FRACTION * free_bytes) // per_config) if per_config > 0 else 1
    return max(1, fit) * n_devices


def _pad(configs: PyTree, total: int) -> PyTree:
    def pad(x: Any) -> np.ndarray:
        x = np.asarray(x)
        extra = total - x.shape[0]
        if extra == 0:
            return x
        return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)

    return jax.tree.map(pad, configs)


def _default_vmap_size(devices: Sequence[jax.Device]) -> int | None:
    # On XLA's CPU backend batching small models saves little: a vmapped K=16 MNIST-1D MLP
    # sweep needs 0.8-0.96x the CPU time of 16 sequential runs, a lax.map loop over the same 16
    # 0.64-0.73x (benchmarks/sweep_speedup.py, several runs). So each CPU device loops over its
    # configurations and the cores work in parallel as host devices; accelerators vectorise.
    return 1 if devices[0].platform == "cpu" else None


def sweep(
    train_one: Callable[[PyTree], PyTree],
    configs: PyTree,
    *,
    devices: Sequence[jax.Device] | None = None,
    chunk_size: int | None = None,
    vmap_size: int | str | None = "auto",
) -> PyTree:
    """Run ``train_one`` on every configuration along the leading axis of ``configs``.

    ``train_one`` sees one configuration (the leaves of ``configs`` without their leading axis)
    and must be traceable; the result has the leaves of ``train_one``'s output with a leading
    axis K. The configurations are split over a 1-D mesh of ``devices``; each device trains its
    share as ``vmap_size`` says. As with ``jax.jit``, arrays that ``train_one`` closes over are
    baked into the compiled program, which is reused for the same ``train_one`` object.

    Args:
      train_one: ``config -> result``, both pytrees of arrays.
      configs: pytree of arrays (host or device) sharing a leading axis of size K >= 1.
      devices: the mesh, default ``jax.devices()`` (all processes).
      chunk_size: configurations per program, an integer in [1, inf) rounded up to a multiple
        of the device count; ``None`` decides from memory (see the module docstring).
      vmap_size: how many configurations one device trains at once with ``jax.vmap``; the
        rest of its share follows in a loop (``lax.map(..., batch_size=vmap_size)``). An integer
        in [1, inf), ``None`` for all at once, or ``"auto"``: 1 on CPU (where batching a small
        model costs more than it saves and the cores are used through host devices instead),
        all at once on GPU and TPU.

    Returns:
      ``train_one``'s output pytree with leading axis K, as ``jax.Array``.

    Example:
      >>> import jax.numpy as jnp
      >>> from adaptlr.sweep import sweep
      >>> sweep(lambda c: c["a"] * c["b"], {"a": jnp.arange(3.0), "b": jnp.full(3, 2.0)})
      Array([0., 2., 4.], dtype=float32)
    """
    k = _leading_size(configs)
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must name at least one device")
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be an integer in [1, inf) or None, got {chunk_size!r}")
    if isinstance(vmap_size, str):
        if vmap_size != "auto":
            raise ValueError(
                f"vmap_size must be an integer in [1, inf), None or 'auto', got {vmap_size!r}"
            )
        vmap_size = _default_vmap_size(devices)
    elif vmap_size is not None and (
        isinstance(vmap_size, bool) or not isinstance(vmap_size, (int, np.integer)) or vmap_size < 1
    ):
        raise ValueError(
            f"vmap_size must be an integer in [1, inf), None or 'auto', got {vmap_size!r}"
        )
    n = len(devices)
    mesh = Mesh(np.asarray(devices), (_AXIS,))
    sharding = NamedSharding(mesh, P(_AXIS))
    multiprocess = any(d.process_index != jax.process_index() for d in devices)

    # Host copies, so that padding and slicing are cheap and work the same in every process.
    host_configs = jax.tree.map(np.asarray, configs)

    def train_share(local_configs: PyTree) -> PyTree:
        local = jax.tree.leaves(local_configs)[0].shape[0]
        if vmap_size is None or vmap_size >= local:
            return jax.vmap(train_one)(local_configs)
        if vmap_size == 1:
            return jax.lax.map(train_one, local_configs)
        return jax.lax.map(train_one, local_configs, batch_size=int(vmap_size))

    program = jax.jit(
        jax.shard_map(
            train_share,
            mesh=mesh,
            in_specs=P(_AXIS),
            out_specs=P(_AXIS),
            check_vma=False,
        )
    )

    def place(tree: PyTree) -> PyTree:
        def put(x: np.ndarray) -> jax.Array:
            return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

        return jax.tree.map(put, tree)

    def compile_for(inputs: PyTree) -> Any:
        # Repeated sweeps of the same train_one (same shapes, same devices) reuse the program.
        key = (
            train_one,
            vmap_size,
            tuple(devices),
            jax.tree.structure(inputs),
            tuple((x.shape, x.dtype) for x in jax.tree.leaves(inputs)),
        )
        try:
            return _COMPILED[key]
        except KeyError:
            pass
        except TypeError:  # unhashable train_one: no caching
            return program.lower(inputs).compile()
        compiled = program.lower(inputs).compile()
        if len(_COMPILED) >= _COMPILED_CACHE_SIZE:
            del _COMPILED[next(iter(_COMPILED))]
        _COMPILED[key] = compiled
        return compiled

    chunk, n_chunks = _plan(k, n, k if chunk_size is None else int(chunk_size))
    padded = _pad(host_configs, chunk * n_chunks)
    first = place(jax.tree.map(lambda x: x[:chunk], padded))
    compiled = compile_for(first)
    if chunk_size is None:
        need, free = _program_bytes(compiled), _free_bytes_per_device(devices)
        if need is not None and free is not None and need > _MEMORY_FRACTION * free:
            max_chunk = _max_chunk_for_memory(need, chunk // n, free, n)
            chunk, n_chunks = _plan(k, n, max_chunk)
            padded = _pad(host_configs, chunk * n_chunks)
            first = place(jax.tree.map(lambda x: x[:chunk], padded))
            compiled = compile_for(first)

    outputs = []
    for i in range(n_chunks):
        inputs = (
            first
            if i == 0
            else place(jax.tree.map(lambda x, i=i: x[i * chunk : (i + 1) * chunk], padded))
        )
        out = compiled(inputs)
        if multiprocess:
            from jax.experimental import multihost_utils

            out = jax.tree.map(jnp.asarray, multihost_utils.process_allgather(out, tiled=True))
        outputs.append(out)
    if n_chunks == 1:
        result = outputs[0]
    else:
        result = jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *outputs)
    if chunk * n_chunks == k:
        return result
    return jax.tree.map(lambda x: x[:k], result)


# --------------------------------------------------------------------------------------------
# Training sweeps
# --------------------------------------------------------------------------------------------


def evaluation_steps(steps: int, eval_every: int, has_eval: bool = True) -> list[int]:
    """The steps after which :func:`train_sweep` calls ``eval_fn`` (column order of metrics).

    Every ``eval_every`` steps, plus the end when ``steps`` is not a multiple; only the end
    when ``eval_every == 0``; none without ``eval_fn``.

    Example:
      >>> from adaptlr.sweep import evaluation_steps
      >>> evaluation_steps(10, 4), evaluation_steps(8, 4), evaluation_steps(8, 0)
      ([4, 8, 10], [4, 8], [8])
    """
    if not has_eval:
        return []
    if eval_every == 0:
        return [steps]
    marks = list(range(eval_every, steps + 1, eval_every))
    if steps % eval_every:
        marks.append(steps)
    return marks


def _check_int(name: str, value: Any, lower: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lower:
        raise ValueError(f"{name} must be an integer in [{lower}, inf), got {value!r}")
    return int(value)


def step_key(data_key: jax.Array, step: Any) -> jax.Array:
    """The random key of training step ``step``: ``jax.random.fold_in(data_key, step)``.

    The batch-function contract shared by :func:`train_sweep`,
    :func:`adaptlr.finder.lr_range_test` and the benchmark tasks is ``batch_fn(step, key) ->
    batch`` where ``key`` is this step's own key, so ``lambda step, key: sample(key)`` draws a
    fresh batch at every step. Call it in a hand-written loop to reproduce a sweep's batches.

    Example:
      >>> import jax
      >>> from adaptlr.sweep import step_key
      >>> data_key = jax.random.key(0)
      >>> bool(jax.random.normal(step_key(data_key, 0)) != jax.random.normal(step_key(data_key, 1)))
      True
    """
    return jax.random.fold_in(data_key, step)


def batch_loss(loss_fn: Callable[..., Any], batch: Any,
               has_aux: bool = False) -> Callable[[PyTree], jax.Array]:
    """``params -> loss_fn(params, batch)`` (the loss without its aux): the ``value_fn`` a
    line search (``MethodSpec.needs_value_fn``) evaluates at its trial points, on the batch
    that gave the gradient.

    Example:
      >>> import jax.numpy as jnp
      >>> from adaptlr.sweep import batch_loss
      >>> fn = batch_loss(lambda p, b: jnp.sum((p - b) ** 2), jnp.ones(2))
      >>> float(fn(jnp.zeros(2)))
      2.0
    """

    def value_fn(params: PyTree) -> jax.Array:
        out = loss_fn(params, batch)
        return out[0] if has_aux else out

    return value_fn


class _Carry(NamedTuple):
    params: PyTree
    opt_state: PyTree
    step: jax.Array  # shape=(), int32
    initial_loss: jax.Array  # shape=(), float32: loss at step 0
    diverged: jax.Array  # shape=(), bool
    diverged_at: jax.Array  # shape=(), int32


def train_sweep(
    loss_fn: Callable[..., Any],
    init_fn: Callable[[jax.Array], PyTree],
    make_optimizer: Callable[[dict[str, jax.Array]], optax.GradientTransformation],
    hyperparams: dict[str, Any],
    seeds: Any,
    batch_fn: Callable[[jax.Array, jax.Array], Any],
    steps: int,
    *,
    eval_fn: Callable[[PyTree, PyTree], dict[str, jax.Array]] | None = None,
    eval_every: int = 0,
    record_every: int = 1,
    needs_value: bool = False,
    needs_value_fn: bool = False,
    divergence_factor: float = 1e3,
    devices: Sequence[jax.Device] | None = None,
    chunk_size: int | None = None,
    vmap_size: int | str | None = "auto",
    on_eval: Callable[[PyTree, dict[str, jax.Array]], PyTree] | None = None,
) -> SweepResult:
    """Train K configurations at once, each a full training loop in ``lax.scan``.

    Configuration ``i`` uses ``hyperparams[name][i]`` and ``seeds[i]``. From the seed come two
    keys, ``init_key, data_key = jax.random.split(jax.random.key(seed))``: the parameters are
    ``init_fn(init_key)`` and the batch of step ``t`` is ``batch_fn(t, step_key(data_key, t))``
    where :func:`step_key` is ``jax.random.fold_in``: every step gets its own key, so
    ``lambda step, key: sample(key)`` draws a new batch each step, and a ``batch_fn`` that
    indexes by ``step`` may ignore the key. The optimizer is
    ``make_optimizer({name: scalar})``, built inside the trace, so the hyperparameters are
    traced scalars: pass them to ``optax.inject_hyperparams``-built optimizers, or to any
    factory that accepts arrays (not to Python-side validation of concrete numbers).

    Each step computes ``loss, grads`` at the current parameters, then applies the update
    unless the configuration has diverged (module docstring). The training loss is recorded as
    the mean over each block of ``record_every`` steps; the step-size trace is read with
    :func:`adaptlr.effective_lr_scalars` at the end of each block. Steps after the last full
    block are trained but not recorded.

    Args:
      loss_fn: ``(params, batch) -> loss`` or ``(loss, aux)`` (aux is ignored).
      init_fn: ``key -> params``.
      make_optimizer: ``hyperparams -> optax.GradientTransformation``.
      hyperparams: ``{name: array of shape (K,)}`` (may be empty).
      seeds: integer array of shape (K,).
      batch_fn: ``(step, key) -> batch``, traceable; ``key`` is the step's own key
        (``step_key(data_key, step)``). The same signature as the ``batches`` function of
        :func:`adaptlr.finder.lr_range_test` and the benchmark tasks' ``batch_fn``.
      steps: number of training steps, an integer in [1, inf).
      eval_fn: ``(params, opt_state) -> {name: scalar}``; ``opt_state`` lets Schedule-Free-like
        methods evaluate their averaged iterate.
      eval_every: evaluate every this many steps, an integer in [0, inf) that is a multiple of
        ``record_every``; 0 evaluates only at the end. See :func:`evaluation_steps`.
      record_every: block length of the loss and step-size records, an integer in [1, steps].
      needs_value: pass ``value=loss`` to the optimizer's update (loss-value methods).
      needs_value_fn: also pass ``value_fn=``, the loss of the step's batch as a function of
        the parameters (line searches: ``MethodSpec.needs_value_fn``).
      divergence_factor: in (1, inf]; a loss above ``divergence_factor * |initial loss|``
        counts as divergence (``inf`` disables this test; non-finite values always count).
      devices, chunk_size, vmap_size: as in :func:`sweep`.
      on_eval: ``(opt_state, metrics) -> opt_state``, applied after each periodic evaluation
        (not the final one of a partial segment), e.g. a reduce-on-plateau controller's
        ``step`` fed a validation metric (:func:`adaptlr.plateau_controller`).

    Returns:
      A :class:`SweepResult`. ``effective_lr`` is one array when the optimizer has one
      parameter group (a per-parameter method's step sizes as their parameter-count-weighted
      mean, as :func:`adaptlr.effective_lr`), a dict keyed by group name like
      :func:`adaptlr.effective_lrs` when it has several, and ``{}`` when it records none.
    """
    steps = _check_int("steps", steps, 1)
    record_every = _check_int("record_every", record_every, 1)
    eval_every = _check_int("eval_every", eval_every, 0)
    if record_every > steps:
        raise ValueError(f"record_every must be in [1, steps={steps}], got {record_every}")
    if eval_every % record_every:
        raise ValueError(
            f"eval_every must be a multiple of record_every={record_every}, got {eval_every}"
        )
    factor = float(divergence_factor)
    if not factor > 1.0:
        raise ValueError(f"divergence_factor must be in (1, inf], got {divergence_factor!r}")
    if not isinstance(hyperparams, dict):
        raise ValueError("hyperparams must be a dict {name: array of shape (K,)}")
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError(
            f"seeds must be an integer array of shape (K,), got {seeds.dtype}{seeds.shape}"
        )
    k = seeds.shape[0]
    for name, values in hyperparams.items():
        if np.shape(values) != (k,):
            raise ValueError(
                f"hyperparams[{name!r}] must have shape (K,) = ({k},) like seeds, got "
                f"{np.shape(values)}"
            )

    n_records = steps // record_every
    blocks_per_eval = eval_every // record_every if eval_every else 0
    if eval_fn is not None and eval_every:
        n_full_evals, tail = steps // eval_every, steps % eval_every
    else:
        n_full_evals, tail = 0, steps

    def train_one(config: dict[str, Any]) -> tuple[Any, ...]:
        hp = config["hyperparams"]
        init_key, data_key = jax.random.split(jax.random.key(config["seed"]))

        def batch_at(step: jax.Array) -> Any:
            return batch_fn(step, step_key(data_key, step))

        params = init_fn(init_key)
        tx = make_optimizer(hp)
        opt_state = tx.init(params)
        has_aux = isinstance(
            jax.eval_shape(loss_fn, params, batch_at(jnp.zeros((), jnp.int32))), tuple
        )
        value_and_grad = jax.value_and_grad(loss_fn, has_aux=has_aux)

        def one_step(carry: _Carry, _: None) -> tuple[_Carry, jax.Array]:
            batch = batch_at(carry.step)
            loss, grads = value_and_grad(carry.params, batch)
            if has_aux:
                loss = loss[0]
            loss = jnp.asarray(loss, jnp.float32)
            initial = jnp.where(carry.step == 0, loss, carry.initial_loss)
            extra: dict[str, Any] = {"value": loss} if needs_value else {}
            if needs_value_fn:
                extra["value_fn"] = batch_loss(loss_fn, batch, has_aux)
            updates, new_state = tx.update(grads, carry.opt_state, carry.params, **extra)
            new_params = optax.apply_updates(carry.params, updates)
            # A non-finite update (from a NaN gradient or inside the optimizer) is caught
            # before it reaches the parameters.
            finite = jnp.isfinite(loss)
            for leaf in jax.tree.leaves(updates):
                finite = finite & jnp.all(jnp.isfinite(leaf))
            blown_up = loss > factor * jnp.abs(initial) if math.isfinite(factor) else False
            diverged = carry.diverged | ~finite | blown_up
            diverged_at = jnp.where(diverged & ~carry.diverged, carry.step, carry.diverged_at)

            def keep(new: Any, old: Any) -> Any:
                return jnp.where(diverged, old, new)

            new_carry = _Carry(
                params=jax.tree.map(keep, new_params, carry.params),
                opt_state=jax.tree.map(keep, new_state, carry.opt_state),
                step=carry.step + 1,
                initial_loss=initial,
                diverged=diverged,
                diverged_at=diverged_at,
            )
            return new_carry, jnp.where(diverged, jnp.nan, loss)

        def run_steps(carry: _Carry, n: int) -> _Carry:
            if n == 0:
                return carry
            return jax.lax.scan(one_step, carry, None, length=n)[0]

        def one_block(carry: _Carry, _: None) -> tuple[_Carry, tuple[jax.Array, Any]]:
            carry, losses = jax.lax.scan(one_step, carry, None, length=record_every)
            lrs = effective_lr_scalars(carry.opt_state, carry.params)
            return carry, (jnp.mean(losses), lrs)

        def run_blocks(carry: _Carry, n: int) -> tuple[_Carry, Any]:
            return jax.lax.scan(one_block, carry, None, length=n)

        def evaluate(carry: _Carry) -> dict[str, jax.Array]:
            assert eval_fn is not None
            metrics = eval_fn(carry.params, carry.opt_state)
            return {
                name: jnp.where(carry.diverged, jnp.nan, jnp.asarray(v, jnp.float32))
                for name, v in metrics.items()
            }

        def one_eval_segment(carry: _Carry, _: None) -> tuple[_Carry, Any]:
            carry, records = run_blocks(carry, blocks_per_eval)
            metrics = evaluate(carry)
            if on_eval is not None:
                carry = carry._replace(opt_state=on_eval(carry.opt_state, metrics))
            return carry, (records, metrics)

        carry = _Carry(
            params=params,
            opt_state=opt_state,
            step=jnp.zeros((), jnp.int32),
            initial_loss=jnp.zeros((), jnp.float32),
            diverged=jnp.zeros((), bool),
            diverged_at=jnp.full((), -1, jnp.int32),
        )
        record_parts, eval_parts = [], []
        if n_full_evals:
            carry, (records, metrics) = jax.lax.scan(
                one_eval_segment, carry, None, length=n_full_evals
            )
            # (n_full_evals, blocks_per_eval, ...) -> (n_full_evals * blocks_per_eval, ...)
            record_parts.append(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), records))
            eval_parts.append(metrics)
        if tail // record_every:
            carry, records = run_blocks(carry, tail // record_every)
            record_parts.append(records)
        carry = run_steps(carry, tail % record_every)
        if eval_fn is not None and tail:
            eval_parts.append(jax.tree.map(lambda x: x[None], evaluate(carry)))

        def cat(parts: list[Any]) -> Any:
            return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *parts)

        losses, lrs = cat(record_parts)
        metrics = cat(eval_parts) if eval_parts else {}
        if len(lrs) == 1:
            lrs = next(iter(lrs.values()))
        return carry.params, losses, metrics, lrs, carry.diverged, carry.diverged_at

    configs = {
        "hyperparams": {name: np.asarray(v) for name, v in hyperparams.items()},
        "seed": seeds,
    }
    params, losses, metrics, lrs, diverged, diverged_at = sweep(
        train_one, configs, devices=devices, chunk_size=chunk_size, vmap_size=vmap_size
    )
    assert losses.shape == (k, n_records)
    return SweepResult(params, losses, metrics, lrs, diverged, diverged_at)
