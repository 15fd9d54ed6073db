"""tests/list_long_tests.py: a timing run adds to the list of long tests, keeps coverage."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import list_long_tests

M = "tests.test_list_long_tests"  # junit's classname of this file
ID = "tests/test_list_long_tests.py::"


def _junit(path, cases):
    body = "".join(f'<testcase classname="{M}" name="{name}" time="{t}"/>' for name, t in cases)
    path.write_text(f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>')
    return str(path)


def test_a_timing_run_adds_to_the_listed_tests_and_keeps_one_case(tmp_path):
    junit = _junit(tmp_path / "t.xml", [
        ("test_single", 2.0),           # long: listed
        ("test_quick", 0.1),            # short: not listed
        ("test_p[a]", 3.0), ("test_p[b]", 1.0),  # every case long: the fastest stays
        ("test_q[a]", 2.0),             # its other case was listed before: it stays
        ("test_killed_run_loses_nothing_and_resume_duplicates_nothing", 9.0),  # KEEP
    ])
    listed = frozenset({ID + "test_q[b]", ID + "test_old", ID + "test_quick"})
    ids = list_long_tests.long_tests(junit, 0.5, listed)
    assert ids == sorted([ID + "test_single", ID + "test_p[a]", ID + "test_q[b]",
                          ID + "test_old"])  # test_quick ran and was short: unlisted
    assert list_long_tests.long_tests(junit, 0.5) == sorted(
        [ID + "test_single", ID + "test_p[a]", ID + "test_q[a]"])
