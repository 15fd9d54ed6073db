"""Documentation that can run does run, and the API reference documents every argument.

* every ```python block of README.md and docs/*.md runs (per page, top to bottom, in one
  namespace; blocks starting with ``>>>`` run as doctests); a block that must not run is
  marked by ``<!-- no-run: reason -->`` on the line before it;
* every docstring example of the package runs (doctest);
* every public callable of ``adaptlr`` documents each argument in an ``Args`` section (the
  fields of a state NamedTuple: by the comment beside them, which the reference renders);
* every public docstring is valid reStructuredText after napoleon, and the Sphinx site builds
  without a warning (slow; ``make docs`` does the same).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import jax
import pytest

import adaptlr
from adaptlr import cli
from adaptlr._docstrings import args_entries, field_docs

ROOT = Path(__file__).resolve().parents[1]
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NO_RUN = re.compile(r"<!--\s*no-run:\s*(\S.*?)\s*-->\s*$")
#: At most this many blocks may be exempt; a page of examples that do not run is a bug.
MAX_NO_RUN = 3


def code_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, no-run reason)`` for every fenced ```python block of a Markdown page."""
    return code_blocks_in(path.read_text())


def code_blocks_in(text: str) -> list[tuple[int, str, str | None]]:
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)(.*)$", lines[i])
        if not fence:
            i += 1
            continue
        indent, marker, language = fence.group(1), fence.group(2), fence.group(3)
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(marker):
            end += 1
        if language == "python":
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            reason = NO_RUN.search(previous)
            code = "\n".join(line[len(indent):] for line in lines[i + 1:end])
            blocks.append((i + 1, code, reason.group(1) if reason else None))
        i = end + 1
    return blocks


def _pages_with_code() -> list[Path]:
    return [p for p in DOC_PAGES if code_blocks(p)]


# docs/prodigy.md trains ten models (about 25 s); it runs with -m slow, here and in
# tests/parameter_free/test_prodigy_docs.py. docs/nnx.md runs block by block in the default
# suite (tests/test_docs_nnx.py).
@pytest.mark.parametrize("page", [
    pytest.param(p, marks=pytest.mark.slow) if p.name in ("prodigy.md", "nnx.md") else p
    for p in _pages_with_code()], ids=lambda p: p.name)
def test_markdown_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write files (figures, checkpoints)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    ran = 0
    # User code, not library code: JAX's default (permissive) rank promotion.
    with jax.numpy_rank_promotion("allow"):
        for line, code, no_run in code_blocks(page):
            if no_run is not None:
                continue
            where = f"{page.relative_to(ROOT)}:{line}"
            if code.lstrip().startswith(">>>"):
                test = doctest.DocTestParser().get_doctest(code, namespace, where, where, line)
                runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS
                                               | doctest.NORMALIZE_WHITESPACE)
                runner.run(test, out=lambda text: print(text, end=""))
                namespace.update(test.globs)
                assert runner.failures == 0, f"{where}: doctest failed\n{capsys.readouterr().out}"
            else:
                exec(compile(code, where, "exec"), namespace)
            ran += 1
    assert ran, f"{page.name}: every block is marked no-run"


def test_no_run_blocks_are_few_and_say_why() -> None:
    exempt = [(p.name, line, why) for p in DOC_PAGES for line, _, why in code_blocks(p) if why]
    assert len(exempt) <= MAX_NO_RUN, f"too many blocks marked no-run: {exempt}"


def test_code_block_extraction() -> None:
    page = ("text\n<!-- no-run: needs a GPU -->\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
            "```console\n$ adaptlr list\n```\n  ```python\n  z = 3\n  ```\n")
    assert code_blocks_in(page) == [(3, "x = 1", "needs a GPU"), (7, "y = 2", None),
                                    (13, "z = 3", None)]


def test_methods_page_is_generated_from_the_registry() -> None:
    page = (ROOT / "docs" / "methods.md").read_text()
    assert page == cli.methods_markdown(), (
        "docs/methods.md is stale: regenerate with `adaptlr list --markdown > docs/methods.md`")


