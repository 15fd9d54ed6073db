"""docs/nnx.md runs: every ```python block, each self-contained, in order."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "nnx.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_page_has_its_four_examples():
    assert len(BLOCKS) == 4


@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=["optimizer", "value", "schedule_free_batchnorm", "orbax"])
def test_nnx_page_example_runs(index):
    # User code, not library code: JAX's default (permissive) rank promotion, as in README.
    with jax.numpy_rank_promotion("allow"):
        exec(compile(BLOCKS[index], f"{PAGE}#{index}", "exec"), {})
