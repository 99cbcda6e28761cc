# Every target that needs Python sets up .venv first (created or reused).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP_FLAGS := -c constraints.txt
PYTEST_ARGS ?=
# test files spread over this many processes (0: one process); a file's tests stay together
PYTEST_WORKERS ?= 2

.PHONY: install test lint demo docs spec benchmarks-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet $(PIP_FLAGS) torch==2.13.0
	$(PY) -m pip install --quiet $(PIP_FLAGS) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# pytest exits 5 when no test ran; that fails the target like any other failure.
test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tutorials
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(PY) benchmarks/run_quick.py

# the benchmarks at their smallest sizes (as make test runs them)
benchmarks-quick: $(STAMP)
	$(PY) benchmarks/run_quick.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tutorials

spec: $(STAMP)
	$(PY) src/spec/create_extension_spec.py

demo: $(STAMP)
	$(VENV)/bin/encoding-subspace demo

docs: $(STAMP)
	$(MAKE) -C docs html PYTHON=$(abspath $(PY))

clean:
	rm -rf $(VENV) build dist .pytest_cache
