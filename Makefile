# Entry points. Each creates what it needs: a virtual environment with the pinned Python
# packages (requirements.lock) and the pinned MicroPython runtime from npm (package-lock.json).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: all setup test demo bench fuzz clean

all: test

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

demo: setup
	$(PY) -m mpboot.demo

bench: setup
	$(PY) bench/run.py

# A seeded mutation campaign (fuzz/run.py): at least 100,000 inputs, then both runtimes compared.
FUZZ_ARGS ?=
fuzz: setup
	$(PY) fuzz/run.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) node_modules .cache