def test_methods_page_links_every_adaptlr_method_to_the_reference() -> None:
    page = cli.methods_markdown()
    for spec in adaptlr.registry.all_specs():
        if callable(getattr(adaptlr, spec.name, None)):
            assert f"[`{spec.name}`](#adaptlr.{spec.name})" in page


def test_paper_citations_are_in_the_bibliography() -> None:
    bib = (ROOT / "paper" / "paper.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set(re.findall(r"@([A-Za-z][\w-]*\d{4}\w*)", (ROOT / "paper" / "paper.md").read_text()))
    assert cited, "the paper cites nothing"
    assert not cited - keys, f"cited but not in paper.bib: {sorted(cited - keys)}"


def test_no_merge_conflict_markers_in_tracked_text() -> None:
    import subprocess

    try:
        files = subprocess.run(["git", "ls-files", "*.md", "*.py", "*.bib", "*.toml", "*.txt"],
                               cwd=ROOT, check=True, capture_output=True, text=True
                               ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    marked = [f for f in files
              if re.search(r"^(<<<<<<< |>>>>>>> )", (ROOT / f).read_text(errors="replace"),
                           re.M)]
    assert files and marked == [], f"merge conflict markers in {marked}"


def test_every_bibliography_entry_closes_before_the_next_begins() -> None:
    # An entry once lost its closing brace, swallowing the next entry in BibTeX.
    lines = (ROOT / "paper" / "paper.bib").read_text().splitlines()
    bib = "\n".join(line for line in lines if not line.lstrip().startswith("%"))
    entries = re.split(r"\n(?=@\w+\{)", "\n" + bib)
    unbalanced = []
    for entry in (e.strip() for e in entries if e.strip()):
        depth = 0
        for ch in entry.replace("\\{", "").replace("\\}", ""):
            depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth != 0 or not entry.endswith("}"):
            unbalanced.append(entry.split(",", 1)[0])
    assert unbalanced == [], f"entries whose braces do not balance: {unbalanced}"


def test_schedule_table_uses_the_real_argument_names() -> None:
    # docs/schedules.md once wrote `peak` for `peak_value`, `max` for `max_value`, ...
    text = (ROOT / "docs" / "schedules.md").read_text()
    # The first column of the factory table; the comparison tables start with other
    # libraries' calls (pytorch_optimizer's), which are not adaptlr's to check.
    calls = [(name, args) for name, args in
             re.findall(r"^\| `(\w+)\(([^`]*)\)`", text, flags=re.M) if hasattr(adaptlr, name)]
    assert len(calls) >= 10
    for name, args in calls:
        parameters = inspect.signature(getattr(adaptlr, name)).parameters
        for arg in re.split(r",|/", args):
            arg = arg.strip().rstrip("=").strip()
            assert arg in parameters, f"docs/schedules.md: {name}() has no argument {arg!r}"


# --- docstrings --------------------------------------------------------------------------------


def _modules() -> list[str]:
    names = ["adaptlr"]
    for info in pkgutil.walk_packages(adaptlr.__path__, "adaptlr."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    with jax.numpy_rank_promotion("allow"):
        for test in finder.find(module, module_name):
            runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


def public_callables() -> dict[str, Any]:
    return {name: value for name, value in vars(adaptlr).items()
            if not name.startswith("_") and callable(value)
            and not isinstance(value, types.ModuleType)}


def _documented_parameters(value: Any) -> tuple[list[str], set[str]]:
    """``(parameters that need a description, names that have one)``."""
    doc = inspect.getdoc(value) or ""
    described = set(args_entries(value.__doc__))
    if inspect.isclass(value):
        if issubclass(value, tuple) and hasattr(value, "_fields"):
            described |= set(field_docs(value))
        described |= set(_section_entries(value.__doc__, "Attributes"))
        described |= set(re.findall(r"``(\w+)", doc))  # named in prose (``heads=(axis, n)``)
    parameters = [name for name, p in inspect.signature(value).parameters.items()
                  if name not in ("self", "cls")
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return parameters, described


def _section_entries(doc: str | None, section: str) -> list[str]:
    text = inspect.cleandoc(doc or "")
    match = re.search(rf"^{section}:\n((?:[ ]+.*\n?|\n)*)", text, flags=re.M)
    if not match:
        return []
    body = match.group(1)
    indent = min((len(line) - len(line.lstrip()) for line in body.splitlines() if line.strip()),
                 default=0)
    heads = re.findall(rf"^[ ]{{{indent}}}(\w+(?:\s*,\s*\w+)*)\s*(?:\([^)]*\))?:", body,
                       flags=re.M)
    return [name.strip() for head in heads for name in head.split(",")]


def test_every_public_callable_documents_its_arguments() -> None:
    missing = {}
    for name, value in public_callables().items():
        parameters, described = _documented_parameters(value)
        if not inspect.isclass(value) and parameters and "Args:" not in (value.__doc__ or ""):
            missing[name] = "no Args section"
            continue
        undocumented = [p for p in parameters if p not in described]
        if undocumented:
            missing[name] = f"undocumented: {', '.join(undocumented)}"
    assert not missing, "public callables without argument docs:\n" + "\n".join(
        f"  adaptlr.{name}: {why}" for name, why in sorted(missing.items()))


def test_args_check_catches_an_undocumented_argument() -> None:
    def documented(a: int, b: int = 0) -> None:
        """Sum.

        Args:
          a: first.
          b: second.
        """

    def half(a: int, b: int = 0) -> None:
        """Sum.

        Args:
          a: first, over two
            lines.
        """

    assert _documented_parameters(documented) == (["a", "b"], {"a", "b"})
    assert _documented_parameters(half)[1] == {"a"}
    assert args_entries(half.__doc__)["a"] == ["a: first, over two", "  lines."]


def _rst_problems(doc: str) -> list[str]:
    """docutils' complaints about a docstring after napoleon (Sphinx-only roles stubbed)."""
    from docutils import nodes
    from docutils.core import publish_doctree
    from docutils.parsers.rst import Directive, directives, roles
    from docutils.utils import Reporter
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    for role in ("func", "class", "data", "meth", "mod", "attr", "obj", "exc", "ref", "doc"):
        roles.register_generic_role(role, nodes.literal)

    class SphinxOnly(Directive):  # napoleon writes `.. attribute::`: parse its body only
        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec: ClassVar = {"type": directives.unchanged, "noindex": directives.flag}

        def run(self) -> list[nodes.Node]:
            node = nodes.container()
            self.state.nested_parse(self.content, self.content_offset, node)
            return [node]

    directives.register_directive("attribute", SphinxOnly)
    config = Config(napoleon_custom_sections=[("Departures", "notes_style"),
                                              ("Cost", "notes_style")])
    text = str(GoogleDocstring(inspect.cleandoc(doc), config))
    problems: list[str] = []

    class Collect:
        def write(self, message: str) -> None:
            problems.append(message)

    publish_doctree(text, settings_overrides={
        "warning_stream": Collect(), "report_level": Reporter.WARNING_LEVEL,
        "halt_level": Reporter.SEVERE_LEVEL + 1})
    return problems


def test_public_docstrings_are_valid_restructuredtext() -> None:
    pytest.importorskip("sphinx", reason="needs the docs extra: pip install -e '.[docs]'")
    bad = {}
    for name, value in public_callables().items():
        problems = _rst_problems(value.__doc__ or "")
        if problems:
            bad[name] = problems
    assert not bad, bad


def test_rst_check_catches_a_broken_docstring() -> None:
    pytest.importorskip("sphinx", reason="needs the docs extra: pip install -e '.[docs]'")
    assert _rst_problems("Summary with ``an unclosed literal.\n\nArgs:\n  x: fine.\n")
    assert not _rst_problems("Summary :math:`x^2` and :func:`f`.\n\nArgs:\n  x: fine.\n")


# --- the built site ----------------------------------------------------------------------------


def test_api_reference_lists_every_public_name(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="needs the docs extra: pip install -e '.[docs]'")
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        conf = importlib.import_module("conf")
    finally:
        sys.path.remove(str(ROOT / "docs"))
    pages = conf.write_api_pages(tmp_path)
    text = "\n".join((tmp_path / f"{page}.rst").read_text() for page in pages)
    documented = re.findall(r"^\.\. auto\w+:: adaptlr\.(\w+)$", text, flags=re.M)
    assert sorted(documented) == sorted(conf.public_names())
    assert len(documented) == len(set(documented))
    # and the public members of the exported submodules that are not top-level names
    for qualified in ("adaptlr.sweep.use_host_devices", "adaptlr.registry.MethodSpec",
                      "adaptlr.schedules.plot", "adaptlr.finder.SUGGESTION_RULES"):
        assert re.search(rf"^\.\. auto\w+:: {re.escape(qualified)}$", text, flags=re.M), qualified


@pytest.mark.slow
def test_sphinx_site_builds_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="needs the docs extra: pip install -e '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "html" / "methods.html").read_text()
    assert 'href="api/generated/parameter_free_prodigy.html#adaptlr.prodigy"' in page


# --- docs/which_method.md quotes the committed results -----------------------------------------

RESULT_ROW = re.compile(r"^(\S+)\s+(diverged|\S+ \+- \S+)\s+\S+\s+(?:\S+|\(defaults\))\s+\S+\s+"
                        r"(\d+/\d+)\s*$")


def result_rows(text: str) -> dict[str, tuple[str, str]]:
    """``{method: (final, diverged)}`` from a table printed by ``adaptlr compare``."""
    return {m.group(1): (m.group(2), m.group(3))
            for m in map(RESULT_ROW.match, text.splitlines()) if m}


def _results(source: str, task: str) -> dict[str, tuple[str, str]]:
    path = ROOT / source
    if path.is_dir():
        return result_rows((path / f"{task}.txt").read_text())
    sections = re.split(r"^## ", path.read_text(), flags=re.M)
    section = next(s for s in sections if s.startswith(task + "\n"))
    return result_rows(section)


def quoted_tables(text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """``(source, header, rows)`` of every table preceded by ``<!-- source: path -->``."""
    tables = []
    for match in re.finditer(r"<!-- source: (\S+) -->\n((?:\|.*\|\n)+)", text):
        lines = [[c.strip() for c in line.strip().strip("|").split("|")]
                 for line in match.group(2).splitlines()]
        tables.append((match.group(1), lines[0], lines[2:]))
    return tables


def test_which_method_page_quotes_the_committed_results() -> None:
    tables = quoted_tables((ROOT / "docs" / "which_method.md").read_text())
    assert len(tables) >= 3
    checked = 0
    for source, header, rows in tables:
        for row in rows:
            method = row[0]
            for task, cell in zip(header[1:], row[1:], strict=True):
                final, diverged = cell.rsplit(", ", 1)
                recorded = _results(source, task).get(method)
                assert recorded == (final, diverged), (
                    f"which_method.md says {method} on {task}: {cell!r}; {source} has "
                    f"{recorded}")
                checked += 1
    assert checked >= 80  # every quoted cell of the three tables


def test_result_parser_reads_the_printed_table() -> None:
    table = ("method  final test_accuracy  best value  swept  width (decades)  diverged\n"
             "adam    98.42% +- 0.57%      0.00949     learning_rate  2.0    0/21\n"
             "cocob   97.77% +- 0%         -           (defaults)     -      0/3\n"
             "dadapt_lion  diverged   -   learning_rate  -   3/3\n")
    assert result_rows(table) == {"adam": ("98.42% +- 0.57%", "0/21"),
                                  "cocob": ("97.77% +- 0%", "0/3"),
                                  "dadapt_lion": ("diverged", "3/3")}
