"""docs/prodigy.md runs: its Python blocks, in order and in one namespace, assert what they show."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "prodigy.md"


# Ten training runs of 150 steps (about a minute on two busy cores); test_prodigy.py covers
# prodigy_steps, d_limiter and per-group d in the default suite.
@pytest.mark.slow
def test_prodigy_troubleshooting_page_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 7  # the last: ProdigyPlusScheduleFree
    namespace: dict[str, object] = {}
    with jax.numpy_rank_promotion("allow"):
        for i, block in enumerate(blocks):
            exec(compile(block, f"{PAGE.name} block {i}", "exec"), namespace)
