# Quick start:  make demo   (set up and run the course's main job)
#               make test   (set up with dev extras and run every test)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
export PIP_NO_INPUT := 1

.PHONY: demo test lint check stress oracle bench clean book book-test chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@

# PyTorch is only a test oracle and a benchmark baseline. Install the CPU build only when it lies
# on this machine's disk (pip's find-links); never download it. Skipped tests say why.
$(VENV)/.oracle: | $(VENV)/.dev
	@if $(PIP) install --no-index --no-deps torch==2.13.0 >/dev/null 2>&1; then \
		$(PIP) install torch==2.13.0 && echo "oracle: torch 2.13.0 installed"; \
	else echo "oracle: no local torch 2.13.0 wheel; PyTorch comparisons will be skipped"; fi
	@touch $@

# nbgrader (instructors' extra) for the end-to-end grading test. Installed from the configured
# package index; where it cannot be installed the nbgrader tests skip and say why.
$(VENV)/.instructor: pyproject.toml | $(VENV)/.dev
	@if $(PIP) install -e '.[dev,instructor]'; then echo "instructor: nbgrader installed"; \
	else echo "instructor: nbgrader could not be installed; the nbgrader tests will be skipped"; fi
	@touch $@

# The course as a book (tito/book/): jupyter-book 1.x, MathJax served locally, and the websocket
# client the browser tests drive Chromium with, all from the package index.
$(VENV)/.book: pyproject.toml | $(VENV)/.dev
	@if $(PIP) install -e '.[dev,book]'; then echo "book: jupyter-book installed"; \
	else echo "book: jupyter-book could not be installed; make book will say so"; fi
	@touch $@

# Completing a module runs its pytest suite, so the demo needs the test tools (dev extras) too.
# Reference repository: complete every written module and run every milestone on the result.
# Student edition (tito.course.edition.is_student_edition: modules/.released exists): the modules are yours
# to write, so show where you are and the next step instead.
STUDENT_EDITION = $(BIN)/python -c "import sys; from pathlib import Path; \
	from tito.course.edition import is_student_edition; sys.exit(not is_student_edition(Path.cwd()))"

demo: $(VENV)/.dev
	@if $(STUDENT_EDITION); then \
		echo "Student edition: set up in $(VENV). Your progress and the next step:"; \
		$(BIN)/tito module status && $(BIN)/tito milestone status && \
		echo "Activate the venv (source $(VENV)/bin/activate) and follow the Next: line above."; \
	else \
		$(BIN)/tito module complete --all && $(BIN)/tito milestone run --all; \
	fi

# Tests run in parallel workers (pytest-xdist: one per core, at most 4). tests/conftest.py keeps
# the student journey's file in one worker, in order, and starts the slow tests first.
PYTEST_WORKERS ?= auto
test: $(VENV)/.dev $(VENV)/.oracle $(VENV)/.instructor $(VENV)/.book chromium
	$(BIN)/ruff check .
	$(BIN)/tito export --check
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --maxprocesses 4
	$(BIN)/python -m pytest -q -m book tests/book

# The developers' inner loop (docs/DEVELOPING.md). `make check NN=13`: lint, the package is current,
# module 13's own tests and tests/13_transformers against its staged export (`tito module test`),
# its mutation check, and the fast toolchain tests about module 13. Plain `make check`: lint, the
# package is current, and every test not marked slow.
NN ?=
check: $(VENV)/.dev
	@if $(STUDENT_EDITION); then \
		echo "make check is for the course's developers. Yours: tito module test NN"; exit 2; fi
	$(BIN)/ruff check .
	$(BIN)/tito export --check
	@if [ -n "$(NN)" ]; then \
		slug=$$($(BIN)/python -c "from tito.registry import get_module; print(get_module('$(NN)').name)") && \
		$(BIN)/tito module test $(NN) && $(BIN)/tito dev mutate $(NN) && \
		$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --maxprocesses 4 -m "not slow" tests/toolchain \
			-k "$(NN) or $$slug"; \
	else \
		$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --maxprocesses 4 -m "not slow"; \
	fi

# Property tests with fresh random examples, RUNS times each (tests/conftest.py's "stress" profile):
# finds the rare input on which a correct reference fails, which a student's fixed-seed run would
# otherwise meet one day. `make stress NN=06 RUNS=200`; without NN, every module's suite.
RUNS ?= 50
stress: $(VENV)/.dev
	@suites=$$($(BIN)/python -c "from tito.registry import MODULES, get_module; \
		print(' '.join('tests/' + m.name for m in ([get_module('$(NN)')] if '$(NN)' else MODULES)))") && \
	TINYTORCH_HYPOTHESIS=stress TINYTORCH_STRESS_RUNS=$(RUNS) \
		$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --maxprocesses 4 $$suites

lint: $(VENV)/.dev
	$(BIN)/ruff check .

oracle: $(VENV)/.oracle

bench: $(VENV)/.oracle
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bpe.py

# The book: _build/book/index.html (open it from disk). In a student edition it shows the module
# files as released, hints folded one level at a time, and no solution.
book: $(VENV)/.book
	$(BIN)/tito book build

# Debian's Chromium for the book's browser tests. Installing needs root and apt-get; without them
# (or if the install fails) the browser tests skip and say why.
chromium:
	@if command -v chromium >/dev/null; then echo "chromium: $$(chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "chromium: not installed, and installing it needs root and apt-get; the browser tests will skip"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
		|| echo "chromium: apt-get install failed; the browser tests will skip"; fi

# The book's tests (marked `book`; `make test` runs them after the rest, in one process so that the
# book is built once): one student edition released and its book built, then offline, links, leaks
# and headless Chromium checks (tests/book/).
book-test: $(VENV)/.book chromium
	$(BIN)/python -m pytest -q -m book tests/book

clean:
	rm -rf $(VENV) .tito .pytest_cache _build
