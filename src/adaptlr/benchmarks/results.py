"""Result storage: one JSON object per line, one line per finished run.

A run is identified by :func:`run_key`, a hash of everything that determines it (task and its
options, method, hyperparameters, seed, budget). The runner reads the keys already in the file
and skips those runs, so rerunning a command resumes it.

What a reader can rely on:

* **Each record is all or nothing.** :func:`append` takes an exclusive ``flock`` on the file,
  writes all its lines with one ``os.write`` on a descriptor opened with ``O_APPEND`` then
  calls ``fsync``. A writer killed in the middle of that write (``SIGKILL`` can cut a large write
  short on Linux, between pages) leaves an unfinished last line. :func:`read` never returns an
  unfinished line, and the next :func:`append` truncates it away under the lock before writing,
  so an unfinished line never ends up in the middle of the file: the run it held is simply
  missing, and the next invocation repeats it.
* **No run twice.** :func:`append` re-reads the keys under the lock and drops records whose
  key is already in the file (two processes that trained the same run record it once), and
  :func:`read` yields the first record of each key only (files written by older versions).
* **Foreign lines are skipped.** A line that is not a JSON object with a ``key`` string and a
  ``config`` object (someone else's log, a hand edit) is skipped with one
  :class:`ResultsFileWarning` per read naming how many lines and the first line number.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ResultsFileWarning",
    "append",
    "check_writable",
    "completed_keys",
    "jsonable",
    "read",
    "run_key",
    "subsample",
    "versions",
]


class ResultsFileWarning(UserWarning):
    """Lines of a results file were skipped (not records of this package, or unfinished)."""


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


def check_writable(path: str) -> None:
    """Raise ``ValueError`` unless records can be appended to ``path``.

    Creates the missing folders and an empty file (what the first append would do), so that a
    job finds a bad destination before its training, not after.
    """
    if not path:
        raise ValueError("the results file name is empty")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.close(fd)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"cannot write results to {path!r}: {reason}") from None


def _is_record(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("key"), str)
            and isinstance(value.get("config"), dict))


def _complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The newline-terminated lines of ``data`` and the length they span."""
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(), end


def append(path: str, records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Append ``records`` to the JSONL file ``path`` (created with its folders if missing).

    Records whose ``key`` is already in the file (or earlier in ``records``) are not written.
    Returns the records written.
    """
    if not records:
        return []
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Under the lock, no other adaptlr writer is in the middle of a line: an unfinished
        # last line was left by a writer that died, and goes.
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        lines, end = _complete_lines(data)
        if end != size:
            os.ftruncate(fd, end)
        present = set()
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if _is_record(record):
                present.add(record["key"])
        written = []
        for r in records:
            key = r.get("key")
            if isinstance(key, str):
                if key in present:
                    continue
                present.add(key)
            written.append(r)
        if written:
            payload = "".join(
                json.dumps(jsonable(r), sort_keys=True, separators=(",", ":"),
                           allow_nan=False) + "\n"
                for r in written
            ).encode()
            view = memoryview(payload)
            while view:
                count = os.write(fd, view)
                view = view[count:]
            os.fsync(fd)
        return written
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read(path: str) -> Iterator[dict[str, Any]]:
    """The records of ``path`` in file order, each key once (none if it does not exist).

    Unfinished, malformed and foreign lines are skipped; when any line other than an
    unfinished last one is skipped, a :class:`ResultsFileWarning` says how many.
    """
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        data = f.read()
    lines, _ = _complete_lines(data)  # an unfinished last line: that run was not recorded
    seen: set[str] = set()
    skipped = 0
    first = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not _is_record(record):
            skipped += 1
            first = first or number
            continue
        if record["key"] in seen:
            continue
        seen.add(record["key"])
        yield record
    if skipped:
        warnings.warn(
            f"{path}: skipped {skipped} line(s) that are not adaptlr result records "
            f"(first: line {first})", ResultsFileWarning, stacklevel=2)


def completed_keys(path: str) -> set[str]:
    """Run keys already recorded in ``path``."""
    return {r["key"] for r in read(path)}
