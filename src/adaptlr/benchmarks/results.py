"""Result storage: one JSON object per line, one line per finished run, appended atomically.

A run is identified by :func:`run_key`, a hash of everything that determines it (task and its
options, method, hyperparameters, seed, budget). The runner reads the keys already in the file
and skips those runs, so rerunning a command resumes it.

Appending is crash-safe: each record is one ``write`` of one complete line to a file opened with
``O_APPEND`` under an exclusive ``flock``, followed by ``fsync``. A process killed at any moment
has either written a whole line or nothing (the kernel finishes a ``write`` to a regular file
before delivering a signal). Should a line still be cut short (power loss), :func:`read` skips
it, and the next append starts on a fresh line, so the damage is limited to that one run, which
the next invocation repeats.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["append", "completed_keys", "jsonable", "read", "run_key", "subsample", "versions"]


def jsonable(value: Any) -> Any:
    """``value`` with NumPy/JAX scalars and arrays turned into plain JSON types (NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return jsonable(value.item())
    return repr(value)


def run_key(config: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit identifier of a run configuration (order-insensitive)."""
    text = json.dumps(jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def subsample(values: Any, max_points: int = 200) -> tuple[list[int], list[Any]]:
    """At most ``max_points`` evenly spaced ``(indices, values)`` of a sequence, last included."""
    values = list(np.asarray(values).tolist())
    n = len(values)
    if n <= max_points:
        return list(range(n)), values
    index = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int)).tolist()
    return index, [values[i] for i in index]


def versions() -> dict[str, str]:
    """Versions of the software that produced a result."""
    import importlib.metadata as metadata

    out = {"python": platform.python_version()}
    for package in ("adaptlr", "jax", "jaxlib", "optax", "flax", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def append(path: str, records: Sequence[Mapping[str, Any]]) -> None:
    """Append ``records`` to the JSONL file ``path`` (created with its folders if missing)."""
    if not records:
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    lines = "".join(
        json.dumps(jsonable(r), sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
        for r in records
    ).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            # Never glue a record onto a line that an earlier crash left unfinished.
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    lines = b"\n" + lines
        view = memoryview(lines)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read(path: str) -> Iterator[dict[str, Any]]:
    """The complete records of ``path`` in file order (none if it does not exist)."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                continue  # cut short: that run was not recorded
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def completed_keys(path: str) -> set[str]:
    """Run keys already recorded in ``path``."""
    return {r["key"] for r in read(path) if "key" in r}
