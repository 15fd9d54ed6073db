"""Sphinx configuration: the user guide (the Markdown pages of docs/) and the API reference.

Why Sphinx and not MkDocs + mkdocstrings: adaptlr's docstrings are Google-style with
reStructuredText inside them (``.. math::`` blocks for update rules, ``:math:`` and ``:func:``
roles, double-backtick literals). Sphinx's napoleon reads the Google sections and docutils
renders the reStructuredText, math included (MathJax); mkdocstrings' Google parser would print
the roles and directives as raw text. MyST lets the existing Markdown guide pages build
unchanged. ``make docs`` builds with warnings as errors (``-W``).

The API reference is generated at build time from the public namespace ``adaptlr.__init__``
(:func:`write_api_pages`), grouped by the module that defines each name, so a method added
there appears without editing anything in docs/.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))

import adaptlr  # noqa: E402
from adaptlr._docstrings import field_docs  # noqa: E402

project = "adaptlr"
author = "The adaptlr developers"
copyright = "2026, The adaptlr developers"
release = adaptlr.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "pypi.md"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Departures", "notes_style"), ("Cost", "notes_style")]
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
# Type aliases in signatures stay names instead of being expanded.
autodoc_type_aliases = {"PyTree": "PyTree", "ScalarOrSchedule": "ScalarOrSchedule",
                        "Schedule": "Schedule"}
html_theme = "furo"
html_title = f"adaptlr {release}"
pygments_style = "default"
suppress_warnings = ["myst.header"]  # pages that start below level-1 headings elsewhere

# --- API pages -------------------------------------------------------------------------------

#: Sections of the reference, in order: (title, module prefixes).
API_SECTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Learning-rate-free methods", ("adaptlr.parameter_free",)),
    ("Per-parameter adaptive methods", ("adaptlr.adaptive",)),
    ("Loss-driven methods", ("adaptlr.loss_driven",)),
    ("Schedules", ("adaptlr.schedules",)),
    ("Parameter groups", ("adaptlr.groups",)),
    ("Introspection", ("adaptlr.introspect",)),
    ("Learning-rate range test", ("adaptlr.finder",)),
    ("Sweeps", ("adaptlr.sweep",)),
    ("The method registry", ("adaptlr.registry",)),
    ("Building blocks", ("adaptlr._base", "adaptlr")),
]


def public_names() -> dict[str, object]:
    """Every public name of ``adaptlr`` that is not a module, in the order of ``__init__``."""
    return {name: value for name, value in vars(adaptlr).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)}


def home_module(value: object) -> str:
    module = getattr(value, "__module__", None)
    return module if isinstance(module, str) and module.startswith("adaptlr") else "adaptlr"


def api_page(module: str) -> str:
    """The page (docname under ``api/``) documenting the public names defined in ``module``."""
    stem = "core" if module == "adaptlr" else module.removeprefix("adaptlr.").replace(".", "_")
    return f"generated/{stem}"


def _section(module: str) -> int:
    for i, (_, prefixes) in enumerate(API_SECTIONS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return len(API_SECTIONS) - 1


def _title(module: str) -> str:
    doc = inspect.getdoc(importlib.import_module(module)) or module
    return doc.splitlines()[0].rstrip(".")


def _directive(name: str, value: object) -> list[str]:
    """The autodoc directive for ``value`` documented as ``name`` (``adaptlr.<...>``)."""
    if inspect.isclass(value):
        lines = [f".. autoclass:: {name}"]
        if (issubclass(value, tuple) and hasattr(value, "_fields")) or getattr(
                value, "__dataclass_fields__", None) is not None:
            lines += ["   :no-members:"]  # NamedTuple fields: listed from the source comments
        else:
            lines += ["   :members:"]
        return lines
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return [f".. autofunction:: {name}"]
    lines = [f".. autodata:: {name}"]
    if len(repr(value)) > 80:
        lines += ["   :no-value:"]
    return lines


def module_extras() -> dict[str, list[tuple[str, object]]]:
    """Public members of the exported submodules (``adaptlr.sweep.sweep``, ``adaptlr.registry.
    MethodSpec``, ...) that are not also top-level names: ``{module: [(qualified name, value)]}``.
    """
    top = {id(value) for value in vars(adaptlr).values()}
    extras: dict[str, list[tuple[str, object]]] = {}
    for attribute, module in vars(adaptlr).items():
        if (attribute.startswith("_") or not isinstance(module, types.ModuleType)
                or not module.__name__.startswith("adaptlr.")):
            continue
        names = [n for n in getattr(module, "__all__", ()) if id(getattr(module, n)) not in top]
        if names:
            extras[module.__name__] = [(f"{module.__name__}.{n}", getattr(module, n))
                                       for n in names]
    return extras


def write_api_pages(api_dir: Path = DOCS / "api") -> list[str]:
    """Write ``api_dir/index.rst`` and one page per defining module under ``api_dir/generated``;
    return the pages' docnames (relative to ``api_dir``) in order."""
    by_module: dict[str, list[tuple[str, object]]] = {}
    for name, value in public_names().items():
        by_module.setdefault(home_module(value), []).append((f"adaptlr.{name}", value))
    extras = module_extras()
    for module in extras:
        by_module.setdefault(module, [])
    (api_dir / "generated").mkdir(parents=True, exist_ok=True)
    pages = []
    for module in sorted(by_module, key=lambda m: (_section(m), m)):
        title = _title(module)
        body = [title, "=" * len(title), ""]
        if by_module[module]:
            body += [f"Defined in ``{module}``; import as ``adaptlr.<name>``.", ""]
        body += [".. currentmodule:: adaptlr", ""]
        for name, value in by_module[module]:
            body += [*_directive(name, value), ""]
        if module in extras:
            heading = f"Also in ``{module}``"
            body += [heading, "-" * len(heading), "", f".. currentmodule:: {module}", ""]
            for name, value in extras[module]:
                body += [*_directive(name, value), ""]
        page = api_page(module)
        text = "\n".join(body)
        path = api_dir / f"{page}.rst"
        if not path.exists() or path.read_text() != text:  # keep mtimes for incremental builds
            path.write_text(text)
        pages.append(page)
    index = ["API reference", "=============", "",
             "Every public name of ``adaptlr``, generated from ``adaptlr/__init__.py``, one page",
             "per module. The ready optimizers (``prodigy``) take the arguments of their core",
             "transformations (``scale_by_prodigy``), which give the update rule.", ""]
    for i, (section, _) in enumerate(API_SECTIONS):
        members = [p for p in pages if _section(_module_of(p, by_module)) == i]
        if not members:
            continue
        index += [".. toctree::", f"   :caption: {section}", "   :maxdepth: 1", "",
                  *[f"   {p}" for p in members], ""]
    text = "\n".join(index)
    path = api_dir / "index.rst"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return pages


def _module_of(page: str, by_module: dict[str, list[tuple[str, object]]]) -> str:
    return next(m for m in by_module if api_page(m) == page)


def _field_list(app, what, name, obj, options, lines) -> None:
    """Append a NamedTuple's fields, documented by the comments beside them in the source."""
    if what != "class" or not (inspect.isclass(obj) and issubclass(obj, tuple)):
        return
    docs = field_docs(obj)
    if not docs:
        return
    lines += ["", ".. rubric:: Fields", ""]
    for field in obj._fields:
        if field in docs:
            lines += [f"* ``{field}``: {_escape(docs[field])}"]
    lines.append("")


def _escape(text: str) -> str:
    # Comments are plain text: keep reST from reading `*`, `_` or backquotes in them.
    return "".join("\\" + c if c in "*`_|" else c for c in text)


def setup(app):
    write_api_pages()
    app.connect("autodoc-process-docstring", _field_list)
    return {"parallel_read_safe": True}
