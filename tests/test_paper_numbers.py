"""The paper's numbers are the committed results' numbers (experiments/paper_numbers.py)."""

from __future__ import annotations

import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import paper_numbers  # noqa: E402


@pytest.fixture(scope="module")
def paper() -> str:
    with open(paper_numbers.PAPER) as f:
        return f.read()


def _experiments_section(text: str) -> str:
    start = text.index("\n# Experiments")
    end = text.index("\n# ", start + 1)
    return text[start:end]


def test_every_generated_block_matches_the_committed_results(paper: str) -> None:
    names = [m.group("name") for m in paper_numbers.BLOCK.finditer(paper)]
    assert sorted(names) == sorted(paper_numbers.BLOCKS), names  # each block used once
    _, changed = paper_numbers.render(paper)
    assert changed == [], f"run python experiments/paper_numbers.py: {changed} out of date"


def test_a_changed_number_is_detected(paper: str) -> None:
    m = next(m for m in paper_numbers.BLOCK.finditer(paper) if m.group("name") == "parity")
    body = m.group("body")
    digit = re.search(r"\d", body)
    assert digit is not None
    i = m.start("body") + digit.start()
    tampered = paper[:i] + str((int(paper[i]) + 1) % 10) + paper[i + 1:]
    _, changed = paper_numbers.render(tampered, only=["parity", "schedules"])
    assert changed == ["parity"]


def test_experiments_prose_quotes_no_result_outside_generated_blocks(paper: str) -> None:
    prose = paper_numbers.BLOCK.sub("", _experiments_section(paper))
    # Results are percentages and decimals; settings (10 seeds, 3000 steps) are integers and
    # multipliers written as words or powers of ten.
    found = re.findall(r"\d+(?:\.\d+)?\s?%|\b\d+\.\d+\b", prose)
    assert found == [], f"numbers quoted outside the generated blocks: {found}"
