"""The progress report of long benchmark jobs: plain lines off a terminal, a status line on one."""

import io
import itertools

from adaptlr.benchmarks.progress import Progress, format_seconds


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _clock(times):
    it = iter(times)
    return lambda: next(it)


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.4, 61, 3599, 3600, 7325)] == [
        "0s", "59s", "1m01s", "59m59s", "1h00m", "2h02m"]


def test_estimate_uses_trained_runs_only():
    out = io.StringIO()
    # start at 0; "a" recorded already (no time); "b" trains 6 runs from t=10 to t=40.
    p = Progress("t", methods=3, runs=14, stream=out, clock=_clock([0, 10, 10, 40, 40]))
    p.finish("a", 4, trained=False)
    p.start("b", 6)
    p.finish("b", 6, trained=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == ("t: a already recorded (4 runs) | 1/3 methods, 4/14 runs, 10s elapsed, "
                        "estimate after the first method")
    # 30 s for 6 runs: 5 s a run, 4 runs left.
    assert lines[1] == "t: b done (6 runs) | 2/3 methods, 10/14 runs, 40s elapsed, about 20s left"
    p.close()
    assert out.getvalue().count("\n") == 2


def test_terminal_gets_one_redrawn_line():
    out = _Terminal()
    p = Progress("t", methods=2, runs=2, stream=out, clock=_clock(range(100)))
    p.start("a-long-name", 1)
    p.finish("a-long-name", 1, trained=True)
    p.start("b", 1)
    p.finish("b", 1, trained=True)
    p.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    frames = text[:-1].split("\r")[1:]
    assert len(frames) == 4
    # Each frame covers the text of the one before (shorter ones are padded with spaces).
    assert all(len(later) >= len(earlier.rstrip())
               for earlier, later in itertools.pairwise(frames))
    assert len(frames[1].rstrip()) > len(frames[2].rstrip())
    assert frames[-1].rstrip().startswith("t: b done (1 runs) | 2/2 methods, 2/2 runs")


def test_docstring_example():
    import doctest

    from adaptlr.benchmarks import progress

    outcome = doctest.testmod(progress)
    assert outcome.attempted > 0 and outcome.failed == 0
