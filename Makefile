# Every target creates .venv if missing and installs what it needs, so a fresh clone needs nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench lint clean browser

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch==2.13.0 is pinned in pyproject (the CPU wheel); an unpinned torch would pull GBs of CUDA packages.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgepick demo

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

# The HTML report is checked in headless Chromium (tests/test_report_html.py); as root, install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || [ -n "$$EDGEPICK_SKIP_BROWSER" ] || { [ "$$(id -u)" = 0 ] && \
		(apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)); } || \
		echo "chromium is missing and we are not root: install it (apt-get install chromium) or set EDGEPICK_SKIP_BROWSER=1"

test-all: $(STAMP) browser
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/fidelity.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .edgepick .pytest_cache
