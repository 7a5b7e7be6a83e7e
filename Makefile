# Two entry points for a fresh machine (Python 3.11+):
#   make demo   set up .venv, train and evaluate a toy translation model (dates -> ISO)
#   make test   set up .venv (and Graphviz's `dot`) and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo mlp test graphviz bench lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,examples]"
	touch $@

# The renderer needs the Graphviz `dot` program from the system's package manager.
graphviz:
	@command -v dot >/dev/null 2>&1 || sh scripts/install_graphviz.sh

demo: setup
	$(PY) examples/translate.py --task dates

mlp: setup
	$(PY) examples/demo_mlp.py

test: setup graphviz
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/bench_autograd.py
	$(PY) benchmarks/bench_rnn.py --quick

lint: setup
	$(PY) -m ruff check minigrad rnn tests examples benchmarks
