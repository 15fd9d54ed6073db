"""Documentation that can run does run: README's Python blocks and the generated catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import jax

from adaptlr import cli

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_examples_run() -> None:
    blocks = python_blocks(ROOT / "README.md")
    assert blocks, "README has no Python example"
    # User code, not library code: run it with JAX's default (permissive) rank promotion.
    with jax.numpy_rank_promotion("allow"):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})


def test_methods_page_is_generated_from_the_registry() -> None:
    page = (ROOT / "docs" / "methods.md").read_text()
    assert page == cli.methods_markdown(), (
        "docs/methods.md is stale: regenerate with `adaptlr list --markdown > docs/methods.md`")


def test_paper_citations_are_in_the_bibliography() -> None:
    bib = (ROOT / "paper" / "paper.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set(re.findall(r"@([A-Za-z][\w-]*\d{4}\w*)", (ROOT / "paper" / "paper.md").read_text()))
    assert cited, "the paper cites nothing"
    assert not cited - keys, f"cited but not in paper.bib: {sorted(cited - keys)}"
