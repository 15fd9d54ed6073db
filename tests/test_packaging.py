"""Packaging: license, metadata, the package-index description, and what sdist and wheel hold.

The build test builds both distributions from a copy of the working tree with
``python -m build --no-isolation`` (setuptools, build and twine come with the ``dev`` extra, so
no network is needed) and runs ``twine check --strict`` on them.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import adaptlr

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_license_file_matches_the_metadata() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole license, not a stub
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^license: Apache-2.0$", citation, flags=re.M)


def test_version_agrees_everywhere() -> None:
    assert PROJECT["version"] == adaptlr.__version__
    assert re.search(rf"^version: {re.escape(adaptlr.__version__)}$",
                     (ROOT / "CITATION.cff").read_text(), flags=re.M)
    assert f"## [{adaptlr.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_metadata_has_urls_and_classifiers() -> None:
    urls = PROJECT["urls"]
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = PROJECT["classifiers"]
    python = {c.rsplit(" :: ", 1)[1] for c in classifiers
              if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert "3.11" in python  # requires-python's lower bound
    assert PROJECT["requires-python"] == ">=3.11"
    # PEP 639: with an SPDX `license` expression, license classifiers are an error.
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_index_description_has_no_relative_links_or_repository_commands() -> None:
    readme = PROJECT["readme"]
    text = (ROOT / readme["file"]).read_text()
    assert readme["content-type"] == "text/markdown"
    links = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r"<(\w+://[^>]+)>", text)
    assert links, "the description links nowhere"
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert not relative, f"relative links do not work on the package index: {relative}"
    assert not re.search(r"\bmake (run|test|docs)\b", text), "make targets need the repository"


def _copy_tree(destination: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "_build",
                                    "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                                    ".hypothesis", "generated", "goldens")
    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


@pytest.mark.slow
def test_sdist_and_wheel_build_and_pass_twine_check(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="needs the dev extra")
    pytest.importorskip("twine", reason="needs the dev extra")
    tree = _copy_tree(tmp_path / "tree")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                    "--outdir", str(dist), str(tree)], check=True, capture_output=True,
                   timeout=600)
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *sdists, *wheels],
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stdout + check.stderr

    package = sorted(str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "adaptlr").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    with tarfile.open(sdists[0]) as sdist:
        top = sdists[0].name.removesuffix(".tar.gz")
        members = {m.name.removeprefix(top + "/") for m in sdist.getmembers() if m.isfile()}
    # The sdist carries no tests (rather than an incomplete suite) and everything to build.
    assert not {m for m in members if m.split("/")[0] in
                ("tests", "benchmarks", "experiments", "paper", ".ci")}, sorted(members)
    assert {"LICENSE", "pyproject.toml", "docs/pypi.md", "CHANGELOG.md", "README.md"} <= members
    assert {f"src/{p}" for p in package} <= members

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(wheel.read(metadata_name))
    assert set(package) <= names  # modules, py.typed, the benchmark data
    assert not {n for n in names if n.startswith("tests/")}
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "pip install adaptlr" in metadata.get_payload()
    assert {u.split(",")[0] for u in metadata.get_all("Project-URL")} == set(PROJECT["urls"])
