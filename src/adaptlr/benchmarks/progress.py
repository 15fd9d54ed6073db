"""Progress of long benchmark jobs: methods done, runs done, elapsed time and an estimate.

On a terminal the report is one status line redrawn in place; anywhere else (a pipe, a log file,
CI) it is one plain line per finished method, so that logs stay readable.

Example:
  >>> import io
  >>> out = io.StringIO()
  >>> p = Progress("quadratic", methods=2, runs=4, stream=out, clock=iter(range(100)).__next__)
  >>> p.start("sgd", 2)
  >>> p.finish("sgd", 2, trained=True)
  >>> print(out.getvalue().strip())
  quadratic: sgd done (2 runs) | 1/2 methods, 2/4 runs, 3s elapsed, about 1s left
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``"42s"``, ``"3m05s"`` or ``"1h02m"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts methods and runs of one job and reports them to ``stream`` (stderr by default).

    Args:
      label: what the job is (the task name), printed first on every line.
      methods: number of methods (groups of runs) in the job, >= 0.
      runs: number of runs in the job, >= 0.
      stream: where to write; a terminal (``isatty()``) gets a redrawn status line.
      clock: seconds, monotonic (for tests).
    """

    def __init__(self, label: str, methods: int, runs: int, *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.methods = methods
        self.runs = runs
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.clock = clock
        self.start_time = clock()
        self.methods_done = 0
        self.runs_done = 0
        self.trained_runs = 0  # runs that were trained here (not found in the results file)
        self.trained_seconds = 0.0
        self._group_start = self.start_time
        self._width = 0

    def _status(self) -> str:
        elapsed = self.clock() - self.start_time
        text = (f"{self.methods_done}/{self.methods} methods, {self.runs_done}/{self.runs} runs, "
                f"{format_seconds(elapsed)} elapsed")
        left = self.runs - self.runs_done
        if left and self.trained_runs:
            estimate = self.trained_seconds / self.trained_runs * left
            text += f", about {format_seconds(estimate)} left"
        elif left:
            text += ", estimate after the first method"
        return text

    def _write_tty(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def start(self, method: str, runs: int) -> None:
        """``method`` (``runs`` runs) starts; shown on a terminal only."""
        self._group_start = self.clock()
        if self.tty:
            self._write_tty(f"{self.label}: {self._status()} | training {method} ({runs} runs)")

    def finish(self, method: str, runs: int, *, trained: bool, note: str = "") -> None:
        """``method`` is done: ``runs`` runs, ``trained`` here or found already recorded."""
        self.methods_done += 1
        self.runs_done += runs
        if trained:
            self.trained_runs += runs
            self.trained_seconds += self.clock() - self._group_start
        what = "done" if trained else "already recorded"
        line = f"{self.label}: {method} {what} ({runs} runs{note}) | {self._status()}"
        if self.tty:
            self._write_tty(line)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the status line on a terminal."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
