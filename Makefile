# Two entry points, both self-contained on a fresh machine with Python 3.11+, pip and make:
#   make run   -- create .venv, install adaptlr with its extras, run the main job
#   make test  -- create .venv, install adaptlr with its extras, run lint, type check and tests
#                 (the default suite, then the docs build and the sdist/wheel build + twine check)
# and: make docs (the HTML docs in docs/_build/html, warnings are errors), make dist (sdist and
# wheel in dist/, checked with twine), make test-slow (the long tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: setup run test test-slow lint typecheck docs dist clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[experiments,dev,docs]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/adaptlr compare

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -q
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q -m slow \
		tests/test_docs.py::test_sphinx_site_builds_without_warnings \
		tests/test_packaging.py::test_sdist_and_wheel_build_and_pass_twine_check

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --sdist --wheel --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q -m slow

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache docs/_build docs/api/generated \
		docs/api/index.rst build dist
